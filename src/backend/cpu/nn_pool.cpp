// Pooling kernels (see nn_kernels.h). Work is split over planes (n, c); inside a
// plane the loops run one output row at a time with the window offset outermost and
// the output column innermost, so the inner loop is a plain (strided) sweep the
// compiler vectorizes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/loops.h"
#include "backend/cpu/nn_kernels.h"
#include "backend/cpu/nn_simd.h"

namespace tandem::cpu {
namespace {

// Planes per parallel chunk: enough work (~64K elements) to pay for a thread.
int64_t plane_grain(int64_t plane_elems) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(plane_elems, 1));
}

// NaN wins, then the larger value; ties keep the earlier one.
template <typename T> TANDEM_NN_INLINE bool takes(T v, T best) { return v > best || v != v; }

// Output columns [lo, hi) whose window column ow*sw + off lies inside [0, W).
TANDEM_NN_INLINE void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t OW, int64_t* lo,
                                 int64_t* hi) {
  *lo = off < 0 ? (-off + sw - 1) / sw : 0;
  *hi = W - 1 - off < 0 ? 0 : std::min<int64_t>(OW, (W - 1 - off) / sw + 1);
  if (*hi < *lo) *hi = *lo;
}

// 2x2 windows, stride 2, no padding or dilation, every window inside the input:
// the common case, with a dedicated loop.
bool is_2x2(const Pool2d& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 &&
         p.dh == 1 && p.dw == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

using nn_simd::MaskN;
using nn_simd::VecN;

// Lane-wise `takes` as a mask.
template <typename V> TANDEM_NN_INLINE auto takes_v(V v, V best) { return (v > best) | (v != v); }

// One output row of a 2x2/stride-2 max pool, N outputs per step. The last step is
// moved back to end at OW (overlapping the previous one) instead of a scalar tail:
// rows are short (14, 28, 56 outputs) and recomputing a few outputs is cheaper
// than branchy scalar code. Needs OW >= N.
template <typename T, int N>
TANDEM_NN_INLINE void max2x2_row_v(const T* r0, const T* r1, T* y, int64_t OW) {
  using V = VecN<T, N>;
  using nn_simd::loadv;
  constexpr auto seq = std::make_index_sequence<N>();
  for (int64_t ow = 0;; ow += N) {
    if (ow + N > OW) ow = OW - N;
    V a0 = loadv<V>(r0 + 2 * ow), a1 = loadv<V>(r0 + 2 * ow + N);
    V b0 = loadv<V>(r1 + 2 * ow), b1 = loadv<V>(r1 + 2 * ow + N);
    V m = nn_simd::even_lanes(a0, a1, seq), v = nn_simd::odd_lanes(a0, a1, seq);
    m = takes_v(v, m) ? v : m;
    v = nn_simd::even_lanes(b0, b1, seq);
    m = takes_v(v, m) ? v : m;
    v = nn_simd::odd_lanes(b0, b1, seq);
    m = takes_v(v, m) ? v : m;
    nn_simd::storev(y + ow, m);
    if (ow + N >= OW) break;
  }
}

// The gradient of one such row: each window's argmax gets g, the other three 0.
template <typename T, int N>
TANDEM_NN_INLINE void max2x2_bwd_row_v(const T* r0, const T* r1, const T* g, T* q0, T* q1,
                                       int64_t OW) {
  using V = VecN<T, N>;
  using M = MaskN<T, N>;
  using nn_simd::loadv;
  using nn_simd::storev;
  constexpr auto seq = std::make_index_sequence<N>();
  for (int64_t ow = 0;; ow += N) {
    if (ow + N > OW) ow = OW - N;
    V a0 = loadv<V>(r0 + 2 * ow), a1 = loadv<V>(r0 + 2 * ow + N);
    V b0 = loadv<V>(r1 + 2 * ow), b1 = loadv<V>(r1 + 2 * ow + N);
    V best = nn_simd::even_lanes(a0, a1, seq);
    M k{};
    V v = nn_simd::odd_lanes(a0, a1, seq);
    M t = takes_v(v, best);
    best = t ? v : best;
    k = t ? 1 : k;
    v = nn_simd::even_lanes(b0, b1, seq);
    t = takes_v(v, best);
    best = t ? v : best;
    k = t ? 2 : k;
    v = nn_simd::odd_lanes(b0, b1, seq);
    k = takes_v(v, best) ? 3 : k;
    V gv = loadv<V>(g + ow), zero{};
    V o0 = k == 0 ? gv : zero, o1 = k == 1 ? gv : zero, o2 = k == 2 ? gv : zero, o3 = k == 3 ? gv : zero;
    storev(q0 + 2 * ow, nn_simd::zip_lanes<false>(o0, o1, seq));
    storev(q0 + 2 * ow + N, nn_simd::zip_lanes<true>(o0, o1, seq));
    storev(q1 + 2 * ow, nn_simd::zip_lanes<false>(o2, o3, seq));
    storev(q1 + 2 * ow + N, nn_simd::zip_lanes<true>(o2, o3, seq));
    if (ow + N >= OW) break;
  }
}

// Picks the widest vector that fits the row (64, 32, 16 bytes), else scalar code.
template <typename T>
TANDEM_NN_INLINE void max2x2_row(const T* r0, const T* r1, T* y, int64_t OW) {
  constexpr int L = static_cast<int>(nn_simd::kLanes<T>);
  if (OW >= L) return max2x2_row_v<T, L>(r0, r1, y, OW);
  if (OW >= L / 2) return max2x2_row_v<T, L / 2>(r0, r1, y, OW);
  if (OW >= L / 4) return max2x2_row_v<T, L / 4>(r0, r1, y, OW);
  for (int64_t ow = 0; ow < OW; ++ow) {
    T m = r0[2 * ow];
    T v = r0[2 * ow + 1];
    m = takes(v, m) ? v : m;
    v = r1[2 * ow];
    m = takes(v, m) ? v : m;
    v = r1[2 * ow + 1];
    y[ow] = takes(v, m) ? v : m;
  }
}

template <typename T>
TANDEM_NN_INLINE void max2x2_bwd_row(const T* r0, const T* r1, const T* g, T* q0, T* q1, int64_t OW) {
  constexpr int L = static_cast<int>(nn_simd::kLanes<T>);
  if (OW >= L) return max2x2_bwd_row_v<T, L>(r0, r1, g, q0, q1, OW);
  if (OW >= L / 2) return max2x2_bwd_row_v<T, L / 2>(r0, r1, g, q0, q1, OW);
  if (OW >= L / 4) return max2x2_bwd_row_v<T, L / 4>(r0, r1, g, q0, q1, OW);
  for (int64_t ow = 0; ow < OW; ++ow) {
    T m = r0[2 * ow];
    int k = 0;
    T v = r0[2 * ow + 1];
    if (takes(v, m)) m = v, k = 1;
    v = r1[2 * ow];
    if (takes(v, m)) m = v, k = 2;
    v = r1[2 * ow + 1];
    if (takes(v, m)) k = 3;
    q0[2 * ow] = k == 0 ? g[ow] : T(0);
    q0[2 * ow + 1] = k == 1 ? g[ow] : T(0);
    q1[2 * ow] = k == 2 ? g[ow] : T(0);
    q1[2 * ow + 1] = k == 3 ? g[ow] : T(0);
  }
}

template <typename T> TANDEM_NN_INLINE void max_plane_impl(const Pool2d& p, const T* x, T* y) {
  if (is_2x2(p)) {
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const T* r0 = x + 2 * oh * p.W;
      max2x2_row(r0, r0 + p.W, y + oh * p.OW, p.OW);
    }
    return;
  }
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    T* yr = y + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow) yr[ow] = ninf;
    for (int64_t i = 0; i < p.kh; ++i) {
      int64_t ih = oh * p.sh - p.ph + i * p.dh;
      if (ih < 0 || ih >= p.H) continue;
      const T* xr = x + ih * p.W;
      for (int64_t j = 0; j < p.kw; ++j) {
        int64_t off = j * p.dw - p.pw, lo, hi;
        valid_cols(off, p.sw, p.W, p.OW, &lo, &hi);
        for (int64_t ow = lo; ow < hi; ++ow) {
          T v = xr[ow * p.sw + off];
          yr[ow] = takes(v, yr[ow]) ? v : yr[ow];
        }
      }
    }
  }
}

