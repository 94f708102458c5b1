// tandem-lite's int8 kernels (see kernels.h): quantize, dequantize, and conv2d / linear with
// int32 accumulation and one requantization, bit-exact with the full runtime's int8 path.
//
// NOTE: this file is compiled with -ffp-contract=off (cmake/lite.cmake): the requantization
// `acc * m + b` must be two roundings (a multiply, then an add) on every target, as the full
// runtime computes it; a fused multiply-add (the default on aarch64 and in the AVX2 clone)
// would round once and change the int8 result at ties.
//
// The integer core is one GEMM, C[p, o] = sum_k X[p, k] * W[o, k] with X uint8 (activations;
// int8 ones are read +128 with their zero point moved by 128) and W int8 (uint8 weights are
// stored -128, zero points likewise), K padded to a multiple of 4 with zero weights. The
// zero points come in afterwards:
//   sum (x - xz)(w - wz) = dot - xz * sum w - wz * (sum x - K * xz)
// and convolution padding is filled with xz, which contributes nothing. Integer sums are
// exact in any order, so every path below (portable loops, AVX512-VNNI, aarch64 dot product)
// gives the same int32 accumulators.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace tlite::kernels {

namespace {

#if defined(__x86_64__) && !defined(__clang__)
#define LITE_Q_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define LITE_Q_VNNI 1
#else
#define LITE_Q_CLONES
#define LITE_Q_VNNI 0
#endif

// The portable GEMM: 4 output channels per pass share each activation byte; the k loop is a
// widening dot product the compiler vectorizes (pmaddwd on x86, smlal/sdot-like code on NEON).
LITE_Q_CLONES void lite_qgemm_portable(int64_t P, int64_t O, int64_t Kp, const uint8_t* X, int64_t ldx,
                                       const int8_t* W, int32_t* C, int64_t ldc) {
  int64_t o = 0;
  for (; o + 4 <= O; o += 4) {
    const int8_t *w0 = W + o * Kp, *w1 = w0 + Kp, *w2 = w1 + Kp, *w3 = w2 + Kp;
    for (int64_t p = 0; p < P; ++p) {
      const uint8_t* x = X + p * ldx;
      int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t k = 0; k < Kp; ++k) {
        const int32_t xv = x[k];
        s0 += xv * w0[k];
        s1 += xv * w1[k];
        s2 += xv * w2[k];
        s3 += xv * w3[k];
      }
      int32_t* c = C + p * ldc + o;
      c[0] = s0;
      c[1] = s1;
      c[2] = s2;
      c[3] = s3;
    }
  }
  for (; o < O; ++o) {
    const int8_t* w0 = W + o * Kp;
    for (int64_t p = 0; p < P; ++p) {
      const uint8_t* x = X + p * ldx;
      int32_t s0 = 0;
      for (int64_t k = 0; k < Kp; ++k) s0 += int32_t(x[k]) * w0[k];
      C[p * ldc + o] = s0;
    }
  }
}

#if LITE_Q_VNNI
typedef int lite_v16si __attribute__((vector_size(64)));

