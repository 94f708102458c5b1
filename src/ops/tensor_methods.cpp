// Tensor methods that are shorthands for the free functions in ops.h.
#include "tandem/ops.h"

namespace tandem {

Tensor Tensor::sum(const IntArray& dims, bool keepdim) const { return tandem::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const IntArray& dims, bool keepdim) const { return tandem::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return tandem::max(*this); }
Tensor Tensor::min() const { return tandem::min(*this); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const {
  return tandem::argmax(*this, dim, keepdim);
}
Tensor Tensor::exp() const { return tandem::exp(*this); }
Tensor Tensor::log() const { return tandem::log(*this); }
Tensor Tensor::sqrt() const { return tandem::sqrt(*this); }
Tensor Tensor::abs() const { return tandem::abs(*this); }
Tensor Tensor::pow(double exponent) const { return tandem::pow(*this, exponent); }
Tensor Tensor::relu() const { return tandem::relu(*this); }
Tensor Tensor::sigmoid() const { return tandem::sigmoid(*this); }
Tensor Tensor::tanh() const { return tandem::tanh(*this); }
Tensor Tensor::softmax(int64_t dim) const { return tandem::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return tandem::log_softmax(*this, dim); }
Tensor Tensor::matmul(const Tensor& other) const { return tandem::matmul(*this, other); }
Tensor Tensor::masked_fill(const Tensor& mask, double value) const {
  return tandem::masked_fill(*this, mask, value);
}
Tensor& Tensor::clamp_(std::optional<double> min, std::optional<double> max) {
  // Not a fast path: a clamp into a new tensor, copied back (one definition of clamp).
  return copy_(tandem::clamp(*this, min, max));
}
Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  return copy_(tandem::masked_fill(*this, mask, value));
}

}  // namespace tandem
