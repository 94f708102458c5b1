// Dataset base classes and TensorDataset.
#include "tandem/data/dataset.h"

namespace tandem::data {

Dataset::~Dataset() = default;
IterableDataset::~IterableDataset() = default;

Tensor row_view(const Tensor& t, int64_t index) {
  TANDEM_CHECK(t.defined() && t.dim() >= 1, "row_view: expected a tensor with at least 1 dimension");
  TANDEM_CHECK(index >= 0 && index < t.size(0), "row_view: index {} is out of range for size {}",
               index, t.size(0));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->sizes.assign(t.shape().begin() + 1, t.shape().end());
  impl->strides.assign(t.strides().begin() + 1, t.strides().end());
  impl->offset = t.offset() + index * t.stride(0);
  impl->numel = shape_numel(impl->sizes);
  impl->dtype = t.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

TensorDataset::TensorDataset(Tensor data, Tensor targets) {
  TANDEM_CHECK(data.defined() && data.dim() >= 1,
               "TensorDataset: data must be a tensor with at least 1 dimension (one row per "
               "example)");
  data_ = data.detach().contiguous();
  size_ = data_.size(0);
  if (targets.defined()) {
    TANDEM_CHECK(targets.dim() >= 1 && targets.size(0) == size_,
                 "TensorDataset: data has {} rows but targets have shape {}; give one target "
                 "per row",
                 size_, shape_str(targets.shape()));
    targets_ = targets.detach().contiguous();
  }
}

Example TensorDataset::get(int64_t index) const {
  TANDEM_CHECK(index >= 0 && index < size_, "TensorDataset: index {} is out of range [0, {})",
               index, size_);
  Example ex;
  ex.data = row_view(data_, index);
  if (targets_.defined()) ex.target = row_view(targets_, index);
  return ex;
}

}  // namespace tandem::data
