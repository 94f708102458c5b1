// The autograd half of Tensor: the members that read or create its AutogradMeta (declared in
// tandem/tensor.h, defined here so that core never includes autograd).
#include <string>

#include "../core/tensor_autograd.h"
#include "tandem/autograd.h"
#include "tandem/tensor.h"

namespace tandem {

// Both need AutogradMeta's destructor, a type core only declares.
TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

bool Tensor::requires_grad() const { return impl_->autograd && impl_->autograd->requires_grad; }

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TANDEM_CHECK(!requires_grad || is_floating(dtype()),
               "requires_grad_: only floating-point tensors can require gradients (dtype {})",
               dtype());
  TANDEM_CHECK(is_leaf(), "requires_grad_: can only change requires_grad of leaf tensors; use "
               "detach() to get a leaf");
  if (!impl_->autograd) impl_->autograd = std::make_unique<autograd::AutogradMeta>();
  impl_->autograd->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_->autograd || impl_->autograd->grad_fn == nullptr; }

Tensor Tensor::grad() const { return impl_->autograd ? impl_->autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined())
    TANDEM_CHECK(grad.shape() == shape(), "set_grad: gradient shape {} does not match tensor shape {}",
                 shape_str(grad.shape()), shape_str(shape()));
  if (!impl_->autograd) impl_->autograd = std::make_unique<autograd::AutogradMeta>();
  impl_->autograd->grad = grad;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return impl_->autograd ? impl_->autograd->grad_fn : nullptr;
}

uint32_t Tensor::output_nr() const { return impl_->autograd ? impl_->autograd->output_nr : 0; }

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  tandem::backward({*this}, gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                   retain_graph, create_graph);
}

bool Tensor::retains_grad() const { return impl_->autograd && impl_->autograd->retains_grad; }

namespace detail {
std::string grad_fn_name(const Tensor& t) {
  auto fn = t.grad_fn();
  return fn ? fn->name() : std::string();
}
}  // namespace detail

}  // namespace tandem
