// nn ops: pooling, normalization, dropout, embedding. (Not implemented yet.)
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_nn() {}

}  // namespace defs

Tensor max_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride, IntArray padding, IntArray dilation, bool ceil_mode) {
  TANDEM_FAIL("max_pool2d: not implemented yet");
}
Tensor avg_pool2d(const Tensor& x, IntArray kernel_size, IntArray stride, IntArray padding, bool ceil_mode, bool count_include_pad) {
  TANDEM_FAIL("avg_pool2d: not implemented yet");
}
Tensor adaptive_avg_pool2d(const Tensor& x, IntArray output_size) {
  TANDEM_FAIL("adaptive_avg_pool2d: not implemented yet");
}
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps) {
  TANDEM_FAIL("batch_norm: not implemented yet");
}
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  TANDEM_FAIL("layer_norm: not implemented yet");
}
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  TANDEM_FAIL("group_norm: not implemented yet");
}
Tensor dropout(const Tensor& x, double p, bool training) {
  TANDEM_FAIL("dropout: not implemented yet");
}
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  TANDEM_FAIL("embedding: not implemented yet");
}

}  // namespace tandem
