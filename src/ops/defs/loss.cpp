// (loss ops: not implemented yet.)
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_loss() {}

}  // namespace defs

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index, Reduction reduction, double label_smoothing) {
  TANDEM_FAIL("cross_entropy: not implemented yet");
}
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight, int64_t ignore_index, Reduction reduction) {
  TANDEM_FAIL("nll_loss: not implemented yet");
}
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  TANDEM_FAIL("mse_loss: not implemented yet");
}
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  TANDEM_FAIL("l1_loss: not implemented yet");
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  TANDEM_FAIL("smooth_l1_loss: not implemented yet");
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight, const Tensor& pos_weight, Reduction reduction) {
  TANDEM_FAIL("binary_cross_entropy_with_logits: not implemented yet");
}

}  // namespace tandem
