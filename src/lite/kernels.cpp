// tandem-lite's float32 kernels (see kernels.h).
#include "kernels.h"
#include "pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace tlite::kernels {

namespace {

// NOTE: GCC vector extensions: 8 floats compile to one AVX register (two SSE / NEON registers
// where AVX is absent); scalar operands broadcast. Loads and stores go through memcpy, which
// the compiler turns into unaligned vector moves.
typedef float lite_v8f __attribute__((vector_size(32)));

inline __attribute__((always_inline)) lite_v8f lite_load8(const float* p) {
  lite_v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline __attribute__((always_inline)) void lite_store8(float* p, lite_v8f v) { std::memcpy(p, &v, sizeof v); }

// x86-64: the GEMM is compiled twice (baseline SSE2 and Haswell's AVX2 + FMA) and the loader
// picks one at start-up; other architectures get one build for their baseline (NEON on aarch64).
#if defined(__x86_64__) && !defined(__clang__)
#define LITE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LITE_CLONES
#endif

// C[MR rows, 16 cols] (+)= A[MR, K] · B[K, 16]: MR x 2 vector accumulators stay in registers.
template <int MR>
inline __attribute__((always_inline)) void lite_micro_8(int64_t K, const float* A, int64_t lda, const float* B,
                                                        int64_t ldb, float* C, int64_t ldc, bool acc);

template <int MR>
inline __attribute__((always_inline)) void lite_micro_16(int64_t K, const float* A, int64_t lda, const float* B,
                                                         int64_t ldb, float* C, int64_t ldc, bool acc) {
#if defined(__wasm_simd128__)
  // NOTE: wasm SIMD is 4 floats wide and V8 maps it onto 16 SSE registers: MR x 16 columns
  // would hold 16 accumulators plus 4 B vectors and spill in the inner loop, so the tile runs as
  // two MR x 8 halves (8 accumulators each).
  lite_micro_8<MR>(K, A, lda, B, ldb, C, ldc, acc);
  lite_micro_8<MR>(K, A, lda, B + 8, ldb, C + 8, ldc, acc);
  return;
#endif
  lite_v8f c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    if (acc) {
      c0[i] = lite_load8(C + i * ldc);
      c1[i] = lite_load8(C + i * ldc + 8);
    } else {
      c0[i] = lite_v8f{};
      c1[i] = lite_v8f{};
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    lite_v8f b0 = lite_load8(B + k * ldb), b1 = lite_load8(B + k * ldb + 8);
    for (int i = 0; i < MR; ++i) {
      float a = A[i * lda + k];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
  }
  for (int i = 0; i < MR; ++i) {
    lite_store8(C + i * ldc, c0[i]);
    lite_store8(C + i * ldc + 8, c1[i]);
  }
}

template <int MR>
inline __attribute__((always_inline)) void lite_micro_8(int64_t K, const float* A, int64_t lda, const float* B,
                                                        int64_t ldb, float* C, int64_t ldc, bool acc) {
  lite_v8f c0[MR];
  for (int i = 0; i < MR; ++i) c0[i] = acc ? lite_load8(C + i * ldc) : lite_v8f{};
  for (int64_t k = 0; k < K; ++k) {
    lite_v8f b0 = lite_load8(B + k * ldb);
    for (int i = 0; i < MR; ++i) c0[i] += A[i * lda + k] * b0;
  }
  for (int i = 0; i < MR; ++i) lite_store8(C + i * ldc, c0[i]);
}

// All rows of one K block against one column tile of NR (16 or 8) columns of B, which is read
// from `Bp` with leading dimension ldb (a packed copy: ldb = NR).
template <int NR>
inline __attribute__((always_inline)) void lite_col_tile(int64_t M, int64_t K, const float* A, int64_t lda,
                                                         const float* Bp, int64_t ldb, float* C, int64_t ldc,
                                                         bool acc) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) {
    if constexpr (NR == 16) lite_micro_16<4>(K, A + i * lda, lda, Bp, ldb, C + i * ldc, ldc, acc);
    else lite_micro_8<4>(K, A + i * lda, lda, Bp, ldb, C + i * ldc, ldc, acc);
  }
  for (; i < M; ++i) {
    if constexpr (NR == 16) lite_micro_16<1>(K, A + i * lda, lda, Bp, ldb, C + i * ldc, ldc, acc);
    else lite_micro_8<1>(K, A + i * lda, lda, Bp, ldb, C + i * ldc, ldc, acc);
  }
}

}  // namespace

