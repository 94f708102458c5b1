// Reduction and softmax kernels over contiguous runs and row blocks, compiled once
// per ISA level (CMakeLists.txt) into tandem::cpu::<isa>. See reduce_table.h.
//
// Written with GCC vector extensions on 64-byte vectors: the compiler maps one
// vector to a zmm register (AVX-512), two ymm (AVX2) or four xmm (baseline SSE2),
// so one source serves every level. Explicit vectors (rather than loops left to
// the auto-vectorizer) are needed because reordering a float sum is not allowed
// without -ffast-math, and we want several independent accumulators.
//
// NOTE: nothing here may call inline functions or templates from other headers
// (std::max, <cmath> wrappers): they would be compiled with this unit's -m flags
// and the linker could keep that copy for callers on older CPUs. Builtins only;
// everything lives in an anonymous namespace inside the ISA namespace.
#ifndef TANDEM_ISA
#error "reduce_isa.cpp is compiled once per ISA level (TANDEM_ISA=baseline|avx2|avx512)"
#endif
#include <cstddef>
#include <cstdint>
#include <utility>

#include "backend/cpu/reduce_table.h"

// Vectors are passed between inlined internal functions only; the note about the
// 64-byte vector ABI differing across -m flags does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tandem::cpu::TANDEM_ISA {
namespace {

template <typename T> struct VecTypes;
template <> struct VecTypes<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  typedef int32_t IS;
};
template <> struct VecTypes<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t I __attribute__((vector_size(64)));
  typedef int64_t IS;
};
template <typename T> using V = typename VecTypes<T>::V;
typedef float VF8 __attribute__((vector_size(32)));
typedef double VD8 __attribute__((vector_size(64)));
template <typename T> using VI = typename VecTypes<T>::I;
template <typename T> using IS = typename VecTypes<T>::IS;
template <typename T> inline constexpr int64_t kL = 64 / sizeof(T);  // lanes

