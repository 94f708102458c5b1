// Detection kernels (detection_kernels.h). RoIAlign follows torchvision's CPU kernel
// arithmetic in the data's own type (float32 data: float32 coordinates), so results match it
// to rounding.
#include "detection_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tandem::vision_kernels {

template <typename T>
std::vector<int64_t> nms(const T* boxes, const T* scores, const int64_t* groups, int64_t n,
                         double iou_threshold, double score_threshold, int64_t max_keep) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  std::vector<T> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const T* b = boxes + 4 * i;
    area[static_cast<size_t>(i)] = (b[2] - b[0]) * (b[3] - b[1]);
  }
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = order[static_cast<size_t>(oi)];
    if (suppressed[static_cast<size_t>(i)]) continue;
    // NOTE: a NaN score is not > the threshold, so it is never kept (as ONNX Runtime).
    if (!(static_cast<double>(scores[i]) > score_threshold)) continue;
    if (max_keep >= 0 && static_cast<int64_t>(keep.size()) >= max_keep) break;
    keep.push_back(i);
    const T* bi = boxes + 4 * i;
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = order[static_cast<size_t>(oj)];
      if (suppressed[static_cast<size_t>(j)]) continue;
      if (groups && groups[i] != groups[j]) continue;
      const T* bj = boxes + 4 * j;
      const T xx1 = std::max(bi[0], bj[0]), yy1 = std::max(bi[1], bj[1]);
      const T xx2 = std::min(bi[2], bj[2]), yy2 = std::min(bi[3], bj[3]);
      const T iw = std::max(T(0), xx2 - xx1), ih = std::max(T(0), yy2 - yy1);
      const T inter = iw * ih;
      const T iou = inter / (area[static_cast<size_t>(i)] + area[static_cast<size_t>(j)] - inter);
      if (static_cast<double>(iou) > iou_threshold) suppressed[static_cast<size_t>(j)] = 1;
    }
  }
  return keep;
}

namespace {

// One bilinear sample: up to four (offset into the plane, weight) pairs; none when the point
// lies more than one pixel outside the plane.
template <typename T>
struct RoiTap {
  int64_t off[4];
  T w[4];
  bool valid;
};

template <typename T>
RoiTap<T> roi_tap(int64_t h, int64_t w, T y, T x) {
  RoiTap<T> t{};
  if (y < T(-1) || y > static_cast<T>(h) || x < T(-1) || x > static_cast<T>(w)) {
    t.valid = false;
    return t;
  }
  t.valid = true;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= h - 1) {
    y_high = y_low = h - 1;
    y = static_cast<T>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= w - 1) {
    x_high = x_low = w - 1;
    x = static_cast<T>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - static_cast<T>(y_low), lx = x - static_cast<T>(x_low);
  const T hy = T(1) - ly, hx = T(1) - lx;
  t.off[0] = y_low * w + x_low;
  t.off[1] = y_low * w + x_high;
  t.off[2] = y_high * w + x_low;
  t.off[3] = y_high * w + x_high;
  t.w[0] = hy * hx;
  t.w[1] = hy * lx;
  t.w[2] = ly * hx;
  t.w[3] = ly * lx;
  return t;
}

// The sampling grid of one roi: per output bin, grid_h * grid_w taps.
template <typename T>
struct RoiGrid {
  int64_t batch = 0, grid_h = 1, grid_w = 1;
  T count = 1;
  std::vector<RoiTap<T>> taps;  // [ph, pw, grid_h, grid_w]
};

template <typename T>
RoiGrid<T> roi_grid(const RoiAlignGeom& g, const T* box) {
  RoiGrid<T> r;
  r.batch = static_cast<int64_t>(box[0]);
  const T scale = static_cast<T>(g.spatial_scale);
  const T offset = g.aligned ? T(0.5) : T(0);
  const T x1 = box[1] * scale - offset, y1 = box[2] * scale - offset;
  const T x2 = box[3] * scale - offset, y2 = box[4] * scale - offset;
  T rw = x2 - x1, rh = y2 - y1;
  if (!g.aligned) {
    rw = std::max(rw, T(1));
    rh = std::max(rh, T(1));
  }
  const T bh = rh / static_cast<T>(g.ph), bw = rw / static_cast<T>(g.pw);
  r.grid_h = g.sampling_ratio > 0 ? g.sampling_ratio
                                   : static_cast<int64_t>(std::ceil(rh / static_cast<T>(g.ph)));
  r.grid_w = g.sampling_ratio > 0 ? g.sampling_ratio
                                   : static_cast<int64_t>(std::ceil(rw / static_cast<T>(g.pw)));
  r.grid_h = std::max<int64_t>(r.grid_h, 0);
  r.grid_w = std::max<int64_t>(r.grid_w, 0);
  r.count = static_cast<T>(std::max<int64_t>(r.grid_h * r.grid_w, 1));
  r.taps.reserve(static_cast<size_t>(g.ph * g.pw * r.grid_h * r.grid_w));
  for (int64_t py = 0; py < g.ph; ++py)
    for (int64_t px = 0; px < g.pw; ++px)
      for (int64_t iy = 0; iy < r.grid_h; ++iy) {
        const T y = y1 + static_cast<T>(py) * bh +
                    (static_cast<T>(iy) + T(0.5)) * bh / static_cast<T>(r.grid_h);
        for (int64_t ix = 0; ix < r.grid_w; ++ix) {
          const T x = x1 + static_cast<T>(px) * bw +
                      (static_cast<T>(ix) + T(0.5)) * bw / static_cast<T>(r.grid_w);
          r.taps.push_back(roi_tap<T>(g.h, g.w, y, x));
        }
      }
  return r;
}

}  // namespace

