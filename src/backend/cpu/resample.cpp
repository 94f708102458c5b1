#include "resample.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "tandem/error.h"

namespace tandem::cpu {
namespace {

int64_t clamp_index(int64_t i, int64_t n) { return std::min(std::max<int64_t>(i, 0), n - 1); }

// Keys's cubic convolution weights of the four taps floor(x)-1 .. floor(x)+2 for the
// fraction t = x - floor(x).
template <typename R>
void cubic_weights(R t, R a, R c[4]) {
  auto near = [a](R x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [a](R x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  c[0] = far(t + 1);
  c[1] = near(t);
  c[2] = near(1 - t);
  c[3] = far(2 - t);
}

// The input coordinate of output index o. R is the arithmetic type (float for PyTorch's
// float32 path, double otherwise). PyTorch multiplies by a precomputed input/output ratio;
// ONNX divides by the scale: both are reproduced, since they round differently.
template <typename R>
R source_coord(const ResampleSpec& s, int64_t o, int64_t in, int64_t out, double scale) {
  const R x = static_cast<R>(o);
  if (s.coord == "align_corners") {
    if (out <= 1) return R(0);
    if (s.pytorch_ratio) return x * static_cast<R>(static_cast<R>(in - 1) / static_cast<R>(out - 1));
    // ONNX: the resized length is in * scale when a scale is given (not rounded down).
    const R len = scale > 0 ? static_cast<R>(in) * static_cast<R>(scale) : static_cast<R>(out);
    return x * static_cast<R>(in - 1) / (len - 1);
  }
  const bool given = scale > 0;
  if (s.pytorch_ratio) {
    const R ratio = given ? static_cast<R>(1.0 / scale) : static_cast<R>(in) / static_cast<R>(out);
    if (s.coord == "asymmetric") return x * ratio;
    return ratio * (x + R(0.5)) - R(0.5);  // half_pixel
  }
  const R sc = given ? static_cast<R>(scale) : static_cast<R>(out) / static_cast<R>(in);
  if (s.coord == "asymmetric") return x / sc;
  if (s.coord == "half_pixel") return (x + R(0.5)) / sc - R(0.5);
  if (s.coord == "pytorch_half_pixel") return out > 1 ? (x + R(0.5)) / sc - R(0.5) : R(0);
  if (s.coord == "tf_half_pixel_for_nn") return (x + R(0.5)) / sc;
  if (s.coord == "half_pixel_symmetric") {
    // ONNX opset 19: half_pixel around the centre of the resized extent.
    const R adj = static_cast<R>(out) / (sc * static_cast<R>(in));
    const R center = static_cast<R>(in) / 2;
    const R offset = center * (1 - adj);
    return offset + (x + R(0.5)) / sc - R(0.5);
  }
  throw Error(fmt::format("interpolate: unknown coordinate transformation '{}'", s.coord));
}

// Antialiased linear / cubic (PyTorch's antialias=True, as PIL resizes): output o is centred
// at ratio * (o + 0.5) in input pixels; when downsampling (ratio > 1) the filter is stretched by
// the ratio, so its support covers every input pixel under the output one; the weights of the
// inputs inside the support are normalized to sum 1 (which also handles the borders).
template <typename R>
void antialias_taps(const ResampleSpec& s, Taps& t, double scale, int64_t o) {
  const int64_t in = t.in, out = t.out;
  R ratio;
  if (s.coord == "align_corners") ratio = out > 1 ? static_cast<R>(in - 1) / static_cast<R>(out - 1) : R(0);
  else ratio = scale > 0 ? static_cast<R>(1.0 / scale) : static_cast<R>(in) / static_cast<R>(out);
  const bool cubic = s.mode == "cubic";
  const R half = cubic ? R(2) : R(1);  // the filter's half-width at ratio 1
  const R support = ratio >= 1 ? half * ratio : half;
  const R inv = ratio >= 1 ? R(1) / ratio : R(1);
  auto filter = [cubic](R x) -> R {
    x = std::abs(x);
    if (!cubic) return x < 1 ? 1 - x : R(0);
    const R a = R(-0.5);  // Keys's a = -0.5 (PIL's bicubic), not interpolate's -0.75
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return R(0);
  };
  const R center = ratio * (static_cast<R>(o) + R(0.5));
  const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + R(0.5)), 0);
  const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + R(0.5)), in);
  std::vector<R> w;
  R total = 0;
  for (int64_t i = lo; i < hi; ++i) {
    w.push_back(filter((static_cast<R>(i) - center + R(0.5)) * inv));
    total += w.back();
  }
  for (int64_t i = lo; i < hi; ++i) {
    t.idx.push_back(i);
    const R wi = w[static_cast<size_t>(i - lo)];
    t.w.push_back(static_cast<double>(total != 0 ? wi / total : wi));
  }
}