// AVX512-VNNI: vpdpbusd sums four uint8 x int8 products into each of 16 int32 lanes. W is
// packed [O/16][Kp/4][16][4] (QLayer::wp), so one 64-byte load holds 4 k-values of 16 output
// channels; the 4 activation bytes are broadcast. 4 rows x 16 channels per block.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void lite_qgemm_vnni(int64_t P, int64_t O, int64_t Kp,
                                                                            const uint8_t* X, int64_t ldx,
                                                                            const int8_t* Wp, int32_t* C,
                                                                            int64_t ldc) {
  const int64_t K4 = Kp / 4;
  for (int64_t ob = 0; ob * 16 < O; ++ob) {
    const int8_t* wb = Wp + ob * K4 * 64;
    const int64_t nlanes = std::min<int64_t>(16, O - ob * 16);
    int64_t p = 0;
    auto store = [&](int64_t row, lite_v16si v) {
      int32_t tmp[16];
      std::memcpy(tmp, &v, 64);
      std::memcpy(C + row * ldc + ob * 16, tmp, size_t(nlanes) * 4);
    };
    for (; p + 4 <= P; p += 4) {
      lite_v16si a0 = {}, a1 = {}, a2 = {}, a3 = {};
      const uint8_t *x0 = X + p * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
      for (int64_t k = 0; k < K4; ++k) {
        lite_v16si wv;
        std::memcpy(&wv, wb + k * 64, 64);
        int32_t b0, b1, b2, b3;
        std::memcpy(&b0, x0 + 4 * k, 4);
        std::memcpy(&b1, x1 + 4 * k, 4);
        std::memcpy(&b2, x2 + 4 * k, 4);
        std::memcpy(&b3, x3 + 4 * k, 4);
        a0 = __builtin_ia32_vpdpbusd_v16si(a0, lite_v16si{} + b0, wv);
        a1 = __builtin_ia32_vpdpbusd_v16si(a1, lite_v16si{} + b1, wv);
        a2 = __builtin_ia32_vpdpbusd_v16si(a2, lite_v16si{} + b2, wv);
        a3 = __builtin_ia32_vpdpbusd_v16si(a3, lite_v16si{} + b3, wv);
      }
      store(p, a0);
      store(p + 1, a1);
      store(p + 2, a2);
      store(p + 3, a3);
    }
    for (; p < P; ++p) {
      lite_v16si a0 = {};
      const uint8_t* x0 = X + p * ldx;
      for (int64_t k = 0; k < K4; ++k) {
        lite_v16si wv;
        std::memcpy(&wv, wb + k * 64, 64);
        int32_t b0;
        std::memcpy(&b0, x0 + 4 * k, 4);
        a0 = __builtin_ia32_vpdpbusd_v16si(a0, lite_v16si{} + b0, wv);
      }
      store(p, a0);
    }
  }
}

bool lite_have_vnni() {
  static const bool v = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
  }();
  return v;
}
#endif

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
// aarch64 with the dot-product extension: sdot sums four int8 x int8 products per int32 lane.
// The activations are uint8, so they are read as int8 (x - 128) and 128 * sum w is added back.
void lite_qgemm_sdot(int64_t P, int64_t O, int64_t Kp, const uint8_t* X, int64_t ldx, const int8_t* Wp,
                     const int32_t* wsum, int32_t* C, int64_t ldc) {
  typedef int32_t lite_v4si __attribute__((vector_size(16)));
  typedef int8_t lite_v16qi __attribute__((vector_size(16)));
  const int64_t K4 = Kp / 4;
  for (int64_t ob = 0; ob * 16 < O; ++ob) {
    const int8_t* wb = Wp + ob * K4 * 64;
    const int64_t nlanes = std::min<int64_t>(16, O - ob * 16);
    for (int64_t p = 0; p < P; ++p) {
      lite_v4si a[4] = {};
      const uint8_t* x = X + p * ldx;
      for (int64_t k = 0; k < K4; ++k) {
        uint32_t b;
        std::memcpy(&b, x + 4 * k, 4);
        b ^= 0x80808080u;
        int32_t bi;
        std::memcpy(&bi, &b, 4);
        lite_v4si bv = lite_v4si{} + bi;
        lite_v16qi xb;
        std::memcpy(&xb, &bv, 16);
        for (int q = 0; q < 4; ++q) {
          lite_v16qi wv;
          std::memcpy(&wv, wb + k * 64 + q * 16, 16);
          __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(a[q]) : "w"(wv), "w"(xb));
        }
      }
      int32_t tmp[16];
      std::memcpy(tmp, a, 64);
      for (int64_t l = 0; l < nlanes; ++l) C[p * ldc + ob * 16 + l] = tmp[l] + 128 * wsum[ob * 16 + l];
    }
  }
}
#endif

bool lite_q_portable_only = false;

// C[p, o] = sum_k X[p, k] * W[o, k] over the padded K (the fastest path this CPU has).
void lite_qgemm(int64_t P, int64_t O, const QLayer& L, const uint8_t* X, int64_t ldx, int32_t* C, int64_t ldc) {
#if LITE_Q_VNNI
  if (!L.wp.empty() && !lite_q_portable_only && lite_have_vnni()) return lite_qgemm_vnni(P, O, L.Kp, X, ldx, L.wp.data(), C, ldc);
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
  if (!L.wp.empty() && !lite_q_portable_only) return lite_qgemm_sdot(P, O, L.Kp, X, ldx, L.wp.data(), L.wsum.data(), C, ldc);
#endif
  lite_qgemm_portable(P, O, L.Kp, X, ldx, L.w.data(), C, ldc);
}