template <typename T> inline V<T> load(const T* p) {
  V<T> v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename T> inline void store(T* p, V<T> v) { __builtin_memcpy(p, &v, sizeof v); }
template <typename T> inline V<T> splat(T s) { return V<T>{} + s; }
// The first n (< kL) elements of p, the other lanes set to `pad`.
template <typename T> inline V<T> load_part(const T* p, int64_t n, T pad) {
  T buf[kL<T>];
  for (int64_t i = 0; i < kL<T>; ++i) buf[i] = i < n ? p[i] : pad;
  return load(buf);
}
template <typename T> inline void store_part(T* p, V<T> v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
template <typename T> inline T min_i(T a, T b) { return a < b ? a : b; }

template <typename T> inline T inf() { return static_cast<T>(__builtin_huge_val()); }
template <typename T> inline T log_s(T x) {
  if constexpr (sizeof(T) == 4) return __builtin_logf(x);
  else return __builtin_log(x);
}
template <typename T> inline V<T> vabs(V<T> v) {
  constexpr IS<T> mask = static_cast<IS<T>>(~(static_cast<uint64_t>(1) << (8 * sizeof(T) - 1)));
  return (V<T>)((VI<T>)v & mask);
}
template <typename VV> inline VV vfma(VV a, VV b, VV c) { return a * b + c; }

// e^x for x <= 0 (callers shift by a maximum); x < ln(smallest normal) gives 0,
// NaN gives NaN. Range reduction x = n ln2 + r, |r| <= ln2/2, then a polynomial:
// float a 6th-degree near-minimax fit (about 1 ulp), double the Taylor series to
// r^13 (truncation below 1e-17 on this interval).
template <typename T> inline V<T> vexp(V<T> x) {
  using I = VI<T>;
  constexpr bool f32 = sizeof(T) == 4;
  constexpr T lo = f32 ? T(-87.33654475) : T(-708.3964185322641);
  constexpr T hi = f32 ? T(88.0) : T(709.0);
  constexpr T magic = f32 ? T(12582912.0) : T(6755399441055744.0);  // 1.5 * 2^mantissa bits
  constexpr T log2e = T(1.4426950408889634074);
  constexpr T ln2_hi = f32 ? T(0.693359375) : T(6.93147180369123816490e-01);
  constexpr T ln2_lo = f32 ? T(-2.12194440e-4) : T(1.90821492927058770002e-10);
  V<T> xc = x > hi ? splat(hi) : x;
  xc = xc < lo ? splat(lo) : xc;
  // NOTE: adding 1.5*2^mant rounds to an integer held in the low mantissa bits,
  // so n comes from the bits without a float->int conversion.
  V<T> t = vfma(xc, splat(log2e), splat(magic));
  I n = (I)t - (I)splat(magic);
  V<T> nf = t - magic;
  V<T> r = vfma(nf, splat(-ln2_hi), xc);
  r = vfma(nf, splat(-ln2_lo), r);
  V<T> p;
  if constexpr (f32) {
    V<T> q = splat(T(1.9875691500e-4));
    q = vfma(q, r, splat(T(1.3981999507e-3)));
    q = vfma(q, r, splat(T(8.3334519073e-3)));
    q = vfma(q, r, splat(T(4.1665795894e-2)));
    q = vfma(q, r, splat(T(1.6666665459e-1)));
    q = vfma(q, r, splat(T(5.0000001201e-1)));
    p = vfma(q, r * r, r) + T(1);
  } else {
    V<T> q = splat(T(1.0 / 6227020800.0));  // 1/13!
    constexpr double inv_fact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                   1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                   1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                   1.0 / 6.0,         0.5,              1.0,
                                   1.0};
    for (double c : inv_fact) q = vfma(q, r, splat(T(c)));
    p = q;
  }
  constexpr int mant = f32 ? 23 : 52;
  constexpr int bias = f32 ? 127 : 1023;
  V<T> scale = (V<T>)((n + bias) << mant);
  V<T> res = p * scale;
  return x < lo ? V<T>{} : res;
}

// ---- sums of f(x - c)

template <typename T, int K> inline V<T> fv(V<T> v, V<T> c) {
  if constexpr (K == kSumPlain) {
    return v;
  } else if constexpr (K == kSumSqDev) {
    V<T> d = v - c;
    return d * d;
  } else if constexpr (K == kSumAbs) {
    return vabs<T>(v);
  } else {
    return vexp<T>(v - c);
  }
}
// A padding value that f maps to 0.
template <typename T, int K> inline T zero_pad(T c) {
  if constexpr (K == kSumSqDev) return c;
  else if constexpr (K == kSumExpDev) return -inf<T>();
  else return T(0);
}
// Horizontal sum in double: lanes widened, then halves added as vectors.
template <typename T> inline double hsum(V<T> v) {
  typedef double D4 __attribute__((vector_size(32)));
  typedef double D2 __attribute__((vector_size(16)));
  VD8 d;
  if constexpr (sizeof(T) == 4) {
    typedef float F8 __attribute__((vector_size(32)));
    d = __builtin_convertvector(F8(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)), VD8) +
        __builtin_convertvector(F8(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)), VD8);
  } else {
    d = v;
  }
  D4 h = __builtin_shufflevector(d, d, 0, 1, 2, 3) + __builtin_shufflevector(d, d, 4, 5, 6, 7);
  D2 q = __builtin_shufflevector(h, h, 0, 1) + __builtin_shufflevector(h, h, 2, 3);
  return q[0] + q[1];
}
// Lane k is k.
template <typename T> inline VI<T> iota() {
  VI<T> v;
  for (int64_t k = 0; k < kL<T>; ++k) v[k] = static_cast<IS<T>>(k);
  return v;
}

// NOTE: lanes accumulate in T for at most kFlush vector adds (about 32 terms per
// lane), then the block adds into a double total: float32 keeps full SIMD speed
// while the error stays that of a short sum plus a double sum.
// A run's last partial vector is a full vector ending at the run's end, with the
// lanes already counted masked off (no scalar tail loop).
template <typename T, int K>
double sum_run(const T* x, int64_t n, int64_t rs, int64_t nrows, T c) {
  constexpr int64_t l = kL<T>, kFlush = 64;
  const V<T> cv = splat(c);
  const int64_t rem = n % l;
  const VI<T> keep_tail = iota<T>() >= static_cast<IS<T>>(l - rem);
  double total = 0;
  V<T> a0{}, a1{}, a2{}, a3{};
  int64_t pending = 0;
  for (int64_t r = 0; r < nrows; ++r) {
    const T* p = x + r * rs;
    int64_t i = 0;
    for (; i + 4 * l <= n; i += 4 * l) {
      a0 += fv<T, K>(load(p + i), cv);
      a1 += fv<T, K>(load(p + i + l), cv);
      a2 += fv<T, K>(load(p + i + 2 * l), cv);
      a3 += fv<T, K>(load(p + i + 3 * l), cv);
      if ((pending += 4) >= kFlush) {
        total += hsum<T>((a0 + a1) + (a2 + a3));
        a0 = a1 = a2 = a3 = V<T>{};
        pending = 0;
      }
    }
    for (; i + l <= n; i += l) a1 += fv<T, K>(load(p + i), cv);
    if (rem) {
      if (n >= l) a2 += keep_tail ? fv<T, K>(load(p + n - l), cv) : V<T>{};
      else a2 += fv<T, K>(load_part(p, n, zero_pad<T, K>(c)), cv);
    }
    if ((pending += 4) >= kFlush) {
      total += hsum<T>((a0 + a1) + (a2 + a3));
      a0 = a1 = a2 = a3 = V<T>{};
      pending = 0;
    }
  }
  return total + hsum<T>((a0 + a1) + (a2 + a3));
}

