// The int8 layers the QDQ fusion pass (src/graph/passes/fuse_qdq.cpp) produces: integer
// convolution / fully-connected layer with int32 accumulation, then one requantization
//   y_q = saturate(round(acc * x_scale * w_scale[o] / y_scale + bias[o] / y_scale) + y_zp)
// (relu: never below y_zp). Inputs, in order:
//   x_q, x_scale, x_zp, w_q, w_scale, w_zp, y_scale, y_zp, bias (float32 [O], optional)
// x_scale, x_zp, y_scale, y_zp: one value each; w_scale, w_zp: one value or one per output
// channel (w_zp may be undefined: 0). The output's dtype is y_zp's.
//   qlinear_conv2d  x_q [N, C, H, W], w_q [O, C/groups, kh, kw]; attrs stride, padding
//                   (top, left, bottom, right), dilation, groups, act ("none" or "relu"),
//                   reference (1: the portable kernel instead of oneDNN's int8 one)
//   qlinear_linear  x_q [..., K], w_q [O, K]; attr act
// qlinear_conv2d runs as one oneDNN int8 convolution with the requantization as its output
// scales, bias, relu post-op and destination zero point where oneDNN takes it (float
// rounding of the bias term may differ from the reference by one step), else oneDNN's s32
// convolution and our requantization, else src/quant/kernels.h's portable loops.
#include <algorithm>
#include <vector>

#include "../../backend/cpu/int8_conv.h"
#include "defs.h"
#include "quant/kernels.h"

