// oneDNN int8 convolution (int8_conv.h): s32 output with a run-time source zero point, the
// requantization left to the caller (one loop over the output, quant::requantize).
#include "int8_conv.h"

#include <algorithm>
#include <cstring>

#include "onednn.h"
#include "packed_weights.h"

namespace tandem::cpu {
namespace {

namespace dn = onednn;
using dnnl::memory;

struct Int8ConvPrim {
  bool ok = false;  // false: oneDNN refused the descriptor (cached, so it is asked once)
  dnnl::convolution_forward prim;
  memory::desc user_x, x, user_w, w, user_y, y;
};

memory::desc int8_conv_weights_md(const quant::ConvShape& s, memory::format_tag tag) {
  if (s.groups == 1) return memory::desc({s.O, s.C, s.kh, s.kw}, memory::data_type::s8, tag);
  return memory::desc({s.groups, s.O / s.groups, s.C / s.groups, s.kh, s.kw}, memory::data_type::s8,
                      tag == memory::format_tag::any ? tag : memory::format_tag::goihw);
}

// The end padding that gives `out` outputs (ConvShape keeps only the start's): at most the
// real one and never negative, so oneDNN computes the same output size.
int64_t int8_conv_pad_end(int64_t out, int64_t stride, int64_t k, int64_t dil, int64_t in, int64_t begin) {
  return std::max<int64_t>(0, (out - 1) * stride + (k - 1) * dil + 1 - in - begin);
}

Int8ConvPrim make_int8_conv(const quant::ConvShape& s, DType xt) {
  using Tag = memory::format_tag;
  Int8ConvPrim p;
  const auto xdt = xt == DType::UInt8 ? memory::data_type::u8 : memory::data_type::s8;
  p.user_x = memory::desc({s.N, s.C, s.H, s.W}, xdt, Tag::nchw);
  p.user_w = int8_conv_weights_md(s, Tag::oihw);
  p.user_y = memory::desc({s.N, s.O, s.Ho, s.Wo}, memory::data_type::s32, Tag::nchw);
  memory::desc x_any({s.N, s.C, s.H, s.W}, xdt, Tag::any), y_any({s.N, s.O, s.Ho, s.Wo}, memory::data_type::s32, Tag::any);
  try {
    dnnl::primitive_attr attr = dn::attr();
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, x_any,
                                      int8_conv_weights_md(s, Tag::any), y_any, {s.sh, s.sw}, {s.dh - 1, s.dw - 1},
                                      {s.pad_top, s.pad_left},
                                      {int8_conv_pad_end(s.Ho, s.sh, s.kh, s.dh, s.H, s.pad_top),
                                       int8_conv_pad_end(s.Wo, s.sw, s.kw, s.dw, s.W, s.pad_left)});
    dnnl::convolution_forward::primitive_desc pd(d, attr, dn::engine());
    p.prim = dnnl::convolution_forward(pd);
    p.x = pd.src_desc();
    p.w = pd.weights_desc();
    p.y = pd.dst_desc();
    p.ok = true;
  } catch (const dnnl::error&) {
    p.ok = false;
  }
  return p;
}

struct Int8ConvRequantPrim {
  bool ok = false;
  dnnl::convolution_forward prim;
  memory::desc user_x, x, user_w, w, user_y, y, b;
};

Int8ConvRequantPrim make_int8_conv_requant(const quant::ConvShape& s, DType xt, DType yt, const std::vector<float>& mult,
                                           int32_t y_zp, bool relu) {
  using Tag = memory::format_tag;
  Int8ConvRequantPrim p;
  auto q8 = [](DType t) { return t == DType::UInt8 ? memory::data_type::u8 : memory::data_type::s8; };
  p.user_x = memory::desc({s.N, s.C, s.H, s.W}, q8(xt), Tag::nchw);
  p.user_w = int8_conv_weights_md(s, Tag::oihw);
  p.user_y = memory::desc({s.N, s.O, s.Ho, s.Wo}, q8(yt), Tag::nchw);
  p.b = memory::desc({s.O}, memory::data_type::f32, Tag::x);
  memory::desc x_any({s.N, s.C, s.H, s.W}, q8(xt), Tag::any), y_any({s.N, s.O, s.Ho, s.Wo}, q8(yt), Tag::any);
  try {
    dnnl::primitive_attr attr = dn::attr();
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    attr.set_zero_points(DNNL_ARG_DST, 0, {y_zp});
    attr.set_output_scales(mult.size() == 1 ? 0 : 1 << 1, mult);
    if (relu) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(po);
    }
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, x_any,
                                      int8_conv_weights_md(s, Tag::any), p.b, y_any, {s.sh, s.sw}, {s.dh - 1, s.dw - 1},
                                      {s.pad_top, s.pad_left},
                                      {int8_conv_pad_end(s.Ho, s.sh, s.kh, s.dh, s.H, s.pad_top),
                                       int8_conv_pad_end(s.Wo, s.sw, s.kw, s.dw, s.W, s.pad_left)});
    dnnl::convolution_forward::primitive_desc pd(d, attr, dn::engine());
    p.prim = dnnl::convolution_forward(pd);
    p.x = pd.src_desc();
    p.w = pd.weights_desc();
    p.y = pd.dst_desc();
    p.ok = true;
  } catch (const dnnl::error&) {
    p.ok = false;
  }
  return p;
}

}  // namespace

