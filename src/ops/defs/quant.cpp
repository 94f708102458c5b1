// int8 quantization ops, ONNX's semantics (kernels: src/quant/kernels.h). No gradients: they
// serve inference of quantized models.
//   quantize_linear(x, scale, zero_point?)    attrs axis, dtype (UInt8/Int8) -> dtype
//   dequantize_linear(x, scale, zero_point?)  attr axis                      -> float32
//   requantize(acc int32, multiplier, zero_point?) attrs axis, dtype           -> dtype
//   matmul_integer(a, b, a_zero_point?, b_zero_point?)  [..., M, K] x [..., K, N] -> int32
//   conv_integer(x, w, x_zero_point?, w_zero_point?)  attrs stride, padding (top, left,
//                 bottom, right), dilation, groups; NCHW x, OIHW w      -> int32
// scale / multiplier: one value (per tensor) or one per index of dim `axis` (per axis);
// a zero point has the scale's size and the quantized dtype (requantize: the output's).
#include <vector>

#include "defs.h"
#include "quant/kernels.h"
#include "tandem/quant.h"

namespace tandem::defs {
namespace {

bool quant_is_q8(DType t) { return t == DType::UInt8 || t == DType::Int8; }

// [outer, channels, inner] for per-axis parameters of `n` values over a tensor of `shape`.
struct QuantAxes {
  int64_t outer = 1, channels = 1, inner = 1;
};

QuantAxes quant_axes(const char* op, const Shape& shape, const TensorMeta& scale, const TensorMeta* zp,
                     int64_t axis) {
  int64_t n = shape_numel(scale.shape);
  TANDEM_CHECK(scale.dtype == DType::Float32, "{}: the scale must be float32, got {}", op, scale.dtype);
  if (zp && zp->defined)
    TANDEM_CHECK(zp->shape == scale.shape, "{}: zero point shape {} differs from the scale's {}", op,
                 shape_str(zp->shape), shape_str(scale.shape));
  QuantAxes q;
  int64_t total = shape_numel(shape);
  if (scale.shape.size() == 0 || (scale.shape.size() == 1 && n == 1)) {
    q.inner = total;
    return q;
  }
  TANDEM_CHECK(scale.shape.size() == 1, "{}: the scale must be a scalar or 1-D, got shape {}", op,
               shape_str(scale.shape));
  int64_t r = static_cast<int64_t>(shape.size());
  TANDEM_CHECK(axis >= -r && axis < r, "{}: axis {} is out of range for shape {}", op, axis, shape_str(shape));
  if (axis < 0) axis += r;
  TANDEM_CHECK(shape[axis] == n, "{}: {} scales for dim {} of size {} (shape {})", op, n, axis, shape[axis],
               shape_str(shape));
  q.channels = n;
  for (int64_t d = 0; d < axis; ++d) q.outer *= shape[d];
  for (int64_t d = axis + 1; d < r; ++d) q.inner *= shape[d];
  return q;
}

std::vector<int32_t> quant_zero_points(const Tensor& zp, int64_t n) {
  if (!zp.defined()) return std::vector<int32_t>(static_cast<size_t>(n), 0);
  return dense(zp, DType::Int32).to_vector<int32_t>();
}

// ---- quantize_linear

std::vector<TensorMeta> quantize_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  DType dt = a.get_or<DType>("dtype", DType::UInt8);
  TANDEM_CHECK(quant_is_q8(dt), "quantize_linear: output dtype must be uint8 or int8, got {}", dt);
  TANDEM_CHECK(in[0].dtype == DType::Float32 || in[0].dtype == DType::Int32,
               "quantize_linear: x must be float32 or int32, got {} (shape {})", in[0].dtype, shape_str(in[0].shape));
  if (in[2].defined)
    TANDEM_CHECK(in[2].dtype == dt, "quantize_linear: zero point is {} but the output dtype is {}", in[2].dtype, dt);
  quant_axes("quantize_linear", in[0].shape, in[1], &in[2], a.get_or<int64_t>("axis", 1));
  return {TensorMeta{in[0].shape, dt}};
}

void quantize_kernel(const KernelArgs& k) {
  Tensor x = dense(k.inputs[0], DType::Float32), s = dense(k.inputs[1], DType::Float32);
  QuantAxes q = quant_axes("quantize_linear", x.shape(), TensorMeta::of(s), nullptr, k.attrs.get_or<int64_t>("axis", 1));
  std::vector<int32_t> zp = quant_zero_points(k.inputs[2], q.channels);
  const float* px = static_cast<const float*>(x.data_ptr());
  const float* ps = static_cast<const float*>(s.data_ptr());
  const Tensor& y = k.outputs[0];
  if (y.dtype() == DType::UInt8)
    quant::quantize_linear(px, q.outer, q.channels, q.inner, ps, zp.data(), static_cast<uint8_t*>(y.data_ptr()));
  else
    quant::quantize_linear(px, q.outer, q.channels, q.inner, ps, zp.data(), static_cast<int8_t*>(y.data_ptr()));
}

// ---- dequantize_linear

std::vector<TensorMeta> dequantize_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  TANDEM_CHECK(quant_is_q8(in[0].dtype) || in[0].dtype == DType::Int32,
               "dequantize_linear: x must be uint8, int8 or int32, got {} (shape {})", in[0].dtype,
               shape_str(in[0].shape));
  if (in[2].defined)
    TANDEM_CHECK(in[2].dtype == in[0].dtype, "dequantize_linear: zero point is {} but x is {}", in[2].dtype,
                 in[0].dtype);
  quant_axes("dequantize_linear", in[0].shape, in[1], &in[2], a.get_or<int64_t>("axis", 1));
  return {TensorMeta{in[0].shape, DType::Float32}};
}