template <typename T> inline void add_to(double* acc, V<T> v) {
  for (int64_t k = 0; k < kL<T>; ++k) acc[k] += static_cast<double>(v[k]);
}

// Columns [0, U*kL) of the rows: U vector accumulators, flushed to acc every kRowBlock rows.
template <typename T, int K, int U>
inline void sum_rows_strip(const T* x, int64_t rs, int64_t nrows, const T* c, double* acc) {
  constexpr int64_t l = kL<T>, kRowBlock = 64;
  V<T> cv[U];
  for (int u = 0; u < U; ++u) cv[u] = c ? load(c + u * l) : V<T>{};
  for (int64_t r0 = 0; r0 < nrows; r0 += kRowBlock) {
    const int64_t r1 = min_i(nrows, r0 + kRowBlock);
    V<T> a[U] = {};
    for (int64_t r = r0; r < r1; ++r)
      for (int u = 0; u < U; ++u) a[u] += fv<T, K>(load(x + r * rs + u * l), cv[u]);
    for (int u = 0; u < U; ++u) add_to<T>(acc + u * l, a[u]);
  }
}

// NOTE: a strip as wide as the registers allow (8 vectors with AVX-512's 32
// registers, 4 otherwise) reads long contiguous pieces of every row.
template <typename T, int K>
void sum_rows(const T* x, int64_t rs, int64_t nrows, int64_t w, const T* c, double* acc) {
  constexpr int64_t l = kL<T>, kRowBlock = 64;
#ifdef __AVX512F__
  constexpr int kU = 8;
#else
  constexpr int kU = 4;
#endif
  int64_t j = 0;
  for (; j + kU * l <= w; j += kU * l)
    sum_rows_strip<T, K, kU>(x + j, rs, nrows, c ? c + j : nullptr, acc + j);
  for (; j + l <= w; j += l) sum_rows_strip<T, K, 1>(x + j, rs, nrows, c ? c + j : nullptr, acc + j);
  if (j < w && w >= l) {
    // The last vector of columns again, ending at w, with the lanes done above masked off.
    const int64_t base = w - l, skip = l - (w - j);
    const VI<T> keep = iota<T>() >= static_cast<IS<T>>(skip);
    const V<T> cj = c ? load(c + base) : V<T>{};
    for (int64_t r0 = 0; r0 < nrows; r0 += kRowBlock) {
      V<T> a{};
      for (int64_t r = r0; r < min_i(nrows, r0 + kRowBlock); ++r)
        a += keep ? fv<T, K>(load(x + r * rs + base), cj) : V<T>{};
      for (int64_t k = skip; k < l; ++k) acc[base + k] += static_cast<double>(a[k]);
    }
  } else if (j < w) {
    const int64_t wn = w - j;
    const V<T> cj = c ? load_part(c + j, wn, T(0)) : V<T>{};
    for (int64_t r0 = 0; r0 < nrows; r0 += kRowBlock) {
      V<T> a{};
      for (int64_t r = r0; r < min_i(nrows, r0 + kRowBlock); ++r)
        a += fv<T, K>(load_part(x + r * rs + j, wn, T(0)), cj);
      for (int64_t k = 0; k < wn; ++k) acc[j + k] += static_cast<double>(a[k]);
    }
  }
}

// ---- products (same blocking as the sums)

template <typename T> inline double hprod(V<T> v) {
  double s = 1;
  for (int64_t k = 0; k < kL<T>; ++k) s *= static_cast<double>(v[k]);
  return s;
}

template <typename T>
double prod_run(const T* x, int64_t n) {
  constexpr int64_t l = kL<T>, step = 4 * l, kBlock = 64 * l;
  const V<T> one = splat(T(1));
  double total = 1;
  int64_t i = 0;
  while (i + step <= n) {
    int64_t end = min_i(n, i + kBlock);
    V<T> a0 = one, a1 = one, a2 = one, a3 = one;
    for (; i + step <= end; i += step) {
      a0 *= load(x + i);
      a1 *= load(x + i + l);
      a2 *= load(x + i + 2 * l);
      a3 *= load(x + i + 3 * l);
    }
    total *= hprod<T>(a0) * hprod<T>(a1) * hprod<T>(a2) * hprod<T>(a3);
  }
  V<T> a = one;
  for (; i + l <= n; i += l) a *= load(x + i);
  if (i < n) a *= load_part(x + i, n - i, T(1));
  return total * hprod<T>(a);
}

