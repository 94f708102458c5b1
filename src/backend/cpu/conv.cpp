#include "conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "loops.h"
#include "onednn.h"
#include "packed_weights.h"
#include "tandem/autocast.h"

namespace tandem::cpu {
namespace {

namespace dn = onednn;
using dnnl::memory;
using Tag = memory::format_tag;

// ---- oneDNN -------------------------------------------------------------------

// One operand of a primitive: the user's plain layout, the layout the primitive
// chose, and the reorder between them (absent when they agree).
struct Port {
  memory::desc user, prim;
  dnnl::reorder reorder;
  bool same = true;
  Port() = default;
  Port(const memory::desc& user_md, const memory::desc& prim_md, bool input)
      : user(user_md), prim(prim_md), same(user_md == prim_md) {
    if (!same)
      reorder = dnnl::reorder(dnnl::reorder::primitive_desc(dn::engine(), input ? user : prim, dn::engine(),
                                                            input ? prim : user, dn::attr()));
  }
};

// Scratch for a reordered operand, from tandem's caching allocator (reused across calls).
memory scratch(const memory::desc& md, std::vector<Tensor>& hold) {
  hold.push_back(empty({static_cast<int64_t>(md.get_size() / sizeof(float)) + 1}));
  return memory(md, dn::engine(), hold.back().data_ptr());
}

memory bind_in(const Port& p, const Tensor& t, std::vector<Tensor>& hold) {
  memory user(p.user, dn::engine(), t.data_ptr());
  if (p.same) return user;
  memory m = scratch(p.prim, hold);
  dn::execute(p.reorder, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}});
  return m;
}

memory bind_out(const Port& p, const Tensor& t, std::vector<Tensor>& hold) {
  return p.same ? memory(p.user, dn::engine(), t.data_ptr()) : scratch(p.prim, hold);
}

void finish_out(const Port& p, memory m, const Tensor& t) {
  if (p.same) return;
  memory user(p.user, dn::engine(), t.data_ptr());
  dn::execute(p.reorder, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, user}});
}

// oneDNN's right padding: any value with floor((H - dk + pl + pr) / s) + 1 == Ho works;
// the largest one not above the left padding (negative: oneDNN can't, use the loops).
int64_t pad_right(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d) {
  int64_t dk = (k - 1) * d + 1;
  return std::min(p, out * s - 1 - in + dk - p);
}

bool onednn_ok(const ConvGeom& g) {
  return pad_right(g.H, g.Ho, g.kh, g.sh, g.ph, g.dh) >= 0 &&
         pad_right(g.W, g.Wo, g.kw, g.sw, g.pw, g.dw) >= 0;
}

struct Descs {
  memory::desc x, w, y, b;
  memory::dims strides, dilates, pad_l, pad_r;
};

// Plain descriptors of g, or format `any` (the primitive picks its blocked layout).
Descs descs(const ConvGeom& g, bool any) {
  const auto f32 = dn::data_type(g.dt);  // float32, or bfloat16 with float32 accumulation
  Descs d;
  memory::dims wd = g.groups > 1 ? memory::dims{g.groups, g.O / g.groups, g.C / g.groups, g.kh, g.kw}
                                 : memory::dims{g.O, g.C, g.kh, g.kw};
  d.x = memory::desc({g.N, g.C, g.H, g.W}, f32, any ? Tag::any : Tag::nchw);
  d.y = memory::desc({g.N, g.O, g.Ho, g.Wo}, f32, any ? Tag::any : Tag::nchw);
  d.w = memory::desc(wd, f32, any ? Tag::any : (g.groups > 1 ? Tag::goihw : Tag::oihw));
  d.b = memory::desc({g.O}, f32, Tag::x);
  d.strides = {g.sh, g.sw};
  d.dilates = {g.dh - 1, g.dw - 1};
  d.pad_l = {g.ph, g.pw};
  d.pad_r = {pad_right(g.H, g.Ho, g.kh, g.sh, g.ph, g.dh), pad_right(g.W, g.Wo, g.kw, g.sw, g.pw, g.dw)};
  return d;
}

dn::Key conv_key(const char* kind, const ConvGeom& g, bool flag) {
  dn::Key k(kind);
  for (int64_t v : {g.N, g.C, g.H, g.W, g.O, g.kh, g.kw, g.Ho, g.Wo, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                    g.groups, int64_t{flag}, static_cast<int64_t>(g.dt)})
    k.add(v);
  return k;
}

