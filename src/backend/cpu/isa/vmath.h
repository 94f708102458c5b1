// Vectorizable float32/float64 math for the per-ISA kernels.
//
// glibc's expf/logf/tanhf are calls, so a loop over them never vectorizes (short
// of -ffast-math and libmvec). These are branch-free rewrites built only from
// + - * / fma sqrt, integer bit operations and selects, so GCC turns
// `for (i) y[i] = vexp(x[i]);` into SIMD code at every ISA level.
//
// Method: the usual reduction to a small interval plus a polynomial there. The
// coefficients are our own near-minimax (Chebyshev) fits, made with mpmath:
// exp/expm1 on |r| <= ln2/2, log through s = f/(2+f) (atanh series), sin/cos on
// |r| <= pi/4, and erfc(t) = u*exp(-t^2)*Q(a*u + b) with u = 1/(1 + 0.35 t).
// Worst errors measured against long double (tests/ops/test_elementwise.cpp
// checks them at every ISA level): exp < 1 ulp, log < 1, sin/cos 1.5 (2.3 for
// |x| up to 3e5), log1p/tanh/sigmoid/silu/softplus 2-2.6, gelu (float32) 6.5.
//
// NOTE: this header is included by ISA translation units only, and everything
// in it lives in tandem::cpu::<isa>::vm. It must not call inline functions or
// templates from other headers (std::min, <cmath> wrappers, ...): those would be
// compiled with this unit's -m flags and could be the copy the linker keeps for
// callers on older CPUs. Compiler builtins only.
#pragma once
#ifndef TANDEM_ISA
#error "vmath.h is for the per-ISA kernel files (src/backend/cpu/isa/) only"
#endif
#include <cstdint>

// NOTE: force inlining: with a few dozen kernels using them, GCC's inliner runs
// out of budget and calls these out of line, which kills vectorization.
#define TANDEM_VM_INLINE inline __attribute__((always_inline))