void dequantize_kernel(const KernelArgs& k) {
  Tensor x = k.inputs[0].contiguous(), s = dense(k.inputs[1], DType::Float32);
  QuantAxes q = quant_axes("dequantize_linear", x.shape(), TensorMeta::of(s), nullptr, k.attrs.get_or<int64_t>("axis", 1));
  std::vector<int32_t> zp = quant_zero_points(k.inputs[2], q.channels);
  const float* ps = static_cast<const float*>(s.data_ptr());
  float* py = static_cast<float*>(k.outputs[0].data_ptr());
  switch (x.dtype()) {
    case DType::UInt8:
      quant::dequantize_linear(static_cast<const uint8_t*>(x.data_ptr()), q.outer, q.channels, q.inner, ps, zp.data(), py);
      break;
    case DType::Int8:
      quant::dequantize_linear(static_cast<const int8_t*>(x.data_ptr()), q.outer, q.channels, q.inner, ps, zp.data(), py);
      break;
    default:
      quant::dequantize_linear(static_cast<const int32_t*>(x.data_ptr()), q.outer, q.channels, q.inner, ps, zp.data(), py);
  }
}

// ---- requantize

std::vector<TensorMeta> requantize_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  DType dt = a.get_or<DType>("dtype", DType::UInt8);
  TANDEM_CHECK(quant_is_q8(dt), "requantize: output dtype must be uint8 or int8, got {}", dt);
  TANDEM_CHECK(in[0].dtype == DType::Int32, "requantize: the accumulator must be int32, got {}", in[0].dtype);
  if (in[2].defined)
    TANDEM_CHECK(in[2].dtype == dt && shape_numel(in[2].shape) == 1,
                 "requantize: the zero point must be one {} value, got {} of shape {}", dt, in[2].dtype,
                 shape_str(in[2].shape));
  quant_axes("requantize", in[0].shape, in[1], nullptr, a.get_or<int64_t>("axis", 1));
  return {TensorMeta{in[0].shape, dt}};
}