// NOTE: forward_training even where no backward follows (prepacked weights, a fused
// activation). Measured (oneDNN 2.6, AVX-512, 1 thread): for forward_inference oneDNN picks
// its brgconv kernel with channels-last layouts, 5-50% slower than the direct jit kernel
// it picks for forward_training (cnn conv2 at batch 64: 4.2 ms vs 3.7 ms; conv1 0.48 vs
// 0.32 ms), and the channels-last reorders around it cost twice as much.
dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d, bool bias, const dnnl::primitive_attr& attr = dn::attr()) {
  using F = dnnl::convolution_forward;
  const auto prop = dnnl::prop_kind::forward_training;
  auto desc = bias ? F::desc(prop, dnnl::algorithm::convolution_direct, d.x, d.w, d.b, d.y, d.strides, d.dilates,
                             d.pad_l, d.pad_r)
                   : F::desc(prop, dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.strides, d.dilates,
                             d.pad_l, d.pad_r);
  return F::primitive_desc(desc, attr, dn::engine());
}

struct FwdPrim {
  dnnl::convolution_forward prim;
  Port x, w, y;                     // w unused when prepacked
  memory::desc user_w, packed_w;    // prepacked: w's plain layout and the primitive's
};

// x_blocked / y_blocked: that operand is in oneDNN's nChw16c layout (conv2d_forward_blocked),
// given to the primitive as is; otherwise plain NCHW, reordered when the primitive wants blocks.
bool forward_onednn(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvForwardOptions& o, bool x_blocked = false, bool y_blocked = false) {
  bool bias = b.defined();
  dn::Key key = conv_key(o.prepacked ? "conv_fwd_packed" : "conv_fwd", g, bias);
  key.add(int64_t{x_blocked}).add(int64_t{y_blocked}).add(int64_t{o.accumulate});
  dnnl::post_ops po;
  // The sum reads y's previous contents; the activation comes after it (act(conv + r)).
  if (o.accumulate) po.append_sum(1.0f);
  const bool fused_act = o.act != nullptr && dn::append_activation(po, key, o.act->op, o.act->p0, o.act->p1);
  auto p = dn::cached<FwdPrim>(key, [&] {
    Descs user = descs(g, false);
    Descs prim = descs(g, true);
    const auto f32 = memory::data_type::f32;
    if (x_blocked) prim.x = user.x = memory::desc({g.N, g.C, g.H, g.W}, f32, Tag::nChw16c);
    if (y_blocked) prim.y = user.y = memory::desc({g.N, g.O, g.Ho, g.Wo}, f32, Tag::nChw16c);
    dnnl::primitive_attr attr = dn::attr();
    attr.set_post_ops(po);
    auto pd = forward_pd(prim, bias, attr);
    return FwdPrim{dnnl::convolution_forward(pd), Port(user.x, pd.src_desc(), true),
                   o.prepacked ? Port() : Port(user.w, pd.weights_desc(), true),
                   Port(user.y, pd.dst_desc(), false), user.w, pd.weights_desc()};
  });
  std::vector<Tensor> hold;
  memory ym = bind_out(p->y, y, hold);
  memory wm = o.prepacked ? packed_weights::get(w, p->user_w, p->packed_w) : bind_in(p->w, w, hold);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind_in(p->x, x, hold)},
                                       {DNNL_ARG_WEIGHTS, wm},
                                       {DNNL_ARG_DST, ym}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(descs(g, false).b, dn::engine(), b.data_ptr()));
  dn::execute(p->prim, args);
  finish_out(p->y, ym, y);
  dn::stream().wait();
  return fused_act;
}

struct BwdDataPrim {
  dnnl::convolution_backward_data prim;
  Port gy, w, gx;
};

