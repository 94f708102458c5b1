// Quantized ONNX ops: QuantizeLinear DequantizeLinear (opset 10 per tensor, 13 per axis)
// DynamicQuantizeLinear MatMulInteger ConvInteger QLinearMatMul QLinearConv, onto tandem's
// quantization ops (include/tandem/quant.h). The QLinear ops are an integer matmul/conv
// followed by a requantization with multiplier a_scale * b_scale / y_scale, as ONNX defines
// them. 1-D operands and 1-D convolutions are lifted to 2-D.
#include "importer.h"
#include "tandem/quant.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

Tensor opt_in(const Ctx& c, size_t i) { return c.has_input(i) ? c.in(i) : Tensor(); }

// ONNX's per-axis axis: an attribute since opset 13 (default 1), read only when the scale
// has more than one value (a per-tensor scale ignores it, whatever x's rank).
int64_t quant_axis(const Ctx& c, const Tensor& x, const Tensor& scale) {
  if (scale.numel() == 1) return 0;
  return norm_axis(c.i("axis", 1), x.dim(), c);
}

Ts quantize_linear_(Ctx& c) {
  const Tensor& x = c.in(0);
  return {quantize_linear(x, c.in(1), opt_in(c, 2), quant_axis(c, x, c.in(1)))};
}

Ts dequantize_linear_(Ctx& c) {
  const Tensor& x = c.in(0);
  return {dequantize_linear(x, c.in(1), opt_in(c, 2), quant_axis(c, x, c.in(1)))};
}

// Range [min(x, 0), max(x, 0)] onto uint8: scale = range / 255, zero point = round(-min / scale).
Ts dynamic_quantize_linear_(Ctx& c) {
  Tensor x = c.in(0);
  if (x.dtype() != DType::Float32) c.fail(fmt::format("x must be float32, got {}", x.dtype()));
  Tensor zero = zeros({}, {.dtype = DType::Float32});
  Tensor lo = x.numel() ? minimum(min(x), zero) : zero, hi = x.numel() ? maximum(max(x), zero) : zero;
  Tensor scale = (hi - lo) / 255.0;
  Tensor zp = quantize_linear(neg(lo), scale);
  return {quantize_linear(x, scale, zp), scale, zp};
}

// A [..., M, K] and B [..., K, N] with ONNX MatMul's 1-D rules.
struct LiftedMatmul {
  Tensor a, b;
  bool a1 = false, b1 = false;
};

LiftedMatmul lift_matmul(const Tensor& a, const Tensor& b) {
  LiftedMatmul m{a, b, a.dim() == 1, b.dim() == 1};
  if (m.a1) m.a = a.unsqueeze(0);
  if (m.b1) m.b = b.unsqueeze(1);
  return m;
}

Tensor unlift_matmul(const LiftedMatmul& m, Tensor y) {
  if (m.b1) y = y.squeeze(-1);
  if (m.a1) y = y.squeeze(m.b1 ? -1 : -2);
  return y;
}

Ts matmul_integer_(Ctx& c) {
  LiftedMatmul m = lift_matmul(c.in(0), c.in(1));
  return {unlift_matmul(m, matmul_integer(m.a, m.b, opt_in(c, 2), opt_in(c, 3)))};
}

// One value or one per output column (dim -1 of the accumulator): the requantization's axis.
Ts qlinear_matmul_(Ctx& c) {
  LiftedMatmul m = lift_matmul(c.in(0), c.in(3));
  const Tensor &a_scale = c.in(1), &b_scale = c.in(4), &y_scale = c.in(6);
  if (a_scale.numel() != 1) c.unsupported("QLinearMatMul with a per-row a_scale");
  Tensor acc = matmul_integer(m.a, m.b, c.in(2), c.in(5));
  Tensor mult = (a_scale.reshape({}) * b_scale.reshape({-1}) / y_scale.reshape({})).contiguous();
  if (mult.numel() == 1) mult = mult.reshape({});
  Tensor y_zp = c.in(7);
  Tensor y = requantize(acc, mult, y_zp.reshape({}), y_zp.dtype(), acc.dim() - 1);
  return {unlift_matmul(m, y)};
}

// ConvInteger / QLinearConv geometry (auto_pad resolved) for 1-D or 2-D convolutions; x and
// w are lifted to 2-D for 1-D ones.
struct QConvGeom {
  Tensor x, w;
  std::vector<int64_t> stride, padding, dilation;  // padding: top, left, bottom, right
  int64_t groups = 1;
  bool one_d = false;
};

