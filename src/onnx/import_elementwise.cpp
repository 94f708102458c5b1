// ONNX elementwise ops: arithmetic, activations, comparisons, logic, Cast, Where, variadic
// Min/Max/Sum/Mean. Broadcasting is numpy's, the same as tandem's.
#include <cmath>

#include "importer.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

bool is_int(const Tensor& t) { return !is_floating(t.dtype()) && t.dtype() != DType::Bool; }

Ts add_(Ctx& c) { return {add(c.in(0), c.in(1))}; }
Ts sub_(Ctx& c) { return {sub(c.in(0), c.in(1))}; }
Ts mul_(Ctx& c) { return {mul(c.in(0), c.in(1))}; }
Ts div_(Ctx& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (is_int(a) && is_int(b)) return {int_div(a, b, "div")};  // ONNX integer division truncates toward zero
  return {div(a, b)};
}
Ts pow_(Ctx& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (is_int(a)) return {pow(a.to(DType::Float64), b.to(DType::Float64)).to(a.dtype())};
  return {as_dtype(pow(a, as_dtype(b, a.dtype())), a.dtype())};
}
Ts neg_(Ctx& c) { return {neg(c.in(0))}; }
Ts abs_(Ctx& c) { return {abs(c.in(0))}; }
Ts sqrt_(Ctx& c) { return {sqrt(c.in(0))}; }
Ts exp_(Ctx& c) { return {exp(c.in(0))}; }
Ts log_(Ctx& c) { return {log(c.in(0))}; }
Ts sin_(Ctx& c) { return {sin(c.in(0))}; }
Ts cos_(Ctx& c) { return {cos(c.in(0))}; }
Ts sign_(Ctx& c) { return {sign(c.in(0))}; }
Ts reciprocal_(Ctx& c) { return {1.0 / c.in(0)}; }
Ts relu_(Ctx& c) { return {relu(c.in(0))}; }
Ts sigmoid_(Ctx& c) { return {sigmoid(c.in(0))}; }
Ts tanh_(Ctx& c) { return {tanh(c.in(0))}; }
Ts leaky_relu_(Ctx& c) { return {leaky_relu(c.in(0), c.f("alpha", 0.01))}; }
Ts elu_(Ctx& c) {
  const Tensor& x = c.in(0);
  double alpha = c.f("alpha", 1.0);
  return {where(x > zeros_like(x), x, (exp(x) - 1.0) * alpha)};
}
Ts selu_(Ctx& c) {
  const Tensor& x = c.in(0);
  double alpha = c.f("alpha", 1.67326319217681884765625), gamma = c.f("gamma", 1.05070102214813232421875);
  return {where(x > zeros_like(x), x, (exp(x) - 1.0) * alpha) * gamma};
}
Ts celu_(Ctx& c) {
  const Tensor& x = c.in(0);
  double alpha = c.f("alpha", 1.0);
  return {relu(x) + clamp((exp(x / alpha) - 1.0) * alpha, std::nullopt, 0.0)};
}
Ts gelu_(Ctx& c) { return {gelu(c.in(0), c.s("approximate", "none"))}; }
Ts softplus_(Ctx& c) { return {log1p(exp(-abs(c.in(0)))) + relu(c.in(0))}; }
Ts softsign_(Ctx& c) { return {c.in(0) / (abs(c.in(0)) + 1.0)}; }
Ts hard_sigmoid_(Ctx& c) {
  return {clamp(c.in(0) * c.f("alpha", 0.2) + c.f("beta", 0.5), 0.0, 1.0)};
}
Ts hard_swish_(Ctx& c) { return {c.in(0) * clamp(c.in(0) * (1.0 / 6) + 0.5, 0.0, 1.0)}; }
Ts thresholded_relu_(Ctx& c) {
  const Tensor& x = c.in(0);
  return {where(x > full_like(x, c.f("alpha", 1.0)), x, zeros_like(x))};
}
Ts prelu_(Ctx& c) {
  const Tensor& x = c.in(0);
  Tensor s = c.in(1);
  // Old opsets: a per-channel slope [C] applies along dim 1.
  if (s.dim() == 1 && x.dim() > 2 && s.size(0) == x.size(1) && s.size(0) != x.size(-1)) {
    Shape sh(x.dim() - 1, 1);
    sh[0] = s.size(0);
    s = s.reshape(sh);
  }
  return {where(x < zeros_like(x), x * s, x)};
}
Tensor float_in(const Tensor& x) { return is_floating(x.dtype()) && x.dtype() != DType::Float16 && x.dtype() != DType::BFloat16 ? x : x.to(DType::Float32); }
template <const char* Fn>
Ts host_unary_(Ctx& c) {
  const Tensor& x = c.in(0);
  Tensor y = onnx_unary(float_in(x), Fn);
  return {y.dtype() == DType::Bool ? y : as_dtype(y, x.dtype())};
}
constexpr char kErf[] = "erf", kFloor[] = "floor", kCeil[] = "ceil", kRound[] = "round", kTan[] = "tan",
               kAsin[] = "asin", kAcos[] = "acos", kAtan[] = "atan", kSinh[] = "sinh", kCosh[] = "cosh",
               kAsinh[] = "asinh", kAcosh[] = "acosh", kAtanh[] = "atanh", kIsNan[] = "isnan";
