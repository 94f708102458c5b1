// CPU kernels of the reduction family (used by src/ops/defs/reduce.cpp). Inputs
// may have any strides; outputs are contiguous with the op's output dtype.
// mask[d] says whether dim d of x is reduced.
#pragma once
#include <vector>

#include "tandem/tensor.h"

namespace tandem::cpu {

// Sum (float: same dtype; integers and bool: int64); mean divides by the count.
void sum_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, bool mean);
void prod_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out);
// amax / amin (NaN propagates). The reduction must not be empty.
void ext_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, bool is_max);
// Values (optional: undefined tensor) and int64 indices of the first max/min; one reduced dim.
void arg_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& values,
                const Tensor& indices, bool is_max);
void var_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out,
                int64_t correction, bool take_sqrt);
void logsumexp_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out);
void norm_kernel(const Tensor& x, const std::vector<bool>& mask, const Tensor& out, double p);
// Over one dim; out contiguous with x's shape.
void softmax_kernel(const Tensor& x, int64_t dim, const Tensor& out, bool log);
// Gradient of softmax (log: log_softmax) along dim from the output gradient g and the output y.
void softmax_backward_kernel(const Tensor& g, const Tensor& y, int64_t dim, const Tensor& out,
                             bool log);
void cumsum_kernel(const Tensor& x, int64_t dim, const Tensor& out, bool reverse);

}  // namespace tandem::cpu
