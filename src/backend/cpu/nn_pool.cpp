// Average pooling kernels (see nn_kernels.h; max pooling is in nn_maxpool.cpp). Work is
// split over planes (n, c); inside a plane the loops run one output row at a time with
// the window offset outermost and the output column innermost, so the inner loop is a
// plain (strided) sweep the compiler vectorizes.
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

// Output columns [lo, hi) whose window column ow*sw + off lies inside [0, W).
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t OW, int64_t* lo,
                                 int64_t* hi) {
  *lo = off < 0 ? (-off + sw - 1) / sw : 0;
  *hi = W - 1 - off < 0 ? 0 : std::min<int64_t>(OW, (W - 1 - off) / sw + 1);
  if (*hi < *lo) *hi = *lo;
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

// Adaptive pooling of one plane: the rows of an output row's windows are added into
// acc (a vectorized sweep), then each output sums its columns of acc. A 1x1 output
// (global pooling) is one contiguous sum.
template <typename T>
TANDEM_NN_INLINE void adaptive_fwd_plane_impl(const Pool2d& p, const T* x, T* y, T* acc) {
  if (p.OH == 1 && p.OW == 1) {
    y[0] = static_cast<T>(nn_simd::sum_run(x, p.H * p.W) / static_cast<double>(p.H * p.W));
    return;
  }
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t hs = adaptive_start(oh, p.H, p.OH), he = adaptive_end(oh, p.H, p.OH);
    std::copy(x + hs * p.W, x + (hs + 1) * p.W, acc);
    for (int64_t ih = hs + 1; ih < he; ++ih)
      for (int64_t iw = 0; iw < p.W; ++iw) acc[iw] += x[ih * p.W + iw];
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      const int64_t ws = adaptive_start(ow, p.W, p.OW), we = adaptive_end(ow, p.W, p.OW);
      T sum = 0;
      for (int64_t iw = ws; iw < we; ++iw) sum += acc[iw];
      y[oh * p.OW + ow] = sum / static_cast<T>((he - hs) * (we - ws));
    }
  }
}

// Its adjoint: acc[iw] collects g/count of the windows covering column iw of output
// row oh, then is added to every input row of those windows.
template <typename T>
TANDEM_NN_INLINE void adaptive_bwd_plane_impl(const Pool2d& p, const T* g, T* gx, T* acc) {
  if (p.OH == 1 && p.OW == 1) {
    const T v = g[0] / static_cast<T>(p.H * p.W);
    for (int64_t i = 0; i < p.H * p.W; ++i) gx[i] = v;
    return;
  }
  std::fill(gx, gx + p.H * p.W, T(0));
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t hs = adaptive_start(oh, p.H, p.OH), he = adaptive_end(oh, p.H, p.OH);
    std::fill(acc, acc + p.W, T(0));
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      const int64_t ws = adaptive_start(ow, p.W, p.OW), we = adaptive_end(ow, p.W, p.OW);
      const T v = g[oh * p.OW + ow] / static_cast<T>((he - hs) * (we - ws));
      for (int64_t iw = ws; iw < we; ++iw) acc[iw] += v;
    }
    for (int64_t ih = hs; ih < he; ++ih)
      for (int64_t iw = 0; iw < p.W; ++iw) gx[ih * p.W + iw] += acc[iw];
  }
}

// Planes [b, e) per call: global pooling of small planes is a few cycles per plane.
template <typename T>
void adaptive_fwd_planes(const Pool2d& p, int64_t b, int64_t e, const T* x, T* y, T* acc) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA {
    for (int64_t k = b; k < e; ++k) adaptive_fwd_plane_impl(p, x + k * p.H * p.W, y + k * p.OH * p.OW, acc);
  });
}
template <typename T>
void adaptive_bwd_planes(const Pool2d& p, int64_t b, int64_t e, const T* g, T* gx, T* acc) {
  nn_isa_run([&]() TANDEM_NN_LAMBDA {
    for (int64_t k = b; k < e; ++k) adaptive_bwd_plane_impl(p, g + k * p.OH * p.OW, gx + k * p.H * p.W, acc);
  });
}

}  // namespace

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
  parallel_for(p.planes, plane_grain(p.H * p.W), [&](int64_t b, int64_t e) {
    std::vector<T> acc(p.W);
    adaptive_fwd_planes(p, b, e, x, y, acc.data());
  });
}

template <typename T> void adaptive_avg_pool2d_bwd(const Pool2d& p, const T* g, T* gx) {
  parallel_for(p.planes, plane_grain(p.H * p.W), [&](int64_t b, int64_t e) {
    std::vector<T> acc(p.W);
    adaptive_bwd_planes(p, b, e, g, gx, acc.data());
  });
}

#define TANDEM_NN_POOL_INSTANTIATE(T)                                                   \
  template void avg_pool2d_fwd<T>(const Pool2d&, bool, const T*, T*);                   \
  template void avg_pool2d_bwd<T>(const Pool2d&, bool, const T*, T*);                   \
  template void adaptive_avg_pool2d_fwd<T>(const Pool2d&, const T*, T*);                \
  template void adaptive_avg_pool2d_bwd<T>(const Pool2d&, const T*, T*);
TANDEM_NN_POOL_INSTANTIATE(float)
TANDEM_NN_POOL_INSTANTIATE(double)
#undef TANDEM_NN_POOL_INSTANTIATE

}  // namespace tandem::cpu
