// Strided N-d loops shared by CPU kernels.
//
// for_each_strided(shape, {strides_a, strides_b, ...}, fn) calls
// fn(offsets, inner_n, inner_strides) once per run of the innermost dimension,
// after merging dimensions that are contiguous in every operand, so a
// contiguous tensor is one call with inner_n = numel.
#pragma once
#include <omp.h>

#include <array>
#include <cstdint>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::cpu {

// Strides of `t` seen with the shape `out_shape` it broadcasts to (0 on broadcast dims).
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape s(out_shape.size(), 0);
  size_t lead = out_shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    s[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

// The one dimension-merging routine of the CPU kernels (elementwise loops, reduction plans):
// appends to (shape, strides) the dims of (s, st) without size-1 dims, with each dim merged into
// the one before it when both walk memory as one dim in every operand
// (stride[d-1] == stride[d] * size[d]).
template <size_t N>
void merge_dims(const Shape& s, const std::array<Shape, N>& st, Shape& shape,
                std::array<Shape, N>& strides) {
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 1) continue;
    if (!shape.empty()) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k)
        if (strides[k].back() != st[k][d] * s[d]) merge = false;
      if (merge) {
        shape.back() *= s[d];
        for (size_t k = 0; k < N; ++k) strides[k].back() = st[k][d];
        continue;
      }
    }
    shape.push_back(s[d]);
    for (size_t k = 0; k < N; ++k) strides[k].push_back(st[k][d]);
  }
}

template <size_t N>
struct StridedLoop {
  Shape shape;
  std::array<Shape, N> strides;

  // Drops size-1 dims and merges dims that are contiguous for every operand.
  StridedLoop(const Shape& s, std::array<Shape, N> st) {
    merge_dims<N>(s, st, shape, strides);
    if (shape.empty()) {
      shape.push_back(1);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
    }
  }

  int64_t inner() const { return shape.back(); }
  int64_t outer() const {
    int64_t n = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d) n *= shape[d];
    return n;
  }
  // Element offsets of the start of inner run `r` (0 <= r < outer()).
  std::array<int64_t, N> offsets(int64_t r) const {
    std::array<int64_t, N> off{};
    for (size_t d = shape.size() - 1; d-- > 0;) {
      int64_t i = r % shape[d];
      r /= shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }
  std::array<int64_t, N> inner_strides() const {
    std::array<int64_t, N> s{};
    for (size_t k = 0; k < N; ++k) s[k] = strides[k].back();
    return s;
  }

  // fn(offsets, n, inner_strides); parallel over runs when the work is large.
  template <typename F>
  void run(F&& fn, int64_t grain = 32768) const {
    int64_t outer_n = outer(), n = inner();
    auto st = inner_strides();
    if (outer_n == 1) {
      fn(offsets(0), n, st);
      return;
    }
    bool par = outer_n * n >= grain && omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < outer_n; ++r) fn(offsets(r), n, st);
  }
};

// Parallel for over [0, n) in chunks; serial when small.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= grain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = tid * chunk, e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  }
}

// Copies (and converts) src into dst; shapes must be equal or src broadcastable to dst.
void copy_into(const Tensor& dst, const Tensor& src);

// Kernels call no ops (no dispatch, no autograd): these make the copies and views they need.
// x itself when it is contiguous, else a contiguous copy of it.
Tensor dense(const Tensor& x);
// A view of x with its dims in the order `perm` (keeps x's storage alive).
Tensor permuted_view(const Tensor& x, const std::vector<int64_t>& perm);

}  // namespace tandem::cpu