template <typename T>
void roi_align_forward(const RoiAlignGeom& g, const T* x, const T* boxes, T* y) {
  const int64_t plane = g.h * g.w, bins = g.ph * g.pw;
#pragma omp parallel for schedule(dynamic) if (g.k > 1 && g.k * g.c * bins > 4096)
  for (int64_t r = 0; r < g.k; ++r) {
    const RoiGrid<T> grid = roi_grid<T>(g, boxes + 5 * r);
    const int64_t per_bin = grid.grid_h * grid.grid_w;
    for (int64_t ch = 0; ch < g.c; ++ch) {
      const T* xp = x + (grid.batch * g.c + ch) * plane;
      T* yp = y + (r * g.c + ch) * bins;
      for (int64_t b = 0; b < bins; ++b) {
        const RoiTap<T>* t = grid.taps.data() + b * per_bin;
        T acc = 0;
        bool any = false;
        for (int64_t s = 0; s < per_bin; ++s) {
          if (g.max_mode) {
            // ONNX Runtime's max mode: the largest weighted corner, then the largest sample
            // (a sample outside the input counts as 0).
            T v = 0;
            if (t[s].valid)
              v = std::max(std::max(t[s].w[0] * xp[t[s].off[0]], t[s].w[1] * xp[t[s].off[1]]),
                           std::max(t[s].w[2] * xp[t[s].off[2]], t[s].w[3] * xp[t[s].off[3]]));
            acc = any ? std::max(acc, v) : v;
            any = true;
          } else if (t[s].valid) {
            acc += t[s].w[0] * xp[t[s].off[0]] + t[s].w[1] * xp[t[s].off[1]] +
                   t[s].w[2] * xp[t[s].off[2]] + t[s].w[3] * xp[t[s].off[3]];
          }
        }
        yp[b] = g.max_mode ? acc : acc / grid.count;
      }
    }
  }
}

template <typename T>
void roi_align_backward(const RoiAlignGeom& g, const T* gy, const T* boxes, T* gx) {
  const int64_t plane = g.h * g.w, bins = g.ph * g.pw;
  std::fill(gx, gx + g.n * g.c * plane, T(0));
  std::vector<RoiGrid<T>> grids;
  grids.reserve(static_cast<size_t>(g.k));
  for (int64_t r = 0; r < g.k; ++r) grids.push_back(roi_grid<T>(g, boxes + 5 * r));
  // Channels write disjoint planes: parallel over them, rois in order within each.
#pragma omp parallel for schedule(static) if (g.c > 1 && g.k * g.c * bins > 4096)
  for (int64_t ch = 0; ch < g.c; ++ch) {
    for (int64_t r = 0; r < g.k; ++r) {
      const RoiGrid<T>& grid = grids[static_cast<size_t>(r)];
      const int64_t per_bin = grid.grid_h * grid.grid_w;
      T* gp = gx + (grid.batch * g.c + ch) * plane;
      const T* gyp = gy + (r * g.c + ch) * bins;
      for (int64_t b = 0; b < bins; ++b) {
        const T v = gyp[b] / grid.count;
        const RoiTap<T>* t = grid.taps.data() + b * per_bin;
        for (int64_t s = 0; s < per_bin; ++s) {
          if (!t[s].valid) continue;
          for (int q = 0; q < 4; ++q) gp[t[s].off[q]] += v * t[s].w[q];
        }
      }
    }
  }
}

template std::vector<int64_t> nms<float>(const float*, const float*, const int64_t*, int64_t,
                                         double, double, int64_t);
template std::vector<int64_t> nms<double>(const double*, const double*, const int64_t*, int64_t,
                                          double, double, int64_t);
template void roi_align_forward<float>(const RoiAlignGeom&, const float*, const float*, float*);
template void roi_align_forward<double>(const RoiAlignGeom&, const double*, const double*,
                                        double*);
template void roi_align_backward<float>(const RoiAlignGeom&, const float*, const float*, float*);
template void roi_align_backward<double>(const RoiAlignGeom&, const double*, const double*,
                                         double*);

}  // namespace tandem::vision_kernels