void backward_data_onednn(const ConvGeom& g, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  auto p = dn::cached<BwdDataPrim>(conv_key("conv_bwd_data", g, false), [&] {
    Descs user = descs(g, false);
    // NOTE: measured (oneDNN 2.6, AVX-512): with fewer than 8 input channels the
    // blocked backward-data kernel is 2-5x slower than the plain (im2col) one.
    Descs d = descs(g, g.C / g.groups >= 8);
    using B = dnnl::convolution_backward_data;
    B::primitive_desc pd(B::desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.strides,
                                 d.dilates, d.pad_l, d.pad_r),
                         dn::attr(), dn::engine(), forward_pd(d, false));
    return BwdDataPrim{B(pd), Port(user.y, pd.diff_dst_desc(), true),
                       Port(user.w, pd.weights_desc(), true), Port(user.x, pd.diff_src_desc(), false)};
  });
  std::vector<Tensor> hold;
  memory gxm = bind_out(p->gx, gx, hold);
  dn::execute(p->prim, {{DNNL_ARG_DIFF_DST, bind_in(p->gy, gy, hold)},
                                 {DNNL_ARG_WEIGHTS, bind_in(p->w, w, hold)},
                                 {DNNL_ARG_DIFF_SRC, gxm}});
  finish_out(p->gx, gxm, gx);
  dn::stream().wait();
}

struct BwdWeightsPrim {
  dnnl::convolution_backward_weights prim;
  Port x, gy, gw;
};

void backward_weights_onednn(const ConvGeom& g, const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const Tensor& gb) {
  bool bias = gb.defined();
  auto p = dn::cached<BwdWeightsPrim>(conv_key("conv_bwd_weights", g, bias), [&] {
    Descs user = descs(g, false);
    Descs d = descs(g, true);
    using B = dnnl::convolution_backward_weights;
    auto desc = bias ? B::desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.b, d.y, d.strides,
                               d.dilates, d.pad_l, d.pad_r)
                     : B::desc(dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.strides,
                               d.dilates, d.pad_l, d.pad_r);
    B::primitive_desc pd(desc, dn::attr(), dn::engine(), forward_pd(d, bias));
    return BwdWeightsPrim{B(pd), Port(user.x, pd.src_desc(), true),
                          Port(user.y, pd.diff_dst_desc(), true),
                          Port(user.w, pd.diff_weights_desc(), false)};
  });
  std::vector<Tensor> hold;
  memory gwm = bind_out(p->gw, gw, hold);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind_in(p->x, x, hold)},
                                       {DNNL_ARG_DIFF_DST, bind_in(p->gy, gy, hold)},
                                       {DNNL_ARG_DIFF_WEIGHTS, gwm}};
  if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, memory(descs(g, false).b, dn::engine(), gb.data_ptr()));
  dn::execute(p->prim, args);
  finish_out(p->gw, gwm, gw);
  dn::stream().wait();
}

// ---- reference loops (float64 for gradcheck; float32 where oneDNN can't) ------------

// Input row/col of output position o and kernel tap k, or -1 outside the input.
inline int64_t src_index(int64_t o, int64_t k, int64_t s, int64_t p, int64_t d, int64_t size) {
  int64_t i = o * s - p + k * d;
  return i >= 0 && i < size ? i : -1;
}

// Tasks per thread chunk so that a parallel region gets enough work to pay for itself
// (gradcheck runs thousands of tiny convolutions).
int64_t grain(int64_t work_per_task) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(work_per_task, 1)); }

template <typename T>
void forward_ref(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  parallel_for(g.N * g.O, grain(g.Ho * g.Wo * Cg * g.kh * g.kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.O, o = r % g.O, c0 = (o / Og) * Cg;
      for (int64_t oy = 0; oy < g.Ho; ++oy)
        for (int64_t ox = 0; ox < g.Wo; ++ox) {
          T acc = b ? b[o] : T(0);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < g.kh; ++i) {
              int64_t iy = src_index(oy, i, g.sh, g.ph, g.dh, g.H);
              if (iy < 0) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                int64_t ix = src_index(ox, j, g.sw, g.pw, g.dw, g.W);
                if (ix < 0) continue;
                acc += x[((n * g.C + c0 + c) * g.H + iy) * g.W + ix] * w[((o * Cg + c) * g.kh + i) * g.kw + j];
              }
            }
          y[((n * g.O + o) * g.Ho + oy) * g.Wo + ox] = acc;
        }
    }
  });
}

