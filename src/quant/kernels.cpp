// The portable int8 kernels (kernels.h): plain loops, OpenMP over the outermost work.
#include "quant/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tandem::quant {
namespace {

// NOTE: std::nearbyint rounds in the current rounding mode, which is round-half-to-even
// unless a program changes it; ONNX specifies half to even (numpy.rint).
template <typename Q>
inline Q quant_saturate(float r, int32_t zp) {
  if (std::isnan(r)) return static_cast<Q>(zp);
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  float v = std::nearbyint(r) + static_cast<float>(zp);
  return static_cast<Q>(std::clamp(v, lo, hi));
}

}  // namespace

template <typename Q>
void quantize_linear(const float* x, int64_t outer, int64_t channels, int64_t inner, const float* scale,
                     const int32_t* zero_point, Q* y) {
#pragma omp parallel for collapse(2) if (outer * channels * inner > 65536)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float s = scale[c];
      const int32_t zp = zero_point ? zero_point[c] : 0;
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) y[base + i] = quant_saturate<Q>(x[base + i] / s, zp);
    }
}

template <typename Q>
void dequantize_linear(const Q* x, int64_t outer, int64_t channels, int64_t inner, const float* scale,
                       const int32_t* zero_point, float* y) {
#pragma omp parallel for collapse(2) if (outer * channels * inner > 65536)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float s = scale[c];
      const int32_t zp = zero_point ? zero_point[c] : 0;
      const int64_t base = (o * channels + c) * inner;
      // NOTE: the difference is taken in int32 (int32 input minus a zero point cannot
      // overflow: ONNX requires zp 0 for int32), then converted, as ONNX's reference does.
      for (int64_t i = 0; i < inner; ++i)
        y[base + i] = static_cast<float>(static_cast<int32_t>(x[base + i]) - zp) * s;
    }
}

template <typename Q>
void requantize(const int32_t* acc, int64_t outer, int64_t channels, int64_t inner, const float* multiplier,
                const float* offset, int32_t zero_point, bool relu, Q* y) {
  const Q floor_q = relu ? static_cast<Q>(std::clamp<int32_t>(zero_point, std::numeric_limits<Q>::lowest(),
                                                               std::numeric_limits<Q>::max()))
                         : std::numeric_limits<Q>::lowest();
#pragma omp parallel for collapse(2) if (outer * channels * inner > 65536)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float m = multiplier[c], b = offset ? offset[c] : 0.0f;
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const float v = offset ? static_cast<float>(acc[base + i]) * m + b : static_cast<float>(acc[base + i]) * m;
        y[base + i] = std::max(quant_saturate<Q>(v, zero_point), floor_q);
      }
    }
}

template <typename TA, typename TB>
void matmul_integer(int64_t M, int64_t N, int64_t K, const TA* A, const int32_t* za, const TB* B,
                    const int32_t* zb, int32_t* C) {
  // B minus its zero points once, as int16 (uint8 - int32 zp fits: both within [-255, 255]).
  std::vector<int16_t> b(static_cast<size_t>(K * N));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) b[k * N + n] = static_cast<int16_t>(static_cast<int32_t>(B[k * N + n]) - zb[n]);
#pragma omp parallel for if (M * N * K > 65536)
  for (int64_t m = 0; m < M; ++m) {
    int32_t* c = C + m * N;
    std::fill(c, c + N, 0);
    for (int64_t k = 0; k < K; ++k) {
      const int32_t a = static_cast<int32_t>(A[m * K + k]) - za[m];
      if (a == 0) continue;
      const int16_t* br = b.data() + k * N;
      for (int64_t n = 0; n < N; ++n) c[n] += a * br[n];
    }
  }
}

template <typename TA, typename TW>
void linear_integer(int64_t M, int64_t N, int64_t K, const TA* A, int32_t za, const TW* W, const int32_t* zw,
                    int32_t* C) {
  // sum (a - za)(w - zw) = sum a*w - zw * sum a - za * sum w + K za zw: integer dot products
  // of the raw values, corrected by the row and column sums.
  std::vector<int32_t> wsum(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    int32_t s = 0;
    for (int64_t k = 0; k < K; ++k) s += W[n * K + k];
    wsum[n] = s;
  }
#pragma omp parallel for if (M * N * K > 65536)
  for (int64_t m = 0; m < M; ++m) {
    const TA* a = A + m * K;
    int32_t asum = 0;
    for (int64_t k = 0; k < K; ++k) asum += a[k];
    for (int64_t n = 0; n < N; ++n) {
      const TW* w = W + n * K;
      int32_t dot = 0;
      for (int64_t k = 0; k < K; ++k) dot += static_cast<int32_t>(a[k]) * static_cast<int32_t>(w[k]);
      C[m * N + n] = dot - zw[n] * asum - za * wsum[n] + static_cast<int32_t>(K) * za * zw[n];
    }
  }
}

