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

// One requantized value (see format.h, Key::Rounding). acc already holds the zero-point
// corrections. Rounding 0 is src/quant's requantize; rounding 1 is oneDNN's int8 convolution
// with output scales, a bias in accumulator units, relu post-op and destination zero point.
template <typename Q>
inline Q lite_requant1(int32_t acc, float m, float b, bool has_b, int rounding, int32_t yz, bool relu) {
  constexpr float lo = std::is_same_v<Q, int8_t> ? -128.f : 0.f, hi = std::is_same_v<Q, int8_t> ? 127.f : 255.f;
  if (rounding == 0) {
    const float v = has_b ? float(acc) * m + b : float(acc) * m;
    float r = std::min(std::max(std::nearbyint(v) + float(yz), lo), hi);
    if (relu) r = std::max(r, std::min(std::max(float(yz), lo), hi));
    return Q(r);
  }
  float v = has_b ? (float(acc) + b) * m : float(acc) * m;
  if (relu) v = std::max(v, 0.f);
  v = std::min(std::max(v + float(yz), lo), hi);
  return Q(std::nearbyint(v));
}

// y[o * ystride_o + p * ystride_p] = requant(C[p, o] - corrections) for p < P, o < O (channels
// o0 + o of the layer).
template <typename Q>
LITE_Q_CLONES void lite_requant_block(const QLayer& L, int64_t o0, int64_t P, int64_t O, const int32_t* C, int64_t ldc,
                                      const int32_t* xsum, Q* y, int64_t ystride_o, int64_t ystride_p) {
  const bool has_b = !L.bias.empty();
  for (int64_t p = 0; p < P; ++p)
    for (int64_t o = 0; o < O; ++o) {
      const int64_t oc = o0 + o;
      int32_t acc = C[p * ldc + o] - L.x_zp * L.wsum[size_t(oc)];
      if (!L.w_zp_zero) acc -= L.w_zp[size_t(oc)] * (xsum[p] - int32_t(L.K) * L.x_zp);
      y[o * ystride_o + p * ystride_p] = lite_requant1<Q>(acc, L.mult[size_t(oc)], has_b ? L.bias[size_t(oc)] : 0.f,
                                                          has_b, L.rounding, L.y_zp, L.relu);
    }
}

void lite_requant_dispatch(const QLayer& L, int64_t o0, int64_t P, int64_t O, const int32_t* C, int64_t ldc,
                           const int32_t* xsum, void* y, int64_t so, int64_t sp) {
  if (L.y_signed) lite_requant_block(L, o0, P, O, C, ldc, xsum, static_cast<int8_t*>(y), so, sp);
  else lite_requant_block(L, o0, P, O, C, ldc, xsum, static_cast<uint8_t*>(y), so, sp);
}

inline uint8_t lite_xu8(const void* x, bool sgn, int64_t i) {
  return sgn ? uint8_t(static_cast<const uint8_t*>(x)[i] ^ 0x80u) : static_cast<const uint8_t*>(x)[i];
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

void quantize(const float* x, int64_t n, float scale, int32_t zp, bool sgn, void* y) {
  const float lo = sgn ? -128.f : 0.f, hi = sgn ? 127.f : 255.f;
  for (int64_t i = 0; i < n; ++i) {
    const float r = x[i] / scale;
    const float v = std::isnan(r) ? float(zp) : std::min(std::max(std::nearbyint(r) + float(zp), lo), hi);
    if (sgn) static_cast<int8_t*>(y)[i] = int8_t(v);
    else static_cast<uint8_t*>(y)[i] = uint8_t(v);
  }
}

void dequantize(const void* q, bool sgn, int64_t outer, int64_t C, int64_t inner, const float* scale,
                const int32_t* zp, float* y) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (o * C + c) * inner;
      const float s = scale[c];
      const int32_t z = zp[c];
      if (sgn) {
        const int8_t* x = static_cast<const int8_t*>(q) + base;
        for (int64_t i = 0; i < inner; ++i) y[base + i] = float(int32_t(x[i]) - z) * s;
      } else {
        const uint8_t* x = static_cast<const uint8_t*>(q) + base;
        for (int64_t i = 0; i < inner; ++i) y[base + i] = float(int32_t(x[i]) - z) * s;
      }
    }
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
  return P * L.Kp + 4 * P * Og + 4 * P + 64;
}

