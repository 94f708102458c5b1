// Core ops: to (dtype cast), clone, copy (into an existing tensor), fill.
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {
namespace {

// to, clone, copy and fill: elementwise copies (cpu::copy_into converts the dtype and
// broadcasts), float16/bfloat16 handled by the copy itself, nothing saved for backward.
void register_copy_op(const char* name, int num_inputs, const char* doc, InferFn infer,
                      KernelFn cpu, BackwardFn backward) {
  OpDef d;
  d.name = name;
  d.num_inputs = num_inputs;
  d.doc = doc;
  d.infer = infer;
  d.cpu = cpu;
  d.backward = backward;
  d.save_inputs = false;
  d.supports_half = true;
  d.elementwise = true;
  register_op(std::move(d));
}

// The output meta of a copy of `in`: the same, but a tensor (not a wrapped number).
TensorMeta copy_meta(const TensorMeta& in) {
  TensorMeta m = in;
  m.is_wrapped_number = false;
  return m;
}

}  // namespace

void register_core() {
  register_copy_op(
      "to", 1, "Converts to attribute `dtype`; the gradient converts back.",
      [](const std::vector<TensorMeta>& in, const Attrs& a) {
        TensorMeta m = copy_meta(in[0]);
        m.dtype = a.get<DType>("dtype");
        return std::vector<TensorMeta>{m};
      },
      [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[0]); },
      [](const BackwardContext& c) { return std::vector<Tensor>{c.grad(0)}; });
  register_copy_op(
      "clone", 1, "A contiguous copy.",
      [](const std::vector<TensorMeta>& in, const Attrs&) {
        return std::vector<TensorMeta>{copy_meta(in[0])};
      },
      [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[0]); },
      [](const BackwardContext& c) { return std::vector<Tensor>{c.grad(0)}; });
  register_copy_op(
      "copy", 2, "copy(self, src): src broadcast to self's shape and converted to self's dtype.",
      [](const std::vector<TensorMeta>& in, const Attrs&) {
        TANDEM_CHECK(broadcast_shapes(in[0].shape, in[1].shape, "copy_") == in[0].shape,
                     "copy_: source shape {} cannot be broadcast to destination shape {}",
                     shape_str(in[1].shape), shape_str(in[0].shape));
        return std::vector<TensorMeta>{copy_meta(in[0])};
      },
      [](const KernelArgs& k) { cpu::copy_into(k.outputs[0], k.inputs[1]); },
      [](const BackwardContext& c) { return std::vector<Tensor>{Tensor(), c.grad(0)}; });
  register_copy_op(
      "fill", 1, "fill(self) with attribute `value`; no gradient flows to self.",
      infer_same_as_input,
      [](const KernelArgs& k) {
        Tensor v = scalar_tensor(k.attrs.get<double>("value"), {.dtype = DType::Float64});
        cpu::copy_into(k.outputs[0], v);
      },
      [](const BackwardContext&) { return std::vector<Tensor>{Tensor()}; });
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
