// Datasets: random-access (Dataset) and streaming (IterableDataset) sources of examples.
//
//   auto ds = std::make_shared<data::TensorDataset>(randn({100, 3}), arange(100));
//   data::Example ex = ds->get(7);         // ex.data: [3] view of row 7, ex.target: 0-dim int64
//
// Ownership and aliasing: get() may return views into memory the dataset owns (TensorDataset
// and fashion_mnist do: no copy per sample). Treat an Example's tensors as read-only; a
// transform that changes values makes a new tensor (the ones in data/transforms.h do).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::data {

// One sample. `target` may be undefined (unlabelled data).
struct Example {
  Tensor data;
  Tensor target;
};

// A collated minibatch: data [B, ...], target [B, ...] (undefined when examples have none).
struct Batch {
  Tensor data;
  Tensor target;
};

// Random access by index in [0, size()). get() must be thread-safe: DataLoader workers call
// it concurrently.
class Dataset {
 public:
  virtual ~Dataset();
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  // The batch of samples indices[0..n), as default_collate would stack get() of each, or
  // nullopt (the default) to have the DataLoader call get() per sample. The DataLoader calls
  // it (from its workers) when it has no transform and no custom collate.
  virtual std::optional<Batch> get_batch(const int64_t* indices, int64_t n) const;
};

// A stream: next() gives examples until it returns nullopt; reset() starts over (called at
// the start of every DataLoader pass). Only ever called from one thread at a time.
class IterableDataset {
 public:
  virtual ~IterableDataset();
  virtual std::optional<Example> next() = 0;
  virtual void reset() = 0;
};

// Rows of `data` paired with rows of `targets` (same first dimension; targets may be
// undefined). get(i) returns views (data[i], targets[i]): no copy. Both tensors are made
// contiguous once at construction.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor data, Tensor targets = Tensor());
  int64_t size() const override { return size_; }
  // final: the DataLoader gathers whole batches straight from the rows (when there is no
  // transform or custom collate), which is only right if get(i) is exactly (data[i], targets[i]).
  Example get(int64_t index) const final;
  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_, targets_;
  int64_t size_ = 0;
};

// Images kept as stored (uint8 [N, C, H, W]) and converted per sample or per batch, in the
// DataLoader's workers: data float32 [C, H, W] = (x / 255 - mean) / std, target int64. One
// copy of the pixels (a quarter of a float32 set, and no normalized second copy).
//
//   auto ds = std::make_shared<data::ImageDataset>(read_idx(images).unsqueeze(1),
//                                                  read_idx(labels), 0.2860, 0.3530);
class ImageDataset : public Dataset {
 public:
  // images: uint8 [N, C, H, W] or [N, H, W] (one channel); targets: integer [N].
  ImageDataset(Tensor images, Tensor targets, double mean = 0.0, double std = 1.0);
  int64_t size() const override { return images_.size(0); }
  Example get(int64_t index) const override;
  std::optional<Batch> get_batch(const int64_t* indices, int64_t n) const override;
  const Tensor& images() const { return images_; }  // uint8 [N, C, H, W]
  const Tensor& targets() const { return targets_; }  // int64 [N]
  double normalize_mean() const { return mean_; }
  double normalize_std() const { return std_; }

 private:
  Tensor convert(const int64_t* indices, int64_t n) const;  // float32 [n, C, H, W]
  Tensor images_, targets_;
  double mean_, std_;
};

// The samples of `dataset` at `indices`, in that order (torch.utils.data.Subset).
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<Dataset> dataset, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Example get(int64_t index) const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<Dataset> dataset_;
  std::vector<int64_t> indices_;
};

// Disjoint random subsets with the given lengths (they must sum to dataset->size()); the
// split depends only on `seed`. E.g. auto [train, val] = ... random_split(ds, {50000, 10000}, 0).
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<Dataset> dataset,
                                                  const std::vector<int64_t>& lengths,
                                                  uint64_t seed);

// The i-th slice along dim 0 of a contiguous tensor as a view, built directly (no op
// dispatch, no autograd): safe and cheap to call from many threads.
Tensor row_view(const Tensor& t, int64_t index);

}  // namespace tandem::data