Ts isinf_(Ctx& c) {
  const Tensor& x = c.in(0);
  Tensor inf = onnx_unary(float_in(x), "isinf");
  bool pos = c.i("detect_positive", 1) != 0, negv = c.i("detect_negative", 1) != 0;
  if (pos && negv) return {inf};
  Tensor sign_ok = pos ? gt(x, zeros_like(x)) : lt(x, zeros_like(x));
  if (!pos && !negv) return {zeros(x.shape(), {.dtype = DType::Bool})};
  return {logical_and(inf, sign_ok)};
}
Ts clip_(Ctx& c) {
  const Tensor& x = c.in(0);
  std::optional<double> lo, hi;
  if (c.opset < 11) {
    if (c.has_attr("min")) lo = c.f("min", 0);
    if (c.has_attr("max")) hi = c.f("max", 0);
  } else {
    if (c.has_input(1)) lo = c.inputs[1].item<double>();
    if (c.has_input(2)) hi = c.inputs[2].item<double>();
  }
  if (!lo && !hi) return {x};
  return {clamp(x, lo, hi)};
}
Ts variadic(Ctx& c, Tensor (*f)(const Tensor&, const Tensor&)) {
  Tensor acc = c.in(0);
  for (size_t i = 1; i < c.num_inputs(); ++i) acc = f(acc, c.in(i));
  return {acc};
}
Ts min_(Ctx& c) { return variadic(c, minimum); }
Ts max_(Ctx& c) { return variadic(c, maximum); }
Ts sum_(Ctx& c) { return variadic(c, [](const Tensor& a, const Tensor& b) { return add(a, b); }); }
Ts mean_(Ctx& c) {
  Tensor s = variadic(c, [](const Tensor& a, const Tensor& b) { return add(a, b); })[0];
  return {s / static_cast<double>(c.num_inputs())};
}
Ts where_(Ctx& c) { return {where(as_dtype(c.in(0), DType::Bool), c.in(1), c.in(2))}; }
Ts equal_(Ctx& c) { return {eq(c.in(0), c.in(1))}; }
Ts less_(Ctx& c) { return {lt(c.in(0), c.in(1))}; }
Ts less_equal_(Ctx& c) { return {le(c.in(0), c.in(1))}; }
Ts greater_(Ctx& c) { return {gt(c.in(0), c.in(1))}; }
Ts greater_equal_(Ctx& c) { return {ge(c.in(0), c.in(1))}; }
Ts not_(Ctx& c) { return {logical_not(c.in(0))}; }
Ts and_(Ctx& c) { return {logical_and(c.in(0), c.in(1))}; }
Ts or_(Ctx& c) { return {logical_or(c.in(0), c.in(1))}; }
Ts xor_(Ctx& c) { return {logical_xor(c.in(0), c.in(1))}; }
Ts cast_(Ctx& c) {
  DType to = dtype_from_onnx(static_cast<int32_t>(c.i("to", 1)), c.where());
  return {as_dtype(c.in(0), to)};
}
Ts cast_like_(Ctx& c) { return {as_dtype(c.in(0), c.in(1).dtype())}; }
Ts identity_(Ctx& c) { return {c.in(0)}; }

}  // namespace

void register_elementwise(std::map<std::string, Converter>& t) {
  t["Add"] = add_;
  t["Sub"] = sub_;
  t["Mul"] = mul_;
  t["Div"] = div_;
  t["Pow"] = pow_;
  t["Neg"] = neg_;
  t["Abs"] = abs_;
  t["Sqrt"] = sqrt_;
  t["Exp"] = exp_;
  t["Log"] = log_;
  t["Sin"] = sin_;
  t["Cos"] = cos_;
  t["Sign"] = sign_;
  t["Reciprocal"] = reciprocal_;
  t["Relu"] = relu_;
  t["Sigmoid"] = sigmoid_;
  t["Tanh"] = tanh_;
  t["LeakyRelu"] = leaky_relu_;
  t["Elu"] = elu_;
  t["Selu"] = selu_;
  t["Celu"] = celu_;
  t["Gelu"] = gelu_;
  t["Softplus"] = softplus_;
  t["Softsign"] = softsign_;
  t["HardSigmoid"] = hard_sigmoid_;
  t["HardSwish"] = hard_swish_;
  t["ThresholdedRelu"] = thresholded_relu_;
  t["PRelu"] = prelu_;
  t["Erf"] = host_unary_<kErf>;
  t["Floor"] = host_unary_<kFloor>;
  t["Ceil"] = host_unary_<kCeil>;
  t["Round"] = host_unary_<kRound>;
  t["Tan"] = host_unary_<kTan>;
  t["Asin"] = host_unary_<kAsin>;
  t["Acos"] = host_unary_<kAcos>;
  t["Atan"] = host_unary_<kAtan>;
  t["Sinh"] = host_unary_<kSinh>;
  t["Cosh"] = host_unary_<kCosh>;
  t["Asinh"] = host_unary_<kAsinh>;
  t["Acosh"] = host_unary_<kAcosh>;
  t["Atanh"] = host_unary_<kAtanh>;
  t["IsNaN"] = host_unary_<kIsNan>;
  t["IsInf"] = isinf_;
  t["Clip"] = clip_;
  t["Min"] = min_;
  t["Max"] = max_;
  t["Sum"] = sum_;
  t["Mean"] = mean_;
  t["Where"] = where_;
  t["Equal"] = equal_;
  t["Less"] = less_;
  t["LessOrEqual"] = less_equal_;
  t["Greater"] = greater_;
  t["GreaterOrEqual"] = greater_equal_;
  t["Not"] = not_;
  t["And"] = and_;
  t["Or"] = or_;
  t["Xor"] = xor_;
  t["Cast"] = cast_;
  t["CastLike"] = cast_like_;
  t["Identity"] = identity_;
}

}  // namespace tandem::onnx::detail
