// DataLoader: minibatches from a Dataset, shuffled per epoch, built by worker threads.
//
//   auto train = data::fashion_mnist();                         // 60000 x ([1,28,28], label)
//   data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1,
//                                   .num_workers = 2,
//                                   .transform = data::random_horizontal_flip(0.5)});
//   for (int64_t epoch = 0; epoch < 3; ++epoch) {
//     loader.set_epoch(epoch);                                  // a new permutation per epoch
//     for (data::Batch& b : loader) { /* b.data [128,1,28,28], b.target [128] int64 */ }
//   }
//
// Determinism: the permutation depends only on (seed, epoch); a transform gets a Generator
// seeded from (seed, epoch, sample index). Batch order and contents are therefore identical
// for any num_workers (0 runs everything inline on the caller's thread).
//
// Threads: workers claim batches in order and fill a ring of num_workers * prefetch slots;
// a worker only starts batch i once batch i - num_workers * prefetch has been handed to the
// caller, so at most that many batches exist ahead of the one the caller holds. Leaving the
// loop early (break, exception) stops and joins the workers when the iterator dies. An
// exception in a worker (in get, the transform or collate) reaches the caller as
// tandem::Error when the loop gets to that batch; earlier batches are delivered first.
// Each worker runs tandem ops single-threaded (its own OpenMP setting), like PyTorch's
// workers, so workers do not multiply the caller's thread count.
//
// Fast path: a TensorDataset (fashion_mnist, CsvDataset, ...) with no transform and no
// custom collate is batched by copying its rows straight into the batch tensors.
//
// IterableDataset: read in stream order by one thread (num_workers >= 1 means one
// background thread that prefetches up to max(1, num_workers) * prefetch batches);
// shuffle is refused, num_batches() is unknown (Error).
#pragma once
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "tandem/data/dataset.h"
#include "tandem/generator.h"

namespace tandem::data {

// Per-sample transform. It must not write into ex.data / ex.target in place (they may be
// views of the dataset); return new tensors instead.
using Transform = std::function<Example(Example, Generator&)>;
using Collate = std::function<Batch(std::vector<Example>&&)>;

// Which dataset indices one pass reads, in order (torch.utils.data.Sampler), e.g. one rank's
// share (distributed::DistributedSampler). Indices may repeat.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual int64_t size() const = 0;  // indices per pass
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
};

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  // Optional (Dataset only, instead of shuffle): the pass reads sampler->indices(epoch).
  // Transforms are still seeded by (seed, epoch, dataset index).
  std::shared_ptr<const Sampler> sampler = nullptr;
  uint64_t seed = 0;
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  int num_workers = 0;     // 0: inline on the caller's thread
  int prefetch = 2;        // batches per worker that may be ready ahead of the caller
  Transform transform;     // optional, applied to each example before collate
  Collate collate;         // optional; default_collate when empty
};

// Stacks the data of all examples into [B, ...] and the targets into [B, ...] (one memcpy
// per contiguous example into a preallocated batch). All examples must have the same data
// shape and dtype (same for targets); either all or none have a target.
Batch default_collate(std::vector<Example>&& examples);
// The stacking step alone: [B, ...] from B same-shaped tensors. `what` names them in errors.
Tensor collate_tensors(const std::vector<Tensor>& tensors, const char* what = "tensors");

// The seed a transform's Generator gets for (seed, epoch, index): a SplitMix64 mix.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);
// The order of samples in `epoch` (identity when shuffle is off).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class DataLoader {
 public:
  struct Run;  // one pass over the data (internal)

  class Sentinel {};
  // An input iterator over one pass. Dereferencing gives the current Batch; the pass (and
  // its worker threads) lives as long as the iterator.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    explicit Iterator(std::shared_ptr<Run> run);
    Batch& operator*() { return current_; }
    Batch* operator->() { return &current_; }
    Iterator& operator++();
    bool operator==(const Sentinel&) const { return done_; }
    bool operator!=(const Sentinel&) const { return !done_; }

   private:
    std::shared_ptr<Run> run_;
    Batch current_;
    bool done_ = false;
  };

  DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options = {});
  DataLoader(std::shared_ptr<IterableDataset> dataset, DataLoaderOptions options = {});

  // The epoch the next pass uses. Each begin() uses epoch() and then advances it by one, so
  // a plain loop gets a new permutation every pass; set_epoch pins it (resume, evaluation).
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // Batches per pass (Dataset only): ceil(size / batch_size), or floor with drop_last.
  int64_t num_batches() const;
  // Samples per pass, counting drop_last (Dataset only).
  int64_t num_samples() const;
  const DataLoaderOptions& options() const { return options_; }
  // The map-style dataset (null for an IterableDataset) and the stream (null otherwise).
  const std::shared_ptr<Dataset>& dataset() const { return dataset_; }
  const std::shared_ptr<IterableDataset>& iterable_dataset() const { return iterable_; }

  Iterator begin();
  Sentinel end() const { return {}; }

 private:
  std::shared_ptr<Dataset> dataset_;
  std::shared_ptr<IterableDataset> iterable_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
};

}  // namespace tandem::data