template <typename T>
void prod_rows(const T* x, int64_t rs, int64_t nrows, int64_t w, double* acc) {
  constexpr int64_t l = kL<T>, kRowBlock = 16;
  for (int64_t j = 0; j < w; j += l) {
    const int64_t wn = min_i(l, w - j);
    for (int64_t r0 = 0; r0 < nrows; r0 += kRowBlock) {
      V<T> a = splat(T(1));
      for (int64_t r = r0; r < min_i(nrows, r0 + kRowBlock); ++r) {
        const T* p = x + r * rs + j;
        a *= wn == l ? load(p) : load_part(p, wn, T(1));
      }
      for (int64_t k = 0; k < wn; ++k) acc[j + k] *= static_cast<double>(a[k]);
    }
  }
}

// ---- max / min (NaN wins)

template <typename T, int K> inline V<T> ext_in(V<T> v) {
  if constexpr (K == kExtMaxAbs || K == kExtMinAbs) return vabs<T>(v);
  else return v;
}
template <typename T, int K> inline V<T> ext2(V<T> a, V<T> v) {
  constexpr bool is_max = K == kExtMax || K == kExtMaxAbs;
  if constexpr (is_max) return (v > a) | (v != v) ? v : a;
  else return (v < a) | (v != v) ? v : a;
}
template <typename T, int K> inline T ext2_s(T a, T v) {
  constexpr bool is_max = K == kExtMax || K == kExtMaxAbs;
  if (v != v) return a != a ? a : v;
  if (a != a) return a;
  return is_max ? (v > a ? v : a) : (v < a ? v : a);
}

// A run's last partial vector re-reads a full vector ending at the run's end:
// max/min do not mind seeing an element twice.
template <typename T, int K>
T ext_run(const T* x, int64_t n, int64_t rs, int64_t nrows) {
  constexpr int64_t l = kL<T>;
  V<T> a0 = ext_in<T, K>(splat(x[0])), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t r = 0; r < nrows; ++r) {
    const T* p = x + r * rs;
    int64_t i = 0;
    for (; i + 4 * l <= n; i += 4 * l) {
      a0 = ext2<T, K>(a0, ext_in<T, K>(load(p + i)));
      a1 = ext2<T, K>(a1, ext_in<T, K>(load(p + i + l)));
      a2 = ext2<T, K>(a2, ext_in<T, K>(load(p + i + 2 * l)));
      a3 = ext2<T, K>(a3, ext_in<T, K>(load(p + i + 3 * l)));
    }
    for (; i + l <= n; i += l) a1 = ext2<T, K>(a1, ext_in<T, K>(load(p + i)));
    if (i < n) {
      if (n >= l) a2 = ext2<T, K>(a2, ext_in<T, K>(load(p + n - l)));
      else a2 = ext2<T, K>(a2, ext_in<T, K>(load_part(p, n, x[0])));
    }
  }
  V<T> a = ext2<T, K>(ext2<T, K>(a0, a1), ext2<T, K>(a2, a3));
  T res = a[0];
  for (int64_t k = 1; k < l; ++k) res = ext2_s<T, K>(res, a[k]);
  return res;
}

template <typename T, int K, int U>
inline void ext_rows_strip(const T* x, int64_t rs, int64_t nrows, T* acc) {
  constexpr int64_t l = kL<T>;
  V<T> a[U];
  for (int u = 0; u < U; ++u) a[u] = load(acc + u * l);
  for (int64_t r = 0; r < nrows; ++r)
    for (int u = 0; u < U; ++u) a[u] = ext2<T, K>(a[u], ext_in<T, K>(load(x + r * rs + u * l)));
  for (int u = 0; u < U; ++u) store(acc + u * l, a[u]);
}

template <typename T, int K>
void ext_rows(const T* x, int64_t rs, int64_t nrows, int64_t w, T* acc) {
  constexpr int64_t l = kL<T>;
#ifdef __AVX512F__
  constexpr int kU = 8;
#else
  constexpr int kU = 4;
#endif
  int64_t j = 0;
  for (; j + kU * l <= w; j += kU * l) ext_rows_strip<T, K, kU>(x + j, rs, nrows, acc + j);
  for (; j + l <= w; j += l) ext_rows_strip<T, K, 1>(x + j, rs, nrows, acc + j);
  if (j == w) return;
  if (w >= l) {
    // The last vector of columns again, ending at w: max/min do not mind repeats.
    ext_rows_strip<T, K, 1>(x + w - l, rs, nrows, acc + w - l);
    return;
  }
  V<T> a = load_part(acc, w, T(0));
  for (int64_t r = 0; r < nrows; ++r) a = ext2<T, K>(a, ext_in<T, K>(load_part(x + r * rs, w, T(0))));
  store_part(acc, a, w);
}