// Argmax (plane offset) of each window of output row oh; -1 for a window with no
// input element (possible only with dilation larger than the padded border).
template <typename T>
TANDEM_NN_INLINE void argmax_row(const Pool2d& p, const T* x, int64_t oh, T* best, int64_t* idx) {
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    best[ow] = -std::numeric_limits<T>::infinity();
    idx[ow] = -1;
  }
  for (int64_t i = 0; i < p.kh; ++i) {
    int64_t ih = oh * p.sh - p.ph + i * p.dh;
    if (ih < 0 || ih >= p.H) continue;
    const T* xr = x + ih * p.W;
    for (int64_t j = 0; j < p.kw; ++j) {
      int64_t off = j * p.dw - p.pw, lo, hi;
      valid_cols(off, p.sw, p.W, p.OW, &lo, &hi);
      for (int64_t ow = lo; ow < hi; ++ow) {
        T v = xr[ow * p.sw + off];
        bool t = takes(v, best[ow]);
        best[ow] = t ? v : best[ow];
        idx[ow] = t ? ih * p.W + ow * p.sw + off : idx[ow];
      }
    }
  }
  // A window of -inf only: PyTorch's argmax is its first element.
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    if (idx[ow] >= 0) continue;
    for (int64_t i = 0; i < p.kh && idx[ow] < 0; ++i) {
      int64_t ih = oh * p.sh - p.ph + i * p.dh;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t j = 0; j < p.kw; ++j) {
        int64_t iw = ow * p.sw - p.pw + j * p.dw;
        if (iw >= 0 && iw < p.W) {
          idx[ow] = ih * p.W + iw;
          break;
        }
      }
    }
  }
}

