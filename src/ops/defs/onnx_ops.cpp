// Ops that ONNX import needs and tandem's eager API lacks: "onnx_unary" (attr fn = erf, floor,
// ceil, round (half to even), tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, isnan,
// isinf). float32/float64 in, same dtype out (bool for isnan/isinf); no gradient (inference).
// "onnx_int_div" (attr fn = div: truncating quotient, mod: remainder with the divisor's sign,
// fmod: with the dividend's sign): two integer tensors of one dtype and one shape, computed in
// that integer type, so int64 values above 2^53 stay exact.
#include <cmath>
#include <limits>
#include <string>

#include "defs.h"
#include "tandem/tensor.h"

namespace tandem::defs {
namespace {

enum class Fn { Erf, Floor, Ceil, Round, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, IsNan, IsInf };

Fn parse_fn(const Attrs& a) {
  static const std::pair<const char*, Fn> names[] = {
      {"erf", Fn::Erf},     {"floor", Fn::Floor}, {"ceil", Fn::Ceil},   {"round", Fn::Round},
      {"tan", Fn::Tan},     {"asin", Fn::Asin},   {"acos", Fn::Acos},   {"atan", Fn::Atan},
      {"sinh", Fn::Sinh},   {"cosh", Fn::Cosh},   {"asinh", Fn::Asinh}, {"acosh", Fn::Acosh},
      {"atanh", Fn::Atanh}, {"isnan", Fn::IsNan}, {"isinf", Fn::IsInf}};
  const std::string& fn = a.get<std::string>("fn");
  for (auto& [n, f] : names)
    if (fn == n) return f;
  TANDEM_FAIL("onnx_unary: unknown fn '{}' (erf, floor, ceil, round, tan, asin, acos, atan, sinh, cosh, "
              "asinh, acosh, atanh, isnan, isinf)", fn);
}

template <typename T>
double apply(Fn f, T x) {
  double v = static_cast<double>(x);
  switch (f) {
    case Fn::Erf: return std::erf(v);
    case Fn::Floor: return std::floor(v);
    case Fn::Ceil: return std::ceil(v);
    case Fn::Round: return std::nearbyint(v);  // default rounding mode: half to even
    case Fn::Tan: return std::tan(v);
    case Fn::Asin: return std::asin(v);
    case Fn::Acos: return std::acos(v);
    case Fn::Atan: return std::atan(v);
    case Fn::Sinh: return std::sinh(v);
    case Fn::Cosh: return std::cosh(v);
    case Fn::Asinh: return std::asinh(v);
    case Fn::Acosh: return std::acosh(v);
    case Fn::Atanh: return std::atanh(v);
    case Fn::IsNan: return std::isnan(v) ? 1 : 0;
    case Fn::IsInf: return std::isinf(v) ? 1 : 0;
  }
  return 0;
}

template <typename T, typename O>
void run(Fn f, const Tensor& in, const Tensor& out) {
  Tensor x = in.contiguous();
  const T* p = static_cast<const T*>(x.data_ptr());
  O* q = static_cast<O*>(out.data_ptr());
  const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) q[i] = static_cast<O>(apply(f, p[i]));
}

std::vector<TensorMeta> infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  Fn f = parse_fn(a);
  TANDEM_CHECK(in[0].dtype == DType::Float32 || in[0].dtype == DType::Float64,
               "onnx_unary({}): expected a float32 or float64 tensor, got {} (shape {})", a.get<std::string>("fn"),
               in[0].dtype, shape_str(in[0].shape));
  TensorMeta m{in[0].shape, (f == Fn::IsNan || f == Fn::IsInf) ? DType::Bool : in[0].dtype};
  return {m};
}

void kernel(const KernelArgs& k) {
  Fn f = parse_fn(k.attrs);
  const Tensor &x = k.inputs[0], &y = k.outputs[0];
  bool to_bool = y.dtype() == DType::Bool;
  if (x.dtype() == DType::Float32) {
    if (to_bool) run<float, bool>(f, x, y);
    else run<float, float>(f, x, y);
  } else {
    if (to_bool) run<double, bool>(f, x, y);
    else run<double, double>(f, x, y);
  }
}

// ---- onnx_int_div

enum class IntFn { Div, Mod, Fmod };

IntFn parse_int_fn(const Attrs& a) {
  const std::string& fn = a.get<std::string>("fn");
  if (fn == "div") return IntFn::Div;
  if (fn == "mod") return IntFn::Mod;
  if (fn == "fmod") return IntFn::Fmod;
  TANDEM_FAIL("onnx_int_div: unknown fn '{}' (div, mod, fmod)", fn);
}

// NOTE: x / 0 (undefined in ONNX) gives 0 and MIN / -1 wraps to MIN, instead of the
// SIGFPE the hardware division raises for both.
template <typename T>
T int_apply(IntFn f, T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return f == IntFn::Div ? static_cast<T>(T(0) - static_cast<std::make_unsigned_t<T>>(a)) : T(0);
  }
  if (f == IntFn::Div) return static_cast<T>(a / b);
  T r = static_cast<T>(a % b);
  if (f == IntFn::Mod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
  return r;
}

std::vector<TensorMeta> int_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  parse_int_fn(a);
  TANDEM_CHECK(in[0].dtype == in[1].dtype && !is_floating(in[0].dtype) && in[0].dtype != DType::Bool,
               "onnx_int_div: expected two integer tensors of one dtype, got {} and {}", in[0].dtype, in[1].dtype);
  TANDEM_CHECK(in[0].shape == in[1].shape, "onnx_int_div: shapes {} and {} differ (expand them first)",
               shape_str(in[0].shape), shape_str(in[1].shape));
  return {TensorMeta{in[0].shape, in[0].dtype}};
}

void int_kernel(const KernelArgs& k) {
  IntFn f = parse_int_fn(k.attrs);
  Tensor a = k.inputs[0].contiguous(), b = k.inputs[1].contiguous();
  const Tensor& y = k.outputs[0];
  TANDEM_DISPATCH_NUMERIC(a.dtype(), "onnx_int_div", [&] {
    if constexpr (std::is_integral_v<scalar_t>) {
      const scalar_t *pa = static_cast<const scalar_t*>(a.data_ptr()), *pb = static_cast<const scalar_t*>(b.data_ptr());
      scalar_t* py = static_cast<scalar_t*>(y.data_ptr());
      for (int64_t i = 0, n = a.numel(); i < n; ++i) py[i] = int_apply(f, pa[i], pb[i]);
    }
  });
}

}  // namespace

void register_rnn_layer();  // rnn_layer.cpp: one layer of ONNX's LSTM/GRU/RNN

void register_onnx() {
  OpDef d;
  d.name = "onnx_unary";
  d.num_inputs = 1;
  d.infer = infer;
  d.cpu = kernel;
  d.non_differentiable = true;
  d.doc = "Elementwise math for ONNX import (attr fn: erf, floor, ceil, round, tan, asin, ...); no gradient.";
  register_op(std::move(d));

  OpDef i;
  i.name = "onnx_int_div";
  i.num_inputs = 2;
  i.infer = int_infer;
  i.cpu = int_kernel;
  i.non_differentiable = true;
  i.doc = "Exact integer Div/Mod for ONNX import (attr fn: div truncates, mod, fmod); no gradient.";
  register_op(std::move(i));
  register_rnn_layer();
}

}  // namespace tandem::defs