// NOTE: round half to even without a libm call, for |v| <= 4e6 (< 2^22): adding and removing
// 1.5 * 2^23 leaves no fraction bits, and the add rounds in the default rounding mode, as
// nearbyint does. Callers clamp first: beyond 4e6 every result saturates anyway. A NaN
// becomes `nan_to` (the comparisons are false for it).
inline float lite_rne(float v, float nan_to) {
  v = v > -4.0e6f ? v : (v == v ? -4.0e6f : nan_to);
  v = v < 4.0e6f ? v : 4.0e6f;
  return (v + 12582912.0f) - 12582912.0f;
}

// The requantization of one accumulator (see format.h, Key::Rounding; the bias b is 0 for a
// layer without one, which leaves both sums unchanged). Rounding 0 is src/quant's
// requantize: round(acc * m + b) + zp, saturated, relu as a floor of zp. Rounding 1 is
// oneDNN's int8 convolution: (acc + b) * m, relu, + zp, saturated, rounded.
template <int R>
inline float lite_requant_f(int32_t acc, float m, float b, float zp, float floor_q, float hi, float floor_v) {
  if constexpr (R == 0) {
    float r = lite_rne(float(acc) * m + b, 0.f) + zp;
    r = r > floor_q ? r : floor_q;
    return r < hi ? r : hi;
  } else {
    float v = (float(acc) + b) * m;
    v = v > floor_v ? v : floor_v;
    v = v + zp;
    v = v > floor_q ? v : floor_q;
    v = v < hi ? v : hi;
    return lite_rne(v, floor_q);
  }
}

struct LiteRequantConsts {
  float zp, floor_q, hi, floor_v;
};

// The same arithmetic on 8 lanes (GCC vector extensions: one AVX register, two SSE / NEON
// ones), so that the loops vectorize: branch-free selects instead of the scalar ternaries.
typedef float lite_q8f __attribute__((vector_size(32)));
typedef int32_t lite_q8i __attribute__((vector_size(32)));

inline lite_q8f lite_q8f_splat(float v) { return lite_q8f{} + v; }

inline lite_q8f lite_rne8(lite_q8f v, float nan_to) {
  const lite_q8f lo = lite_q8f_splat(-4.0e6f), hi = lite_q8f_splat(4.0e6f), magic = lite_q8f_splat(12582912.0f);
  v = v > lo ? v : (v == v ? lo : lite_q8f_splat(nan_to));
  v = v < hi ? v : hi;
  return (v + magic) - magic;
}

template <int R>
inline lite_q8f lite_requant8(lite_q8i acc, lite_q8f m, lite_q8f b, const LiteRequantConsts& k) {
  const lite_q8f zp = lite_q8f_splat(k.zp), fq = lite_q8f_splat(k.floor_q), hi = lite_q8f_splat(k.hi);
  const lite_q8f a = __builtin_convertvector(acc, lite_q8f);
  if constexpr (R == 0) {
    lite_q8f r = lite_rne8(a * m + b, 0.f) + zp;
    r = r > fq ? r : fq;
    return r < hi ? r : hi;
  } else {
    const lite_q8f fv = lite_q8f_splat(k.floor_v);
    lite_q8f v = (a + b) * m;
    v = v > fv ? v : fv;
    v = v + zp;
    v = v > fq ? v : fq;
    v = v < hi ? v : hi;
    return lite_rne8(v, k.floor_q);
  }
}