// Scratch row buffers for one chunk of planes.
template <typename T> struct RowScratch {
  std::vector<T> best;
  std::vector<int64_t> idx;
  explicit RowScratch(int64_t n) : best(n), idx(n) {}
};

template <typename T>
TANDEM_NN_INLINE void max_bwd_plane_impl(const Pool2d& p, const T* g, const T* x, T* gx,
                                         T* best, int64_t* idx) {
  if (is_2x2(p)) {
    // Every input element belongs to at most one window: write gx in one sweep.
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const T* r0 = x + 2 * oh * p.W;
      T* q0 = gx + 2 * oh * p.W;
      T* q1 = q0 + p.W;
      max2x2_bwd_row(r0, r0 + p.W, g + oh * p.OW, q0, q1, p.OW);
      for (int64_t w = 2 * p.OW; w < p.W; ++w) q0[w] = q1[w] = T(0);
    }
    std::memset(gx + 2 * p.OH * p.W, 0, sizeof(T) * (p.H - 2 * p.OH) * p.W);
    return;
  }
  std::memset(gx, 0, sizeof(T) * p.H * p.W);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    argmax_row(p, x, oh, best, idx);
    const T* gr = g + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow)
      if (idx[ow] >= 0) gx[idx[ow]] += gr[ow];
  }
}

template <typename T>
TANDEM_NN_INLINE void max_gather_plane_impl(const Pool2d& p, const T* src, const T* x, T* y,
                                            T* best, int64_t* idx) {
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    argmax_row(p, x, oh, best, idx);
    T* yr = y + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow) yr[ow] = idx[ow] >= 0 ? src[idx[ow]] : T(0);
  }
}

TANDEM_NN_CLONES void max_plane(const Pool2d& p, const float* x, float* y) { max_plane_impl(p, x, y); }
TANDEM_NN_CLONES void max_plane(const Pool2d& p, const double* x, double* y) { max_plane_impl(p, x, y); }
TANDEM_NN_CLONES void max_bwd_plane(const Pool2d& p, const float* g, const float* x, float* gx,
                                    float* best, int64_t* idx) {
  max_bwd_plane_impl(p, g, x, gx, best, idx);
}
TANDEM_NN_CLONES void max_bwd_plane(const Pool2d& p, const double* g, const double* x, double* gx,
                                    double* best, int64_t* idx) {
  max_bwd_plane_impl(p, g, x, gx, best, idx);
}
TANDEM_NN_CLONES void max_gather_plane(const Pool2d& p, const float* s, const float* x, float* y,
                                       float* best, int64_t* idx) {
  max_gather_plane_impl(p, s, x, y, best, idx);
}
TANDEM_NN_CLONES void max_gather_plane(const Pool2d& p, const double* s, const double* x, double* y,
                                       double* best, int64_t* idx) {
  max_gather_plane_impl(p, s, x, y, best, idx);
}

// The rows [hs, he) and the divisor of the windows of output row oh (avg_pool2d).
struct AvgRow {
  int64_t hstart, hend, hs, he;
};
AvgRow avg_row(const Pool2d& p, int64_t oh) {
  AvgRow r;
  r.hstart = oh * p.sh - p.ph;
  r.hend = std::min(r.hstart + p.kh, p.H + p.ph);
  r.hs = std::max<int64_t>(r.hstart, 0);
  r.he = std::min(r.hend, p.H);
  return r;
}
template <typename T>
T avg_divisor(const Pool2d& p, const AvgRow& r, int64_t ow, bool count_include_pad) {
  int64_t wstart = ow * p.sw - p.pw;
  int64_t wend = std::min(wstart + p.kw, p.W + p.pw);
  if (count_include_pad) return static_cast<T>((r.hend - r.hstart) * (wend - wstart));
  int64_t ws = std::max<int64_t>(wstart, 0), we = std::min(wend, p.W);
  return static_cast<T>((r.he - r.hs) * (we - ws));
}

// Adaptive windows: [floor(o*in/out), ceil((o+1)*in/out)).
int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

}  // namespace

template <typename T> void max_pool2d_fwd(const Pool2d& p, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) max_plane(p, x + k * in, y + k * out);
  });
}