namespace {
LITE_CLONES void lite_gemm_block(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                                 int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  // Loop order: K blocks, then 16-column tiles of B copied into a contiguous panel (16 KB: it
  // stays in L1 while every row block of A streams past it), then 4-row blocks of A.
  constexpr int64_t KC = 256;
  alignas(64) float panel[KC * 16];
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    const bool acc = accumulate || k0 > 0;
    const float* Ak = A + k0;
    const float* Bk = B + k0 * ldb;
    int64_t j = 0;
    for (; j + 16 <= N; j += 16) {
      if (M < 4) {  // too few rows of A to pay for the copy (a linear layer at batch 1)
        lite_col_tile<16>(M, kc, Ak, lda, Bk + j, ldb, C + j, ldc, acc);
        continue;
      }
      for (int64_t k = 0; k < kc; ++k) std::memcpy(panel + k * 16, Bk + k * ldb + j, 16 * sizeof(float));
      lite_col_tile<16>(M, kc, Ak, lda, panel, 16, C + j, ldc, acc);
    }
    for (; j + 8 <= N; j += 8) lite_col_tile<8>(M, kc, Ak, lda, Bk + j, ldb, C + j, ldc, acc);
    for (; j < N; ++j)
      for (int64_t i = 0; i < M; ++i) {
        float s = acc ? C[i * ldc + j] : 0.f;
        for (int64_t k = 0; k < kc; ++k) s += Ak[i * lda + k] * Bk[k * ldb + j];
        C[i * ldc + j] = s;
      }
  }
}
}  // namespace

// Threads split rows in multiples of 4 (the micro-kernel's row block) or, with few rows,
// columns in multiples of 16 (its column tile): every element of C sees the same K blocks,
// tiles and micro-kernel as in one thread, so the result is bit-identical.
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
          int64_t ldc, bool accumulate) {
  const int nt = lite_num_threads();
  if (nt <= 1 || M * N * std::max<int64_t>(K, 1) < 32768)
    return lite_gemm_block(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  if (M >= 8 * nt)
    lite_parallel_for(M, 4, 4, [&](int64_t b, int64_t e) {
      lite_gemm_block(e - b, N, K, A + b * lda, lda, B, ldb, C + b * ldc, ldc, accumulate);
    });
  else
    lite_parallel_for(N, 16, 16, [&](int64_t b, int64_t e) {
      lite_gemm_block(M, e - b, K, A, lda, B + b, ldb, C + b, ldc, accumulate);
    });
}

namespace {

inline float lite_act1(float v, Act kind, float p0, float p1) {
  switch (kind) {
    case Act::None: return v;
    case Act::Relu: return v > 0.f ? v : 0.f;
    case Act::Clamp: return std::min(std::max(v, p0), p1);
    case Act::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case Act::Tanh: return std::tanh(v);
    case Act::Silu: return v / (1.f + std::exp(-v));
    case Act::Hardswish: return v * std::min(std::max(v + 3.f, 0.f), 6.f) / 6.f;
    case Act::Hardsigmoid: return std::min(std::max(p0 * v + p1, 0.f), 1.f);
    case Act::Gelu: return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f));
    case Act::GeluTanh: {
      float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
      return 0.5f * v * (1.f + std::tanh(u));
    }
    case Act::LeakyRelu: return v >= 0.f ? v : v * p0;
    case Act::Exp: return std::exp(v);
    case Act::Neg: return -v;
    case Act::Sqrt: return std::sqrt(v);
    case Act::Abs: return std::fabs(v);
    case Act::Erf: return std::erf(v);
    case Act::Log: return std::log(v);
    case Act::Rsqrt: return 1.f / std::sqrt(v);
  }
  return v;
}

}  // namespace