namespace tandem::cpu::TANDEM_ISA::vm {

template <typename T> struct Bits;
template <> struct Bits<float> {
  using I = int32_t;
  using U = uint32_t;
  static constexpr int kMant = 23;
  static constexpr I kBias = 127;
  static constexpr U kExpMask = 0xff;
  static constexpr U kMantMask = 0x7fffffu;
  static constexpr U kSign = 0x80000000u;
};
template <> struct Bits<double> {
  using I = int64_t;
  using U = uint64_t;
  static constexpr int kMant = 52;
  static constexpr I kBias = 1023;
  static constexpr U kExpMask = 0x7ff;
  static constexpr U kMantMask = 0xfffffffffffffull;
  static constexpr U kSign = 0x8000000000000000ull;
};

template <typename T> TANDEM_VM_INLINE typename Bits<T>::U as_bits(T x) {
  return __builtin_bit_cast(typename Bits<T>::U, x);
}
template <typename T> TANDEM_VM_INLINE T from_bits(typename Bits<T>::U u) { return __builtin_bit_cast(T, u); }

template <typename T> TANDEM_VM_INLINE T fmadd(T a, T b, T c) {
#ifdef __FMA__
  if constexpr (sizeof(T) == 4) return __builtin_fmaf(a, b, c);
  else return __builtin_fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Horner: c[0] + x*(c[1] + x*(... + x*c[n-1])), unrolled at compile time (an
// inner loop would stop the outer loop from vectorizing).
template <int I, typename T, int N> TANDEM_VM_INLINE T horner(T x, const T (&c)[N]) {
  if constexpr (I == N - 1) return c[I];
  else return fmadd(horner<I + 1>(x, c), x, c[I]);
}
template <typename T, int N> TANDEM_VM_INLINE T poly(T x, const T (&c)[N]) { return horner<0>(x, c); }

template <typename T> TANDEM_VM_INLINE T fabs_(T x) {
  if constexpr (sizeof(T) == 4) return __builtin_fabsf(x);
  else return __builtin_fabs(x);
}
template <typename T> TANDEM_VM_INLINE T sqrt_(T x) {
  if constexpr (sizeof(T) == 4) return __builtin_sqrtf(x);
  else return __builtin_sqrt(x);
}
template <typename T> TANDEM_VM_INLINE T inf_() { return __builtin_huge_val(); }
template <typename T> TANDEM_VM_INLINE T nan_() { return __builtin_nan(""); }
// |t| with the sign of s (t >= 0 or NaN).
template <typename T> TANDEM_VM_INLINE T with_sign_of(T t, T s) {
  return from_bits<T>(as_bits(t) | (as_bits(s) & Bits<T>::kSign));
}

// ---- exp / expm1

// e^r - 1 for |r| <= ln2/2: r + r^2 (1/2 + r P(r)).
template <typename T> TANDEM_VM_INLINE T expm1_small(T r) {
  if constexpr (sizeof(T) == 4) {
    static constexpr float c[] = {0.16666666666666666667f, 0.041666554662050533982f,
                                  0.0083333208921502589856f, 0.0013926176119935578884f,
                                  0.00019882690043715677946f};
    return fmadd(r * r, fmadd(r, poly(r, c), 0.5f), r);
  } else {
    static constexpr double c[] = {0.16666666666666667452,   0.041666666666666667227,
                                   0.0083333333333300644495, 0.0013888888888886554386,
                                   0.00019841269863040545271, 0.000024801587317135164235,
                                   2.7557268480310025526e-6, 2.7557282984055876596e-7,
                                   2.5100375832561233664e-8, 2.0911229729758563286e-9};
    return fmadd(r * r, fmadd(r, poly(r, c), 0.5), r);
  }
}

// x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2 (x finite and not huge).
template <typename T> TANDEM_VM_INLINE T exp_reduce(T x, typename Bits<T>::U& n) {
  using B = Bits<T>;
  constexpr T magic = sizeof(T) == 4 ? T(12582912.0) : T(6755399441055744.0);  // 1.5 * 2^mant
  constexpr T log2e = T(1.442695040888963407359925);
  constexpr T ln2_hi = sizeof(T) == 4 ? T(0.693115234375) : T(0.693147180601954460144043);
  constexpr T ln2_lo = sizeof(T) == 4 ? T(0.00003194618494530941723212146)
                                      : T(-4.200915072681084729182343e-11);
  // NOTE: adding 1.5*2^mant rounds to an integer that then sits in the low
  // mantissa bits: n comes out of the bits, with no float->int conversion (which
  // vectorizes poorly for int64 and is undefined for NaN).
  T t = fmadd(x, log2e, magic);
  n = as_bits(t) - as_bits(magic);
  T nf = t - magic;
  T r = fmadd(nf, -ln2_hi, x);
  return fmadd(nf, -ln2_lo, r);
}

// 2^n for n in the normal exponent range. NOTE: integers that may hold garbage
// (n computed from a NaN) are unsigned throughout: wrapping, never undefined.
template <typename T> TANDEM_VM_INLINE T pow2i(typename Bits<T>::U n) {
  using B = Bits<T>;
  return from_bits<T>((n + static_cast<typename B::U>(B::kBias)) << B::kMant);
}

template <typename T> TANDEM_VM_INLINE T vexp(T x) {
  using U = typename Bits<T>::U;
  // Beyond these, e^x is inf / 0 anyway; clamping keeps n in range. NaN passes.
  constexpr T hi = sizeof(T) == 4 ? T(88.8) : T(709.9);
  constexpr T lo = sizeof(T) == 4 ? T(-104.0) : T(-746.0);
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  U n;
  T r = exp_reduce(x, n);
  T p = T(1) + expm1_small(r);
  // NOTE: 2^n in two halves: n reaches -1076 / +1024 (subnormal and overflowing
  // results), outside one exponent field. A logical shift of the biased n
  // halves it (AVX2 has no 64-bit arithmetic shift).
  U n1 = ((n + 4096) >> 1) - 2048;
  return p * pow2i<T>(n1) * pow2i<T>(n - n1);
}

// e^x - 1, accurate near 0. Valid for x <= 80 (float) / 700 (double): callers cap.
template <typename T> TANDEM_VM_INLINE T vexpm1(T x) {
  using U = typename Bits<T>::U;
  constexpr T hi = sizeof(T) == 4 ? T(80.0) : T(700.0);
  constexpr T lo = sizeof(T) == 4 ? T(-30.0) : T(-60.0);  // e^x - 1 rounds to -1 below
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  U n;
  T r = exp_reduce(x, n);
  T em = expm1_small(r);
  // 2^n (1 + em) - 1 = 2^n em + (2^n - 1); both parts are exact or nearly.
  T s = pow2i<T>(n);
  return fmadd(s, em, s - T(1));
}

// ---- log / log1p

template <typename T> TANDEM_VM_INLINE T vlog(T x) {
  using B = Bits<T>;
  using I = typename B::I;
  using U = typename B::U;
  constexpr T min_normal = sizeof(T) == 4 ? T(1.17549435e-38f) : T(2.2250738585072014e-308);
  constexpr T up = sizeof(T) == 4 ? T(16777216.0) : T(18014398509481984.0);  // 2^24, 2^54
  constexpr I up_e = sizeof(T) == 4 ? 24 : 54;
  constexpr T sqrt2 = T(1.414213562373095048801689);
  constexpr T ln2_hi = sizeof(T) == 4 ? T(0.693115234375) : T(0.693147180601954460144043);
  constexpr T ln2_lo = sizeof(T) == 4 ? T(0.00003194618494530941723212146)
                                      : T(-4.200915072681084729182343e-11);
  bool tiny = x < min_normal;  // subnormals: scale into the normal range first
  T xs = tiny ? x * up : x;
  U bits = as_bits(xs);
  I e = static_cast<I>((bits >> B::kMant) & B::kExpMask) - B::kBias - (tiny ? up_e : 0);
  T m = from_bits<T>((bits & B::kMantMask) | as_bits(T(1)));  // [1, 2)
  bool big = m > sqrt2;
  m = big ? m * T(0.5) : m;
  e = big ? e + 1 : e;
  // NOTE: e -> float through the 1.5*2^mant trick (no int64->double on AVX2).
  constexpr T magic = sizeof(T) == 4 ? T(12582912.0) : T(6755399441055744.0);
  T ef = from_bits<T>(as_bits(magic) + static_cast<U>(e)) - magic;
  // log(1+f) = f - (hfsq - s (hfsq + R(s^2))), s = f/(2+f): f is exact, the
  // rounding errors sit in the small correction only.
  T f = m - T(1);
  T s = f / (T(2) + f);
  T z = s * s;
  T R;
  if constexpr (sizeof(T) == 4) {
    static constexpr float c[] = {0.66666666554497091551f, 0.40000121839806126714f,
                                  0.28550820815960663296f, 0.23330467216303836299f};
    R = z * poly(z, c);
  } else {
    static constexpr double c[] = {0.66666666666666696862, 0.3999999999989950449,
                                   0.28571428625975484921, 0.22222211134795079855,
                                   0.1818288912526172208,  0.15331721600556041269,
                                   0.1461644968504340586};
    R = z * poly(z, c);
  }
  T hfsq = T(0.5) * f * f;
  T res = fmadd(ef, ln2_hi, f - (hfsq - fmadd(s, hfsq + R, ef * ln2_lo)));
  res = x == inf_<T>() ? x : res;
  res = x == T(0) ? -inf_<T>() : res;
  res = x < T(0) ? nan_<T>() : res;
  return x != x ? x : res;
}

// log(1+x), accurate near 0: log(u) * x / (u - 1) with u = 1 + x corrects the
// rounding of u (Goldberg's trick).
template <typename T> TANDEM_VM_INLINE T vlog1p(T x) {
  T u = T(1) + x;
  T d = u - T(1);
  T res = vlog(u) * (x / d);
  res = d == T(0) ? x : res;
  return x == inf_<T>() ? x : res;
}

// ---- tanh / sigmoid family

template <typename T> TANDEM_VM_INLINE T vtanh(T x) {
  // tanh rounds to +-1 beyond these; the cap also keeps expm1 finite.
  constexpr T cap = sizeof(T) == 4 ? T(9.1) : T(19.1);
  T ax = fabs_(x);
  ax = ax > cap ? cap : ax;
  T em = vexpm1(T(2) * ax);
  return with_sign_of(em / (em + T(2)), x);
}

template <typename T> TANDEM_VM_INLINE T vsigmoid(T x) { return T(1) / (T(1) + vexp(-x)); }

// ---- normal cdf (float32; gelu)

// x*x as an unevaluated sum hi + lo (exact).
TANDEM_VM_INLINE float square_lo(float x, float hi) {
#ifdef __FMA__
  return __builtin_fmaf(x, x, -hi);
#else
  // Dekker: split x into two 12-bit halves whose products are exact.
  float c = x * 4097.0f;
  float xh = c - (c - x), xl = x - xh;
  return ((xh * xh - hi) + 2.0f * xh * xl) + xl * xl;
#endif
}

// Phi(x) = erfc(-x/sqrt2)/2 and the density phi(x) = exp(-x^2/2)/sqrt(2 pi).
// erfc(t) = u exp(-t^2) Q(v), u = 1/(1 + p t), v = a u + b maps u's range to
// [-1, 1]; Q has degree 9 (relative error 1.5e-8), fitted for |x| <= 13.
// NOTE: exp(-x^2/2) takes x^2 exactly (hi + lo, the lo part folded into the
// reduced argument): the rounding of x^2 alone would cost |x|^2 ulps of relative
// error in the left tail. |x| is capped at 13, where Phi is 1 or below 1e-38
// (and phi is reported as 0); the exponent then stays in [-84.5, 0], so exp
// needs no clamping and one 2^n scale, and a degree-3 polynomial suffices
// (1.6e-8). This is the hot loop of gelu: every operation counts.
TANDEM_VM_INLINE float normal_cdf_pdf(float x, float& pdf) {
  static constexpr float q[] = {  // Q / 2
      0.5f * 0.45819833590425492887f,     0.5f * 0.31451189849397246101f,
      0.5f * 0.15896238453574554092f,     0.5f * 0.056545792371810660756f,
      0.5f * 0.012041212236556718245f,    0.5f * 0.00035597693029963215405f,
      0.5f * -0.00055800226129217592201f, 0.5f * -0.000088108305208597828808f,
      0.5f * 0.000024520323288695653358f, 0.5f * 5.9936297755119392807e-6f};
  static constexpr float e[] = {0.16666630825186784315f, 0.041666621879763722794f,
                                0.0083572001484456671076f, 0.0013918713697253011146f};
  constexpr float p_over_sqrt2 = 0.35f * 0.70710678118654752440f;
  constexpr float a = 2.6216323351090527687f, b = -1.6216323351090527687f;
  float ax = fabs_(x);
  bool tail = ax > 13.0f;
  ax = ax < 13.0f ? ax : 13.0f;  // (NaN becomes 13: the caller's x * Phi stays NaN)
  float u = 1.0f / fmadd(ax, p_over_sqrt2, 1.0f);
  float x2 = ax * ax;
  uint32_t n;
  float r = exp_reduce(-0.5f * x2, n);
  r = fmadd(square_lo(ax, x2), -0.5f, r);
  float g = (1.0f + fmadd(r * r, fmadd(r, poly(r, e), 0.5f), r)) * pow2i<float>(n);
  pdf = tail ? 0.0f : g * 0.39894228040143267794f;
  float half_erfc = u * g * poly(fmadd(u, a, b), q);
  return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

// ---- sin / cos

// x = k pi/2 + r, |r| <= pi/4 (valid while |x| <= trig_limit); k's low bits in q.
template <typename T> TANDEM_VM_INLINE T trig_reduce(T x, typename Bits<T>::U& q) {
  constexpr T magic = sizeof(T) == 4 ? T(12582912.0) : T(6755399441055744.0);
  constexpr T two_over_pi = T(0.6366197723675813430755351);
  constexpr T c1 = sizeof(T) == 4 ? T(1.5703125) : T(1.57079632673412561416625976563);
  constexpr T c2 = sizeof(T) == 4 ? T(0.0004837512969970703125)
                                  : T(6.07710050630396597659554913662e-11);
  constexpr T c3 = sizeof(T) == 4 ? T(7.549789954891882169163975e-8)
                                  : T(2.0222662487959507323996846201e-21);
  T t = fmadd(x, two_over_pi, magic);
  q = as_bits(t) - as_bits(magic);
  T k = t - magic;
  T r = fmadd(k, -c1, x);
  r = fmadd(k, -c2, r);
  return fmadd(k, -c3, r);
}
template <typename T> TANDEM_VM_INLINE constexpr T trig_limit() {
  return sizeof(T) == 4 ? T(8192.0) : T(1.0e5);
}

template <typename T> TANDEM_VM_INLINE T sin_poly(T r, T z) {  // sin r, z = r^2
  if constexpr (sizeof(T) == 4) {
    static constexpr float c[] = {-0.16666666663855289533f, 0.0083333318747102087881f,
                                  -0.00019840086735384845598f, 2.7249925803059792302e-6f};
    return fmadd(r * z, poly(z, c), r);
  } else {
    static constexpr double c[] = {-0.16666666666666666666,  0.0083333333333333314921,
                                   -0.00019841269841265064947, 2.7557319219339166518e-6,
                                   -2.5052106232447577328e-8, 1.6058531618986146836e-10,
                                   -7.5866971177069179847e-13};
    return fmadd(r * z, poly(z, c), r);
  }
}
template <typename T> TANDEM_VM_INLINE T cos_poly(T z) {  // cos r, z = r^2
  if constexpr (sizeof(T) == 4) {
    static constexpr float c[] = {0.041666666664321203341f, -0.0013888887672016790051f,
                                  0.000024800600377156728018f, -2.7300959203901469961e-7f};
    return fmadd(z * z, poly(z, c), fmadd(z, -0.5f, 1.0f));
  } else {
    static constexpr double c[] = {0.041666666666666666666,   -0.0013888888888888887865,
                                   0.000024801587301584646428, -2.7557319221402824394e-7,
                                   2.0876755791080423807e-9,  -1.1470460887609959107e-11,
                                   4.7458719020432915366e-14};
    return fmadd(z * z, poly(z, c), fmadd(z, -0.5, 1.0));
  }
}

// Valid for |x| <= trig_limit<T>(); callers send the rest to libm.
template <typename T> TANDEM_VM_INLINE T vsin(T x) {
  typename Bits<T>::U q;
  T r = trig_reduce(x, q);
  T z = r * r;
  T s = sin_poly(r, z), c = cos_poly(z);
  T v = (q & 1) ? c : s;
  return (q & 2) ? -v : v;
}
template <typename T> TANDEM_VM_INLINE T vcos(T x) {
  typename Bits<T>::U q;
  T r = trig_reduce(x, q);
  T z = r * r;
  T s = sin_poly(r, z), c = cos_poly(z);
  T v = (q & 1) ? s : c;
  return ((q + 1) & 2) ? -v : v;
}

}  // namespace tandem::cpu::TANDEM_ISA::vm