// ---- argmax / argmin: value and first index per lane, then across lanes.

template <typename T, int K> inline bool better_s(T v, T a) {
  // v (at a later index) replaces a: strictly better, or the first NaN.
  if (a != a) return false;
  if (v != v) return true;
  return K == kExtMax ? v > a : v < a;
}

template <typename T, int K>
int64_t arg_run_chunk(const T* x, int64_t n) {  // n < 2^31 for float lanes
  using I = VI<T>;
  using IT = IS<T>;
  constexpr int64_t l = kL<T>;
  I iota;
  for (int64_t k = 0; k < l; ++k) iota[k] = static_cast<IT>(k);
  auto upd = [](V<T>& a, I& ai, V<T> v, I vi) {
    I take;
    if constexpr (K == kExtMax) take = ((v > a) | (v != v)) & (a == a);
    else take = ((v < a) | (v != v)) & (a == a);
    a = take ? v : a;
    ai = take ? vi : ai;
  };
  V<T> a0 = splat(x[0]), a1 = a0;
  I i0 = I{} + 0, i1 = i0;
  int64_t i = 0;
  for (; i + 2 * l <= n; i += 2 * l) {
    upd(a0, i0, load(x + i), iota + static_cast<IT>(i));
    upd(a1, i1, load(x + i + l), iota + static_cast<IT>(i + l));
  }
  for (; i + l <= n; i += l) upd(a0, i0, load(x + i), iota + static_cast<IT>(i));
  if (i < n) upd(a0, i0, load_part(x + i, n - i, x[0]), iota + static_cast<IT>(i));
  T best = a0[0];
  int64_t bi = i0[0];
  auto consider = [&](T v, int64_t vi) {
    bool nan_v = v != v, nan_b = best != best;
    bool take = nan_v ? (!nan_b || vi < bi)
                      : (!nan_b && (K == kExtMax ? v > best : v < best));
    if (!take && !nan_v && !nan_b && v == best && vi < bi) take = true;
    if (take) {
      best = v;
      bi = vi;
    }
  };
  for (int64_t k = 1; k < l; ++k) consider(a0[k], i0[k]);
  for (int64_t k = 0; k < l; ++k) consider(a1[k], i1[k]);
  return bi;
}

template <typename T, int K>
int64_t arg_run(const T* x, int64_t n) {
  constexpr int64_t kChunk = int64_t{1} << 30;
  int64_t best = arg_run_chunk<T, K>(x, min_i(n, kChunk));
  for (int64_t s = kChunk; s < n; s += kChunk) {
    int64_t c = s + arg_run_chunk<T, K>(x + s, min_i(n - s, kChunk));
    if (better_s<T, K>(x[c], x[best])) best = c;
  }
  return best;
}

template <typename T, int K>
void arg_rows(const T* x, int64_t rs, int64_t nrows, int64_t w, int64_t r0, ValIdx<T>* acc) {
  // Rows come in order, so a later row replaces the kept value only when better;
  // acc[j].i < 0 marks a column with nothing kept yet (it takes row 0).
  constexpr int64_t l = kL<T>;
  for (int64_t j = 0; j < w; j += l) {
    const int64_t wn = min_i(l, w - j);
    auto ld = [&](const T* p) { return wn == l ? load(p) : load_part(p, wn, T(0)); };
    V<T> a = ld(x + j);
    int64_t ai[kL<T>] = {};
    for (int64_t k = 0; k < wn; ++k)
      if (acc[j + k].i >= 0) {
        a[k] = acc[j + k].v;
        ai[k] = acc[j + k].i;
      } else {
        ai[k] = r0;
      }
    // The row of the last improvement per lane (-1: none), as T-wide integers.
    VI<T> ri = VI<T>{} - 1;
    for (int64_t r = 0; r < nrows; ++r) {
      V<T> v = ld(x + r * rs + j);
      VI<T> take;
      if constexpr (K == kExtMax) take = ((v > a) | (v != v)) & (a == a);
      else take = ((v < a) | (v != v)) & (a == a);
      a = take ? v : a;
      ri = take ? VI<T>{} + static_cast<IS<T>>(r) : ri;
    }
    for (int64_t k = 0; k < wn; ++k)
      acc[j + k] = {a[k], ri[k] >= 0 ? r0 + static_cast<int64_t>(ri[k]) : ai[k]};
  }
}

template <typename T, int K>
void arg_rows_chunked(const T* x, int64_t rs, int64_t nrows, int64_t w, int64_t r0,
                      ValIdx<T>* acc) {
  constexpr int64_t kChunk = int64_t{1} << 30;  // row numbers fit T-wide lanes
  for (int64_t s = 0; s < nrows; s += kChunk)
    arg_rows<T, K>(x + s * rs, rs, min_i(nrows - s, kChunk), w, r0 + s, acc);
}