// 8 integral floats in the output type's range -> 8 bytes at y.
// NOTE: the narrowing is a byte shuffle of the int32 lanes (their low bytes are the int8 /
// uint8 values), which compiles to a few shuffles instead of one extract per lane.
template <typename Q>
inline void lite_store8q(Q* y, lite_q8f v) {
  typedef uint8_t lite_q32b __attribute__((vector_size(32)));
  const lite_q8i vi = __builtin_convertvector(v, lite_q8i);
  lite_q32b b;
  std::memcpy(&b, &vi, 32);
#if defined(__clang__)
  const lite_q32b packed = __builtin_shufflevector(b, b, 0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
#else
  const lite_q32b idx = {0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const lite_q32b packed = __builtin_shuffle(b, idx);
#endif
  std::memcpy(y, &packed, 8);
}

inline lite_q8i lite_load8i(const int32_t* p) {
  lite_q8i v;
  std::memcpy(&v, p, 32);
  return v;
}
inline lite_q8f lite_load8f(const float* p) {
  lite_q8f v;
  std::memcpy(&v, p, 32);
  return v;
}

template <typename Q>
LiteRequantConsts lite_requant_consts(const QLayer& L) {
  const float lo = std::is_same_v<Q, int8_t> ? -128.f : 0.f, hi = std::is_same_v<Q, int8_t> ? 127.f : 255.f;
  const float zp = float(L.y_zp);
  // relu: rounding 0 floors the result at zp (clamped into range), rounding 1 the value at 0.
  const float fq = L.relu && L.rounding == 0 ? std::min(std::max(zp, lo), hi) : lo;
  return {zp, fq, hi, L.relu ? 0.f : -3.0e38f};
}

// y[o * so + p] = requant(C[p * ldc + o] - zero-point corrections) for p < P, o < O (layer
// channels o0 + o); xadj[p] = sum_k x[p, k] - K * x_zp (only read with weight zero points).
template <typename Q, int R>
LITE_Q_CLONES void lite_requant_rows(const QLayer& L, int64_t o0, int64_t P, int64_t O, const int32_t* C, int64_t ldc,
                                     const int32_t* xadj, Q* y, int64_t so) {
  const LiteRequantConsts k = lite_requant_consts<Q>(L);
  const float* m = L.mult.data() + o0;
  const float* b = L.bias.data() + o0;
  const int32_t* ws = L.wsum.data() + o0;
  const int32_t* wz = L.w_zp.data() + o0;
  const int32_t xz = L.x_zp;
  // Per row, 256 channels at a time into a contiguous buffer (the arithmetic vectorizes over
  // channels); 16 rows of it, then stored at the channels' strided places (16 consecutive
  // outputs per channel).
  constexpr int64_t PB = 16;
  Q tmp[PB][256];
  for (int64_t p0 = 0; p0 < P; p0 += PB) {
    const int64_t pb = std::min(PB, P - p0);
    for (int64_t o0b = 0; o0b < O; o0b += 256) {
      const int64_t nb = std::min<int64_t>(256, O - o0b);
      for (int64_t pp = 0; pp < pb; ++pp) {
        const int64_t p = p0 + pp;
        const int32_t* c = C + p * ldc;
        const int32_t xa = L.w_zp_zero ? 0 : xadj[p];
        Q* t = tmp[pp];
        int64_t o = 0;
        for (; o + 8 <= nb; o += 8) {
          const int64_t oc = o0b + o;
          const lite_q8i acc = lite_load8i(c + oc) - xz * lite_load8i(ws + oc) - lite_load8i(wz + oc) * xa;
          lite_store8q(t + o, lite_requant8<R>(acc, lite_load8f(m + oc), lite_load8f(b + oc), k));
        }
        for (; o < nb; ++o) {
          const int64_t oc = o0b + o;
          const int32_t acc = c[oc] - xz * ws[oc] - wz[oc] * xa;
          t[o] = Q(int32_t(lite_requant_f<R>(acc, m[oc], b[oc], k.zp, k.floor_q, k.hi, k.floor_v)));
        }
        if (so == 1) std::memcpy(y + o0b + p, t, size_t(nb) * sizeof(Q));
      }
      if (so != 1)
        for (int64_t o = 0; o < nb; ++o) {
          Q* yo = y + (o0b + o) * so + p0;
          for (int64_t pp = 0; pp < pb; ++pp) yo[pp] = tmp[pp][o];
        }
    }
  }
}

// One channel's P accumulators, corrections already in (depthwise).
template <typename Q, int R>
LITE_Q_CLONES void lite_requant_chan(const QLayer& L, int64_t oc, int64_t P, const int32_t* acc, Q* y) {
  const LiteRequantConsts k = lite_requant_consts<Q>(L);
  const float m = L.mult[size_t(oc)], b = L.bias[size_t(oc)];
  int64_t p = 0;
  for (; p + 8 <= P; p += 8) lite_store8q(y + p, lite_requant8<R>(lite_load8i(acc + p), lite_q8f_splat(m), lite_q8f_splat(b), k));
  for (; p < P; ++p) y[p] = Q(int32_t(lite_requant_f<R>(acc[p], m, b, k.zp, k.floor_q, k.hi, k.floor_v)));
}

void lite_requant_rows_any(const QLayer& L, int64_t o0, int64_t P, int64_t O, const int32_t* C, int64_t ldc,
                           const int32_t* xadj, void* y, int64_t so) {
  if (L.y_signed) {
    if (L.rounding == 0) lite_requant_rows<int8_t, 0>(L, o0, P, O, C, ldc, xadj, static_cast<int8_t*>(y), so);
    else lite_requant_rows<int8_t, 1>(L, o0, P, O, C, ldc, xadj, static_cast<int8_t*>(y), so);
  } else {
    if (L.rounding == 0) lite_requant_rows<uint8_t, 0>(L, o0, P, O, C, ldc, xadj, static_cast<uint8_t*>(y), so);
    else lite_requant_rows<uint8_t, 1>(L, o0, P, O, C, ldc, xadj, static_cast<uint8_t*>(y), so);
  }
}

void lite_requant_chan_any(const QLayer& L, int64_t oc, int64_t P, const int32_t* acc, void* y) {
  if (L.y_signed) {
    if (L.rounding == 0) lite_requant_chan<int8_t, 0>(L, oc, P, acc, static_cast<int8_t*>(y));
    else lite_requant_chan<int8_t, 1>(L, oc, P, acc, static_cast<int8_t*>(y));
  } else {
    if (L.rounding == 0) lite_requant_chan<uint8_t, 0>(L, oc, P, acc, static_cast<uint8_t*>(y));
    else lite_requant_chan<uint8_t, 1>(L, oc, P, acc, static_cast<uint8_t*>(y));
  }
}

// x [C, H, W] (int8 or uint8) -> hwc [(H + pt + pb) * (W + pl + pr), C] in the uint8 domain,
// the padding filled with x_zp (which contributes nothing to the integer sums).
// Rows [h0, h1) of the padded image.
LITE_Q_CLONES void lite_to_padded_hwc_rows(const ConvGeom& g, const uint8_t* x, bool sgn, uint8_t xz, uint8_t* hwc,
                                           int64_t h0, int64_t h1) {
  const int64_t wp = g.W + g.pl + g.pr, C = g.C;
  const uint8_t flip = sgn ? 0x80 : 0;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t ih = h - g.pt;
    uint8_t* row = hwc + h * wp * C;
    if (ih < 0 || ih >= g.H) {
      std::memset(row, xz, size_t(wp * C));
      continue;
    }
    std::memset(row, xz, size_t(g.pl * C));
    std::memset(row + (g.pl + g.W) * C, xz, size_t(g.pr * C));
    for (int64_t c = 0; c < C; ++c) {
      const uint8_t* src = x + (c * g.H + ih) * g.W;
      uint8_t* dst = row + g.pl * C + c;
      for (int64_t w = 0; w < g.W; ++w) dst[w * C] = uint8_t(src[w] ^ flip);
    }
  }
}

void lite_to_padded_hwc(const ConvGeom& g, const uint8_t* x, bool sgn, uint8_t xz, uint8_t* hwc) {
  const int64_t hp = g.H + g.pt + g.pb, wp = g.W + g.pl + g.pr;
  lite_parallel_for(hp, 1, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, wp * g.C)),
                    [&](int64_t h0, int64_t h1) { lite_to_padded_hwc_rows(g, x, sgn, xz, hwc, h0, h1); });
}

