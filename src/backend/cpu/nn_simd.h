// Building blocks for the nn kernels' inner loops (nn_pool.cpp, nn_norm.cpp).
//
// A kernel's entry point calls nn_isa_run([&]() TANDEM_NN_LAMBDA { body_impl(...); }): the body is
// compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the level in use picks one
// (isa.h), so one binary runs anywhere and tests can run every level. Bodies are templates
// forced inline (TANDEM_NN_INLINE) so every copy is compiled for its level.
// NOTE: a helper that is not inlined is the baseline copy, which is correct but slow
// (a lambda is such a helper unless marked TANDEM_NN_LAMBDA).
//
// Sums use explicit vectors with several accumulators: without -ffast-math the
// compiler may not reorder a scalar float sum, so it would neither vectorize nor
// hide the add latency. Float partial sums are flushed to a double every block.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "isa.h"

// Vectors only travel between inlined functions; the ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

// nn_isa_run(f) runs f compiled for the ISA level in use (cpu::current_isa(): the best this CPU
// runs, TANDEM_ISA, or the level a test forces): f is an always-inline lambda
// (TANDEM_NN_LAMBDA) over always-inline bodies (TANDEM_NN_INLINE), inlined into one wrapper per
// level (x86-64-v4 for avx512, x86-64-v3 for avx2, the baseline). ThreadSanitizer builds run
// the baseline copy only.
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define TANDEM_NN_ISA_LEVELS 1
#else
#define TANDEM_NN_ISA_LEVELS 0
#endif
#define TANDEM_NN_INLINE [[gnu::always_inline]] inline
#define TANDEM_NN_LAMBDA __attribute__((always_inline))

namespace tandem::cpu {

#if TANDEM_NN_ISA_LEVELS
template <typename F>
[[gnu::noinline, gnu::target("arch=x86-64-v4")]] auto nn_at_avx512(const F& f) {
  return f();
}
template <typename F>
[[gnu::noinline, gnu::target("arch=x86-64-v3")]] auto nn_at_avx2(const F& f) {
  return f();
}
#endif

template <typename F>
inline auto nn_isa_run(const F& f) {
#if TANDEM_NN_ISA_LEVELS
  switch (current_isa()) {
    case Isa::Avx512: return nn_at_avx512(f);
    case Isa::Avx2: return nn_at_avx2(f);
    case Isa::Baseline: break;
  }
#endif
  return f();
}
// Planes per parallel chunk (pooling kernels): enough work (~64K elements) to pay for a
// thread.
inline int64_t plane_grain(int64_t plane_elems) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(plane_elems, 1));
}
}  // namespace tandem::cpu

namespace tandem::cpu::nn_simd {

template <typename T> struct VecOf { typedef T type __attribute__((vector_size(64))); };
template <typename T> using Vec = typename VecOf<T>::type;
template <typename T> inline constexpr int64_t kLanes = 64 / static_cast<int64_t>(sizeof(T));
// Elements summed in T lanes before the partial sums move to a double.
inline constexpr int64_t kBlock = 1024;

// Vectors of N elements (any power of two), their same-width integer masks, and
// even/odd lane selection and interleaving (for stride-2 windows).
template <typename T, int N> struct VecNOf { typedef T type __attribute__((vector_size(N * sizeof(T)))); };
template <typename T, int N> using VecN = typename VecNOf<T, N>::type;
template <typename T> using MaskInt = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
template <typename T, int N> using MaskN = VecN<MaskInt<T>, N>;

template <typename V> TANDEM_NN_INLINE V loadv(const void* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V> TANDEM_NN_INLINE void storev(void* p, V v) { __builtin_memcpy(p, &v, sizeof v); }

template <typename V, size_t... I>
TANDEM_NN_INLINE V even_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...);
}
template <typename V, size_t... I>
TANDEM_NN_INLINE V odd_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I + 1)...);
}
// a0 b0 a1 b1 ... over the low (kHigh = false) or high half of the lanes.
template <bool kHigh, typename V, size_t... I>
TANDEM_NN_INLINE V zip_lanes(V a, V b, std::index_sequence<I...>) {
  constexpr size_t n = sizeof...(I), h = kHigh ? n / 2 : 0;
  return __builtin_shufflevector(a, b, (I % 2 == 0 ? h + I / 2 : n + h + I / 2)...);
}