// ---- running sums: 8 doubles per step, a prefix within the vector by three
// shift-and-add steps, then the carry from the previous step. The only serial
// dependency is the carry (one add and one broadcast per 8 elements).

template <typename T> inline VD8 load_d8(const T* p) {
  if constexpr (sizeof(T) == 4) {
    VF8 f;
    __builtin_memcpy(&f, p, sizeof f);
    return __builtin_convertvector(f, VD8);
  } else {
    return load(p);
  }
}
template <typename T> inline void store_d8(T* p, VD8 v) {
  if constexpr (sizeof(T) == 4) {
    VF8 f = __builtin_convertvector(v, VF8);
    __builtin_memcpy(p, &f, sizeof f);
  } else {
    store(p, v);
  }
}

template <bool kRev> inline VD8 scan8(VD8 v) {
  const VD8 z{};
  if constexpr (!kRev) {
    v += __builtin_shufflevector(z, v, 0, 8, 9, 10, 11, 12, 13, 14);
    v += __builtin_shufflevector(z, v, 0, 1, 8, 9, 10, 11, 12, 13);
    v += __builtin_shufflevector(z, v, 0, 1, 2, 3, 8, 9, 10, 11);
  } else {
    v += __builtin_shufflevector(v, z, 1, 2, 3, 4, 5, 6, 7, 8);
    v += __builtin_shufflevector(v, z, 2, 3, 4, 5, 6, 7, 8, 9);
    v += __builtin_shufflevector(v, z, 4, 5, 6, 7, 8, 9, 10, 11);
  }
  return v;
}

template <typename T, bool kRev>
void cumsum_row(const T* x, T* y, int64_t n) {
  VD8 carry{};
  if constexpr (!kRev) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      VD8 v = scan8<false>(load_d8(x + i)) + carry;
      store_d8(y + i, v);
      carry = VD8{} + v[7];
    }
    double c = carry[0];
    for (; i < n; ++i) y[i] = static_cast<T>(c += static_cast<double>(x[i]));
  } else {
    int64_t i = n;
    for (; i >= 8; i -= 8) {
      VD8 v = scan8<true>(load_d8(x + i - 8)) + carry;
      store_d8(y + i - 8, v);
      carry = VD8{} + v[0];
    }
    double c = carry[0];
    while (i-- > 0) y[i] = static_cast<T>(c += static_cast<double>(x[i]));
  }
}

// ---- softmax

template <typename T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  constexpr int64_t l = kL<T>;
  // NOTE: a row holding +inf or only -inf gives NaN, as in PyTorch (inf - inf).
  const T m = ext_run<T, kExtMax>(x, n, 0, 1);
  const V<T> mv = splat(m);
  if (log) {
    const T lse = static_cast<T>(log_s(static_cast<double>(sum_run<T, kSumExpDev>(x, n, 0, 1, m))));
    int64_t i = 0;
    for (; i + l <= n; i += l) store(y + i, (load(x + i) - mv) - lse);
    for (; i < n; ++i) y[i] = (x[i] - m) - lse;
    return;
  }
  // Stores e = exp(x - m) and sums it: T lanes over blocks, double across blocks.
  constexpr int64_t kBlock = 64 * l;
  double total = 0;
  int64_t i = 0;
  while (i < n) {
    const int64_t end = min_i(n, i + kBlock);
    V<T> s0{}, s1{};
    for (; i + 2 * l <= end; i += 2 * l) {
      V<T> e0 = vexp<T>(load(x + i) - mv), e1 = vexp<T>(load(x + i + l) - mv);
      store(y + i, e0);
      store(y + i + l, e1);
      s0 += e0;
      s1 += e1;
    }
    for (; i < end; i += l) {
      int64_t wn = min_i(l, end - i);
      V<T> e = vexp<T>((wn == l ? load(x + i) : load_part(x + i, wn, -inf<T>())) - mv);
      if (wn == l) store(y + i, e);
      else store_part(y + i, e, wn);
      s0 += e;
    }
    total += hsum<T>(s0 + s1);
  }
  const V<T> inv = splat(static_cast<T>(1.0 / total));
  i = 0;
  for (; i + l <= n; i += l) store(y + i, load(y + i) * inv);
  for (; i < n; ++i) y[i] *= inv[0];
}

