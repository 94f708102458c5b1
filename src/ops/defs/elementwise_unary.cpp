// One-input elementwise ops (math functions and activations) and the fused
// backward ops of the activations (tanh_backward, sigmoid_backward,
// relu_backward, gelu_backward, silu_backward): one kernel for a gradient that
// would otherwise take three or four passes over memory. Each fused backward is
// itself an OpDef with a backward, so double backward still works.
//
// dtypes (PyTorch 1.13): exp/log/sqrt/sin/tanh/sigmoid/... of integers and bool
// give float32; neg/abs/relu keep integer dtypes (bool is an error); sign keeps
// every dtype; leaky_relu/gelu/silu/softplus need floating point; clamp keeps an
// integer dtype when its bounds are whole numbers and gives float32 otherwise
// (a double bound acts like a Python int when it is integral, like a float
// otherwise: clamp(idx, 0, n - 1) stays int64).
#include <cmath>
#include <limits>

#include "../../backend/cpu/bf16.h"
#include "../../backend/cpu/elementwise.h"
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using Metas = std::vector<TensorMeta>;
using Tensors = std::vector<Tensor>;
using cpu::Binary;
using cpu::Unary;

constexpr double kInf = std::numeric_limits<double>::infinity();

using defs::dense;
using defs::is_float_compute;

// One output like `m` with dtype dt. NOTE: built in place (this runs at every call).
Metas plain(const TensorMeta& m, DType dt) {
  Metas r(1);
  r[0].shape = m.shape;
  r[0].dtype = dt;
  r[0].device = m.device;
  return r;
}
// exp, log, sin, ...: integers and bool compute in float32.
Metas float_math_meta(const Metas& in) {
  return plain(in[0], is_floating(in[0].dtype) ? in[0].dtype : DType::Float32);
}
// neg, abs, relu: same dtype, bool is an error.
Metas numeric_meta(const Metas& in, const char* op) {
  TANDEM_CHECK(in[0].dtype != DType::Bool,
               "{}: bool tensors are not supported (shape {}); convert with .to() first{}", op,
               shape_str(in[0].shape), std::string_view(op) == "neg" ? " or use logical_not" : "");
  return plain(in[0], in[0].dtype);
}
// leaky_relu, gelu, silu, softplus.
Metas float_only_meta(const Metas& in, const char* op) {
  TANDEM_CHECK(is_floating(in[0].dtype),
               "{}: expected a floating-point tensor, got {} (shape {}); convert with .to(kFloat32)",
               op, in[0].dtype, shape_str(in[0].shape));
  return plain(in[0], in[0].dtype);
}

template <Unary U>
void unary_kernel(const KernelArgs& k) {
  const Tensor& out = k.outputs[0];
  if (is_float_compute(out.dtype())) cpu::ew_unary(U, k.inputs[0], out);
  else cpu::ew_unary_int(U, k.inputs[0], out);
}

OpDef unary_def(const char* name, InferFn infer, KernelFn cpu) {
  OpDef d;
  d.name = name;
  d.infer = infer;
  d.cpu = cpu;
  d.elementwise = true;
  return d;
}

// (grad, saved) -> grad_in, broadcast and promoted like any binary op.
OpDef backward_def(const char* name, KernelFn cpu) {
  OpDef d;
  d.name = name;
  d.no_onnx_export = "a gradient op (training graphs only)";
  d.num_inputs = 2;
  d.infer = [](const Metas& in, const Attrs&) {
    Metas r(1);
    r[0].shape = broadcast_shapes(in[0].shape, in[1].shape, "activation backward");
    r[0].dtype = result_type(in);
    return r;
  };
  d.cpu = cpu;
  d.elementwise = true;
  return d;
}

template <Binary B>
void backward_kernel(const KernelArgs& k) {
  cpu::ew_binary(B, k.inputs[0], k.inputs[1], k.outputs[0]);
}

