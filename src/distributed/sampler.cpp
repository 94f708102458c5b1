// DistributedSampler and IterableDataset sharding (tandem/distributed/sampler.h).
#include "tandem/distributed/sampler.h"

#include <numeric>
#include <random>

#include "tandem/error.h"

namespace tandem::distributed {

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  // PyTorch's CPU generator is a 32-bit Mersenne Twister seeded with the low 32 bits; its
  // randperm swaps position i with i + random() % (n - i).
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::vector<int64_t> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), int64_t{0});
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t z = static_cast<int64_t>(gen() % static_cast<uint64_t>(n - i));
    std::swap(r[static_cast<size_t>(i)], r[static_cast<size_t>(i + z)]);
  }
  return r;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options)
    : size_(dataset_size), options_(options) {
  TANDEM_CHECK(options.num_replicas >= 1, "DistributedSampler: num_replicas must be >= 1, got {}",
               options.num_replicas);
  TANDEM_CHECK(options.rank >= 0 && options.rank < options.num_replicas,
               "DistributedSampler: invalid rank {}, rank should be in the interval [0, {}]",
               options.rank, options.num_replicas - 1);
  TANDEM_CHECK(dataset_size >= 0, "DistributedSampler: negative dataset size {}", dataset_size);
  const int64_t r = options.num_replicas;
  if (options.drop_last && size_ % r != 0)
    num_samples_ = (size_ - r + r - 1) / r;  // ceil((N - R) / R)
  else
    num_samples_ = (size_ + r - 1) / r;
  TANDEM_CHECK(options.drop_last || size_ > 0 || num_samples_ == 0,
               "DistributedSampler: empty dataset");
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> idx;
  if (options_.shuffle && options_.permutation) {
    idx = options_.permutation(size_, options_.seed, epoch);
    TANDEM_CHECK(static_cast<int64_t>(idx.size()) == size_,
                 "DistributedSampler: the permutation has {} entries for {} samples", idx.size(), size_);
  } else if (options_.shuffle) {
    idx = torch_randperm(size_, options_.seed + static_cast<uint64_t>(epoch));
  } else {
    idx.resize(static_cast<size_t>(size_));
    std::iota(idx.begin(), idx.end(), int64_t{0});
  }
  const size_t total = static_cast<size_t>(total_size());
  if (!options_.drop_last) {
    TANDEM_CHECK(size_ > 0 || total == 0, "DistributedSampler: empty dataset");
    // Pad by repeating from the start (the whole list as often as needed).
    const size_t n = idx.size();
    for (size_t i = 0; idx.size() < total; ++i) idx.push_back(idx[i % n]);
  } else {
    idx.resize(total);
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples_));
  for (size_t i = static_cast<size_t>(options_.rank); i < total; i += static_cast<size_t>(options_.num_replicas))
    mine.push_back(idx[i]);
  return mine;
}

ShardedIterableDataset::ShardedIterableDataset(std::shared_ptr<data::IterableDataset> inner,
                                               int64_t num_replicas, int64_t rank)
    : inner_(std::move(inner)), num_replicas_(num_replicas), rank_(rank) {
  TANDEM_CHECK(inner_ != nullptr, "ShardedIterableDataset: no dataset");
  TANDEM_CHECK(num_replicas >= 1 && rank >= 0 && rank < num_replicas,
               "ShardedIterableDataset: rank {} is not in [0, {})", rank, num_replicas);
}

std::optional<data::Example> ShardedIterableDataset::next() {
  for (;;) {
    std::optional<data::Example> ex = inner_->next();
    if (!ex) return std::nullopt;
    if (position_++ % num_replicas_ == rank_) return ex;
  }
}

void ShardedIterableDataset::reset() {
  inner_->reset();
  position_ = 0;
}

}  // namespace tandem::distributed
