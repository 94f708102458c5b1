// DistributedSampler: which samples each rank reads, with torch.utils.data.DistributedSampler's
// exact indices (PyTorch 1.13).
//
//   distributed::DistributedSampler s(dataset->size(), {.num_replicas = pg->size(),
//                                                       .rank = pg->rank(), .seed = 0});
//   s.set_epoch(epoch);
//   auto mine = std::make_shared<data::Subset>(dataset, s.indices());   // this rank's slice
//   data::DataLoader loader(mine, {.batch_size = 64});                  // no shuffle: done
//
// Indices: a permutation of [0, N) (torch.randperm with a generator seeded seed + epoch:
// Mersenne Twister, Fisher-Yates from the front) or 0..N-1 without shuffle; padded to a
// multiple of num_replicas by repeating from the start, or cut to one with drop_last; rank r
// takes positions r, r + R, r + 2R, ... Every rank holds num_samples() indices.
//
// It is a data::Sampler too (DataLoaderOptions::sampler: the loader asks for each epoch's
// indices). `permutation` replaces torch.randperm when set: the Trainer passes the
// DataLoader's own shuffle (data::epoch_permutation), so one process without a group reads
// exactly what a world of one does.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tandem/data/dataloader.h"
#include "tandem/data/dataset.h"

namespace tandem::distributed {

struct DistributedSamplerOptions {
  int64_t num_replicas = 1;
  int64_t rank = 0;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  // (n, seed, epoch) -> a permutation of [0, n); empty: torch_randperm(n, seed + epoch).
  std::function<std::vector<int64_t>(int64_t, uint64_t, int64_t)> permutation = nullptr;
};

class DistributedSampler : public data::Sampler {
 public:
  DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options);
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // This rank's indices for the current epoch, or for `epoch`.
  std::vector<int64_t> indices() const { return indices(epoch_); }
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }
  int64_t num_samples() const { return num_samples_; }
  int64_t total_size() const { return num_samples_ * options_.num_replicas; }

 private:
  int64_t size_;
  DistributedSamplerOptions options_;
  int64_t num_samples_;
  int64_t epoch_ = 0;
};

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU.
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);

// Every num_replicas-th example of a stream, starting at `rank` (sharding an IterableDataset:
// each rank reads the whole stream and keeps its share).
class ShardedIterableDataset : public data::IterableDataset {
 public:
  ShardedIterableDataset(std::shared_ptr<data::IterableDataset> inner, int64_t num_replicas, int64_t rank);
  std::optional<data::Example> next() override;
  void reset() override;

 private:
  std::shared_ptr<data::IterableDataset> inner_;
  int64_t num_replicas_, rank_, position_ = 0;
};

}  // namespace tandem::distributed