// relu and its gradient take bfloat16 as it is (autocast keeps activations in bfloat16 between
// convolutions): bit operations, no float32 round trip. Other bfloat16 cases are widened.
Tensor unary_bf16_widened(const Tensor& t) {
  return t.defined() && t.dtype() == DType::BFloat16 ? dense(t, DType::Float32) : t;
}
void relu_kernel(const KernelArgs& k) {
  const Tensor& out = k.outputs[0];
  if (out.dtype() != DType::BFloat16) return unary_kernel<Unary::Relu>(k);
  if (cpu::bf16_relu(dense(k.inputs[0], DType::BFloat16), out)) return;
  Tensor wide = empty(out.shape());
  cpu::ew_unary(Unary::Relu, unary_bf16_widened(k.inputs[0]), wide);
  cpu::copy_into(out, wide);
}
void relu_backward_kernel(const KernelArgs& k) {
  const Tensor& out = k.outputs[0];
  const Tensor &g = k.inputs[0], &y = k.inputs[1];
  const bool any_bf16 = g.dtype() == DType::BFloat16 || y.dtype() == DType::BFloat16;
  if (!any_bf16) return backward_kernel<Binary::ReluBackward>(k);
  if (out.dtype() == DType::BFloat16 && g.dtype() == DType::BFloat16 && y.dtype() == DType::BFloat16 &&
      g.shape() == out.shape() && y.shape() == out.shape() &&
      cpu::bf16_relu_backward(g.contiguous(), y.contiguous(), out))
    return;
  const bool into_out = out.dtype() == DType::Float32;
  Tensor wide = into_out ? out : empty(out.shape());
  cpu::ew_binary(Binary::ReluBackward, unary_bf16_widened(g), unary_bf16_widened(y), wide);
  if (!into_out) cpu::copy_into(out, wide);
}

bool gelu_is_tanh(const Attrs& a) {
  if (!a.has("approximate")) return false;
  const std::string& s = a.get<std::string>("approximate");
  TANDEM_CHECK(s == "none" || s == "tanh", "gelu: approximate must be 'none' or 'tanh', got '{}'", s);
  return s == "tanh";
}
Attrs gelu_attrs(bool tanh_approx) {
  return tanh_approx ? Attrs{{"approximate", std::string("tanh")}} : Attrs{};
}

// ---- fused backward ops (also used by the double-backward formulas below)

Tensor tanh_backward(const Tensor& g, const Tensor& y) {
  static const OpDef& d = op("tanh_backward");
  return dispatch1(d, {g, y});
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& y) {
  static const OpDef& d = op("sigmoid_backward");
  return dispatch1(d, {g, y});
}
Tensor relu_backward(const Tensor& g, const Tensor& y) {
  static const OpDef& d = op("relu_backward");
  return dispatch1(d, {g, y});
}
Tensor gelu_backward(const Tensor& g, const Tensor& x, bool tanh_approx) {
  static const OpDef& d = op("gelu_backward");
  return dispatch1(d, {g, x}, gelu_attrs(tanh_approx));
}
Tensor silu_backward(const Tensor& g, const Tensor& x) {
  static const OpDef& d = op("silu_backward");
  return dispatch1(d, {g, x});
}

// d^2/dx^2 gelu(x), for gelu_backward's own backward.
Tensor gelu_second_derivative(const Tensor& x, bool tanh_approx) {
  if (!tanh_approx) {
    // phi(x) (2 - x^2), phi the standard normal density.
    Tensor phi = exp(x * x * -0.5) * 0.3989422804014326779399461;
    return phi * (2.0 - x * x);
  }
  // u = b(x + k x^3): (1 - th^2) (u' + x/2 (u'' - 2 th u'^2)).
  constexpr double b = 0.7978845608028653558798921, k = 0.044715;
  Tensor x2 = x * x;
  Tensor th = tanh((x + x2 * x * k) * b);
  Tensor du = (x2 * (3 * k) + 1.0) * b;
  Tensor ddu = x * (6 * b * k);
  return (1.0 - th * th) * (du + x * 0.5 * (ddu - th * du * du * 2.0));
}

}  // namespace