template <typename R>
void fill_taps(const ResampleSpec& s, Taps& t, double scale) {
  const int64_t in = t.in, out = t.out;
  t.off.assign(1, 0);
  for (int64_t o = 0; o < out; ++o) {
    if (s.antialias && (s.mode == "linear" || s.mode == "cubic")) {
      antialias_taps<R>(s, t, scale, o);
    } else if (s.mode == "area") {
      // Adaptive average: the window [floor(o*in/out), ceil((o+1)*in/out)).
      const int64_t a = (o * in) / out, b = ((o + 1) * in + out - 1) / out;
      for (int64_t i = a; i < b; ++i) {
        t.idx.push_back(i);
        t.w.push_back(1.0 / static_cast<double>(b - a));
      }
    } else if (s.mode == "nearest") {
      int64_t i;
      if (s.pytorch_ratio && s.coord == "asymmetric" && s.nearest_mode == "floor") {
        i = static_cast<int64_t>(std::floor(source_coord<R>(s, o, in, out, scale)));
      } else if (s.pytorch_ratio && s.coord == "half_pixel" && s.nearest_mode == "round_prefer_ceil") {
        // PyTorch's nearest-exact: floor((o + 0.5) * ratio), without the -0.5 +0.5 round trip.
        const R ratio = scale > 0 ? static_cast<R>(1.0 / scale)
                                  : static_cast<R>(in) / static_cast<R>(out);
        i = static_cast<int64_t>(std::floor((static_cast<R>(o) + R(0.5)) * ratio));
      } else {
        const R x = source_coord<R>(s, o, in, out, scale);
        if (s.nearest_mode == "floor") i = static_cast<int64_t>(std::floor(x));
        else if (s.nearest_mode == "ceil") i = static_cast<int64_t>(std::ceil(x));
        else if (s.nearest_mode == "round_prefer_floor") i = static_cast<int64_t>(std::ceil(x - R(0.5)));
        else if (s.nearest_mode == "round_prefer_ceil") i = static_cast<int64_t>(std::floor(x + R(0.5)));
        else throw Error(fmt::format("interpolate: unknown nearest_mode '{}'", s.nearest_mode));
      }
      t.idx.push_back(clamp_index(i, in));
      t.w.push_back(1.0);
    } else if (s.mode == "linear") {
      R x = source_coord<R>(s, o, in, out, scale);
      if (s.clamp_linear_low && x < 0) x = 0;
      int64_t i0 = std::min(static_cast<int64_t>(std::floor(x)), in - 1);
      R lambda = std::min(std::max(x - static_cast<R>(i0), R(0)), R(1));
      // Below 0 (ONNX without the clamp) both taps read index 0, as edge padding does.
      int64_t i1 = i0 + 1;
      t.idx.push_back(clamp_index(i0, in));
      t.idx.push_back(clamp_index(i1, in));
      t.w.push_back(static_cast<double>(R(1) - lambda));
      t.w.push_back(static_cast<double>(lambda));
    } else if (s.mode == "cubic") {
      const R x = source_coord<R>(s, o, in, out, scale);
      const R fl = std::floor(x);
      const int64_t i = static_cast<int64_t>(fl);
      R c[4];
      cubic_weights<R>(x - fl, static_cast<R>(s.cubic_a), c);
      double sum = 0;
      if (s.exclude_outside) {
        for (int k = 0; k < 4; ++k) {
          const int64_t j = i - 1 + k;
          if (j < 0 || j >= in) c[k] = 0;
          sum += static_cast<double>(c[k]);
        }
      }
      for (int k = 0; k < 4; ++k) {
        t.idx.push_back(clamp_index(i - 1 + k, in));
        t.w.push_back(s.exclude_outside && sum != 0 ? static_cast<double>(c[k]) / sum
                                                    : static_cast<double>(c[k]));
      }
    } else {
      throw Error(fmt::format("interpolate: unknown mode '{}' (nearest, linear, cubic, area)", s.mode));
    }
    t.off.push_back(static_cast<int64_t>(t.idx.size()));
  }
}

}  // namespace

