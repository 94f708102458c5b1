// (linalg ops: not implemented yet.)
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_linalg() {}

}  // namespace defs

Tensor matmul(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("matmul: not implemented yet");
}
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TANDEM_FAIL("linear: not implemented yet");
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("bmm: not implemented yet");
}
Tensor outer(const Tensor& a, const Tensor& b) {
  TANDEM_FAIL("outer: not implemented yet");
}

}  // namespace tandem