namespace defs {

void register_elementwise_unary() {
  // ---- math functions
  {
    OpDef d = unary_def("neg", [](const Metas& in, const Attrs&) { return numeric_meta(in, "neg"); },
                        unary_kernel<Unary::Neg>);
    d.backward = [](const BackwardContext& c) { return Tensors{-c.grad(0)}; };
    d.save_inputs = false;
    d.onnx_op = "Neg";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("exp", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Exp>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) * c.output(0)}; };
    d.save_inputs = false;
    d.save_outputs = true;
    d.onnx_op = "Exp";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("log", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Log>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) / c.input(0)}; };
    d.onnx_op = "Log";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("log1p", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Log1p>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) / (c.input(0) + 1.0)}; };
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("sqrt", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Sqrt>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) / (c.output(0) * 2.0)}; };
    d.save_inputs = false;
    d.save_outputs = true;
    d.onnx_op = "Sqrt";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("rsqrt", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Rsqrt>);
    d.backward = [](const BackwardContext& c) {
      return Tensors{c.grad(0) * (pow(c.output(0), 3.0) * -0.5)};
    };
    d.save_inputs = false;
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("abs", [](const Metas& in, const Attrs&) { return numeric_meta(in, "abs"); },
                        unary_kernel<Unary::Abs>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) * sign(c.input(0))}; };
    d.onnx_op = "Abs";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("sign", [](const Metas& in, const Attrs&) { return plain(in[0], in[0].dtype); },
                        unary_kernel<Unary::Sign>);
    d.doc = "-1, 0 or 1 (0 for NaN); its gradient is zero.";
    d.backward = [](const BackwardContext& c) { return Tensors{zeros_like(c.grad(0))}; };
    d.save_inputs = false;
    d.onnx_op = "Sign";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("sin", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Sin>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) * cos(c.input(0))}; };
    d.onnx_op = "Sin";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("cos", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Cos>);
    d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) * -sin(c.input(0))}; };
    d.onnx_op = "Cos";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("tanh", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Tanh>);
    d.backward = [](const BackwardContext& c) { return Tensors{tanh_backward(c.grad(0), c.output(0))}; };
    d.save_inputs = false;
    d.save_outputs = true;
    d.onnx_op = "Tanh";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("sigmoid", [](const Metas& in, const Attrs&) { return float_math_meta(in); },
                        unary_kernel<Unary::Sigmoid>);
    d.backward = [](const BackwardContext& c) {
      return Tensors{sigmoid_backward(c.grad(0), c.output(0))};
    };
    d.save_inputs = false;
    d.save_outputs = true;
    d.onnx_op = "Sigmoid";
    register_op(std::move(d));
  }

  // ---- activations
  {
    OpDef d = unary_def("relu", [](const Metas& in, const Attrs&) { return numeric_meta(in, "relu"); },
                        relu_kernel);
    d.doc = "max(x, 0), NaN stays NaN; the gradient at 0 is 0.";
    d.backward = [](const BackwardContext& c) { return Tensors{relu_backward(c.grad(0), c.output(0))}; };
    d.save_inputs = false;
    d.save_outputs = true;
    d.onnx_op = "Relu";
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def(
        "leaky_relu", [](const Metas& in, const Attrs&) { return float_only_meta(in, "leaky_relu"); },
        [](const KernelArgs& k) {
          cpu::ew_unary(Unary::LeakyRelu, k.inputs[0], k.outputs[0],
                        {.p0 = k.attrs.get<double>("negative_slope")});
        });
    d.doc = "x > 0 ? x : negative_slope * x.";
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.grad(0);
      return Tensors{where(c.input(0) > wrap_scalar(0.0), g, g * c.attrs().get<double>("negative_slope"))};
    };
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def(
        "gelu",
        [](const Metas& in, const Attrs& a) {
          gelu_is_tanh(a);  // validates the attribute
          return float_only_meta(in, "gelu");
        },
        [](const KernelArgs& k) {
          cpu::ew_unary(gelu_is_tanh(k.attrs) ? Unary::GeluTanh : Unary::Gelu, k.inputs[0], k.outputs[0]);
        });
    d.doc = "x * Phi(x); attribute approximate = \"tanh\" uses PyTorch's tanh formula.";
    d.backward = [](const BackwardContext& c) {
      return Tensors{gelu_backward(c.grad(0), c.input(0), gelu_is_tanh(c.attrs()))};
    };
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def("silu", [](const Metas& in, const Attrs&) { return float_only_meta(in, "silu"); },
                        [](const KernelArgs& k) { cpu::ew_unary(Unary::Silu, k.inputs[0], k.outputs[0]); });
    d.doc = "x * sigmoid(x).";
    d.backward = [](const BackwardContext& c) { return Tensors{silu_backward(c.grad(0), c.input(0))}; };
    register_op(std::move(d));
  }
  {
    OpDef d = unary_def(
        "softplus", [](const Metas& in, const Attrs&) { return float_only_meta(in, "softplus"); },
        [](const KernelArgs& k) {
          cpu::ew_unary(Unary::Softplus, k.inputs[0], k.outputs[0],
                        {.p0 = k.attrs.get<double>("beta"), .p1 = k.attrs.get<double>("threshold")});
        });
    d.doc = "log(1 + exp(beta x)) / beta, or x where beta x > threshold.";
    d.backward = [](const BackwardContext& c) {
      Tensor z = c.input(0) * c.attrs().get<double>("beta");
      const Tensor& g = c.grad(0);
      return Tensors{where(z > wrap_scalar(c.attrs().get<double>("threshold")), g, g * sigmoid(z))};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "clamp";
    d.doc = "min(max(x, min), max) with optional attributes min and max; NaN stays NaN.";
    d.infer = [](const Metas& in, const Attrs& a) {
      bool has_min = a.has("min"), has_max = a.has("max");
      TANDEM_CHECK(has_min || has_max, "clamp: at least one of min and max must be given (shape {})",
                   shape_str(in[0].shape));
      DType dt = in[0].dtype;
      if (!is_floating(dt)) {
        bool whole = true;
        for (const char* k : {"min", "max"})
          if (a.has(k)) whole &= std::nearbyint(a.get<double>(k)) == a.get<double>(k);
        dt = !whole ? DType::Float32 : dt == DType::Bool ? DType::Int64 : dt;
        if (whole) {
          auto [lo, hi] = TANDEM_DISPATCH_ALL(dt, "clamp", [] {
            return std::pair<double, double>(static_cast<double>(std::numeric_limits<scalar_t>::lowest()),
                                             static_cast<double>(std::numeric_limits<scalar_t>::max()));
          });
          for (const char* k : {"min", "max"})
            if (a.has(k))
              TANDEM_CHECK(a.get<double>(k) >= lo && a.get<double>(k) <= hi,
                           "clamp: bound {}={} does not fit the tensor's dtype {}", k,
                           a.get<double>(k), dt);
        }
      }
      return plain(in[0], dt);
    };
    d.cpu = [](const KernelArgs& k) {
      cpu::EwParams p{.p0 = k.attrs.get_or<double>("min", -kInf), .p1 = k.attrs.get_or<double>("max", kInf)};
      const Tensor& out = k.outputs[0];
      if (is_float_compute(out.dtype())) cpu::ew_unary(Unary::Clamp, k.inputs[0], out, p);
      else cpu::ew_unary_int(Unary::Clamp, k.inputs[0], out, p);
    };
    d.backward = [](const BackwardContext& c) {
      const Tensor& x = c.input(0);
      Tensor keep;
      if (c.attrs().has("min")) keep = x >= wrap_scalar(c.attrs().get<double>("min"));
      if (c.attrs().has("max")) {
        Tensor below = x <= wrap_scalar(c.attrs().get<double>("max"));
        keep = keep.defined() ? logical_and(keep, below) : below;
      }
      return Tensors{where(keep, c.grad(0), wrap_scalar(0.0))};
    };
    d.elementwise = true;
    register_op(std::move(d));
  }

  // ---- fused backward ops: (grad, saved tensor) -> grad_in
  {
    OpDef d = backward_def("tanh_backward", backward_kernel<Binary::TanhBackward>);
    d.doc = "tanh_backward(g, y = tanh(x)) = g * (1 - y^2).";
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.input(0);
      const Tensor& y = c.input(1);
      const Tensor& gg = c.grad(0);
      return Tensors{c.needs_input_grad(0) ? tanh_backward(gg, y) : Tensor(),
                     c.needs_input_grad(1) ? gg * g * y * -2.0 : Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d = backward_def("sigmoid_backward", backward_kernel<Binary::SigmoidBackward>);
    d.doc = "sigmoid_backward(g, y = sigmoid(x)) = g * y * (1 - y).";
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.input(0);
      const Tensor& y = c.input(1);
      const Tensor& gg = c.grad(0);
      return Tensors{c.needs_input_grad(0) ? sigmoid_backward(gg, y) : Tensor(),
                     c.needs_input_grad(1) ? gg * g * (1.0 - y * 2.0) : Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d = backward_def("relu_backward", relu_backward_kernel);
    d.doc = "relu_backward(g, y = relu(x)) = y > 0 ? g : 0 (piecewise constant in y).";
    d.backward = [](const BackwardContext& c) {
      return Tensors{relu_backward(c.grad(0), c.input(1)), Tensor()};
    };
    d.nondiff_inputs = {1};
    register_op(std::move(d));
  }
  {
    OpDef d = backward_def("gelu_backward", [](const KernelArgs& k) {
      cpu::ew_binary(gelu_is_tanh(k.attrs) ? Binary::GeluTanhBackward : Binary::GeluBackward,
                     k.inputs[0], k.inputs[1], k.outputs[0]);
    });
    d.doc = "gelu_backward(g, x) = g * gelu'(x); attribute approximate as gelu.";
    d.backward = [](const BackwardContext& c) {
      bool t = gelu_is_tanh(c.attrs());
      const Tensor& g = c.input(0);
      const Tensor& x = c.input(1);
      const Tensor& gg = c.grad(0);
      return Tensors{c.needs_input_grad(0) ? gelu_backward(gg, x, t) : Tensor(),
                     c.needs_input_grad(1) ? gg * g * gelu_second_derivative(x, t) : Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d = backward_def("silu_backward", backward_kernel<Binary::SiluBackward>);
    d.doc = "silu_backward(g, x) = g * s * (1 + x (1 - s)), s = sigmoid(x).";
    d.backward = [](const BackwardContext& c) {
      const Tensor& g = c.input(0);
      const Tensor& x = c.input(1);
      const Tensor& gg = c.grad(0);
      Tensor dx;
      if (c.needs_input_grad(1)) {
        Tensor s = sigmoid(x);
        dx = gg * g * (s * (1.0 - s) * (x * (1.0 - s * 2.0) + 2.0));
      }
      return Tensors{c.needs_input_grad(0) ? silu_backward(gg, x) : Tensor(), dx};
    };
    register_op(std::move(d));
  }
}

}  // namespace defs

#define TANDEM_UNARY_FN(fn)             \
  Tensor fn(const Tensor& x) {          \
    static const OpDef& d = op(#fn);    \
    return dispatch1(d, {x});           \
  }
TANDEM_UNARY_FN(neg)
TANDEM_UNARY_FN(exp)
TANDEM_UNARY_FN(log)
TANDEM_UNARY_FN(log1p)
TANDEM_UNARY_FN(sqrt)
TANDEM_UNARY_FN(rsqrt)
TANDEM_UNARY_FN(abs)
TANDEM_UNARY_FN(sign)
TANDEM_UNARY_FN(sin)
TANDEM_UNARY_FN(cos)
TANDEM_UNARY_FN(tanh)
TANDEM_UNARY_FN(sigmoid)
TANDEM_UNARY_FN(relu)
TANDEM_UNARY_FN(silu)
#undef TANDEM_UNARY_FN

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  static const OpDef& d = op("leaky_relu");
  return dispatch1(d, {x}, {{"negative_slope", negative_slope}});
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  static const OpDef& d = op("gelu");
  TANDEM_CHECK(approximate == "none" || approximate == "tanh",
               "gelu: approximate must be 'none' or 'tanh', got '{}'", approximate);
  return dispatch1(d, {x}, gelu_attrs(approximate == "tanh"));
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  static const OpDef& d = op("softplus");
  return dispatch1(d, {x}, {{"beta", beta}, {"threshold", threshold}});
}
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  static const OpDef& d = op("clamp");
  Attrs a;
  if (min) a.set("min", *min);
  if (max) a.set("max", *max);
  return dispatch1(d, {x}, a);
}

Tensor Tensor::neg() const { return tandem::neg(*this); }

}  // namespace tandem