// Depthwise: one channel's padded plane (x - x_zp, 0 in the padding) as int16, then per
// output row sum_{i, j} w[i, j] * plane[oh * sh + i * dh, ow * sw + j * dw] in int32.
LITE_Q_CLONES void lite_depthwise_q(const ConvGeom& g, const QLayer& L, const uint8_t* x, bool sgn, int64_t c,
                                    int16_t* plane, int32_t* acc) {
  const int64_t hp = g.H + g.pt + g.pb, wp = g.W + g.pl + g.pr;
  const uint8_t flip = sgn ? 0x80 : 0;
  std::fill(plane, plane + hp * wp, int16_t(0));
  for (int64_t h = 0; h < g.H; ++h) {
    const uint8_t* src = x + h * g.W;
    int16_t* dst = plane + (h + g.pt) * wp + g.pl;
    for (int64_t w = 0; w < g.W; ++w) dst[w] = int16_t(int32_t(uint8_t(src[w] ^ flip)) - L.x_zp);
  }
  const int8_t* wc = L.w.data() + c * L.Kp;
  const int32_t wz = L.w_zp[size_t(c)];
  if (g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1) {
    // 3x3: the nine products of an output summed in registers, one store per output (integer
    // sums: the same values as the tap-by-tap loop below).
    int32_t w9[9];
    for (int i = 0; i < 9; ++i) w9[i] = int32_t(wc[i]) - wz;
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      const int16_t* r0 = plane + oh * g.sh * wp;
      const int16_t* r1 = r0 + wp;
      const int16_t* r2 = r1 + wp;
      int32_t* a = acc + oh * g.Wo;
      if (g.sw == 1) {
        for (int64_t ow = 0; ow < g.Wo; ++ow)
          a[ow] = w9[0] * r0[ow] + w9[1] * r0[ow + 1] + w9[2] * r0[ow + 2] + w9[3] * r1[ow] + w9[4] * r1[ow + 1] +
                  w9[5] * r1[ow + 2] + w9[6] * r2[ow] + w9[7] * r2[ow + 1] + w9[8] * r2[ow + 2];
      } else {
        const int64_t s = g.sw;
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t x0 = ow * s;
          a[ow] = w9[0] * r0[x0] + w9[1] * r0[x0 + 1] + w9[2] * r0[x0 + 2] + w9[3] * r1[x0] + w9[4] * r1[x0 + 1] +
                  w9[5] * r1[x0 + 2] + w9[6] * r2[x0] + w9[7] * r2[x0 + 1] + w9[8] * r2[x0 + 2];
        }
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < g.Ho; ++oh) {
    int32_t* a = acc + oh * g.Wo;
    std::fill(a, a + g.Wo, 0);
    for (int64_t i = 0; i < g.kh; ++i) {
      const int16_t* r = plane + (oh * g.sh + i * g.dh) * wp;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int32_t wv = int32_t(wc[i * g.kw + j]) - wz;
        const int16_t* rj = r + j * g.dw;
        if (g.sw == 1) {
          for (int64_t ow = 0; ow < g.Wo; ++ow) a[ow] += wv * rj[ow];
        } else {
          for (int64_t ow = 0; ow < g.Wo; ++ow) a[ow] += wv * rj[ow * g.sw];
        }
      }
    }
  }
}

}  // namespace

