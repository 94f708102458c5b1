#include "blocked_layout.h"

#include <algorithm>
#include <cstring>

#include "loops.h"
#include "onednn.h"

namespace tandem::cpu {
namespace {

namespace dn = onednn;
using dnnl::memory;
using Tag = memory::format_tag;

memory::desc blocked_md(int64_t N, int64_t C, int64_t H, int64_t W) {
  return memory::desc({N, C, H, W}, memory::data_type::f32, Tag::nChw16c);
}

void check_blocked(const Tensor& t, const Shape& expected, const char* op, const char* what) {
  TANDEM_CHECK(t.dtype() == DType::Float32 && t.shape() == expected && t.is_contiguous(),
               "{}: {} must be a contiguous float32 tensor of shape {} (blocked [N, ceil(C/16), H, W, 16]), "
               "got {} {}{}", op, what, shape_str(expected), t.dtype(), shape_str(t.shape()),
               t.is_contiguous() ? "" : " (not contiguous)");
}

struct PoolPrim {
  dnnl::pooling_v2_forward prim;
  dn::Args args;
};

struct ReorderPrim {
  dnnl::reorder prim;
  dn::Args args;
};

}  // namespace

void max_pool2d_blocked(const Pool2d& p, int64_t N, int64_t C, const Tensor& x, const Tensor& y) {
  TANDEM_CHECK(C % 16 == 0, "max_pool2d_blocked: channels ({}) must be divisible by 16", C);
  check_blocked(x, {N, C / 16, p.H, p.W, 16}, "max_pool2d_blocked", "input");
  check_blocked(y, {N, C / 16, p.OH, p.OW, 16}, "max_pool2d_blocked", "output");
  if (y.numel() == 0) return;
  // oneDNN's output size is floor((H + pl + pr - dilated k) / s) + 1: the smallest
  // non-negative right padding giving OH (ceil_mode's OH needs some; floor mode's none).
  auto pad_r = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t pl, int64_t d) {
    return std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in - pl);
  };
  dn::Key key("max_pool2d_blocked");
  for (int64_t v : {N, C, p.H, p.W, p.OH, p.OW, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw}) key.add(v);
  auto prim = dn::cached<PoolPrim>(key, [&] {
    using P = dnnl::pooling_v2_forward;
    memory::desc src = blocked_md(N, C, p.H, p.W), dst = blocked_md(N, C, p.OH, p.OW);
    P::primitive_desc pd(
        P::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst, {p.sh, p.sw},
                {p.kh, p.kw}, {p.dh - 1, p.dw - 1}, {p.ph, p.pw},
                {pad_r(p.H, p.OH, p.kh, p.sh, p.ph, p.dh), pad_r(p.W, p.OW, p.kw, p.sw, p.pw, p.dw)}),
        dn::attr(), dn::engine());
    PoolPrim r{P(pd), {}};
    r.args.add(DNNL_ARG_SRC, src).add(DNNL_ARG_DST, dst);
    return r;
  });
  prim->args.execute(prim->prim, {x.data_ptr(), y.data_ptr()});
}

namespace {

// NCHW t [N, C, H, W] <-> blocked b [N, ceil(C/16), H, W, 16], either way (a cached oneDNN
// reorder; into the blocked layout it zeroes the last block's padding).
void reorder_blocked(const Tensor& t, const Tensor& b, bool to_blocked) {
  const char* op = to_blocked ? "to_blocked" : "from_blocked";
  TANDEM_CHECK(t.dim() == 4 && t.dtype() == DType::Float32 && t.is_contiguous(),
               "{}: the NCHW {} must be a contiguous float32 [N, C, H, W], got {} {}", op,
               to_blocked ? "input" : "output", t.dtype(), shape_str(t.shape()));
  const int64_t N = t.size(0), C = t.size(1), H = t.size(2), W = t.size(3);
  check_blocked(b, {N, (C + 15) / 16, H, W, 16}, op, to_blocked ? "output" : "input");
  if (t.numel() == 0) return;
  dn::Key key(op);
  for (int64_t v : {N, C, H, W}) key.add(v);
  auto prim = dn::cached<ReorderPrim>(key, [&] {
    memory::desc src = blocked_md(N, C, H, W);
    memory::desc dst(src.dims(), memory::data_type::f32, Tag::nchw);
    if (to_blocked) std::swap(src, dst);
    ReorderPrim r{dnnl::reorder(dnnl::reorder::primitive_desc(dn::engine(), src, dn::engine(), dst, dn::attr())), {}};
    r.args.add(DNNL_ARG_FROM, src).add(DNNL_ARG_TO, dst);
    return r;
  });
  if (to_blocked) prim->args.execute(prim->prim, {t.data_ptr(), b.data_ptr()});
  else prim->args.execute(prim->prim, {b.data_ptr(), t.data_ptr()});
}

}  // namespace