namespace {
void lite_unary_serial(const float* x, float* y, int64_t n, const ActParams& a) {
  const float p0 = a.p0, p1 = a.p1;
  switch (a.kind) {  // the common ones as plain loops the compiler vectorizes
    case Act::None:
      if (x != y) std::memcpy(y, x, size_t(n) * sizeof(float));
      return;
    case Act::Relu:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
      return;
    case Act::Clamp:
      for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], p0), p1);
      return;
    case Act::Hardswish:
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * std::min(std::max(x[i] + 3.f, 0.f), 6.f) * (1.f / 6.f);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = lite_act1(x[i], a.kind, p0, p1);
  }
}
}  // namespace

// Chunks start at multiples of 64 elements (256 bytes): each element lands in the same part of
// the vectorized loop (body or tail) as in one thread.
void unary(const float* x, float* y, int64_t n, const ActParams& a) {
  if (n < 16384 || lite_num_threads() <= 1) return lite_unary_serial(x, y, n, a);
  lite_parallel_for(n, 64, 8192, [&](int64_t b, int64_t e) { lite_unary_serial(x + b, y + b, e - b, a); });
}

void apply_act(float* x, int64_t n, const ActParams& a) {
  if (a.kind != Act::None) unary(x, x, n, a);
}

int64_t conv2d_scratch(const ConvGeom& g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  if (Cg == 1 && Og == 1) return 0;  // depthwise: direct
  if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0)
    return 0;
  return Cg * g.kh * g.kw * g.Ho * g.Wo;
}

namespace {

// col[(c, ki, kj), (oh, ow)] = x[c, oh*sh - pt + ki*dh, ow*sw - pl + kj*dw] (0 outside).
void lite_im2col(const ConvGeom& g, int64_t Cg, const float* x, float* col) {
  const int64_t HoWo = g.Ho * g.Wo;
  lite_parallel_for(Cg, 1, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, HoWo * g.kh * g.kw)),
                    [&](int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        float* row = col + ((c * g.kh + ki) * g.kw + kj) * HoWo;
        const float* xc = x + c * g.H * g.W;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          int64_t ih = oh * g.sh - g.pt + ki * g.dh;
          float* r = row + oh * g.Wo;
          if (ih < 0 || ih >= g.H) {
            std::fill(r, r + g.Wo, 0.f);
            continue;
          }
          const float* xr = xc + ih * g.W;
          int64_t off = kj * g.dw - g.pl;
          if (g.sw == 1) {
            // ow valid where 0 <= ow + off < W.
            int64_t lo = std::clamp<int64_t>(-off, 0, g.Wo), hi = std::clamp<int64_t>(g.W - off, lo, g.Wo);
            std::fill(r, r + lo, 0.f);
            std::memcpy(r + lo, xr + lo + off, size_t(hi - lo) * sizeof(float));
            std::fill(r + hi, r + g.Wo, 0.f);
          } else {
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
              int64_t iw = ow * g.sw + off;
              r[ow] = iw >= 0 && iw < g.W ? xr[iw] : 0.f;
            }
          }
        }
      }
  });
}

typedef float lite_v4f __attribute__((vector_size(16)));

