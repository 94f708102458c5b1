// tandem::nn::Module — the base class of every layer and model.
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Linear> fc1, fc2;
//     Net() : Module("Net") {
//       fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 128));
//       fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, 10));
//     }
//     Tensor forward(const Tensor& x) override { return fc2->forward(relu(fc1->forward(x))); }
//   };
//   auto net = std::make_shared<Net>();
//   net->named_parameters();   // {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
//   auto sd = net->state_dict();  net->load_state_dict(sd);
//   std::cout << net->summary({1, 784});
//
// Ownership and aliasing: modules are owned by std::shared_ptr (a parent holds its children
// by shared_ptr, so one module may appear in two parents: its parameters are then shared).
// A parameter or buffer is a Tensor handle; a subclass usually keeps a copy of the handle
// returned by register_parameter / register_buffer in a member. Every operation here that
// changes parameters (to(dtype), load_state_dict, the init functions) writes into the
// existing TensorImpl, so those member copies, optimizers and other holders of the handle
// keep seeing the live values. state_dict() returns detached tensors that alias the
// parameters (clone them to keep a snapshot), as PyTorch's does.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tandem/graph/model_state.h"
#include "tandem/tensor.h"

namespace tandem::nn {

class Module;
// Called after forward through operator(): (module, input, output). Used by summary().
using ForwardHook = std::function<void(Module&, const Tensor&, const Tensor&)>;

class Module : public std::enable_shared_from_this<Module>, public ModelState {
 public:
  explicit Module(std::string name = "");  // the type name shown in summaries, e.g. "Linear"
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Default: throws (a container or a module that needs other inputs). Modules that take
  // something else (LSTM, attention) add their own overloads.
  virtual Tensor forward(const Tensor& x);
  // forward(x), then the forward hooks. Containers call their children through this, so
  // hooks see every layer.
  Tensor operator()(const Tensor& x);

  const std::string& name() const { return name_; }  // type name

  // ---- parameters, buffers, submodules (registration order; shared tensors and modules
  // are listed once, under the first name they were reached by)
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::shared_ptr<Module>> children() const;
  // This module first (name ""), then every descendant depth-first with dotted names, as
  // PyTorch's named_modules().
  // (A module not owned by a shared_ptr lists itself through a non-owning pointer.)
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;

  // Calls fn on every submodule (children first, depth-first) and then on this module, as
  // PyTorch's apply(); e.g. a custom init: net->apply([](nn::Module& m) { ... }).
  void apply(const std::function<void(Module&)>& fn);

  // ---- modes
  void train(bool on = true);  // this module and every descendant
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ModelState (what tandem::compile reads): named_parameters(), named_buffers(),
  // named_modules() and is_training().
  std::vector<std::pair<std::string, Tensor>> state_parameters() const override;
  std::vector<std::pair<std::string, Tensor>> state_buffers() const override;
  std::vector<std::pair<std::string, const ModelState*>> state_modules() const override;
  bool state_training() const override { return training_; }

  // Drops (set_to_none) or zeroes the .grad of every parameter.
  void zero_grad(bool set_to_none = true);
  // Converts every floating-point parameter, buffer and gradient to `dtype`, in place: the
  // TensorImpls are kept, so handles held elsewhere (members, optimizers) stay valid.
  // Integer buffers (BatchNorm's num_batches_tracked) keep their dtype.
  void to(DType dtype);

  // ---- state
  // Parameters and persistent buffers with dotted names (detached; they alias the live
  // tensors). Shared tensors appear under each of their names, as in PyTorch.
  std::map<std::string, Tensor> state_dict() const;
  // Copies `sd` into the parameters and buffers in place (converting dtype). Every key is
  // checked before anything is copied: a mis-shaped tensor is always an Error; with `strict`
  // missing and unexpected keys are too. The Error names every offending key.
  void load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);

  // ---- inspection
  int64_t num_parameters(bool trainable_only = false) const;
  // A torchinfo-like table: every module with its type, output shape and parameter count,
  // then totals. Runs one forward pass on zeros of `input_shape` (dtype: `input_dtype`, or
  // the first floating-point parameter's dtype when absent, or float32) under NoGradGuard
  // and in eval mode (restored afterwards), so running statistics are not touched.
  std::string summary(const Shape& input_shape) const;
  std::string summary(const Shape& input_shape, DType input_dtype) const;
  // PyTorch-like nested printout: "Sequential(\n  (0): Linear(in_features=2, ...)\n)".
  std::string repr() const;
  // The text between the parentheses of this module's line in repr(), e.g.
  // "in_features=784, out_features=10, bias=true".
  virtual std::string extra_repr() const { return ""; }

  // Hooks run after forward() when the module is called through operator(). Returns an
  // id for remove_forward_hook.
  int64_t register_forward_hook(ForwardHook hook);
  void remove_forward_hook(int64_t id);

  // Direct access by local name (no dots); Error when there is no such entry.
  Tensor& parameter(const std::string& name);
  Tensor& buffer(const std::string& name);
  std::shared_ptr<Module> child(const std::string& name) const;

 protected:
  // Registers `t` (may be undefined: an absent optional parameter such as a bias) as a
  // leaf that requires grad (unless `requires_grad` is false). Returns the stored handle.
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // A non-parameter tensor (running statistics); non-persistent buffers are left out of
  // state_dict().
  Tensor& register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    register_module_impl(name, std::static_pointer_cast<Module>(m));
    return m;
  }
  // Replaces the child registered under `name` (ModuleDict / ModuleList assignment).
  void replace_module(const std::string& name, std::shared_ptr<Module> m);

  bool training_ = true;

 private:
  struct Param {
    std::string name;
    Tensor tensor;
  };
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  void register_module_impl(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out,
                     bool params, bool buffers, bool persistent_only) const;
  void repr_into(std::string& out, int indent) const;

  std::string name_;
  // NOTE: deques keep the addresses of stored handles stable, so the Tensor& returned by
  // register_parameter / register_buffer stays valid while more are registered.
  std::deque<Param> params_;
  std::deque<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int64_t, ForwardHook>> hooks_;
  int64_t next_hook_id_ = 0;
};

// PyTorch-like printout of a module tree (Module::repr()).
std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace tandem::nn