template <typename T> void max_pool2d_bwd(const Pool2d& p, const T* g, const T* x, T* gx) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    RowScratch<T> s(p.OW);
    for (int64_t k = b; k < e; ++k)
      max_bwd_plane(p, g + k * out, x + k * in, gx + k * in, s.best.data(), s.idx.data());
  });
}

template <typename T> void max_pool2d_gather(const Pool2d& p, const T* src, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    RowScratch<T> s(p.OW);
    for (int64_t k = b; k < e; ++k)
      max_gather_plane(p, src + k * in, x + k * in, y + k * out, s.best.data(), s.idx.data());
  });
}

template <typename T>
void avg_pool2d_fwd(const Pool2d& p, bool count_include_pad, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const T* xp = x + k * in;
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        T* yr = y + k * out + oh * p.OW;
        std::fill(yr, yr + p.OW, T(0));
        AvgRow r = avg_row(p, oh);
        for (int64_t ih = r.hs; ih < r.he; ++ih) {
          const T* xr = xp + ih * p.W;
          for (int64_t j = 0; j < p.kw; ++j) {
            int64_t off = j - p.pw, lo, hi;
            valid_cols(off, p.sw, p.W, p.OW, &lo, &hi);
            for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xr[ow * p.sw + off];
          }
        }
        for (int64_t ow = 0; ow < p.OW; ++ow)
          yr[ow] /= avg_divisor<T>(p, r, ow, count_include_pad);
      }
    }
  });
}

template <typename T>
void avg_pool2d_bwd(const Pool2d& p, bool count_include_pad, const T* g, T* gx) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    std::vector<T> gd(p.OW);
    for (int64_t k = b; k < e; ++k) {
      T* gp = gx + k * in;
      std::fill(gp, gp + in, T(0));
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        AvgRow r = avg_row(p, oh);
        const T* gr = g + k * out + oh * p.OW;
        for (int64_t ow = 0; ow < p.OW; ++ow)
          gd[ow] = gr[ow] / avg_divisor<T>(p, r, ow, count_include_pad);
        for (int64_t ih = r.hs; ih < r.he; ++ih) {
          T* qr = gp + ih * p.W;
          for (int64_t j = 0; j < p.kw; ++j) {
            int64_t off = j - p.pw, lo, hi;
            valid_cols(off, p.sw, p.W, p.OW, &lo, &hi);
            for (int64_t ow = lo; ow < hi; ++ow) qr[ow * p.sw + off] += gd[ow];
          }
        }
      }
    }
  });
}

template <typename T> void adaptive_avg_pool2d_fwd(const Pool2d& p, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const T* xp = x + k * in;
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        int64_t hs = adaptive_start(oh, p.H, p.OH), he = adaptive_end(oh, p.H, p.OH);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          int64_t ws = adaptive_start(ow, p.W, p.OW), we = adaptive_end(ow, p.W, p.OW);
          T s = 0;
          for (int64_t ih = hs; ih < he; ++ih)
            for (int64_t iw = ws; iw < we; ++iw) s += xp[ih * p.W + iw];
          y[k * out + oh * p.OW + ow] = s / static_cast<T>((he - hs) * (we - ws));
        }
      }
    }
  });
}

template <typename T> void adaptive_avg_pool2d_bwd(const Pool2d& p, const T* g, T* gx) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      T* gp = gx + k * in;
      std::fill(gp, gp + in, T(0));
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        int64_t hs = adaptive_start(oh, p.H, p.OH), he = adaptive_end(oh, p.H, p.OH);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          int64_t ws = adaptive_start(ow, p.W, p.OW), we = adaptive_end(ow, p.W, p.OW);
          T v = g[k * out + oh * p.OW + ow] / static_cast<T>((he - hs) * (we - ws));
          for (int64_t ih = hs; ih < he; ++ih)
            for (int64_t iw = ws; iw < we; ++iw) gp[ih * p.W + iw] += v;
        }
      }
    }
  });
}

#define TANDEM_NN_POOL_INSTANTIATE(T)                                                   \
  template void max_pool2d_fwd<T>(const Pool2d&, const T*, T*);                         \
  template void max_pool2d_bwd<T>(const Pool2d&, const T*, const T*, T*);               \
  template void max_pool2d_gather<T>(const Pool2d&, const T*, const T*, T*);            \
  template void avg_pool2d_fwd<T>(const Pool2d&, bool, const T*, T*);                   \
  template void avg_pool2d_bwd<T>(const Pool2d&, bool, const T*, T*);                   \
  template void adaptive_avg_pool2d_fwd<T>(const Pool2d&, const T*, T*);                \
  template void adaptive_avg_pool2d_bwd<T>(const Pool2d&, const T*, T*);
TANDEM_NN_POOL_INSTANTIATE(float)
TANDEM_NN_POOL_INSTANTIATE(double)
#undef TANDEM_NN_POOL_INSTANTIATE

}  // namespace tandem::cpu