// Softmax down C rows of a strip of U vectors of columns (U = 1: wn <= kL columns).
// NOTE: U = 4 keeps four independent chains in flight and reads whole cache lines.
template <typename T, int U>
void softmax_strip(const T* x, T* y, int64_t C, int64_t stride, int64_t wn, bool log) {
  constexpr int64_t l = kL<T>;
  const bool part = U == 1 && wn < l;
  auto ld = [&](const T* p) { return part ? load_part(p, wn, T(0)) : load(p); };
  auto st = [&](T* p, V<T> v) {
    if (part) store_part(p, v, wn);
    else store(p, v);
  };
  V<T> m[U];
  for (int u = 0; u < U; ++u) m[u] = ld(x + u * l);
  for (int64_t c = 1; c < C; ++c)
    for (int u = 0; u < U; ++u) m[u] = ext2<T, kExtMax>(m[u], ld(x + c * stride + u * l));
  // Column sums: T lanes over blocks of rows, double across blocks.
  constexpr int64_t kRowBlock = 64;
  double total[U][kL<T>] = {};
  for (int64_t c0 = 0; c0 < C; c0 += kRowBlock) {
    V<T> s[U] = {};
    for (int64_t c = c0; c < min_i(C, c0 + kRowBlock); ++c) {
      for (int u = 0; u < U; ++u) {
        V<T> e = vexp<T>(ld(x + c * stride + u * l) - m[u]);
        if (!log) st(y + c * stride + u * l, e);
        s[u] += e;
      }
    }
    for (int u = 0; u < U; ++u)
      for (int64_t k = 0; k < l; ++k) total[u][k] += static_cast<double>(s[u][k]);
  }
  V<T> f[U];  // log: log(sum); softmax: 1/sum
  for (int u = 0; u < U; ++u)
    for (int64_t k = 0; k < l; ++k)
      f[u][k] = static_cast<T>(log ? log_s(total[u][k]) : 1.0 / total[u][k]);
  for (int64_t c = 0; c < C; ++c)
    for (int u = 0; u < U; ++u) {
      const int64_t off = c * stride + u * l;
      st(y + off, log ? (ld(x + off) - m[u]) - f[u] : ld(y + off) * f[u]);
    }
}

template <typename T>
void softmax_cols(const T* x, T* y, int64_t C, int64_t stride, int64_t w, bool log) {
  constexpr int64_t l = kL<T>;
  int64_t j = 0;
  for (; j + 4 * l <= w; j += 4 * l) softmax_strip<T, 4>(x + j, y + j, C, stride, 4 * l, log);
  for (; j < w; j += l) softmax_strip<T, 1>(x + j, y + j, C, stride, min_i(l, w - j), log);
}

// ---- softmax gradients

template <typename T, bool kLog>
void softmax_bwd_row(const T* g, const T* y, T* out, int64_t n) {
  constexpr int64_t l = kL<T>, kBlock = 64 * l;
  auto term = [&](int64_t i, int64_t wn) {  // what the sum adds: g*y (softmax) or g (log)
    V<T> gv = wn == l ? load(g + i) : load_part(g + i, wn, T(0));
    if constexpr (!kLog) gv *= wn == l ? load(y + i) : load_part(y + i, wn, T(0));
    return gv;
  };
  double total = 0;
  int64_t i = 0;
  while (i < n) {
    const int64_t end = min_i(n, i + kBlock);
    V<T> s0{}, s1{};
    for (; i + 2 * l <= end; i += 2 * l) {
      s0 += term(i, l);
      s1 += term(i + l, l);
    }
    for (; i < end; i += l) s0 += term(i, min_i(l, end - i));
    total += hsum<T>(s0 + s1);
  }
  const V<T> sv = splat(static_cast<T>(total));
  auto res = [&](V<T> gv, V<T> yv) {
    if constexpr (kLog) return gv - vexp<T>(yv) * sv;
    else return yv * (gv - sv);
  };
  i = 0;
  for (; i + l <= n; i += l) store(out + i, res(load(g + i), load(y + i)));
  if (i < n) store_part(out + i, res(load_part(g + i, n - i, T(0)), load_part(y + i, n - i, T(0))), n - i);
}

template <typename T, bool kLog>
void softmax_bwd_cols(const T* g, const T* y, T* out, int64_t C, int64_t stride, int64_t w) {
  constexpr int64_t l = kL<T>, kRowBlock = 64;
  for (int64_t j = 0; j < w; j += l) {
    const int64_t wn = min_i(l, w - j);
    auto ld = [&](const T* p) { return wn == l ? load(p) : load_part(p, wn, T(0)); };
    double total[kL<T>] = {};
    for (int64_t c0 = 0; c0 < C; c0 += kRowBlock) {
      V<T> s{};
      for (int64_t c = c0; c < min_i(C, c0 + kRowBlock); ++c) {
        V<T> gv = ld(g + c * stride + j);
        if constexpr (!kLog) gv *= ld(y + c * stride + j);
        s += gv;
      }
      for (int64_t k = 0; k < l; ++k) total[k] += static_cast<double>(s[k]);
    }
    V<T> sv;
    for (int64_t k = 0; k < l; ++k) sv[k] = static_cast<T>(total[k]);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t off = c * stride + j;
      V<T> gv = ld(g + off), yv = ld(y + off), r;
      if constexpr (kLog) r = gv - vexp<T>(yv) * sv;
      else r = yv * (gv - sv);
      if (wn == l) store(out + off, r);
      else store_part(out + off, r, wn);
    }
  }
}