QConvGeom qconv_geometry(const Ctx& c, const Tensor& x, const Tensor& w) {
  QConvGeom g;
  int64_t nd = x.dim() - 2;
  if (nd != 1 && nd != 2) c.unsupported(fmt::format("{} spatial dims (1-D and 2-D are supported)", nd));
  if (w.dim() != x.dim()) c.fail(fmt::format("weight rank {} differs from input rank {}", w.dim(), x.dim()));
  std::vector<int64_t> st = c.ints("strides", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> dl = c.ints("dilations", std::vector<int64_t>(nd, 1));
  std::vector<int64_t> pads = c.ints("pads", std::vector<int64_t>(2 * nd, 0));
  if (static_cast<int64_t>(st.size()) != nd || static_cast<int64_t>(dl.size()) != nd ||
      static_cast<int64_t>(pads.size()) != 2 * nd)
    c.fail("strides/dilations/pads do not match the kernel's rank");
  std::string ap = c.s("auto_pad", "NOTSET");
  for (int64_t i = 0; i < nd; ++i) {
    if (ap == "VALID") {
      pads[i] = pads[nd + i] = 0;
    } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      int64_t in = x.size(2 + i), out = (in + st[i] - 1) / st[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * st[i] + (w.size(2 + i) - 1) * dl[i] + 1 - in);
      int64_t small = total / 2, big = total - small;
      pads[i] = ap == "SAME_UPPER" ? small : big;
      pads[nd + i] = ap == "SAME_UPPER" ? big : small;
    } else if (ap != "NOTSET") {
      c.unsupported(fmt::format("auto_pad '{}'", ap));
    }
  }
  g.x = x;
  g.w = w;
  g.groups = c.i("group", 1);
  if (nd == 1) {
    g.one_d = true;
    g.x = x.unsqueeze(2);
    g.w = w.unsqueeze(2);
    g.stride = {1, st[0]};
    g.dilation = {1, dl[0]};
    g.padding = {0, pads[0], 0, pads[1]};
  } else {
    g.stride = st;
    g.dilation = dl;
    g.padding = pads;
  }
  return g;
}

Tensor qconv_accumulate(const Ctx& c, const QConvGeom& g, const Tensor& x_zp, const Tensor& w_zp) {
  Tensor wz = w_zp;
  if (wz.defined() && wz.numel() == 1) wz = wz.reshape({});
  Tensor xz = x_zp.defined() ? x_zp.reshape({}) : x_zp;
  return conv_integer(g.x, g.w, xz, wz, g.stride, g.padding, g.dilation, g.groups);
}

Ts conv_integer_(Ctx& c) {
  QConvGeom g = qconv_geometry(c, c.in(0), c.in(1));
  Tensor y = qconv_accumulate(c, g, opt_in(c, 2), opt_in(c, 3));
  return {g.one_d ? y.squeeze(2) : y};
}

// x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B (int32, optional).
Ts qlinear_conv_(Ctx& c) {
  QConvGeom g = qconv_geometry(c, c.in(0), c.in(3));
  Tensor acc = qconv_accumulate(c, g, c.in(2), c.in(5));
  if (c.has_input(8)) {
    const Tensor& b = c.in(8);
    if (b.dtype() != DType::Int32 || b.numel() != acc.size(1))
      c.fail(fmt::format("bias must be int32 with one value per output channel, got {} {}", b.dtype(),
                         shape_str(b.shape())));
    acc = acc + b.reshape({1, -1, 1, 1});
  }
  Tensor mult = (c.in(1).reshape({}) * c.in(4).reshape({-1}) / c.in(6).reshape({})).contiguous();
  if (mult.numel() == 1) mult = mult.reshape({});
  Tensor y_zp = c.in(7);
  Tensor y = requantize(acc, mult, y_zp.reshape({}), y_zp.dtype(), 1);
  return {g.one_d ? y.squeeze(2) : y};
}

}  // namespace

void register_quant(std::map<std::string, Converter>& t) {
  t["QuantizeLinear"] = quantize_linear_;
  t["DequantizeLinear"] = dequantize_linear_;
  t["DynamicQuantizeLinear"] = dynamic_quantize_linear_;
  t["MatMulInteger"] = matmul_integer_;
  t["QLinearMatMul"] = qlinear_matmul_;
  t["ConvInteger"] = conv_integer_;
  t["QLinearConv"] = qlinear_conv_;
}

}  // namespace tandem::onnx::detail
