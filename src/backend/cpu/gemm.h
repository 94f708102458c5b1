// Batched matrix multiply for CPU kernels (matmul, linear, bmm, the float64 conv reference).
//
//   MatView a = MatView::of(x), b = MatView::of(w);
//   b.transpose();                                 // x @ wᵀ through strides, no copy
//   cpu::gemm(std::move(a), std::move(b), bias, out);
//
// float32 runs through oneDNN's matmul primitive (cached per shape/layout); every
// other dtype (float64 for gradcheck, integers) through a cache-blocked loop.
#pragma once
#include <cstdint>

#include "tandem/tensor.h"

namespace tandem::cpu {

// A strided (batched) matrix over memory someone else owns: sizes [..., R, C].
struct MatView {
  const void* data = nullptr;
  Shape sizes, strides;  // strides in elements

  static MatView of(const Tensor& t) { return {t.data_ptr(), t.shape(), t.strides()}; }
  int64_t rows() const { return sizes[sizes.size() - 2]; }
  int64_t cols() const { return sizes.back(); }
  int64_t ndim() const { return static_cast<int64_t>(sizes.size()); }
  // Swaps the last two dims (a view, no copy).
  MatView& transpose();
  // Prepends size-1 dims up to rank n.
  MatView& expand_rank(int64_t n);
};

// Whether gemm computes M rows of a against b stored as rows of K (x @ wᵀ, float32) with its
// dot-product kernel rather than oneDNN (gemm.cpp says why): callers that would otherwise
// call oneDNN themselves (fused linear) defer to gemm for these shapes.
inline bool few_rows_path(int64_t M, int64_t K) { return M <= 4 && K >= 16; }

// c[..., M, N] = a[..., M, K] @ b[..., K, N] (+ bias[N] when defined).
// c is contiguous with the broadcast batch shape; a and b have c's rank and each
// batch dim equals c's or is 1 (broadcast); all three share c's dtype, and so does
// bias (1-D, any stride). Any strides are accepted: layouts oneDNN cannot use
// directly are copied to contiguous first. `c_shape`, when given, is the shape c's
// contiguous memory is seen with (c itself may be 0-D or 1-D, as matmul's output).
void gemm(MatView a, MatView b, const Tensor& bias, const Tensor& c,
          const Shape& c_shape = {});

}  // namespace tandem::cpu
