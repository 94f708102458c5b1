// max_pool2d kernels (see nn_kernels.h). Work is split over planes (n, c).
//
// Inside a plane, N output columns at a time keep their running maximum (and argmax)
// in vector registers while the whole window is scanned, row-major like PyTorch, so the
// argmax tie rule holds lane by lane. Window columns left of 0 or right of W-1 are
// handled by scanning a copy of the input row padded with -inf (which never wins), so
// every output column takes the vector path. 2x2 windows with stride 2 get a dedicated
// loop that also writes the whole gradient in one sweep.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/loops.h"
#include "backend/cpu/nn_kernels.h"
#include "backend/cpu/nn_simd.h"

namespace tandem::cpu {
namespace {

// NaN wins, then the larger value; ties keep the earlier one.
template <typename T> TANDEM_NN_INLINE bool takes(T v, T best) { return v > best || v != v; }

// 2x2 windows, stride 2, no padding or dilation, every window inside the input.
bool is_2x2(const Pool2d& p) {
  return p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0 &&
         p.dh == 1 && p.dw == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

// ---- 2x2 windows, stride 2 ------------------------------------------------------

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

// ---- any window ------------------------------------------------------------------

// What the general path needs to know once per kernel call.
struct WinPlan {
  std::vector<int64_t> off;  // window column offsets j*dw - pw
  bool padded = false;       // some window column lies outside [0, W): scan padded copies
  int64_t lead = 0;          // padded row: -inf columns before input column 0
  int64_t width = 0;         // padded row length
};
WinPlan plan_windows(const Pool2d& p) {
  WinPlan w;
  for (int64_t j = 0; j < p.kw; ++j) w.off.push_back(j * p.dw - p.pw);
  // Last column read: the last window's last column, plus the odd element after it
  // that a stride-2 vector load also reads.
  const int64_t last = (p.OW - 1) * p.sw + w.off.back() + (p.sw == 2 ? 1 : 0);
  w.padded = p.pw > 0 || last >= p.W;
  w.lead = p.pw;
  w.width = p.pw + std::max(p.W, last + 1);
  return w;
}

// Per-chunk-of-planes scratch.
template <typename T> struct MaxScratch {
  WinPlan plan;
  std::vector<T> best, pad, colmax;
  std::vector<const T*> rows;
  std::vector<int32_t> idx32;  // used when narrow_index(), else idx64
  std::vector<int64_t> idx64;
  static bool narrow_index(const Pool2d& p) { return sizeof(T) == 4 && p.H * p.W < (int64_t{1} << 31); }
  explicit MaxScratch(const Pool2d& p)
      : plan(plan_windows(p)), best(p.OW), pad(plan.padded ? p.kh * plan.width : 0),
        colmax(std::max<int64_t>(1, (p.OW - 1) * p.sw + plan.off.back() - plan.off.front() + 1)), rows(p.kh),
        idx32(narrow_index(p) ? p.OW : 0), idx64(narrow_index(p) ? 0 : p.OW) {}
};

// rows[i][c] = input column c of window row i of output row oh (rows[i] null when the
// row is outside the input), through a -inf padded copy when the plan says so.
template <typename T>
TANDEM_NN_INLINE void window_rows(const Pool2d& p, const WinPlan& w, const T* x, int64_t oh, T* pad,
                                  const T** rows) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < p.kh; ++i) {
    const int64_t ih = oh * p.sh - p.ph + i * p.dh;
    if (ih < 0 || ih >= p.H) {
      rows[i] = nullptr;
    } else if (!w.padded) {
      rows[i] = x + ih * p.W;
    } else {
      T* r = pad + i * w.width;
      for (int64_t c = 0; c < w.lead; ++c) r[c] = ninf;
      std::memcpy(r + w.lead, x + ih * p.W, sizeof(T) * p.W);
      for (int64_t c = w.lead + p.W; c < w.width; ++c) r[c] = ninf;
      rows[i] = r + w.lead;
    }
  }
}

// Max (and argmax) of the windows of outputs [ow, ow + N) of row oh.
template <typename T, typename I, bool kIdx, int N, int S>
TANDEM_NN_INLINE void window_chunk(const Pool2d& p, const WinPlan& w, const T* const* rows,
                                   int64_t oh, int64_t ow, T* best_out, I* idx_out) {
  using V = VecN<T, N>;
  using M = VecN<I, N>;
  constexpr auto seq = std::make_index_sequence<N>();
  M step{};
  for (int k = 0; k < N; ++k) step[k] = static_cast<I>(k * S);
  V best = V{} - std::numeric_limits<T>::infinity();
  M idx = M{} - 1;
  for (int64_t i = 0; i < p.kh; ++i) {
    const T* row = rows[i];
    if (!row) continue;
    const int64_t row_off = (oh * p.sh - p.ph + i * p.dh) * p.W;
    for (int64_t j = 0; j < p.kw; ++j) {
      const int64_t col = w.off[j] + ow * S;
      V v;
      if constexpr (S == 1) {
        v = nn_simd::loadv<V>(row + col);
      } else {
        v = nn_simd::even_lanes(nn_simd::loadv<V>(row + col), nn_simd::loadv<V>(row + col + N), seq);
      }
      auto t = takes_v(v, best);
      best = t ? v : best;
      if constexpr (kIdx) idx = t ? step + static_cast<I>(row_off + col) : idx;
    }
  }
  nn_simd::storev(best_out + ow, best);
  if constexpr (kIdx) nn_simd::storev(idx_out + ow, idx);
}

// All outputs of row oh in N-lane chunks, the last one moved back to end at OW
// (recomputing a few outputs beats a scalar tail on rows of 7-56 outputs).
template <typename T, typename I, bool kIdx, int N>
TANDEM_NN_INLINE void window_chunks(const Pool2d& p, const WinPlan& w, const T* const* rows,
                                    int64_t oh, T* best, I* idx) {
  for (int64_t ow = 0;; ow += N) {
    if (ow + N > p.OW) ow = p.OW - N;
    if (p.sw == 1) window_chunk<T, I, kIdx, N, 1>(p, w, rows, oh, ow, best, idx);
    else window_chunk<T, I, kIdx, N, 2>(p, w, rows, oh, ow, best, idx);
    if (ow + N >= p.OW) break;
  }
}

// One output column, straight from x (strides above 2, very short rows).
template <typename T, typename I, bool kIdx>
TANDEM_NN_INLINE void window_one(const Pool2d& p, const WinPlan& w, const T* x, int64_t oh,
                                 int64_t ow, T* best_out, I* idx_out) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t idx = -1;
  for (int64_t i = 0; i < p.kh; ++i) {
    const int64_t ih = oh * p.sh - p.ph + i * p.dh;
    if (ih < 0 || ih >= p.H) continue;
    for (int64_t j = 0; j < p.kw; ++j) {
      const int64_t iw = ow * p.sw + w.off[j];
      if (iw < 0 || iw >= p.W) continue;
      T v = x[ih * p.W + iw];
      if (takes(v, best)) best = v, idx = ih * p.W + iw;
    }
  }
  best_out[ow] = best;
  if constexpr (kIdx) idx_out[ow] = static_cast<I>(idx);
}