void qconv2d(const ConvGeom& g, const QLayer& L, const void* x, void* y, uint8_t* scratch) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, P = g.Ho * g.Wo, HW = g.H * g.W;
  const int64_t esz = 1;  // int8 / uint8 elements
  const uint8_t xz = uint8_t(L.x_zp);
  for (int64_t n = 0; n < g.N; ++n) {
    const int64_t xoff = n * g.C * HW, yoff = n * g.O * P;
    if (Cg == 1 && Og == 1) {
      // Depthwise: direct windows, out-of-input taps skipped (they would add (xz - xz) * w).
      int32_t* acc = reinterpret_cast<int32_t*>(scratch);
      int32_t* xs = acc + P;
      if (!L.w_zp_zero) std::fill(xs, xs + P, int32_t(L.K) * L.x_zp);
      for (int64_t c = 0; c < g.C; ++c) {
        const int8_t* w = L.w.data() + c * L.Kp;
        const int32_t wz = L.w_zp_zero ? 0 : L.w_zp[size_t(c)];
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            int32_t s = 0;
            for (int64_t i = 0; i < g.kh; ++i) {
              const int64_t ih = oh * g.sh - g.pt + i * g.dh;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t iw = ow * g.sw - g.pl + j * g.dw;
                if (iw < 0 || iw >= g.W) continue;
                s += (int32_t(lite_xu8(x, L.x_signed, xoff + c * HW + ih * g.W + iw)) - L.x_zp) *
                     (int32_t(w[i * g.kw + j]) - wz);
              }
            }
            // The requantization below subtracts x_zp * sum w again: add it back here.
            acc[oh * g.Wo + ow] = s + L.x_zp * L.wsum[size_t(c)];
          }
        // The window sums hold every zero-point correction already: xs = K * x_zp makes the
        // weight zero point's correction term vanish too.
        lite_requant_dispatch(L, c, P, 1, acc, 1, xs, static_cast<int8_t*>(y) + (yoff + c * P) * esz, 0, 1);
      }
      continue;
    }
    uint8_t* cols = scratch;                                            // [P, Kp]
    int32_t* C = reinterpret_cast<int32_t*>(scratch + ((P * L.Kp + 63) / 64) * 64);  // [P, Og]
    int32_t* xsum = C + P * Og;                                          // [P]
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      // cols[p, (c, i, j)] = x[c, ih, iw] (uint8 domain), xz outside the input, 0 past K.
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          uint8_t* row = cols + (oh * g.Wo + ow) * L.Kp;
          int64_t k = 0;
          for (int64_t c = 0; c < Cg; ++c) {
            const int64_t plane = xoff + (gr * Cg + c) * HW;
            for (int64_t i = 0; i < g.kh; ++i) {
              const int64_t ih = oh * g.sh - g.pt + i * g.dh;
              for (int64_t j = 0; j < g.kw; ++j, ++k) {
                const int64_t iw = ow * g.sw - g.pl + j * g.dw;
                row[k] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? lite_xu8(x, L.x_signed, plane + ih * g.W + iw) : xz;
              }
            }
          }
          for (; k < L.Kp; ++k) row[k] = 0;
        }
      if (!L.w_zp_zero)
        for (int64_t p = 0; p < P; ++p) {
          int32_t s = 0;
          for (int64_t k = 0; k < L.K; ++k) s += cols[p * L.Kp + k];
          xsum[p] = s;
        }
      // A grouped conv's weights: the group's own packed layer (QLayer::groups).
      const QLayer& use = g.groups > 1 ? L.groups[size_t(gr)] : L;
      lite_qgemm(P, Og, use, cols, L.Kp, C, Og);
      lite_requant_dispatch(L, gr * Og, P, Og, C, Og, xsum, static_cast<int8_t*>(y) + (yoff + gr * Og * P) * esz, P, 1);
    }
  }
}

int64_t qlinear_scratch_bytes(int64_t M, const QLayer& L) {
  return M * L.Kp + 4 * M * L.O + 4 * M + 64;
}

void qlinear(int64_t M, const QLayer& L, const void* x, void* y, uint8_t* scratch) {
  uint8_t* xs = scratch;                                                  // [M, Kp]
  int32_t* C = reinterpret_cast<int32_t*>(scratch + ((M * L.Kp + 63) / 64) * 64);  // [M, O]
  int32_t* xsum = C + M * L.O;
  for (int64_t m = 0; m < M; ++m) {
    int32_t s = 0;
    for (int64_t k = 0; k < L.K; ++k) {
      xs[m * L.Kp + k] = lite_xu8(x, L.x_signed, m * L.K + k);
      s += xs[m * L.Kp + k];
    }
    for (int64_t k = L.K; k < L.Kp; ++k) xs[m * L.Kp + k] = 0;
    xsum[m] = s;
  }
  lite_qgemm(M, L.O, L, xs, L.Kp, C, L.O);
  lite_requant_dispatch(L, 0, M, L.O, C, L.O, xsum, y, 1, L.O);
}

}  // namespace tlite::kernels