template <typename T> TANDEM_NN_INLINE Vec<T> vload(const T* p) {
  Vec<T> v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename T> TANDEM_NN_INLINE void vstore(T* p, Vec<T> v) { __builtin_memcpy(p, &v, sizeof v); }
// Sum of the lanes, halving the vector each step (log2(N) adds, not N).
template <typename T, int N, size_t... I>
TANDEM_NN_INLINE T tree_sum(VecN<T, N> v, std::index_sequence<I...>) {
  if constexpr (N == 1) {
    return v[0];
  } else {
    VecN<T, N / 2> lo = __builtin_shufflevector(v, v, I...);
    VecN<T, N / 2> hi = __builtin_shufflevector(v, v, (I + N / 2)...);
    return tree_sum<T, N / 2>(lo + hi, std::make_index_sequence<N / 4 == 0 ? 1 : N / 4>());
  }
}
template <typename T> TANDEM_NN_INLINE double hsum(Vec<T> v) {
  constexpr int N = static_cast<int>(kLanes<T>);
  return static_cast<double>(tree_sum<T, N>(v, std::make_index_sequence<N / 2>()));
}

// Sums over i < n of the vector terms f(i) (i a multiple of the lane count) and the
// scalar terms fs(i) for the tail; four accumulators per block.
template <typename T, typename F, typename FS>
TANDEM_NN_INLINE double block_sum(int64_t n, F f, FS fs) {
  constexpr int64_t L = kLanes<T>;
  const int64_t nv = n - n % L;
  double total = 0;
  for (int64_t b = 0; b < nv; b += kBlock) {
    const int64_t e = b + kBlock < nv ? b + kBlock : nv;
    Vec<T> a0{}, a1{}, a2{}, a3{};
    int64_t i = b;
    for (; i + 4 * L <= e; i += 4 * L) {
      a0 += f(i);
      a1 += f(i + L);
      a2 += f(i + 2 * L);
      a3 += f(i + 3 * L);
    }
    for (; i < e; i += L) a0 += f(i);
    total += hsum<T>((a0 + a1) + (a2 + a3));
  }
  for (int64_t i = nv; i < n; ++i) total += static_cast<double>(fs(i));
  return total;
}

// Two sums in one pass: f(i, a, b) adds its terms to the vector accumulators a and b,
// fs(i, sa, sb) to the doubles.
template <typename T, typename F, typename FS>
TANDEM_NN_INLINE void block_sum2(int64_t n, F f, FS fs, double* out_a, double* out_b) {
  constexpr int64_t L = kLanes<T>;
  const int64_t nv = n - n % L;
  double ta = 0, tb = 0;
  for (int64_t blk = 0; blk < nv; blk += kBlock) {
    const int64_t e = blk + kBlock < nv ? blk + kBlock : nv;
    Vec<T> a0{}, a1{}, b0{}, b1{};
    int64_t i = blk;
    for (; i + 2 * L <= e; i += 2 * L) {
      f(i, a0, b0);
      f(i + L, a1, b1);
    }
    for (; i < e; i += L) f(i, a0, b0);
    ta += hsum<T>(a0 + a1);
    tb += hsum<T>(b0 + b1);
  }
  for (int64_t i = nv; i < n; ++i) fs(i, ta, tb);
  *out_a = ta;
  *out_b = tb;
}

// sum(x[0..n))
template <typename T> TANDEM_NN_INLINE double sum_run(const T* x, int64_t n) {
  return block_sum<T>(
      n, [&](int64_t i) TANDEM_NN_LAMBDA { return vload(x + i); },
      [&](int64_t i) TANDEM_NN_LAMBDA { return x[i]; });
}
// sum((x[0..n) - c)^2)
template <typename T> TANDEM_NN_INLINE double sum_sqdev_run(const T* x, int64_t n, T c) {
  return block_sum<T>(
      n,
      [&](int64_t i) TANDEM_NN_LAMBDA {
        Vec<T> d = vload(x + i) - c;
        return d * d;
      },
      [&](int64_t i) TANDEM_NN_LAMBDA { return (x[i] - c) * (x[i] - c); });
}
// sum(g) and sum(g * (x - c)) over one run.
template <typename T>
TANDEM_NN_INLINE void dot_run(const T* g, const T* x, int64_t n, T c, double* sg, double* sgx) {
  block_sum2<T>(
      n,
      [&](int64_t i, Vec<T>& a, Vec<T>& b) TANDEM_NN_LAMBDA {
        Vec<T> gv = vload(g + i);
        a += gv;
        b += gv * (vload(x + i) - c);
      },
      [&](int64_t i, double& a, double& b) TANDEM_NN_LAMBDA {
        a += static_cast<double>(g[i]);
        b += static_cast<double>(g[i] * (x[i] - c));
      },
      sg, sgx);
}

}  // namespace tandem::cpu::nn_simd