// Four rows of w at a time (four independent accumulators, one load of x for all four); the
// four rows stay in L1 while every row of x passes over them.
template <typename T>
void dot_rows(const T* x, int64_t ldx, int64_t M, const T* w, int64_t ldw, int64_t K, int64_t n,
              T* y, int64_t ldy) {
  constexpr int64_t L = kL<T>;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const T* w0 = w + j * ldw;
    const T *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    for (int64_t m = 0; m < M; ++m) {
      const T* xm = x + m * ldx;
      V<T> a0{}, a1{}, a2{}, a3{};
      int64_t k = 0;
      for (; k + L <= K; k += L) {
        V<T> xv = load(xm + k);
        a0 = vfma(xv, load(w0 + k), a0);
        a1 = vfma(xv, load(w1 + k), a1);
        a2 = vfma(xv, load(w2 + k), a2);
        a3 = vfma(xv, load(w3 + k), a3);
      }
      T s0 = T(hsum<T>(a0)), s1 = T(hsum<T>(a1)), s2 = T(hsum<T>(a2)), s3 = T(hsum<T>(a3));
      for (; k < K; ++k) {
        s0 += xm[k] * w0[k];
        s1 += xm[k] * w1[k];
        s2 += xm[k] * w2[k];
        s3 += xm[k] * w3[k];
      }
      T* ym = y + m * ldy + j;
      ym[0] = s0;
      ym[1] = s1;
      ym[2] = s2;
      ym[3] = s3;
    }
  }
  for (; j < n; ++j) {
    const T* wj = w + j * ldw;
    for (int64_t m = 0; m < M; ++m) {
      const T* xm = x + m * ldx;
      V<T> a{};
      int64_t k = 0;
      for (; k + L <= K; k += L) a = vfma(load(xm + k), load(wj + k), a);
      T s = T(hsum<T>(a));
      for (; k < K; ++k) s += xm[k] * wj[k];
      y[m * ldy + j] = s;
    }
  }
}

// fn[i] = pick(std::integral_constant<int, i>{}) for every i of the array: one line per kernel
// family instead of one per variant.
template <typename Fn, std::size_t N, typename Pick>
void fill_variants(Fn (&fn)[N], Pick pick) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((fn[I] = pick(std::integral_constant<int, static_cast<int>(I)>{})), ...);
  }(std::make_index_sequence<N>{});
}

template <typename T>
ReduceKernels<T> make_kernels() {
  ReduceKernels<T> k{};
  fill_variants(k.sum, [](auto i) { return sum_run<T, ReduceSumKind(i())>; });
  fill_variants(k.sum_rows, [](auto i) { return sum_rows<T, ReduceSumKind(i())>; });
  fill_variants(k.ext, [](auto i) { return ext_run<T, ReduceExtKind(i())>; });
  fill_variants(k.ext_rows, [](auto i) { return ext_rows<T, ReduceExtKind(i())>; });
  // arg_ext*: [0] max, [1] min; cumsum_row and softmax_bwd*: [0] softmax/forward, [1] the
  // log_softmax/reverse variant.
  fill_variants(k.arg_ext, [](auto i) { return arg_run<T, ReduceExtKind(i())>; });
  fill_variants(k.arg_ext_rows, [](auto i) { return arg_rows_chunked<T, ReduceExtKind(i())>; });
  fill_variants(k.cumsum_row, [](auto i) { return cumsum_row<T, i() != 0>; });
  fill_variants(k.softmax_bwd_row, [](auto i) { return softmax_bwd_row<T, i() != 0>; });
  fill_variants(k.softmax_bwd_cols, [](auto i) { return softmax_bwd_cols<T, i() != 0>; });
  k.prod = prod_run<T>;
  k.prod_rows = prod_rows<T>;
  k.softmax_row = softmax_row<T>;
  k.softmax_cols = softmax_cols<T>;
  k.dot_rows = dot_rows<T>;
  return k;
}

#define TANDEM_STR2(x) #x
#define TANDEM_STR(x) TANDEM_STR2(x)

}  // namespace

const ReduceTable& reduce_table() {
  static const ReduceTable table{TANDEM_STR(TANDEM_ISA), make_kernels<float>(),
                                 make_kernels<double>()};
  return table;
}

}  // namespace tandem::cpu::TANDEM_ISA
