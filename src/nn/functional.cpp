#include "tandem/nn/functional.h"

namespace tandem::nn::functional {

Tensor normalize(const Tensor& x, double p, int64_t dim, double eps) {
  Tensor n = clamp(norm(x, p, {dim}, /*keepdim=*/true), eps, std::nullopt);
  return x / n;
}

}  // namespace tandem::nn::functional