inline __attribute__((always_inline)) lite_v4f lite_load4(const float* p) {
  lite_v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One channel of a 3x3, dilation 1 depthwise convolution with stride S (1 or 2): per output row,
// the columns whose three taps are inside the image accumulate the (up to) nine taps in
// registers, four columns a vector (4-wide: nine broadcast weights, the accumulator and the loads
// fit wasm's 16 registers; stride 2 splits two loads into even and odd columns); the edge
// columns check each tap. The same sums in the same order as lite_depthwise: bias, then the
// taps in (ki, kj) order.
template <int S>
void lite_depthwise3x3(const ConvGeom& g, const float* x, const float* w, float bias, float* y) {
  // Interior: ow*S - pl >= 0 and ow*S - pl + 2 <= W - 1.
  const int64_t c_lo = std::min<int64_t>((g.pl + S - 1) / S, g.Wo);
  const int64_t top = g.W - 3 + g.pl;
  const int64_t c_hi = std::max<int64_t>(top < 0 ? 0 : std::min<int64_t>(top / S + 1, g.Wo), c_lo);  // exclusive
  lite_v4f wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = lite_v4f{} + w[i];
  for (int64_t oh = 0; oh < g.Ho; ++oh) {
    float* yr = y + oh * g.Wo;
    const float* rows[3];
    int ks[3], nr = 0;
    for (int ki = 0; ki < 3; ++ki) {
      const int64_t ih = oh * g.sh - g.pt + ki;
      if (ih >= 0 && ih < g.H) {
        rows[nr] = x + ih * g.W;
        ks[nr++] = ki;
      }
    }
    auto edge = [&](int64_t ow) {
      float s = bias;
      for (int r = 0; r < nr; ++r)
        for (int kj = 0; kj < 3; ++kj) {
          const int64_t iw = ow * S - g.pl + kj;
          if (iw >= 0 && iw < g.W) s += w[ks[r] * 3 + kj] * rows[r][iw];
        }
      yr[ow] = s;
    };
    for (int64_t ow = 0; ow < c_lo; ++ow) edge(ow);
    for (int64_t ow = c_hi; ow < g.Wo; ++ow) edge(ow);
    int64_t ow = c_lo;
    for (; ow + 4 <= c_hi; ow += 4) {
      lite_v4f acc = lite_v4f{} + bias;
      for (int r = 0; r < nr; ++r) {
        const float* xr = rows[r] + (ow * S - g.pl);  // ow >= c_lo: inside the row
        const lite_v4f* wr = wv + ks[r] * 3;
        if constexpr (S == 1) {
          acc += wr[0] * lite_load4(xr);
          acc += wr[1] * lite_load4(xr + 1);
          acc += wr[2] * lite_load4(xr + 2);
        } else {
          // Columns xr[0..8]: tap 0 the even ones of [0, 8), tap 1 the odd ones, tap 2 the odd
          // ones of [1, 9).
          const lite_v4f l0 = lite_load4(xr), l1 = lite_load4(xr + 4);
          const lite_v4f m0 = lite_load4(xr + 1), m1 = lite_load4(xr + 5);
          acc += wr[0] * __builtin_shufflevector(l0, l1, 0, 2, 4, 6);
          acc += wr[1] * __builtin_shufflevector(l0, l1, 1, 3, 5, 7);
          acc += wr[2] * __builtin_shufflevector(m0, m1, 1, 3, 5, 7);
        }
      }
      std::memcpy(yr + ow, &acc, sizeof acc);
    }
    for (; ow < c_hi; ++ow) {
      float s = bias;
      for (int r = 0; r < nr; ++r)
        for (int kj = 0; kj < 3; ++kj) s += w[ks[r] * 3 + kj] * rows[r][ow * S - g.pl + kj];
      yr[ow] = s;
    }
  }
}

// One channel of a depthwise convolution: per output row, one axpy per kernel tap over the
// output columns whose input column is inside the image (vectorizes for stride 1).
void lite_depthwise(const ConvGeom& g, const float* x, const float* w, float bias, float* y) {
  for (int64_t oh = 0; oh < g.Ho; ++oh) {
    float* yr = y + oh * g.Wo;
    std::fill(yr, yr + g.Wo, bias);
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      int64_t ih = oh * g.sh - g.pt + ki * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      const float* xr = x + ih * g.W;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const float wv = w[ki * g.kw + kj];
        const int64_t off = kj * g.dw - g.pl;
        // ow with 0 <= ow * sw + off < W
        int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
        int64_t hi = g.W - 1 - off < 0 ? -1 : std::min<int64_t>((g.W - 1 - off) / g.sw, g.Wo - 1);
        if (g.sw == 1) {
          const float* xo = xr + off;
          for (int64_t ow = lo; ow <= hi; ++ow) yr[ow] += wv * xo[ow];
        } else {
          for (int64_t ow = lo; ow <= hi; ++ow) yr[ow] += wv * xr[ow * g.sw + off];
        }
      }
    }
  }
}

}  // namespace

