// The per-ISA reduction kernel table: the only thing the ISA translation unit
// src/backend/cpu/isa/reduce_isa.cpp (compiled once per ISA level into the
// namespaces tandem::cpu::baseline / avx2 / avx512) shares with the library.
// NOTE: plain declarations and PODs only. An inline function or template
// instantiated in an ISA unit is compiled with that ISA's flags, and the linker
// may keep that copy for every caller: a baseline CPU would then run AVX-512 code.
//
// All kernels read contiguous runs ("run": x[0..n)) or rows of a 2-D block
// ("rows": x[r*rs + j] for r < nrows, j < w, the j's contiguous).
#pragma once
#include <cstdint>

namespace tandem::cpu {

// What a sum kernel adds up: f(x - c) for a shift c (per output).
enum ReduceSumKind : int {
  kSumPlain,   // x
  kSumSqDev,   // (x - c)^2  (c = 0: sum of squares)
  kSumAbs,     // |x|
  kSumExpDev,  // exp(x - c) (callers keep x - c <= 0)
  kNumSumKinds
};
// Which extreme a max/min kernel finds. NaN wins over every number.
enum ReduceExtKind : int { kExtMax, kExtMin, kExtMaxAbs, kExtMinAbs, kNumExtKinds };

// A value and its position along the reduction; i < 0: nothing seen yet.
template <typename T>
struct ValIdx {
  T v;
  int64_t i;
};

template <typename T>
struct ReduceKernels {
  // sum of f(x[r*rs + i] - c) over r < nrows, i < n (nrows runs of n), accumulated in T
  // lanes over short blocks and in double across blocks (float32 keeps SIMD speed and
  // stays within a few ulp of a float64 sum).
  double (*sum[kNumSumKinds])(const T* x, int64_t n, int64_t rs, int64_t nrows, T c);
  // acc[j] += sum_{r<nrows} f(x[r*rs + j] - c[j]) for j < w; c may be null (shift 0).
  void (*sum_rows[kNumSumKinds])(const T* x, int64_t rs, int64_t nrows, int64_t w, const T* c,
                                 double* acc);
  // prod_{i<n} x[i]: T lanes over short blocks, double across blocks.
  double (*prod)(const T* x, int64_t n);
  // acc[j] *= prod_{r<nrows} x[r*rs + j] for j < w.
  void (*prod_rows)(const T* x, int64_t rs, int64_t nrows, int64_t w, double* acc);
  // The extreme of x[r*rs + i], r < nrows, i < n (n, nrows >= 1); NaN wins.
  T (*ext[kNumExtKinds])(const T* x, int64_t n, int64_t rs, int64_t nrows);
  // acc[j] = ext(acc[j], x[r*rs + j] for r < nrows).
  void (*ext_rows[kNumExtKinds])(const T* x, int64_t rs, int64_t nrows, int64_t w, T* acc);
  // Index of the first maximum (first NaN if any) of x[0..n), n >= 1; min likewise.
  int64_t (*arg_ext[2])(const T* x, int64_t n);
  // acc[j] updated with rows numbered r0, r0+1, ... of x (first index wins ties; NaN wins).
  void (*arg_ext_rows[2])(const T* x, int64_t rs, int64_t nrows, int64_t w, int64_t r0,
                          ValIdx<T>* acc);
  // Running sum of one contiguous row in double: [0] from the start, [1] from the end.
  void (*cumsum_row[2])(const T* x, T* y, int64_t n);
  // Softmax / log-softmax of one contiguous row of n (n >= 1).
  void (*softmax_row)(const T* x, T* y, int64_t n, bool log);
  // Softmax over C rows of a [C, w] block with row stride `stride`, for columns j < w.
  void (*softmax_cols)(const T* x, T* y, int64_t C, int64_t stride, int64_t w, bool log);
  // Gradients of softmax ([0]: out = y * (g - sum(g * y))) and log-softmax
  // ([1]: out = g - exp(y) * sum(g)) for one contiguous row, y the forward output.
  void (*softmax_bwd_row[2])(const T* g, const T* y, T* out, int64_t n);
  // The same down C rows of a [C, w] block with row stride `stride`.
  void (*softmax_bwd_cols[2])(const T* g, const T* y, T* out, int64_t C, int64_t stride, int64_t w);
  // y[m*ldy + j] = dot(x[m*ldx + 0..K), w[j*ldw + 0..K)) for m < M, j < n: a few rows of x
  // times a matrix stored as rows of K (x @ wᵀ); each block of w rows is read once for all M.
  void (*dot_rows)(const T* x, int64_t ldx, int64_t M, const T* w, int64_t ldw, int64_t K, int64_t n,
                   T* y, int64_t ldy);
};

struct ReduceTable {
  const char* name;
  ReduceKernels<float> f32;
  ReduceKernels<double> f64;
};

namespace baseline { const ReduceTable& reduce_table(); }
namespace avx2 { const ReduceTable& reduce_table(); }
namespace avx512 { const ReduceTable& reduce_table(); }

// The table for this CPU (the widest ISA it supports).
const ReduceTable& reduce_table();

}  // namespace tandem::cpu