Taps make_taps(const ResampleSpec& spec, int64_t in, int64_t out, double scale) {
  TANDEM_CHECK(in > 0 && out >= 0, "interpolate: cannot resample {} points to {}", in, out);
  Taps t;
  t.in = in;
  t.out = out;
  if (spec.coords_f32) fill_taps<float>(spec, t, scale);
  else fill_taps<double>(spec, t, scale);
  return t;
}

template <typename T>
void resample_dim(const Taps& t, int64_t outer, int64_t inner, const T* x, T* y) {
  const int64_t in = t.in, out = t.out;
  const int64_t work = outer * out * inner * 4;
#pragma omp parallel for if (work > (1 << 16) && outer > 1) schedule(static)
  for (int64_t a = 0; a < outer; ++a) {
    const T* xa = x + a * in * inner;
    T* ya = y + a * out * inner;
    for (int64_t o = 0; o < out; ++o) {
      T* yo = ya + o * inner;
      const int64_t k0 = t.off[o], k1 = t.off[o + 1];
      if (k0 == k1) {
        std::fill(yo, yo + inner, T(0));
        continue;
      }
      {
        const T w = static_cast<T>(t.w[k0]);
        const T* xi = xa + t.idx[k0] * inner;
        for (int64_t b = 0; b < inner; ++b) yo[b] = w * xi[b];
      }
      for (int64_t k = k0 + 1; k < k1; ++k) {
        const T w = static_cast<T>(t.w[k]);
        const T* xi = xa + t.idx[k] * inner;
        for (int64_t b = 0; b < inner; ++b) yo[b] += w * xi[b];
      }
    }
  }
}

template <typename T>
void resample_dim_transposed(const Taps& t, int64_t outer, int64_t inner, const T* g, T* gx) {
  const int64_t in = t.in, out = t.out;
  const int64_t work = outer * out * inner * 4;
#pragma omp parallel for if (work > (1 << 16) && outer > 1) schedule(static)
  for (int64_t a = 0; a < outer; ++a) {
    T* gxa = gx + a * in * inner;
    const T* ga = g + a * out * inner;
    std::fill(gxa, gxa + in * inner, T(0));
    for (int64_t o = 0; o < out; ++o) {
      const T* go = ga + o * inner;
      for (int64_t k = t.off[o]; k < t.off[o + 1]; ++k) {
        const T w = static_cast<T>(t.w[k]);
        T* gi = gxa + t.idx[k] * inner;
        for (int64_t b = 0; b < inner; ++b) gi[b] += w * go[b];
      }
    }
  }
}

template void resample_dim<float>(const Taps&, int64_t, int64_t, const float*, float*);
template void resample_dim<double>(const Taps&, int64_t, int64_t, const double*, double*);
template void resample_dim_transposed<float>(const Taps&, int64_t, int64_t, const float*, float*);
template void resample_dim_transposed<double>(const Taps&, int64_t, int64_t, const double*, double*);

}  // namespace tandem::cpu