void conv2d(const ConvGeom& g, const float* x, const float* w, const float* bias, float* y, float* scratch,
            const ActParams& act) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  const int64_t HoWo = g.Ho * g.Wo, K = Cg * g.kh * g.kw;
  const bool direct = conv2d_scratch(g) == 0;
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = x + n * g.C * g.H * g.W;
    float* yn = y + n * g.O * HoWo;
    if (Cg == 1 && Og == 1) {
      // The activation per channel, while its plane is still in cache.
      // 3x3 windows, dilation 1, the same stride (1 or 2) both ways: the register-blocked kernel.
      const bool k3 = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.sh == g.sw && g.sw <= 2;
      lite_parallel_for(g.C, 1, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        if (k3 && g.sw == 1)
          lite_depthwise3x3<1>(g, xn + c * g.H * g.W, w + c * 9, bias ? bias[c] : 0.f, yn + c * HoWo);
        else if (k3)
          lite_depthwise3x3<2>(g, xn + c * g.H * g.W, w + c * 9, bias ? bias[c] : 0.f, yn + c * HoWo);
        else
          lite_depthwise(g, xn + c * g.H * g.W, w + c * g.kh * g.kw, bias ? bias[c] : 0.f, yn + c * HoWo);
        apply_act(yn + c * HoWo, HoWo, act);
      }
      });
      continue;
    }
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const float* xg = xn + gr * Cg * g.H * g.W;
      const float* B = xg;
      if (!direct) {
        lite_im2col(g, Cg, xg, scratch);
        B = scratch;
      }
      gemm(Og, HoWo, K, w + gr * Og * K, K, B, HoWo, yn + gr * Og * HoWo, HoWo, false);
    }
    // Bias and activation in one pass per output channel (the same operations in the same
    // order as two passes: y + b, then the activation).
    lite_parallel_for(g.O, 1, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* r = yn + o * HoWo;
      if (bias) {
        const float b = bias[o];
        if (act.kind == Act::Relu) {
          for (int64_t i = 0; i < HoWo; ++i) {
            const float v = r[i] + b;
            r[i] = v > 0.f ? v : 0.f;
          }
          continue;
        }
        if (act.kind == Act::Clamp) {
          const float lo = act.p0, hi = act.p1;
          for (int64_t i = 0; i < HoWo; ++i) r[i] = std::min(std::max(r[i] + b, lo), hi);
          continue;
        }
        for (int64_t i = 0; i < HoWo; ++i) r[i] += b;
      }
      apply_act(r, HoWo, act);
    }
    });
  }
}

namespace {

// max as max_pool2d takes it: NaN wins (it propagates), otherwise the larger.
typedef int32_t lite_v4i __attribute__((vector_size(16)));
inline __attribute__((always_inline)) lite_v4f lite_max_nan(lite_v4f m, lite_v4f v) {
  const lite_v4i take = (v > m) | (v != v);
  return (lite_v4f)(((lite_v4i)v & take) | ((lite_v4i)m & ~take));
}

}  // namespace

