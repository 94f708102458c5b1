// (index ops: not implemented yet.)
#include "defs.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace defs {

void register_index() {}

}  // namespace defs

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  TANDEM_FAIL("index_select: not implemented yet");
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  TANDEM_FAIL("gather: not implemented yet");
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  TANDEM_FAIL("scatter_add: not implemented yet");
}
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  TANDEM_FAIL("masked_fill: not implemented yet");
}
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TANDEM_FAIL("cat: not implemented yet");
}
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TANDEM_FAIL("stack: not implemented yet");
}
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  TANDEM_FAIL("split: not implemented yet");
}
std::vector<Tensor> split(const Tensor& x, const IntArray& split_sizes, int64_t dim) {
  TANDEM_FAIL("split: not implemented yet");
}
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  TANDEM_FAIL("chunk: not implemented yet");
}
Tensor pad(const Tensor& x, const IntArray& pads, const std::string& mode, double value) {
  TANDEM_FAIL("pad: not implemented yet");
}
Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  TANDEM_FAIL("one_hot: not implemented yet");
}
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  TANDEM_FAIL("topk: not implemented yet");
}
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  TANDEM_FAIL("sort: not implemented yet");
}

}  // namespace tandem