namespace tandem::defs {
namespace {

bool qlinear_is_q8(DType t) { return t == DType::UInt8 || t == DType::Int8; }

void qlinear_check_common(const char* op, const std::vector<TensorMeta>& in, int64_t O) {
  TANDEM_CHECK(qlinear_is_q8(in[0].dtype) && qlinear_is_q8(in[3].dtype), "{}: x and w must be uint8 or int8, got {} and {}",
               op, in[0].dtype, in[3].dtype);
  TANDEM_CHECK(shape_numel(in[1].shape) == 1 && shape_numel(in[6].shape) == 1 && shape_numel(in[7].shape) == 1 &&
                   (!in[2].defined || shape_numel(in[2].shape) == 1),
               "{}: x_scale, x_zp, y_scale and y_zp must hold one value each", op);
  TANDEM_CHECK(qlinear_is_q8(in[7].dtype), "{}: y_zp must be uint8 or int8, got {}", op, in[7].dtype);
  int64_t ns = shape_numel(in[4].shape);
  TANDEM_CHECK(ns == 1 || ns == O, "{}: w_scale must have 1 or {} values, got {}", op, O, ns);
  if (in[5].defined)
    TANDEM_CHECK(shape_numel(in[5].shape) == ns, "{}: w_zp must have as many values as w_scale", op);
  if (in[8].defined)
    TANDEM_CHECK(shape_numel(in[8].shape) == O && is_floating(in[8].dtype), "{}: bias must be float with {} values, got {} {}",
                 op, O, in[8].dtype, shape_str(in[8].shape));
}

// Per output channel: multiplier x_scale * w_scale[o] / y_scale and offset bias[o] / y_scale.
struct QlinearRequant {
  std::vector<float> mult, offset;
  std::vector<int32_t> w_zp;
  int32_t x_zp = 0, y_zp = 0;
  bool relu = false;
};

float qlinear_value(const Tensor& t) { return dense(t, DType::Float32).reshape({-1}).to_vector<float>().at(0); }

QlinearRequant qlinear_requant(const KernelArgs& k, int64_t O) {
  QlinearRequant r;
  const float xs = qlinear_value(k.inputs[1]), ys = qlinear_value(k.inputs[6]);
  std::vector<float> ws = dense(k.inputs[4], DType::Float32).reshape({-1}).to_vector<float>();
  std::vector<int32_t> wz = k.inputs[5].defined() ? dense(k.inputs[5], DType::Int32).reshape({-1}).to_vector<int32_t>()
                                                  : std::vector<int32_t>(ws.size(), 0);
  std::vector<float> b = k.inputs[8].defined() ? dense(k.inputs[8], DType::Float32).reshape({-1}).to_vector<float>()
                                               : std::vector<float>();
  r.mult.resize(O);
  r.w_zp.resize(O);
  if (!b.empty()) r.offset.resize(O);
  for (int64_t o = 0; o < O; ++o) {
    const size_t i = ws.size() == 1 ? 0 : static_cast<size_t>(o);
    r.mult[o] = xs * ws[i] / ys;
    r.w_zp[o] = wz[i];
    if (!b.empty()) r.offset[o] = b[o] / ys;
  }
  r.x_zp = k.inputs[2].defined() ? static_cast<int32_t>(qlinear_value(k.inputs[2])) : 0;
  r.y_zp = static_cast<int32_t>(qlinear_value(k.inputs[7]));
  r.relu = k.attrs.get_or<std::string>("act", "none") == "relu";
  return r;
}

void qlinear_store(const Tensor& acc, int64_t outer, int64_t O, int64_t inner, const QlinearRequant& r, const Tensor& y) {
  const int32_t* pa = static_cast<const int32_t*>(acc.data_ptr());
  const float* off = r.offset.empty() ? nullptr : r.offset.data();
  if (y.dtype() == DType::UInt8)
    quant::requantize(pa, outer, O, inner, r.mult.data(), off, r.y_zp, r.relu, static_cast<uint8_t*>(y.data_ptr()));
  else
    quant::requantize(pa, outer, O, inner, r.mult.data(), off, r.y_zp, r.relu, static_cast<int8_t*>(y.data_ptr()));
}

void qlinear_check_act(const char* op, const Attrs& a) {
  std::string act = a.get_or<std::string>("act", "none");
  TANDEM_CHECK(act == "none" || act == "relu", "{}: act must be 'none' or 'relu', got '{}'", op, act);
}

// ---- qlinear_conv2d

quant::ConvShape qconv2d_shape(const Shape& x, const Shape& w, const Attrs& a) {
  TANDEM_CHECK(x.size() == 4 && w.size() == 4, "qlinear_conv2d: expected x [N, C, H, W] and w [O, C/groups, kh, kw], got {} and {}",
               shape_str(x), shape_str(w));
  auto st = a.get_or<std::vector<int64_t>>("stride", {1, 1});
  auto pd = a.get_or<std::vector<int64_t>>("padding", {0, 0, 0, 0});
  auto dl = a.get_or<std::vector<int64_t>>("dilation", {1, 1});
  int64_t g = a.get_or<int64_t>("groups", 1);
  TANDEM_CHECK(st.size() == 2 && pd.size() == 4 && dl.size() == 2 && g > 0 && st[0] > 0 && st[1] > 0 && dl[0] > 0 && dl[1] > 0,
               "qlinear_conv2d: stride/dilation take 2 positive values, padding 4, groups > 0");
  TANDEM_CHECK(x[1] % g == 0 && w[0] % g == 0 && w[1] * g == x[1], "qlinear_conv2d: input {} and weight {} do not match for {} groups",
               shape_str(x), shape_str(w), g);
  quant::ConvShape s{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, st[0], st[1], pd[0], pd[1], dl[0], dl[1], g};
  s.Ho = (s.H + pd[0] + pd[2] - dl[0] * (s.kh - 1) - 1) / s.sh + 1;
  s.Wo = (s.W + pd[1] + pd[3] - dl[1] * (s.kw - 1) - 1) / s.sw + 1;
  TANDEM_CHECK(s.Ho > 0 && s.Wo > 0, "qlinear_conv2d: the output of input {} and weight {} would be empty", shape_str(x), shape_str(w));
  return s;
}

std::vector<TensorMeta> qconv2d_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  qlinear_check_act("qlinear_conv2d", a);
  quant::ConvShape s = qconv2d_shape(in[0].shape, in[3].shape, a);
  qlinear_check_common("qlinear_conv2d", in, s.O);
  return {TensorMeta{{s.N, s.O, s.Ho, s.Wo}, in[7].dtype}};
}

void qconv2d_kernel(const KernelArgs& k) {
  NoGradGuard ng;
  Tensor x = k.inputs[0].contiguous(), w = k.inputs[3].contiguous();
  quant::ConvShape s = qconv2d_shape(x.shape(), w.shape(), k.attrs);
  QlinearRequant r = qlinear_requant(k, s.O);
  bool zero_w_zp = std::all_of(r.w_zp.begin(), r.w_zp.end(), [](int32_t z) { return z == 0; });
  // oneDNN's int8 kernels unless the portable reference is asked for (attr reference = 1,
  // for checking) or oneDNN cannot take it (weight zero points, uint8 weights).
  const bool fast = k.attrs.get_or<int64_t>("reference", 0) == 0 && zero_w_zp;
  if (fast) {
    // The requantization inside the primitive: bias in accumulator units, b / ys / m.
    std::vector<float> bias;
    for (size_t o = 0; o < r.offset.size(); ++o) bias.push_back(r.mult[o] != 0 ? r.offset[o] / r.mult[o] : 0.0f);
    if (cpu::conv_int8_onednn_requant(s, x, r.x_zp, w, r.mult, bias, r.y_zp, r.relu, k.outputs[0])) return;
  }
  Tensor acc = empty({s.N, s.O, s.Ho, s.Wo}, {.dtype = DType::Int32});
  int32_t* pa = static_cast<int32_t*>(acc.data_ptr());
  if (fast && cpu::conv_int8_onednn(s, x, r.x_zp, w, acc)) {
    qlinear_store(acc, s.N, s.O, s.Ho * s.Wo, r, k.outputs[0]);
    return;
  }
  bool x8 = x.dtype() == DType::UInt8, w8 = w.dtype() == DType::UInt8;
  auto run = [&](auto xt, auto wt) {
    using TX = decltype(xt);
    using TW = decltype(wt);
    quant::conv_integer(s, static_cast<const TX*>(x.data_ptr()), r.x_zp, static_cast<const TW*>(w.data_ptr()), r.w_zp.data(), pa);
  };
  if (x8 && w8) run(uint8_t{}, uint8_t{});
  else if (x8) run(uint8_t{}, int8_t{});
  else if (w8) run(int8_t{}, uint8_t{});
  else run(int8_t{}, int8_t{});
  qlinear_store(acc, s.N, s.O, s.Ho * s.Wo, r, k.outputs[0]);
}

// ---- qlinear_linear

std::vector<TensorMeta> qlinear_linear_infer(const std::vector<TensorMeta>& in, const Attrs& a) {
  qlinear_check_act("qlinear_linear", a);
  const Shape &x = in[0].shape, &w = in[3].shape;
  TANDEM_CHECK(!x.empty() && w.size() == 2 && x.back() == w[1], "qlinear_linear: x {} and w {} do not match (w is [out, in])",
               shape_str(x), shape_str(w));
  qlinear_check_common("qlinear_linear", in, w[0]);
  Shape y = x;
  y.back() = w[0];
  return {TensorMeta{y, in[7].dtype}};
}

void qlinear_linear_kernel(const KernelArgs& k) {
  NoGradGuard ng;
  Tensor x = k.inputs[0].contiguous(), w = k.inputs[3].contiguous();
  const int64_t O = w.size(0), K = w.size(1), M = K ? x.numel() / K : 0;
  QlinearRequant r = qlinear_requant(k, O);
  Tensor acc = empty({M, O}, {.dtype = DType::Int32});
  int32_t* pa = static_cast<int32_t*>(acc.data_ptr());
  bool x8 = x.dtype() == DType::UInt8, w8 = w.dtype() == DType::UInt8;
  auto run = [&](auto xt, auto wt) {
    using TX = decltype(xt);
    using TW = decltype(wt);
    quant::linear_integer(M, O, K, static_cast<const TX*>(x.data_ptr()), r.x_zp, static_cast<const TW*>(w.data_ptr()),
                          r.w_zp.data(), pa);
  };
  if (x8 && w8) run(uint8_t{}, uint8_t{});
  else if (x8) run(uint8_t{}, int8_t{});
  else if (w8) run(int8_t{}, uint8_t{});
  else run(int8_t{}, int8_t{});
  qlinear_store(acc, M, O, 1, r, k.outputs[0]);
}

void qlinear_register(const char* name, InferFn infer, KernelFn cpu, const char* doc) {
  OpDef d;
  d.name = name;
  d.num_inputs = 9;
  d.no_onnx_export = "quantized graphs are written as QDQ ONNX by tandem quantize, not exported from a trace";
  d.optional_inputs = {2, 5, 8};
  d.infer = infer;
  d.cpu = cpu;
  d.non_differentiable = true;
  d.doc = doc;
  register_op(std::move(d));
}

}  // namespace

void register_qlinear() {
  qlinear_register("qlinear_conv2d", qconv2d_infer, qconv2d_kernel,
                   "int8 conv2d (+ bias, relu) with int32 accumulation and requantization (QDQ fusion).");
  qlinear_register("qlinear_linear", qlinear_linear_infer, qlinear_linear_kernel,
                   "int8 fully-connected layer (+ bias, relu) with int32 accumulation and requantization (QDQ fusion).");
}

}  // namespace tandem::defs