void int8_portable_only(bool on) { lite_q_portable_only = on; }

const char* int8_path() {
#if LITE_Q_VNNI
  if (!lite_q_portable_only && lite_have_vnni()) return "avx512-vnni";
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
  if (!lite_q_portable_only) return "aarch64-dotprod";
#endif
  return "portable";
}

namespace {
template <typename Q>
LITE_Q_CLONES void lite_quantize(const float* x, int64_t n, float scale, int32_t zp, Q* y) {
  const float lo = std::is_same_v<Q, int8_t> ? -128.f : 0.f, hi = std::is_same_v<Q, int8_t> ? 127.f : 255.f;
  const float z = float(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const lite_q8f r = lite_load8f(x + i) / scale;
    lite_q8f v = lite_rne8(r, 0.f) + z;
    v = v > lite_q8f_splat(lo) ? v : lite_q8f_splat(lo);
    v = v < lite_q8f_splat(hi) ? v : lite_q8f_splat(hi);
    v = r == r ? v : lite_q8f_splat(z);
    lite_store8q(y + i, v);
  }
  for (; i < n; ++i) {
    const float r = x[i] / scale;
    float v = lite_rne(r, 0.f) + z;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    v = r == r ? v : z;  // NaN gives the zero point
    y[i] = Q(int32_t(v));
  }
}
}  // namespace

// Threads split 64-aligned ranges (each element: the same arithmetic as in one pass).
void quantize(const float* x, int64_t n, float scale, int32_t zp, bool sgn, void* y) {
  lite_parallel_for(n, 64, 16384, [&](int64_t b, int64_t e) {
    if (sgn) lite_quantize(x + b, e - b, scale, zp, static_cast<int8_t*>(y) + b);
    else lite_quantize(x + b, e - b, scale, zp, static_cast<uint8_t*>(y) + b);
  });
}

namespace {
// Rows [r0, r1) of the [outer * C, inner] view, or elements [i0, i1) of each row.
LITE_Q_CLONES void lite_dequantize_rows(const void* q, bool sgn, int64_t C, int64_t inner, const float* scale,
                                        const int32_t* zp, float* y, int64_t r0, int64_t r1, int64_t i0, int64_t i1) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t c = r % C;
    {
      const int64_t base = r * inner + i0;
      const int64_t inner_n = i1 - i0;
      const float s = scale[c];
      const int32_t z = zp[c];
      if (sgn) {
        const int8_t* x = static_cast<const int8_t*>(q) + base;
        for (int64_t i = 0; i < inner_n; ++i) y[base + i] = float(int32_t(x[i]) - z) * s;
      } else {
        const uint8_t* x = static_cast<const uint8_t*>(q) + base;
        for (int64_t i = 0; i < inner_n; ++i) y[base + i] = float(int32_t(x[i]) - z) * s;
      }
    }
  }
}
}  // namespace