void requantize_kernel(const KernelArgs& k) {
  Tensor acc = k.inputs[0].contiguous(), m = dense(k.inputs[1], DType::Float32);
  QuantAxes q = quant_axes("requantize", acc.shape(), TensorMeta::of(m), nullptr, k.attrs.get_or<int64_t>("axis", 1));
  int32_t zp = quant_zero_points(k.inputs[2], 1).at(0);
  const int32_t* pa = static_cast<const int32_t*>(acc.data_ptr());
  const float* pm = static_cast<const float*>(m.data_ptr());
  const Tensor& y = k.outputs[0];
  if (y.dtype() == DType::UInt8)
    quant::requantize(pa, q.outer, q.channels, q.inner, pm, nullptr, zp, false, static_cast<uint8_t*>(y.data_ptr()));
  else
    quant::requantize(pa, q.outer, q.channels, q.inner, pm, nullptr, zp, false, static_cast<int8_t*>(y.data_ptr()));
}

// ---- matmul_integer

// A zero point of one value, or of `n` values (per row of a / per column of b).
void check_integer_zp(const char* op, const char* which, const TensorMeta& zp, DType dt, int64_t n) {
  if (!zp.defined) return;
  int64_t z = shape_numel(zp.shape);
  TANDEM_CHECK(zp.dtype == dt, "{}: {} zero point is {} but the tensor is {}", op, which, zp.dtype, dt);
  TANDEM_CHECK(zp.shape.size() <= 1 && (z == 1 || z == n), "{}: {} zero point must have 1 or {} values, got shape {}",
               op, which, n, shape_str(zp.shape));
}

std::vector<TensorMeta> matmul_integer_infer(const std::vector<TensorMeta>& in, const Attrs&) {
  const TensorMeta &a = in[0], &b = in[1];
  TANDEM_CHECK(quant_is_q8(a.dtype) && quant_is_q8(b.dtype), "matmul_integer: inputs must be uint8 or int8, got {} and {}",
               a.dtype, b.dtype);
  TANDEM_CHECK(a.shape.size() >= 2 && b.shape.size() >= 2, "matmul_integer: inputs must be at least 2-D, got {} and {}",
               shape_str(a.shape), shape_str(b.shape));
  int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  TANDEM_CHECK(b.shape[b.shape.size() - 2] == K, "matmul_integer: shapes {} and {} do not multiply",
               shape_str(a.shape), shape_str(b.shape));
  check_integer_zp("matmul_integer", "a's", in[2], a.dtype, M);
  check_integer_zp("matmul_integer", "b's", in[3], b.dtype, N);
  Shape batch = broadcast_shapes(Shape(a.shape.begin(), a.shape.end() - 2), Shape(b.shape.begin(), b.shape.end() - 2),
                                 "matmul_integer");
  batch.push_back(M);
  batch.push_back(N);
  return {TensorMeta{batch, DType::Int32}};
}

template <typename TA, typename TB>
void matmul_integer_run(const Tensor& a, const Tensor& b, const std::vector<int32_t>& za,
                        const std::vector<int32_t>& zb, int64_t batches, int64_t M, int64_t N, int64_t K, int32_t* y) {
  const TA* pa = static_cast<const TA*>(a.data_ptr());
  const TB* pb = static_cast<const TB*>(b.data_ptr());
  for (int64_t i = 0; i < batches; ++i)
    quant::matmul_integer(M, N, K, pa + i * M * K, za.data(), pb + i * K * N, zb.data(), y + i * M * N);
}

std::vector<int32_t> zero_points_n(const Tensor& zp, int64_t n) {
  std::vector<int32_t> v = quant_zero_points(zp, 1);
  if (v.size() == 1) v.assign(static_cast<size_t>(n), v[0]);
  return v;
}

