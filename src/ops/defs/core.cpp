// Core ops: to (dtype cast), clone, copy (into an existing tensor), fill.
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_core() {
  {
    OpDef d;
    d.name = "to";
    d.doc = "Converts to attribute `dtype`; the gradient converts back.";
    d.infer = [](const std::vector<TensorMeta>& in, const Attrs& a) {
      TensorMeta m = in[0];
      m.dtype = a.get<DType>("dtype");
      m.is_wrapped_number = false;
      return std::vector<TensorMeta>{m};
    };
    d.cpu = [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[0]); };
    d.backward = [](const BackwardContext& c) { return std::vector<Tensor>{c.grad(0)}; };
    d.save_inputs = false;
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "clone";
    d.doc = "A contiguous copy.";
    d.infer = [](const std::vector<TensorMeta>& in, const Attrs&) {
      TensorMeta m = in[0];
      m.is_wrapped_number = false;
      return std::vector<TensorMeta>{m};
    };
    d.cpu = [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[0]); };
    d.backward = [](const BackwardContext& c) { return std::vector<Tensor>{c.grad(0)}; };
    d.save_inputs = false;
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "copy";
    d.num_inputs = 2;
    d.doc = "copy(self, src): src broadcast to self's shape and converted to self's dtype.";
    d.infer = [](const std::vector<TensorMeta>& in, const Attrs&) {
      broadcast_shapes(in[0].shape, in[1].shape, "copy_");
      TANDEM_CHECK(broadcast_shapes(in[0].shape, in[1].shape, "copy_") == in[0].shape,
                   "copy_: source shape {} cannot be broadcast to destination shape {}",
                   shape_str(in[1].shape), shape_str(in[0].shape));
      TensorMeta m = in[0];
      m.is_wrapped_number = false;
      return std::vector<TensorMeta>{m};
    };
    d.cpu = [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[1]); };
    d.backward = [](const BackwardContext& c) { return std::vector<Tensor>{Tensor(), c.grad(0)}; };
    d.save_inputs = false;
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "fill";
    d.doc = "fill(self) with attribute `value`; no gradient flows to self.";
    d.infer = infer_same_as_input;
    d.cpu = [](const KernelArgs& k) {
      Tensor v = scalar_tensor(k.attrs.get<double>("value"), {.dtype = DType::Float64});
      cpu::copy_into(k.outputs[0], v);
    };
    d.backward = [](const BackwardContext&) { return std::vector<Tensor>{Tensor()}; };
    d.save_inputs = false;
    d.supports_half = true;
    d.elementwise = true;
    register_op(std::move(d));
  }
}

}  // namespace defs

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  static const OpDef& d = op("to");
  return dispatch1(d, {*this}, {{"dtype", dtype}});
}

Tensor Tensor::clone() const {
  static const OpDef& d = op("clone");
  return dispatch1(d, {*this});
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor& Tensor::copy_(const Tensor& src) {
  static const OpDef& d = op("copy");
  return dispatch_inplace(d, *this, {src});
}

Tensor& Tensor::fill_(double value) {
  static const OpDef& d = op("fill");
  return dispatch_inplace(d, *this, {}, {{"value", value}});
}

Tensor& Tensor::zero_() { return fill_(0.0); }

}  // namespace tandem