void dequantize(const void* q, bool sgn, int64_t outer, int64_t C, int64_t inner, const float* scale,
                const int32_t* zp, float* y) {
  const int64_t rows = outer * C;
  if (rows == 1) {
    lite_parallel_for(inner, 64, 16384, [&](int64_t b, int64_t e) {
      lite_dequantize_rows(q, sgn, C, inner, scale, zp, y, 0, 1, b, e);
    });
    return;
  }
  lite_parallel_for(rows, 1, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    lite_dequantize_rows(q, sgn, C, inner, scale, zp, y, b, e, 0, inner);
  });
}

void qlayer_pack(QLayer& L, bool vnni_layout) {
  L.Kp = (L.K + 3) / 4 * 4;
  L.wsum.assign(size_t(L.O), 0);
  for (int64_t o = 0; o < L.O; ++o)
    for (int64_t k = 0; k < L.K; ++k) L.wsum[size_t(o)] += L.w[size_t(o * L.Kp + k)];
  L.wp.clear();
  if (!vnni_layout) return;
#if LITE_Q_VNNI
  if (!lite_have_vnni()) return;
#elif !(defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD))
  return;
#endif
  const int64_t K4 = L.Kp / 4, OB = (L.O + 15) / 16;
  L.wp.assign(size_t(OB * K4 * 64), 0);
  for (int64_t o = 0; o < L.O; ++o)
    for (int64_t k = 0; k < L.Kp; ++k)
      L.wp[size_t(((o / 16) * K4 + k / 4) * 64 + (o % 16) * 4 + k % 4)] = L.w[size_t(o * L.Kp + k)];
}

int64_t qconv2d_scratch_bytes(const ConvGeom& g, const QLayer& L) {
  const int64_t Og = g.O / g.groups, P = g.Ho * g.Wo;
  const int64_t padded = (g.H + g.pt + g.pb) * (g.W + g.pl + g.pr);
  auto up = [](int64_t b) { return (b + 63) / 64 * 64; };
  if (g.C / g.groups == 1 && Og == 1) return up(padded * 2) + up(P * 4);  // depthwise
  return up(padded * g.C) + up(P * L.Kp) + up(P * Og * 4) + up(P * 4);
}

