// Fused ops made by the graph fusion passes (src/graph/passes/fuse_*.cpp); never called
// from eager code. Forward only: the passes create them only where no backward node reads
// the intermediate values they hide, so they have no backward formula (non_differentiable).
#include <string>
#include <string_view>

#include "backend/cpu/bf16.h"
#include "backend/cpu/fused.h"
#include "defs.h"
#include "tandem/tensor.h"

namespace tandem::defs {
namespace {

using Metas = std::vector<TensorMeta>;

// The activation named by attribute "act" (params "act_p0", "act_p1").
cpu::Unary activation_of(const Attrs& a) {
  const std::string& act = a.get<std::string>("act");
  using U = cpu::Unary;
  if (act == "relu") return U::Relu;
  if (act == "gelu") return U::Gelu;
  if (act == "gelu_tanh") return U::GeluTanh;
  if (act == "sigmoid") return U::Sigmoid;
  if (act == "tanh") return U::Tanh;
  if (act == "silu") return U::Silu;
  if (act == "leaky_relu") return U::LeakyRelu;
  if (act == "clamp") return U::Clamp;
  if (act == "hardswish") return U::HardSwish;
  TANDEM_FAIL("fused activation: unknown act '{}' (expected relu, gelu, gelu_tanh, sigmoid, tanh, "
              "silu, leaky_relu, clamp or hardswish)", act);
}

template <const char* Base>
void register_with_act(const char* name) {
  OpDef d;
  d.name = name;
  d.num_inputs = 3;
  d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
  d.optional_inputs = {2};
  d.non_differentiable = true;
  d.doc = std::string(Base) + " followed by an activation in the same kernel (attrs: those of " + Base +
          ", act, act_p0, act_p1); made by graph::run_fuse_matmul_act. Attr prepacked = 1 (set by "
          "graph::run_prepack_weights): the weight is constant for the graph and is reordered once.";
  d.infer = [](const Metas& in, const Attrs& a) {
    activation_of(a);
    return op(Base).infer(in, a);
  };
  d.cpu = [](const KernelArgs& k) {
    const cpu::Activation act{activation_of(k.attrs), k.attrs.get_or<double>("act_p0", 0.0),
                              k.attrs.get_or<double>("act_p1", 0.0)};
    if constexpr (std::string_view(Base) == "linear") {
      const bool prepacked = k.attrs.get_or<int64_t>("prepacked", 0) != 0;
      if (cpu::linear_onednn(k.inputs[0], k.inputs[1], k.inputs[2], k.outputs[0], &act, prepacked))
        return;  // one oneDNN matmul with the activation as an eltwise post-op
      op(Base).cpu(k);
    } else {
      // one oneDNN convolution with the activation as an eltwise post-op, where it can
      if (conv2d_kernel(k, &act)) return;
      // bfloat16 (autocast; the fusion pass makes only relu): relu on the bits, in place.
      if (k.outputs[0].dtype() == DType::BFloat16 && act.op == cpu::Unary::Relu &&
          cpu::bf16_relu(k.outputs[0], k.outputs[0]))
        return;
    }
    cpu::activation_inplace(k.outputs[0], act.op, act.p0, act.p1);
  };
  register_op(std::move(d));
}

constexpr char kLinear[] = "linear";
constexpr char kConv2d[] = "conv2d";

}  // namespace

cpu::Activation fused_activation(const Attrs& a) {
  return {activation_of(a), a.get_or<double>("act_p0", 0.0), a.get_or<double>("act_p1", 0.0)};
}

void register_fused() {
  register_with_act<kLinear>("linear_act");
  register_with_act<kConv2d>("conv2d_act");
  {
    OpDef d;
    d.name = "fused_elementwise";
    d.no_onnx_export = "made by the CPU backend's graph passes, which export does not run";
    d.num_inputs = -1;
    d.non_differentiable = true;
    d.doc = "A region of float32 elementwise ops as one register program over blocks of 512 "
            "elements (attrs code, params, imms, nregs, reduce, keepdim; see "
            "src/backend/cpu/fused.h); made by graph::run_fuse_elementwise.";
    d.infer = [](const Metas& in, const Attrs& a) {
      TANDEM_CHECK(!in.empty(), "fused_elementwise: needs at least one input");
      Shape shape;
      for (const TensorMeta& m : in) {
        TANDEM_CHECK(m.dtype == DType::Float32, "fused_elementwise: float32 inputs only, got {}", m.dtype);
        const Shape& s = m.shape;
        if (s.size() > shape.size()) shape.insert(shape.begin(), s.size() - shape.size(), 1);
        for (size_t i = 0; i < s.size(); ++i) {
          int64_t& d = shape[shape.size() - s.size() + i];
          TANDEM_CHECK(d == 1 || s[i] == 1 || d == s[i],
                       "fused_elementwise: input shapes do not broadcast (dim {} vs {})", d, s[i]);
          if (d == 1) d = s[i];
        }
      }
      if (a.get_or<int64_t>("reduce", 0) != 0) {
        TANDEM_CHECK(!shape.empty(), "fused_elementwise: a reduction needs at least one dim");
        if (a.get_or<bool>("keepdim", false)) shape.back() = 1;
        else shape.pop_back();
      }
      return Metas{{shape, DType::Float32}};
    };
    d.cpu = cpu::fused_elementwise_kernel;
    register_op(std::move(d));
  }
}

}  // namespace tandem::defs