void matmul_integer_kernel(const KernelArgs& k) {
  const Tensor& y = k.outputs[0];
  const Shape& ys = y.shape();
  int64_t M = ys[ys.size() - 2], N = ys.back(), K = k.inputs[0].shape().back();
  Shape as(ys.begin(), ys.end() - 2), bs = as;
  as.insert(as.end(), {M, K});
  bs.insert(bs.end(), {K, N});
  NoGradGuard ng;
  Tensor a = k.inputs[0].expand(as).contiguous(), b = k.inputs[1].expand(bs).contiguous();
  std::vector<int32_t> za = zero_points_n(k.inputs[2], M), zb = zero_points_n(k.inputs[3], N);
  int64_t batches = M * N != 0 ? y.numel() / (M * N) : 0;
  int32_t* py = static_cast<int32_t*>(y.data_ptr());
  bool a8 = a.dtype() == DType::UInt8, b8 = b.dtype() == DType::UInt8;
  if (a8 && b8) matmul_integer_run<uint8_t, uint8_t>(a, b, za, zb, batches, M, N, K, py);
  else if (a8) matmul_integer_run<uint8_t, int8_t>(a, b, za, zb, batches, M, N, K, py);
  else if (b8) matmul_integer_run<int8_t, uint8_t>(a, b, za, zb, batches, M, N, K, py);
  else matmul_integer_run<int8_t, int8_t>(a, b, za, zb, batches, M, N, K, py);
}

// ---- conv_integer

quant::ConvShape conv_integer_shape(const Shape& x, const Shape& w, const Attrs& a) {
  TANDEM_CHECK(x.size() == 4 && w.size() == 4, "conv_integer: expected x [N, C, H, W] and w [O, C/groups, kh, kw], got {} and {}",
               shape_str(x), shape_str(w));
  auto st = a.get_or<std::vector<int64_t>>("stride", {1, 1});
  auto pd = a.get_or<std::vector<int64_t>>("padding", {0, 0, 0, 0});
  auto dl = a.get_or<std::vector<int64_t>>("dilation", {1, 1});
  int64_t g = a.get_or<int64_t>("groups", 1);
  TANDEM_CHECK(st.size() == 2 && pd.size() == 4 && dl.size() == 2, "conv_integer: stride and dilation take 2 values, padding 4");
  TANDEM_CHECK(st[0] > 0 && st[1] > 0 && dl[0] > 0 && dl[1] > 0 && g > 0 && pd[0] >= 0 && pd[1] >= 0 && pd[2] >= 0 && pd[3] >= 0,
               "conv_integer: strides, dilations and groups must be positive and pads non-negative");
  TANDEM_CHECK(x[1] % g == 0 && w[0] % g == 0 && w[1] * g == x[1],
               "conv_integer: input {} and weight {} do not match for {} groups", shape_str(x), shape_str(w), g);
  quant::ConvShape s{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, st[0], st[1], pd[0], pd[1], dl[0], dl[1], g};
  s.Ho = (s.H + pd[0] + pd[2] - dl[0] * (s.kh - 1) - 1) / s.sh + 1;
  s.Wo = (s.W + pd[1] + pd[3] - dl[1] * (s.kw - 1) - 1) / s.sw + 1;
  TANDEM_CHECK(s.Ho > 0 && s.Wo > 0, "conv_integer: the output of input {} and weight {} would be empty", shape_str(x),
               shape_str(w));
  return s;
}

std::vector<TensorMeta> conv_integer_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  TANDEM_CHECK(quant_is_q8(in[0].dtype) && quant_is_q8(in[1].dtype), "conv_integer: inputs must be uint8 or int8, got {} and {}",
               in[0].dtype, in[1].dtype);
  quant::ConvShape s = conv_integer_shape(in[0].shape, in[1].shape, a);
  check_integer_zp("conv_integer", "x's", in[2], in[0].dtype, 1);
  check_integer_zp("conv_integer", "w's", in[3], in[1].dtype, s.O);
  return {TensorMeta{{s.N, s.O, s.Ho, s.Wo}, DType::Int32}};
}

template <typename TX, typename TW>
void conv_integer_run(const quant::ConvShape& s, const Tensor& x, int32_t zx, const Tensor& w, const std::vector<int32_t>& zw,
                      int32_t* y) {
  quant::conv_integer(s, static_cast<const TX*>(x.data_ptr()), zx, static_cast<const TW*>(w.data_ptr()), zw.data(), y);
}

