// Dataset base classes and TensorDataset.
#include "tandem/data/dataset.h"

#include "tandem/data/dataloader.h"
#include "tandem/ops.h"

#include <fmt/format.h>

#include <algorithm>

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

std::optional<Batch> Dataset::get_batch(const int64_t*, int64_t) const { return std::nullopt; }

ImageDataset::ImageDataset(Tensor images, Tensor targets, double mean, double std)
    : mean_(mean), std_(std) {
  TANDEM_CHECK(images.defined() && images.dtype() == DType::UInt8 &&
                   (images.dim() == 3 || images.dim() == 4),
               "ImageDataset: expected uint8 images [N, C, H, W] or [N, H, W], got {} {}",
               images.defined() ? fmt::format("{}", images.dtype()) : "undefined",
               images.defined() ? shape_str(images.shape()) : "");
  if (images.dim() == 3) images = images.unsqueeze(1);
  TANDEM_CHECK(targets.defined() && targets.dim() == 1 && is_integral(targets.dtype()) &&
                   targets.size(0) == images.size(0),
               "ImageDataset: expected integer targets [{}] (one per image), got {}",
               images.size(0), targets.defined() ? shape_str(targets.shape()) : "undefined");
  TANDEM_CHECK(std_ != 0.0, "ImageDataset: std must not be 0");
  images_ = images.detach().contiguous();
  targets_ = targets.dtype() == DType::Int64 ? targets.detach().contiguous()
                                              : targets.to(DType::Int64).contiguous();
}

Tensor ImageDataset::convert(const int64_t* indices, int64_t n) const {
  Shape shape = images_.shape();
  shape[0] = n;
  Tensor x = empty(shape, {.dtype = DType::Float32});
  const int64_t row = images_.numel() / std::max<int64_t>(images_.size(0), 1);
  const uint8_t* src = images_.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t k = 0; k < n; ++k) {
    TANDEM_CHECK(indices[k] >= 0 && indices[k] < size(),
                 "ImageDataset: index {} is out of range [0, {})", indices[k], size());
    const uint8_t* s = src + indices[k] * row;
    float* d = dst + k * row;
    for (int64_t i = 0; i < row; ++i) d[i] = static_cast<float>(s[i]) / 255.0f;
  }
  if (mean_ == 0.0 && std_ == 1.0) return x;
  // NOTE: the same two ops a whole-set normalization would run, so every value has the same
  // bits as when the set was converted once at load.
  return (x - mean_) / std_;
}

Example ImageDataset::get(int64_t index) const {
  Example ex;
  ex.data = convert(&index, 1).squeeze(0);
  ex.target = row_view(targets_, index);
  return ex;
}

std::optional<Batch> ImageDataset::get_batch(const int64_t* indices, int64_t n) const {
  Batch b;
  b.data = convert(indices, n);
  Tensor t = empty({n}, {.dtype = DType::Int64});
  const int64_t* src = targets_.data<int64_t>();
  for (int64_t k = 0; k < n; ++k) t.data<int64_t>()[k] = src[indices[k]];
  b.target = t;
  return b;
}

Subset::Subset(std::shared_ptr<Dataset> dataset, std::vector<int64_t> indices)
    : dataset_(std::move(dataset)), indices_(std::move(indices)) {
  TANDEM_CHECK(dataset_ != nullptr, "Subset: the dataset is null");
  const int64_t n = dataset_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    TANDEM_CHECK(indices_[i] >= 0 && indices_[i] < n,
                 "Subset: index {} (position {}) is out of range for a dataset of size {}",
                 indices_[i], i, n);
}

Example Subset::get(int64_t index) const {
  TANDEM_CHECK(index >= 0 && index < size(), "Subset: index {} is out of range [0, {})", index,
               size());
  return dataset_->get(indices_[static_cast<size_t>(index)]);
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<Dataset> dataset,
                                                  const std::vector<int64_t>& lengths,
                                                  uint64_t seed) {
  TANDEM_CHECK(dataset != nullptr, "random_split: the dataset is null");
  int64_t total = 0;
  for (int64_t l : lengths) {
    TANDEM_CHECK(l >= 0, "random_split: negative length {}", l);
    total += l;
  }
  TANDEM_CHECK(total == dataset->size(),
               "random_split: lengths sum to {} but the dataset has {} samples", total,
               dataset->size());
  const std::vector<int64_t> perm = epoch_permutation(total, seed, 0);
  std::vector<std::shared_ptr<Subset>> out;
  auto it = perm.begin();
  for (int64_t l : lengths) {
    out.push_back(std::make_shared<Subset>(dataset, std::vector<int64_t>(it, it + l)));
    it += l;
  }
  return out;
}

}  // namespace tandem::data