void to_blocked(const Tensor& x, const Tensor& y) { reorder_blocked(x, y, true); }

void gather_channels_blocked(const std::vector<Tensor>& xs, const std::vector<int64_t>& channels,
                             const std::vector<int64_t>& index, const Tensor& y) {
  const char* op = "gather_channels_blocked";
  TANDEM_CHECK(!xs.empty() && xs.size() == channels.size(), "{}: {} inputs but {} channel counts", op, xs.size(),
               channels.size());
  TANDEM_CHECK(xs[0].dim() == 5, "{}: inputs must be blocked [N, ceil(C/16), H, W, 16], got {}", op,
               shape_str(xs[0].shape()));
  const int64_t N = xs[0].size(0), H = xs[0].size(2), W = xs[0].size(3), HW = H * W;
  // Where each channel of the concatenation lives: input, block, lane.
  struct Src {
    const float* base;  // the input's data
    int64_t blocks, block, lane;
  };
  std::vector<Src> cat;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_blocked(xs[i], {N, (channels[i] + 15) / 16, H, W, 16}, op, "every input");
    for (int64_t c = 0; c < channels[i]; ++c)
      cat.push_back({static_cast<const float*>(xs[i].data_ptr()), xs[i].size(1), c / 16, c % 16});
  }
  const int64_t C = static_cast<int64_t>(index.size()), OB = (C + 15) / 16;
  check_blocked(y, {N, OB, H, W, 16}, op, "output");
  std::vector<const Src*> src(OB * 16, nullptr);  // nullptr: padding
  for (int64_t o = 0; o < C; ++o) {
    TANDEM_CHECK(index[o] >= 0 && index[o] < static_cast<int64_t>(cat.size()),
                 "{}: channel index {} out of range for {} input channels", op, index[o], cat.size());
    src[o] = &cat[index[o]];
  }
  // Output blocks that are one whole input block, in order.
  std::vector<char> whole(OB, 0);
  for (int64_t ob = 0; ob < OB; ++ob) {
    bool w = src[ob * 16] != nullptr && src[ob * 16]->lane == 0;
    for (int64_t l = 1; w && l < 16; ++l) {
      const Src* s = src[ob * 16 + l];
      w = s != nullptr && s->base == src[ob * 16]->base && s->block == src[ob * 16]->block && s->lane == l;
    }
    whole[ob] = w;
  }
  float* out = static_cast<float*>(y.data_ptr());
  parallel_for(N * OB, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / OB, ob = r % OB;
      float* dst = out + r * HW * 16;
      if (whole[ob]) {
        const Src* s = src[ob * 16];
        std::memcpy(dst, s->base + (n * s->blocks + s->block) * HW * 16, sizeof(float) * HW * 16);
        continue;
      }
      // Lane by lane per pixel (measured: as fast as runs of lanes or SSE interleaves here, the
      // copy is bound by memory); the padding lanes read lane 0's source, then are zeroed.
      const float* from[16];
      bool padded = false;
      for (int64_t l = 0; l < 16; ++l) {
        const Src* s = src[ob * 16 + l] ? src[ob * 16 + l] : src[ob * 16];
        from[l] = s->base + (n * s->blocks + s->block) * HW * 16 + s->lane;
        padded |= src[ob * 16 + l] == nullptr;
      }
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t l = 0; l < 16; ++l) dst[p * 16 + l] = from[l][p * 16];
      if (padded)
        for (int64_t l = 0; l < 16; ++l)
          if (src[ob * 16 + l] == nullptr)
            for (int64_t p = 0; p < HW; ++p) dst[p * 16 + l] = 0.0f;
    }
  });
}

void from_blocked(const Tensor& x, const Tensor& y) { reorder_blocked(y, x, false); }

}  // namespace tandem::cpu
