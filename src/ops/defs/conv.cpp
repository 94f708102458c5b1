// Convolutions through oneDNN. (Not implemented yet.)
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_conv() {}

}  // namespace defs

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  TANDEM_FAIL("conv1d: not implemented yet");
}
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArray stride, IntArray padding, IntArray dilation, int64_t groups) {
  TANDEM_FAIL("conv2d: not implemented yet");
}
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntArray stride, IntArray padding, IntArray output_padding, int64_t groups, IntArray dilation) {
  TANDEM_FAIL("conv_transpose2d: not implemented yet");
}

}  // namespace tandem