template <typename T>
void backward_data_ref(const ConvGeom& g, const T* gy, const T* w, T* gx) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  // One (n, c) input plane per task: each task writes only its own plane.
  parallel_for(g.N * g.C, grain(Og * g.Ho * g.Wo * g.kh * g.kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.C, c = r % g.C, cl = c % Cg, o0 = (c / Cg) * Og;
      T* plane = gx + r * g.H * g.W;
      std::fill(plane, plane + g.H * g.W, T(0));
      for (int64_t o = o0; o < o0 + Og; ++o)
        for (int64_t oy = 0; oy < g.Ho; ++oy)
          for (int64_t ox = 0; ox < g.Wo; ++ox) {
            const T go = gy[((n * g.O + o) * g.Ho + oy) * g.Wo + ox];
            for (int64_t i = 0; i < g.kh; ++i) {
              int64_t iy = src_index(oy, i, g.sh, g.ph, g.dh, g.H);
              if (iy < 0) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                int64_t ix = src_index(ox, j, g.sw, g.pw, g.dw, g.W);
                if (ix >= 0) plane[iy * g.W + ix] += go * w[((o * Cg + cl) * g.kh + i) * g.kw + j];
              }
            }
          }
    }
  });
}

template <typename T>
void backward_weights_ref(const ConvGeom& g, const T* x, const T* gy, T* gw, T* gb) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  parallel_for(g.O * Cg, grain(g.N * g.Ho * g.Wo * g.kh * g.kw), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / Cg, c = (o / Og) * Cg + r % Cg;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          T acc = 0;
          for (int64_t n = 0; n < g.N; ++n)
            for (int64_t oy = 0; oy < g.Ho; ++oy) {
              int64_t iy = src_index(oy, i, g.sh, g.ph, g.dh, g.H);
              if (iy < 0) continue;
              for (int64_t ox = 0; ox < g.Wo; ++ox) {
                int64_t ix = src_index(ox, j, g.sw, g.pw, g.dw, g.W);
                if (ix >= 0)
                  acc += gy[((n * g.O + o) * g.Ho + oy) * g.Wo + ox] * x[((n * g.C + c) * g.H + iy) * g.W + ix];
              }
            }
          gw[(r * g.kh + i) * g.kw + j] = acc;
        }
    }
  });
  if (gb)
    for (int64_t o = 0; o < g.O; ++o) {
      T acc = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t k = 0; k < g.Ho * g.Wo; ++k) acc += gy[(n * g.O + o) * g.Ho * g.Wo + k];
      gb[o] = acc;
    }
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr()) : nullptr;
}

void zero_fill(const Tensor& t) { std::memset(t.data_ptr(), 0, t.nbytes()); }

bool use_onednn(const ConvGeom& g, DType dt) {
  return (dt == DType::Float32 || (dt == DType::BFloat16 && bf16_native())) && g.N * g.C * g.H * g.W > 0 &&
         g.O * g.kh * g.kw > 0 && onednn_ok(g);
}

ConvGeom with_dtype(const ConvGeom& g, DType dt) {
  ConvGeom r = g;
  r.dt = dt;
  return r;
}

// bfloat16 where oneDNN's bf16 primitives don't run (no AVX512-BF16, a forced lower ISA level, a
// padding oneDNN can't take): the operands widened (exactly), float32, rounded once.
bool bf16_via_f32(const Tensor& t) { return t.dtype() == DType::BFloat16; }
Tensor widen_bf16(const Tensor& t) { return t.defined() ? t.to(DType::Float32) : t; }

}  // namespace

bool conv2d_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvForwardOptions& options) {
  if (y.numel() == 0) return false;
  if (use_onednn(g, y.dtype())) return forward_onednn(with_dtype(g, y.dtype()), x, w, b, y, options);
  if (options.prepacked) packed_weights::ensure_plain(w);  // the paths below read it plain
  if (bf16_via_f32(y)) {
    ConvForwardOptions o = options;
    o.prepacked = false;  // packed copies are keyed on the weight's storage, not a widened copy's
    Tensor yf = options.accumulate ? y.to(DType::Float32) : empty(y.shape(), {.dtype = DType::Float32});
    bool applied = conv2d_forward(g, widen_bf16(x), widen_bf16(w), widen_bf16(b), yf, o);
    copy_into(y, yf);
    return applied;
  }
  TANDEM_DISPATCH_FLOAT(y.dtype(), "conv2d", [&] {
    forward_ref<scalar_t>(g, ptr_or_null<scalar_t>(x), ptr_or_null<scalar_t>(w), ptr_or_null<scalar_t>(b),
                          static_cast<scalar_t*>(y.data_ptr()));
  });
  return false;
}