// Weights are [O, kh, kw, C/groups] (prepare reorders them): one row of im2col is, per tap,
// C/groups contiguous bytes of the padded HWC image.
void qconv2d(const ConvGeom& g, const QLayer& L, const void* x, void* y, uint8_t* scratch) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, P = g.Ho * g.Wo, HW = g.H * g.W;
  const int64_t hp = g.H + g.pt + g.pb, wp = g.W + g.pl + g.pr;
  auto up = [](int64_t b) { return (b + 63) / 64 * 64; };
  const uint8_t* xb = static_cast<const uint8_t*>(x);
  uint8_t* yb = static_cast<uint8_t*>(y);
  if (Cg == 1 && Og == 1) {
    int16_t* plane = reinterpret_cast<int16_t*>(scratch);
    int32_t* acc = reinterpret_cast<int32_t*>(scratch + up(hp * wp * 2));
    // Threads split the channels; the first chunk uses the scratch, the others a buffer of
    // their thread's (allocated on a thread's first use).
    const int64_t plane_bytes = up(hp * wp * 2), need = plane_bytes + up(P * 4);
    for (int64_t n = 0; n < g.N; ++n)
      lite_parallel_for(g.C, 1, 1, [&](int64_t c0, int64_t c1) {
        int16_t* pl = plane;
        int32_t* ac = acc;
        if (c0 > 0) {
          thread_local std::vector<int64_t> lite_dwq_buf;
          if (int64_t(lite_dwq_buf.size()) * 8 < need) lite_dwq_buf.resize(size_t(need + 7) / 8);
          uint8_t* base = reinterpret_cast<uint8_t*>(lite_dwq_buf.data());
          pl = reinterpret_cast<int16_t*>(base);
          ac = reinterpret_cast<int32_t*>(base + plane_bytes);
        }
        for (int64_t c = c0; c < c1; ++c) {
          lite_depthwise_q(g, L, xb + (n * g.C + c) * HW, L.x_signed, c, pl, ac);
          lite_requant_chan_any(L, c, P, ac, yb + (n * g.O + c) * P);
        }
      });
    return;
  }
  uint8_t* hwc = scratch;
  uint8_t* cols = hwc + up(hp * wp * g.C);
  int32_t* C = reinterpret_cast<int32_t*>(cols + up(P * L.Kp));
  int32_t* xadj = C + P * Og;
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.groups == 1 && L.Kp == g.C &&
                         g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0;
  for (int64_t n = 0; n < g.N; ++n) {
    lite_to_padded_hwc(g, xb + n * g.C * HW, L.x_signed, uint8_t(L.x_zp), hwc);
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const uint8_t* X = hwc;  // a 1x1 stride-1 convolution reads the HWC image as it is
      if (!pointwise) {
        lite_parallel_for(g.Ho, 1, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.Wo * L.Kp)), [&](int64_t h0, int64_t h1) {
        for (int64_t oh = h0; oh < h1; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            uint8_t* row = cols + (oh * g.Wo + ow) * L.Kp;
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const uint8_t* src = hwc + ((oh * g.sh + i * g.dh) * wp + ow * g.sw + j * g.dw) * g.C + gr * Cg;
                std::memcpy(row + (i * g.kw + j) * Cg, src, size_t(Cg));
              }
            std::memset(row + L.K, 0, size_t(L.Kp - L.K));
          }
        });
        X = cols;
      }
      if (!L.w_zp_zero)
        for (int64_t p = 0; p < P; ++p) {
          int32_t s = 0;
          for (int64_t k = 0; k < L.K; ++k) s += X[p * L.Kp + k];
          xadj[p] = s - int32_t(L.K) * L.x_zp;
        }
      // A grouped conv's weights: the group's own packed layer (QLayer::groups).
      const QLayer& use = g.groups > 1 ? L.groups[size_t(gr)] : L;
      // Threads split the output pixels (integer sums: exact in any order; the requantization
      // of each element is the same arithmetic whichever rows a thread has).
      uint8_t* yg = yb + (n * g.O + gr * Og) * P;
      lite_parallel_for(P, 16, 16, [&](int64_t p0, int64_t p1) {
        lite_qgemm(p1 - p0, Og, use, X + p0 * L.Kp, L.Kp, C + p0 * Og, Og);
        lite_requant_rows_any(L, gr * Og, p1 - p0, Og, C + p0 * Og, Og, xadj + p0, yg + p0, P);
      });
    }
  }
}

int64_t qlinear_scratch_bytes(int64_t M, const QLayer& L) {
  return (M * L.Kp + 63) / 64 * 64 + 4 * M * L.O + 4 * M + 64;
}

void qlinear(int64_t M, const QLayer& L, const void* x, void* y, uint8_t* scratch) {
  uint8_t* xs = scratch;                                                  // [M, Kp]
  int32_t* C = reinterpret_cast<int32_t*>(scratch + (M * L.Kp + 63) / 64 * 64);  // [M, O]
  int32_t* xadj = C + M * L.O;
  const uint8_t flip = L.x_signed ? 0x80 : 0;
  for (int64_t m = 0; m < M; ++m) {
    const uint8_t* src = static_cast<const uint8_t*>(x) + m * L.K;
    uint8_t* dst = xs + m * L.Kp;
    int32_t s = 0;
    for (int64_t k = 0; k < L.K; ++k) {
      dst[k] = uint8_t(src[k] ^ flip);
      s += dst[k];
    }
    std::memset(dst + L.K, 0, size_t(L.Kp - L.K));
    xadj[m] = s - int32_t(L.K) * L.x_zp;
  }
  lite_parallel_for(M, 1, 1, [&](int64_t m0, int64_t m1) {
    lite_qgemm(m1 - m0, L.O, L, xs + m0 * L.Kp, L.Kp, C + m0 * L.O, L.O);
  });
  // y [M, O]: row m, channel o at m * O + o (so = 1, rows L.O apart: requantized row by row).
  for (int64_t m = 0; m < M; ++m)
    lite_requant_rows_any(L, 0, 1, L.O, C + m * L.O, L.O, xadj + m, static_cast<uint8_t*>(y) + m * L.O, 1);
}

}  // namespace tlite::kernels