// The maximum (and, with kIdx, its plane offset) of each window of output row oh. PyTorch's
// argmax: the first maximum in row-major window order, or the last NaN; a window of -inf
// only gives its first element; -1 for a window with no input element (possible only
// with a dilation larger than the padded border). I is int32_t for float planes under
// 2^31 elements, so index and value lanes match.
template <typename T, typename I, bool kIdx>
TANDEM_NN_INLINE void window_max_row(const Pool2d& p, MaxScratch<T>& s, const T* x, int64_t oh,
                                     T* best, I* idx) {
  constexpr int L = static_cast<int>(nn_simd::kLanes<T>);
  constexpr bool lanes_match = !kIdx || sizeof(I) == sizeof(T);
  const WinPlan& w = s.plan;
  bool done = false;
  if constexpr (lanes_match) {
    if ((p.sw == 1 || p.sw == 2) && p.OW >= L / 4) {
      window_rows(p, w, x, oh, s.pad.data(), s.rows.data());
      const T* const* rows = s.rows.data();
      if (p.OW >= L) window_chunks<T, I, kIdx, L>(p, w, rows, oh, best, idx);
      else if (p.OW >= L / 2) window_chunks<T, I, kIdx, L / 2>(p, w, rows, oh, best, idx);
      else window_chunks<T, I, kIdx, L / 4>(p, w, rows, oh, best, idx);
      done = true;
    }
  }
  if (!done)
    for (int64_t ow = 0; ow < p.OW; ++ow) window_one<T, I, kIdx>(p, w, x, oh, ow, best, idx);
  if constexpr (!kIdx) return;
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    if (idx[ow] >= 0) continue;
    for (int64_t i = 0; i < p.kh && idx[ow] < 0; ++i) {
      int64_t ih = oh * p.sh - p.ph + i * p.dh;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t j = 0; j < p.kw; ++j) {
        int64_t iw = ow * p.sw + w.off[j];
        if (iw >= 0 && iw < p.W) {
          idx[ow] = static_cast<I>(ih * p.W + iw);
          break;
        }
      }
    }
  }
}