bool conv2d_blocked_supported(const ConvGeom& g) {
  return conv2d_blocked_groups_ok(g) && g.C * g.H * g.W > 0 && g.O * g.kh * g.kw > 0 &&
         onednn_ok(g);
}

// NOTE: oneDNN has blocked (nChw16c) kernels for depthwise convolutions (the last block
// padded when C is not a multiple of 16) and for groups of whole 16-channel blocks; other
// grouped convolutions would take its reference kernel there.
bool conv2d_blocked_groups_ok(const ConvGeom& g) {
  if (g.groups == 1) return true;
  if (g.groups <= 0 || g.C % g.groups != 0 || g.O % g.groups != 0) return false;
  const bool depthwise = g.groups == g.C && g.O == g.C;
  return depthwise || ((g.C / g.groups) % 16 == 0 && (g.O / g.groups) % 16 == 0);
}

bool conv2d_forward_blocked(const ConvGeom& g, const Tensor& x, bool x_blocked, const Tensor& w, const Tensor& b,
                            const Tensor& y, const ConvForwardOptions& options) {
  TANDEM_CHECK(conv2d_blocked_supported(g) && (g.groups == 1 || x_blocked),
               "conv2d_blocked: unsupported geometry (input [{}, {}, {}, {}]{}, {} output channels, groups "
               "{}): needs groups 1 or, with a blocked input, depthwise or groups of multiples of 16 "
               "channels, and a "
               "oneDNN-compatible padding; run the graph without the blocked_layout pass",
               g.N, g.C, g.H, g.W, x_blocked ? " blocked" : "", g.O, g.groups);
  TANDEM_CHECK(y.dtype() == DType::Float32 && x.dtype() == DType::Float32,
               "conv2d_blocked: float32 only, got input {} and output {}", x.dtype(), y.dtype());
  if (y.numel() == 0) return false;
  // y_blocked: the primitive writes y's own storage (no scratch), so the sum reads y.
  return forward_onednn(g, x, w, b, y, options, x_blocked, true);
}

void conv2d_backward_data(const ConvGeom& g, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  if (gx.numel() == 0) return;
  if (gy.numel() == 0 || w.numel() == 0) {
    zero_fill(gx);
    return;
  }
  if (use_onednn(g, gx.dtype())) return backward_data_onednn(with_dtype(g, gx.dtype()), gy, w, gx);
  if (bf16_via_f32(gx)) {
    Tensor gxf = empty(gx.shape(), {.dtype = DType::Float32});
    conv2d_backward_data(g, widen_bf16(gy), widen_bf16(w), gxf);
    return copy_into(gx, gxf);
  }
  TANDEM_DISPATCH_FLOAT(gx.dtype(), "conv2d_backward_data", [&] {
    backward_data_ref<scalar_t>(g, ptr_or_null<scalar_t>(gy), ptr_or_null<scalar_t>(w),
                                static_cast<scalar_t*>(gx.data_ptr()));
  });
}

void conv2d_backward_weights(const ConvGeom& g, const Tensor& x, const Tensor& gy, const Tensor& gw,
                             const Tensor& gb) {
  if (gw.numel() == 0 && (!gb.defined() || gb.numel() == 0)) return;
  if (gy.numel() == 0 || x.numel() == 0) {
    zero_fill(gw);
    if (gb.defined()) zero_fill(gb);
    return;
  }
  if (use_onednn(g, gw.dtype())) return backward_weights_onednn(with_dtype(g, gw.dtype()), x, gy, gw, gb);
  if (bf16_via_f32(gw)) {
    Tensor gwf = empty(gw.shape(), {.dtype = DType::Float32});
    Tensor gbf = gb.defined() ? empty(gb.shape(), {.dtype = DType::Float32}) : Tensor();
    conv2d_backward_weights(g, widen_bf16(x), widen_bf16(gy), gwf, gbf);
    copy_into(gw, gwf);
    if (gb.defined()) copy_into(gb, gbf);
    return;
  }
  TANDEM_DISPATCH_FLOAT(gw.dtype(), "conv2d_backward_weights", [&] {
    backward_weights_ref<scalar_t>(g, ptr_or_null<scalar_t>(x), ptr_or_null<scalar_t>(gy),
                                   static_cast<scalar_t*>(gw.data_ptr()),
                                   gb.defined() ? static_cast<scalar_t*>(gb.data_ptr()) : nullptr);
  });
}

}  // namespace tandem::cpu