void max_pool2d(const PoolGeom& g, const float* x, float* y) {
  // 2x2 windows at stride 2 without padding: four outputs a vector where the window is inside
  // (even and odd columns of two loads per input row), the same comparisons in the same order.
  const bool k2s2 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && g.pt == 0 &&
                    g.pl == 0;
  const int64_t vh = k2s2 ? std::min(g.Ho, g.H / 2) : 0, vw = k2s2 ? std::min(g.Wo, g.W / 2) / 4 * 4 : 0;
  for (int64_t c = 0; c < g.NC; ++c) {
    const float* xc = x + c * g.H * g.W;
    float* yc = y + c * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      int64_t ow = 0;
      if (oh < vh) {
        const float* r0 = xc + 2 * oh * g.W;
        const float* r1 = r0 + g.W;
        for (; ow < vw; ow += 4) {
          const lite_v4f a0 = lite_load4(r0 + 2 * ow), a1 = lite_load4(r0 + 2 * ow + 4);
          const lite_v4f b0 = lite_load4(r1 + 2 * ow), b1 = lite_load4(r1 + 2 * ow + 4);
          lite_v4f m = lite_v4f{} - std::numeric_limits<float>::infinity();
          m = lite_max_nan(m, __builtin_shufflevector(a0, a1, 0, 2, 4, 6));
          m = lite_max_nan(m, __builtin_shufflevector(a0, a1, 1, 3, 5, 7));
          m = lite_max_nan(m, __builtin_shufflevector(b0, b1, 0, 2, 4, 6));
          m = lite_max_nan(m, __builtin_shufflevector(b0, b1, 1, 3, 5, 7));
          std::memcpy(yc + oh * g.Wo + ow, &m, sizeof m);
        }
      }
      for (; ow < g.Wo; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          int64_t ih = oh * g.sh - g.pt + ki * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            int64_t iw = ow * g.sw - g.pl + kj * g.dw;
            if (iw < 0 || iw >= g.W) continue;
            float v = xc[ih * g.W + iw];
            if (v > m || std::isnan(v)) m = v;
          }
        }
        yc[oh * g.Wo + ow] = m;
      }
    }
  }
}

void avg_pool2d(const PoolGeom& g, bool count_include_pad, const float* x, float* y) {
  for (int64_t c = 0; c < g.NC; ++c) {
    const float* xc = x + c * g.H * g.W;
    float* yc = y + c * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        // PyTorch's divisor: the window clipped to the padded input (count_include_pad), or
        // to the input itself.
        int64_t h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
        int64_t h1 = std::min(h0 + g.kh, g.H + g.pt), w1 = std::min(w0 + g.kw, g.W + g.pl);
        int64_t pool = (h1 - h0) * (w1 - w0);
        h0 = std::max<int64_t>(h0, 0);
        w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, g.H);
        w1 = std::min(w1, g.W);
        float s = 0.f;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) s += xc[ih * g.W + iw];
        int64_t div = count_include_pad ? pool : (h1 - h0) * (w1 - w0);
        yc[oh * g.Wo + ow] = div > 0 ? s / float(div) : 0.f;
      }
  }
}

void adaptive_avg_pool2d(int64_t NC, int64_t H, int64_t W, int64_t Ho, int64_t Wo, const float* x, float* y) {
  for (int64_t c = 0; c < NC; ++c) {
    const float* xc = x + c * H * W;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      int64_t h0 = oh * H / Ho, h1 = ((oh + 1) * H + Ho - 1) / Ho;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        int64_t w0 = ow * W / Wo, w1 = ((ow + 1) * W + Wo - 1) / Wo;
        float s = 0.f;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) s += xc[ih * W + iw];
        y[(c * Ho + oh) * Wo + ow] = s / float((h1 - h0) * (w1 - w0));
      }
    }
  }
}

namespace {

template <typename F>
inline void lite_binary_row(int64_t n, const float* a, int64_t sa, const float* b, int64_t sb, float* o, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * sa], b[i * sb]);
  }
}

template <typename F>
void lite_binary_nd_serial(int rank, const int64_t* od, const float* a, const int64_t* as, const float* b,
                           const int64_t* bs, float* out, F f) {
  if (rank == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  int64_t inner = od[rank - 1];
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= od[d];
  int64_t idx[kMaxRank] = {0};
  for (int64_t r = 0; r < outer; ++r) {
    int64_t ao = 0, bo = 0;
    for (int d = 0; d < rank - 1; ++d) {
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
    }
    lite_binary_row(inner, a + ao, as[rank - 1], b + bo, bs[rank - 1], out + r * inner, f);
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < od[d]) break;
      idx[d] = 0;
    }
  }
}