bool conv_int8_onednn_requant(const quant::ConvShape& s, const Tensor& x, int32_t x_zp, const Tensor& w,
                              const std::vector<float>& multiplier, const std::vector<float>& bias, int32_t y_zp,
                              bool relu, const Tensor& y) {
  if (w.dtype() != DType::Int8) return false;
  dn::Key key("conv_int8_requant");
  key.add(std::vector<int64_t>{s.N, s.C, s.H, s.W, s.O, s.kh, s.kw, s.Ho, s.Wo, s.sh, s.sw, s.pad_top, s.pad_left,
                               s.dh, s.dw, s.groups, y_zp, relu})
      .add(x.dtype())
      .add(y.dtype());
  // The multipliers are baked into the primitive (static output scales): their bits are key.
  std::vector<int64_t> bits;
  for (float m : multiplier) {
    uint32_t u;
    std::memcpy(&u, &m, 4);
    bits.push_back(u);
  }
  key.add(bits);
  auto p = dn::cached<Int8ConvRequantPrim>(key, [&] { return make_int8_conv_requant(s, x.dtype(), y.dtype(), multiplier, y_zp, relu); });
  if (!p->ok) return false;
  dnnl::stream& st = dn::stream();
  const dnnl::engine& eng = dn::engine();
  memory xm(p->user_x, eng, x.data_ptr());
  if (p->x != p->user_x) {
    memory r(p->x, eng);
    dn::reorder(xm, r);
    xm = r;
  }
  memory wm = p->w == p->user_w ? memory(p->user_w, eng, w.data_ptr()) : packed_weights::get(w, p->user_w, p->w);
  memory user_y(p->user_y, eng, y.data_ptr());
  memory ym = p->y == p->user_y ? user_y : memory(p->y, eng);
  std::vector<float> b = bias;
  b.resize(static_cast<size_t>(s.O), 0.0f);
  memory bm(p->b, eng, b.data());
  int32_t zp = x_zp;
  memory zpm(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), eng, &zp);
  dn::execute(p->prim, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym},
                       {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zpm}});
  if (p->y != p->user_y) dn::reorder(ym, user_y);
  st.wait();
  return true;
}

bool conv_int8_onednn(const quant::ConvShape& s, const Tensor& x, int32_t x_zp, const Tensor& w, const Tensor& acc) {
  if (w.dtype() != DType::Int8) return false;
  dn::Key key("conv_int8");
  key.add(std::vector<int64_t>{s.N, s.C, s.H, s.W, s.O, s.kh, s.kw, s.Ho, s.Wo, s.sh, s.sw, s.pad_top, s.pad_left,
                               s.dh, s.dw, s.groups})
      .add(x.dtype());
  auto p = dn::cached<Int8ConvPrim>(key, [&] { return make_int8_conv(s, x.dtype()); });
  if (!p->ok) return false;
  dnnl::stream& st = dn::stream();
  const dnnl::engine& eng = dn::engine();
  memory xm(p->user_x, eng, x.data_ptr());
  if (p->x != p->user_x) {
    memory r(p->x, eng);
    dn::reorder(xm, r);
    xm = r;
  }
  memory wm = p->w == p->user_w ? memory(p->user_w, eng, w.data_ptr()) : packed_weights::get(w, p->user_w, p->w);
  memory user_y(p->user_y, eng, acc.data_ptr());
  memory ym = p->y == p->user_y ? user_y : memory(p->y, eng);
  int32_t zp = x_zp;
  memory zpm(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), eng, &zp);
  dn::execute(p->prim, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym},
                       {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zpm}});
  if (p->y != p->user_y) dn::reorder(ym, user_y);
  st.wait();
  return true;
}

}  // namespace tandem::cpu