void conv_integer_kernel(const KernelArgs& k) {
  Tensor x = k.inputs[0].contiguous(), w = k.inputs[1].contiguous();
  quant::ConvShape s = conv_integer_shape(x.shape(), w.shape(), k.attrs);
  int32_t zx = quant_zero_points(k.inputs[2], 1).at(0);
  std::vector<int32_t> zw = zero_points_n(k.inputs[3], s.O);
  int32_t* py = static_cast<int32_t*>(k.outputs[0].data_ptr());
  bool x8 = x.dtype() == DType::UInt8, w8 = w.dtype() == DType::UInt8;
  if (x8 && w8) conv_integer_run<uint8_t, uint8_t>(s, x, zx, w, zw, py);
  else if (x8) conv_integer_run<uint8_t, int8_t>(s, x, zx, w, zw, py);
  else if (w8) conv_integer_run<int8_t, uint8_t>(s, x, zx, w, zw, py);
  else conv_integer_run<int8_t, int8_t>(s, x, zx, w, zw, py);
}

void quant_register(const char* name, int n, std::vector<int> optional, InferFn infer, KernelFn cpu, const char* doc) {
  OpDef d;
  d.name = name;
  d.num_inputs = n;
  d.no_onnx_export = "quantized graphs are written as QDQ ONNX by tandem quantize, not exported from a trace";
  d.optional_inputs = std::move(optional);
  d.infer = infer;
  d.cpu = cpu;
  d.non_differentiable = true;
  d.doc = doc;
  register_op(std::move(d));
}

}  // namespace

void register_quant() {
  quant_register("quantize_linear", 3, {2}, quantize_infer, quantize_kernel,
                 "ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point), per tensor or per axis.");
  quant_register("dequantize_linear", 3, {2}, dequantize_infer, dequantize_kernel,
                 "ONNX DequantizeLinear: (x - zero_point) * scale in float32, per tensor or per axis.");
  quant_register("requantize", 3, {2}, requantize_infer, requantize_kernel,
                 "int32 accumulator to uint8/int8: saturate(round_half_even(acc * multiplier) + zero_point).");
  quant_register("matmul_integer", 4, {2, 3}, matmul_integer_infer, matmul_integer_kernel,
                 "ONNX MatMulInteger: int32 (a - a_zp) @ (b - b_zp), batch dims broadcast.");
  quant_register("conv_integer", 4, {2, 3}, conv_integer_infer, conv_integer_kernel,
                 "ONNX ConvInteger, 2-D: int32 conv of (x - x_zp) and (w - w_zp[o]); padding adds nothing.");
}

}  // namespace tandem::defs

namespace tandem {

Tensor quantize_linear(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int64_t axis) {
  static const OpDef& d = op("quantize_linear");
  DType dt = zero_point.defined() ? zero_point.dtype() : DType::UInt8;
  return dispatch1(d, {x, scale, zero_point}, {{"axis", axis}, {"dtype", dt}});
}

Tensor dequantize_linear(const Tensor& x, const Tensor& scale, const Tensor& zero_point, int64_t axis) {
  static const OpDef& d = op("dequantize_linear");
  return dispatch1(d, {x, scale, zero_point}, {{"axis", axis}});
}

Tensor matmul_integer(const Tensor& a, const Tensor& b, const Tensor& a_zero_point, const Tensor& b_zero_point) {
  static const OpDef& d = op("matmul_integer");
  return dispatch1(d, {a, b, a_zero_point, b_zero_point});
}

Tensor conv_integer(const Tensor& x, const Tensor& w, const Tensor& x_zero_point, const Tensor& w_zero_point,
                    std::vector<int64_t> stride, std::vector<int64_t> padding, std::vector<int64_t> dilation,
                    int64_t groups) {
  static const OpDef& d = op("conv_integer");
  return dispatch1(d, {x, w, x_zero_point, w_zero_point},
                   {{"stride", std::move(stride)}, {"padding", std::move(padding)}, {"dilation", std::move(dilation)},
                    {"groups", groups}});
}

Tensor requantize(const Tensor& acc, const Tensor& multiplier, const Tensor& zero_point, DType dtype, int64_t axis) {
  static const OpDef& d = op("requantize");
  return dispatch1(d, {acc, multiplier, zero_point}, {{"axis", axis}, {"dtype", dtype}});
}

}  // namespace tandem