// Threads split the first dim larger than 1 (each element: the same f of the same inputs).
template <typename F>
void lite_binary_nd(int rank, const int64_t* od, const float* a, const int64_t* as, const float* b,
                    const int64_t* bs, float* out, F f) {
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= od[d];
  if (rank == 0 || n < 32768 || lite_num_threads() <= 1) return lite_binary_nd_serial(rank, od, a, as, b, bs, out, f);
  int d = 0;
  while (d < rank - 1 && od[d] == 1) ++d;
  const int64_t inner = n / od[d];
  lite_parallel_for(od[d], 1, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)), [&](int64_t b0, int64_t e0) {
    int64_t sub[kMaxRank];
    for (int k = 0; k < rank; ++k) sub[k] = od[k];
    sub[d] = e0 - b0;
    lite_binary_nd_serial(rank, sub, a + b0 * as[d], as, b + b0 * bs[d], bs, out + b0 * inner, f);
  });
}

}  // namespace

void binary(Binary op, int rank, const int64_t* od, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out) {
  switch (op) {
    case Binary::Add: return lite_binary_nd(rank, od, a, as, b, bs, out, [](float x, float y) { return x + y; });
    case Binary::Sub: return lite_binary_nd(rank, od, a, as, b, bs, out, [](float x, float y) { return x - y; });
    case Binary::Mul: return lite_binary_nd(rank, od, a, as, b, bs, out, [](float x, float y) { return x * y; });
    case Binary::Div: return lite_binary_nd(rank, od, a, as, b, bs, out, [](float x, float y) { return x / y; });
    case Binary::Pow:
      return lite_binary_nd(rank, od, a, as, b, bs, out, [](float x, float y) { return std::pow(x, y); });
    case Binary::Max:
      return lite_binary_nd(rank, od, a, as, b, bs, out,
                            [](float x, float y) { return std::isnan(x) || x > y ? x : y; });
    case Binary::Min:
      return lite_binary_nd(rank, od, a, as, b, bs, out,
                            [](float x, float y) { return std::isnan(x) || x < y ? x : y; });
  }
}

void strided_copy(int rank, const int64_t* od, const float* x, const int64_t* xs, float* out) {
  static const int64_t zero[kMaxRank] = {0};
  lite_binary_nd(rank, od, x, xs, x, zero, out, [](float v, float) { return v; });
}

void softmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* xr = x + o * n * inner + i;
      float* yr = y + o * n * inner + i;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < n; ++k) m = std::max(m, xr[k * inner]);
      float s = 0.f;
      for (int64_t k = 0; k < n; ++k) {
        float e = std::exp(xr[k * inner] - m);
        yr[k * inner] = e;
        s += e;
      }
      if (log) {
        float ls = std::log(s) + m;
        for (int64_t k = 0; k < n; ++k) yr[k * inner] = xr[k * inner] - ls;
      } else {
        float inv = 1.f / s;
        for (int64_t k = 0; k < n; ++k) yr[k * inner] *= inv;
      }
    }
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += xr[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= double(n);
    float inv = float(1.0 / std::sqrt(var + eps)), m = float(mean);
    for (int64_t i = 0; i < n; ++i) {
      float v = (xr[i] - m) * inv;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
  }
}

void batch_norm(const float* x, const float* mean, const float* var, const float* w, const float* b, float* y,
                int64_t N, int64_t C, int64_t inner, float eps) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float scale = 1.f / std::sqrt(var[c] + eps) * (w ? w[c] : 1.f);
      float shift = (b ? b[c] : 0.f) - mean[c] * scale;
      const float* xr = x + (n * C + c) * inner;
      float* yr = y + (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * scale + shift;
    }
}

}  // namespace tlite::kernels