// Values only, any window: the maximum over the window's rows of each column the row of
// outputs reads (contiguous, so it vectorizes), then over each window's columns. Measured on
// a [8, 24, 112, 112] 3x3/stride-2/pad-1 pool (AVX-512, 1 thread): the lane-by-lane window
// scan with stride-2 shuffles compiled to per-lane extracts and was several times slower.
// The value is the same as the row-major scan's (NaN wins; only the sign of a zero tied with
// the other zero may differ).
template <typename T>
TANDEM_NN_INLINE void window_values_row(const Pool2d& p, MaxScratch<T>& s, const T* x, int64_t oh, T* y) {
  const WinPlan& w = s.plan;
  window_rows(p, w, x, oh, s.pad.data(), s.rows.data());
  const int64_t c0 = w.off.front(), c1 = (p.OW - 1) * p.sw + w.off.back();
  T* col = s.colmax.data() - c0;  // col[c] for c in [c0, c1]
  bool any = false;
  for (int64_t i = 0; i < p.kh; ++i) {
    const T* r = s.rows[i];
    if (r == nullptr) continue;
    if (!any) {
      std::memcpy(col + c0, r + c0, sizeof(T) * (c1 - c0 + 1));
      any = true;
      continue;
    }
    for (int64_t c = c0; c <= c1; ++c) col[c] = takes(r[c], col[c]) ? r[c] : col[c];
  }
  if (!any) {
    std::fill(y, y + p.OW, -std::numeric_limits<T>::infinity());
    return;
  }
  for (int64_t ow = 0; ow < p.OW; ++ow) {
    const T* c = col + ow * p.sw;
    T m = c[w.off[0]];
    for (int64_t j = 1; j < p.kw; ++j) m = takes(c[w.off[j]], m) ? c[w.off[j]] : m;
    y[ow] = m;
  }
}

template <typename T>
TANDEM_NN_INLINE void max_plane_impl(const Pool2d& p, MaxScratch<T>& s, const T* x, T* y) {
  if (is_2x2(p)) {
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const T* r0 = x + 2 * oh * p.W;
      max2x2_row(r0, r0 + p.W, y + oh * p.OW, p.OW);
    }
    return;
  }
  for (int64_t oh = 0; oh < p.OH; ++oh) window_values_row(p, s, x, oh, y + oh * p.OW);
}

template <typename T, typename I>
TANDEM_NN_INLINE void max_bwd_general(const Pool2d& p, MaxScratch<T>& s, const T* g, const T* x,
                                      T* gx, I* idx) {
  std::memset(gx, 0, sizeof(T) * p.H * p.W);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    window_max_row<T, I, true>(p, s, x, oh, s.best.data(), idx);
    const T* gr = g + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow)
      if (idx[ow] >= 0) gx[idx[ow]] += gr[ow];
  }
}

template <typename T>
TANDEM_NN_INLINE void max_bwd_plane_impl(const Pool2d& p, MaxScratch<T>& s, const T* g, const T* x,
                                         T* gx) {
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
  if (!s.idx32.empty()) max_bwd_general(p, s, g, x, gx, s.idx32.data());
  else max_bwd_general(p, s, g, x, gx, s.idx64.data());
}

template <typename T, typename I>
TANDEM_NN_INLINE void max_gather_general(const Pool2d& p, MaxScratch<T>& s, const T* src,
                                         const T* x, T* y, I* idx) {
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    window_max_row<T, I, true>(p, s, x, oh, s.best.data(), idx);
    T* yr = y + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ++ow) yr[ow] = idx[ow] >= 0 ? src[idx[ow]] : T(0);
  }
}

template <typename T>
void max_plane(const Pool2d& p, MaxScratch<T>& s, const T* x, T* y) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { max_plane_impl(p, s, x, y); });
}
template <typename T>
void max_bwd_plane(const Pool2d& p, MaxScratch<T>& s, const T* g, const T* x, T* gx) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA { max_bwd_plane_impl(p, s, g, x, gx); });
}
template <typename T>
void max_gather_plane(const Pool2d& p, MaxScratch<T>& s, const T* src, const T* x, T* y) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA {
    if (!s.idx32.empty()) max_gather_general(p, s, src, x, y, s.idx32.data());
    else max_gather_general(p, s, src, x, y, s.idx64.data());
  });
}

}  // namespace

template <typename T> void max_pool2d_fwd(const Pool2d& p, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    MaxScratch<T> s(p);
    for (int64_t k = b; k < e; ++k) max_plane(p, s, x + k * in, y + k * out);
  });
}

template <typename T> void max_pool2d_bwd(const Pool2d& p, const T* g, const T* x, T* gx) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    MaxScratch<T> s(p);
    for (int64_t k = b; k < e; ++k) max_bwd_plane(p, s, g + k * out, x + k * in, gx + k * in);
  });
}

template <typename T> void max_pool2d_gather(const Pool2d& p, const T* src, const T* x, T* y) {
  const int64_t in = p.H * p.W, out = p.OH * p.OW;
  parallel_for(p.planes, plane_grain(in), [&](int64_t b, int64_t e) {
    MaxScratch<T> s(p);
    for (int64_t k = b; k < e; ++k) max_gather_plane(p, s, src + k * in, x + k * in, y + k * out);
  });
}

template void max_pool2d_fwd<float>(const Pool2d&, const float*, float*);
template void max_pool2d_fwd<double>(const Pool2d&, const double*, double*);
template void max_pool2d_bwd<float>(const Pool2d&, const float*, const float*, float*);
template void max_pool2d_bwd<double>(const Pool2d&, const double*, const double*, double*);
template void max_pool2d_gather<float>(const Pool2d&, const float*, const float*, float*);
template void max_pool2d_gather<double>(const Pool2d&, const double*, const double*, double*);

}  // namespace tandem::cpu