template <typename TX, typename TW>
void conv_integer(const ConvShape& s, const TX* x, int32_t x_zp, const TW* w, const int32_t* w_zp, int32_t* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo;
  // Per (image, group): the window of each output position as a column (x - x_zp, 0 where
  // the window leaves the input), then y[o, :] = (w[o, :] - w_zp[o]) . columns.
#pragma omp parallel for collapse(2) if (s.N * s.O * P * K > 65536)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t g = 0; g < s.groups; ++g) {
      std::vector<int16_t> cols(static_cast<size_t>(K * P));
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            int16_t* col = cols.data() + ((c * s.kh + i) * s.kw + j) * P;
            const TX* plane = x + ((n * s.C) + g * Cg + c) * s.H * s.W;
            for (int64_t oh = 0; oh < s.Ho; ++oh) {
              const int64_t ih = oh * s.sh - s.pad_top + i * s.dh;
              for (int64_t ow = 0; ow < s.Wo; ++ow) {
                const int64_t iw = ow * s.sw - s.pad_left + j * s.dw;
                const bool in = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                col[oh * s.Wo + ow] = in ? static_cast<int16_t>(static_cast<int32_t>(plane[ih * s.W + iw]) - x_zp) : 0;
              }
            }
          }
      for (int64_t o = g * Og; o < (g + 1) * Og; ++o) {
        int32_t* out = y + (n * s.O + o) * P;
        std::fill(out, out + P, 0);
        const int32_t zw = w_zp ? w_zp[o] : 0;
        for (int64_t k = 0; k < K; ++k) {
          const int32_t a = static_cast<int32_t>(w[o * K + k]) - zw;
          if (a == 0) continue;
          const int16_t* col = cols.data() + k * P;
          for (int64_t p = 0; p < P; ++p) out[p] += a * col[p];
        }
      }
    }
}

template void quantize_linear<uint8_t>(const float*, int64_t, int64_t, int64_t, const float*, const int32_t*, uint8_t*);
template void quantize_linear<int8_t>(const float*, int64_t, int64_t, int64_t, const float*, const int32_t*, int8_t*);
template void dequantize_linear<uint8_t>(const uint8_t*, int64_t, int64_t, int64_t, const float*, const int32_t*, float*);
template void dequantize_linear<int8_t>(const int8_t*, int64_t, int64_t, int64_t, const float*, const int32_t*, float*);
template void dequantize_linear<int32_t>(const int32_t*, int64_t, int64_t, int64_t, const float*, const int32_t*, float*);
template void requantize<uint8_t>(const int32_t*, int64_t, int64_t, int64_t, const float*, const float*, int32_t, bool, uint8_t*);
template void requantize<int8_t>(const int32_t*, int64_t, int64_t, int64_t, const float*, const float*, int32_t, bool, int8_t*);
template void linear_integer<uint8_t, int8_t>(int64_t, int64_t, int64_t, const uint8_t*, int32_t, const int8_t*, const int32_t*, int32_t*);
template void linear_integer<int8_t, int8_t>(int64_t, int64_t, int64_t, const int8_t*, int32_t, const int8_t*, const int32_t*, int32_t*);
template void linear_integer<uint8_t, uint8_t>(int64_t, int64_t, int64_t, const uint8_t*, int32_t, const uint8_t*, const int32_t*, int32_t*);
template void linear_integer<int8_t, uint8_t>(int64_t, int64_t, int64_t, const int8_t*, int32_t, const uint8_t*, const int32_t*, int32_t*);
template void matmul_integer<uint8_t, uint8_t>(int64_t, int64_t, int64_t, const uint8_t*, const int32_t*, const uint8_t*, const int32_t*, int32_t*);
template void matmul_integer<uint8_t, int8_t>(int64_t, int64_t, int64_t, const uint8_t*, const int32_t*, const int8_t*, const int32_t*, int32_t*);
template void matmul_integer<int8_t, uint8_t>(int64_t, int64_t, int64_t, const int8_t*, const int32_t*, const uint8_t*, const int32_t*, int32_t*);
template void matmul_integer<int8_t, int8_t>(int64_t, int64_t, int64_t, const int8_t*, const int32_t*, const int8_t*, const int32_t*, int32_t*);
template void conv_integer<uint8_t, uint8_t>(const ConvShape&, const uint8_t*, int32_t, const uint8_t*, const int32_t*, int32_t*);
template void conv_integer<uint8_t, int8_t>(const ConvShape&, const uint8_t*, int32_t, const int8_t*, const int32_t*, int32_t*);
template void conv_integer<int8_t, uint8_t>(const ConvShape&, const int8_t*, int32_t, const uint8_t*, const int32_t*, int32_t*);
template void conv_integer<int8_t, int8_t>(const ConvShape&, const int8_t*, int32_t, const int8_t*, const int32_t*, int32_t*);

}  // namespace tandem::quant
