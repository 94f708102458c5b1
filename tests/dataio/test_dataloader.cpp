// DataLoader: order, shuffling, determinism across worker counts, drop_last, shutdown,
// error propagation, the prefetch bound, custom collate and IterableDataset.
#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include "tandem/data.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::data;
using tandem::testing::throws_error;

namespace {

// data[i] = [i, i + 0.5] (float32), target[i] = i (int64).
std::shared_ptr<TensorDataset> numbered(int64_t n) {
  Tensor idx = arange(n);
  Tensor d = empty({n, 2});
  float* p = d.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    p[2 * i] = static_cast<float>(i);
    p[2 * i + 1] = static_cast<float>(i) + 0.5f;
  }
  return std::make_shared<TensorDataset>(d, idx);
}

std::vector<std::vector<int64_t>> target_batches(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (Batch& b : loader) out.push_back(b.target.to_vector<int64_t>());
  return out;
}

// Records the largest index get() was asked for; throws at `fail_at`; optional delay.
class ProbeDataset : public Dataset {
 public:
  explicit ProbeDataset(int64_t n, int64_t fail_at = -1, int delay_us = 0)
      : n_(n), fail_at_(fail_at), delay_us_(delay_us) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    int64_t prev = max_seen.load();
    while (i > prev && !max_seen.compare_exchange_weak(prev, i)) {
    }
    ++calls;
    if (delay_us_) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    if (i == fail_at_) throw std::runtime_error("probe: sample " + std::to_string(i) + " is broken");
    return {full({3}, static_cast<double>(i)), scalar_tensor(static_cast<double>(i), {.dtype = kInt64})};
  }
  mutable std::atomic<int64_t> max_seen{-1};
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_, fail_at_;
  int delay_us_;
};

}  // namespace

TEST(DataLoader, BatchesInOrderWithoutShuffle) {
  DataLoader loader(numbered(10), {.batch_size = 3});
  EXPECT_EQ(loader.num_batches(), 4);
  auto got = target_batches(loader);
  std::vector<std::vector<int64_t>> want{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}};
  EXPECT_EQ(got, want);
}

TEST(DataLoader, DefaultCollateStacksDataAndTargets) {
  DataLoader loader(numbered(5), {.batch_size = 2});
  auto it = loader.begin();
  Batch& b = *it;
  EXPECT_EQ(b.data.shape(), (Shape{2, 2}));
  EXPECT_EQ(b.data.dtype(), kFloat32);
  EXPECT_EQ(b.target.shape(), (Shape{2}));
  EXPECT_EQ(b.target.dtype(), kInt64);
  EXPECT_EQ(b.data.to_vector<float>(), (std::vector<float>{0, 0.5f, 1, 1.5f}));
}

TEST(DataLoader, DropLastDropsTheShortBatch) {
  DataLoader loader(numbered(10), {.batch_size = 3, .drop_last = true});
  EXPECT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(loader.num_samples(), 9);
  auto got = target_batches(loader);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back(), (std::vector<int64_t>{6, 7, 8}));
}

TEST(DataLoader, ShuffleIsAPermutationFixedBySeedAndEpoch) {
  auto ds = numbered(50);
  DataLoader a(ds, {.batch_size = 7, .shuffle = true, .seed = 3});
  a.set_epoch(2);
  std::vector<int64_t> seen;
  for (auto& b : target_batches(a)) seen.insert(seen.end(), b.begin(), b.end());
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(seen, iota);
  EXPECT_EQ(seen, epoch_permutation(50, 3, 2));

  DataLoader b(ds, {.batch_size = 7, .shuffle = true, .seed = 3});
  b.set_epoch(2);
  a.set_epoch(2);
  auto epoch2 = target_batches(a);
  EXPECT_EQ(target_batches(b), epoch2);
  a.set_epoch(3);
  EXPECT_NE(target_batches(a), epoch2);
  DataLoader c(ds, {.batch_size = 7, .shuffle = true, .seed = 4});
  c.set_epoch(2);
  EXPECT_NE(target_batches(c), epoch2);
}

TEST(DataLoader, EachPassAdvancesTheEpochUnlessPinned) {
  DataLoader loader(numbered(20), {.batch_size = 20, .shuffle = true, .seed = 9});
  EXPECT_EQ(loader.epoch(), 0);
  auto first = target_batches(loader);
  EXPECT_EQ(loader.epoch(), 1);
  auto second = target_batches(loader);
  EXPECT_EQ(first[0], epoch_permutation(20, 9, 0));
  EXPECT_EQ(second[0], epoch_permutation(20, 9, 1));
  loader.set_epoch(0);
  EXPECT_EQ(target_batches(loader), first);
}

// A random transform: adds a draw from the per-sample generator, so any mix-up of seeds
// between samples or workers changes the values.
Transform noisy() {
  return [](Example ex, Generator& gen) {
    Tensor out = ex.data.clone();
    float* p = out.data<float>();
    for (int64_t i = 0; i < out.numel(); ++i) p[i] += gen.next_float();
    ex.data = out;
    return ex;
  };
}

TEST(DataLoader, SameBatchesForAnyWorkerCount) {
  auto ds = numbered(103);
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    DataLoader loader(ds, {.batch_size = 8, .shuffle = true, .seed = 11, .num_workers = workers,
                           .prefetch = 2, .transform = noisy()});
    loader.set_epoch(5);
    std::vector<Batch> batches;
    for (Batch& b : loader) batches.push_back(b);
    runs.push_back(std::move(batches));
  }
  ASSERT_EQ(runs[0].size(), 13u);
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      EXPECT_EQ(runs[r][i].data.to_vector<float>(), runs[0][i].data.to_vector<float>());
      EXPECT_EQ(runs[r][i].target.to_vector<int64_t>(), runs[0][i].target.to_vector<int64_t>());
    }
  }
  // The transform really ran with a per-sample draw in [0, 1).
  Tensor d = runs[0][0].data;
  Tensor t = runs[0][0].target;
  for (int64_t k = 0; k < t.numel(); ++k) {
    float base = static_cast<float>(t.to_vector<int64_t>()[k]);
    float v = d.to_vector<float>()[2 * k];
    EXPECT_GE(v, base);
    EXPECT_LT(v, base + 1.0f);
  }
}

TEST(DataLoader, TransformSeedDependsOnSampleAndEpochOnly) {
  // Sample 4's transformed value is the same whether it is first or last in the order.
  auto ds = numbered(8);
  Transform t = noisy();
  Generator g(sample_seed(1, 0, 4));
  float want = 4.0f + g.next_float();
  for (bool shuffle : {false, true}) {
    DataLoader loader(ds, {.batch_size = 8, .shuffle = shuffle, .seed = 1, .transform = t});
    Batch b = *loader.begin();
    auto targets = b.target.to_vector<int64_t>();
    auto pos = std::find(targets.begin(), targets.end(), 4) - targets.begin();
    EXPECT_EQ(b.data.to_vector<float>()[2 * pos], want);
  }
}

TEST(DataLoader, EarlyBreakWithWorkersStopsThem) {
  auto ds = std::make_shared<ProbeDataset>(10000, -1, 100);
  {
    DataLoader loader(ds, {.batch_size = 4, .num_workers = 3, .prefetch = 2});
    int n = 0;
    for (Batch& b : loader) {
      (void)b;
      if (++n == 2) break;
    }
    EXPECT_EQ(n, 2);
  }
  // The workers were joined when the loop ended: no more calls happen after it.
  int64_t calls = ds->calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ds->calls.load(), calls);
  EXPECT_LT(calls, 10000);
}

TEST(DataLoader, WorkerExceptionReachesTheCallerAfterEarlierBatches) {
  for (int workers : {0, 1, 3}) {
    auto ds = std::make_shared<ProbeDataset>(40, /*fail_at=*/17);
    DataLoader loader(ds, {.batch_size = 4, .num_workers = workers});
    int delivered = 0;
    EXPECT_TRUE(throws_error(
        [&] {
          for (Batch& b : loader) {
            EXPECT_EQ(b.target.to_vector<int64_t>()[0], 4 * delivered);
            ++delivered;
          }
        },
        {"probe: sample 17 is broken", "batch 4", "sample 17"}))
        << "workers=" << workers;
    EXPECT_EQ(delivered, 4) << "workers=" << workers;
    // The loader is usable again afterwards (a new pass starts fresh).
    int n = 0;
    EXPECT_THROW(
        for (Batch& b : loader) {
          (void)b;
          ++n;
        },
        Error);
    EXPECT_EQ(n, 4);
  }
}

TEST(DataLoader, PrefetchNeverRunsAheadOfTheBound) {
  const int workers = 2, prefetch = 2;
  const int64_t bs = 3, capacity = workers * prefetch;
  auto ds = std::make_shared<ProbeDataset>(90);
  DataLoader loader(ds, {.batch_size = bs, .num_workers = workers, .prefetch = prefetch});
  int64_t k = 0;
  int64_t max_ahead = 0;
  for (Batch& b : loader) {
    (void)b;
    // The caller holds batch k: batches k+1 .. k+capacity may exist, no later one.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the workers run ahead
    int64_t furthest_batch = ds->max_seen.load() / bs;
    EXPECT_LE(furthest_batch, k + capacity) << "at batch " << k;
    max_ahead = std::max(max_ahead, furthest_batch - k);
    ++k;
  }
  EXPECT_EQ(k, 30);
  EXPECT_GE(max_ahead, 1);  // the workers did prefetch
}

TEST(DataLoader, CustomCollate) {
  DataLoader loader(numbered(6), {.batch_size = 4, .collate = [](std::vector<Example>&& exs) {
                                    Batch b;
                                    b.data = full({1}, static_cast<double>(exs.size()));
                                    return b;
                                  }});
  std::vector<float> sizes;
  for (Batch& b : loader) {
    sizes.push_back(b.data.item<float>());
    EXPECT_FALSE(b.target.defined());
  }
  EXPECT_EQ(sizes, (std::vector<float>{4, 2}));
}

TEST(DataLoader, CollateChecksShapesAndCopiesNonContiguousExamples) {
  std::vector<Example> exs;
  exs.push_back({zeros({2, 3}), Tensor()});
  exs.push_back({zeros({3, 2}), Tensor()});
  EXPECT_TRUE(throws_error([&] { default_collate(std::move(exs)); },
                           {"collate", "[3, 2]", "[2, 3]"}));
  Tensor base = arange(6).reshape({2, 3}).to(kFloat32);
  Tensor stacked = collate_tensors({base.t(), base.t().contiguous()});
  EXPECT_EQ(stacked.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(stacked.to_vector<float>(),
            (std::vector<float>{0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5}));
}

TEST(DataLoader, RejectsBadOptions) {
  auto ds = numbered(4);
  EXPECT_TRUE(throws_error([&] { DataLoader(ds, {.batch_size = 0}); }, {"batch_size"}));
  EXPECT_TRUE(throws_error([&] { DataLoader(ds, {.num_workers = -1}); }, {"num_workers"}));
  EXPECT_TRUE(throws_error([&] { DataLoader(ds, {.prefetch = 0}); }, {"prefetch"}));
}

namespace {

// Yields n examples (data [1] = i, target = i); throws at `fail_at`.
class CountingStream : public IterableDataset {
 public:
  explicit CountingStream(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  std::optional<Example> next() override {
    if (i_ >= n_) return std::nullopt;
    if (i_ == fail_at_) throw Error("stream broke at " + std::to_string(i_));
    int64_t i = i_++;
    return Example{full({1}, static_cast<double>(i)), scalar_tensor(static_cast<double>(i), {.dtype = kInt64})};
  }
  void reset() override {
    i_ = 0;
    ++resets;
  }
  int resets = 0;

 private:
  int64_t n_, fail_at_, i_ = 0;
};

}  // namespace

TEST(DataLoader, IterableDatasetStreamsInOrder) {
  for (int workers : {0, 1, 4}) {
    auto stream = std::make_shared<CountingStream>(11);
    DataLoader loader(stream, {.batch_size = 4, .num_workers = workers, .transform = noisy()});
    std::vector<std::vector<int64_t>> want{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10}};
    std::vector<std::vector<float>> data;
    std::vector<std::vector<int64_t>> got;
    for (Batch& b : loader) {
      got.push_back(b.target.to_vector<int64_t>());
      data.push_back(b.data.to_vector<float>());
    }
    EXPECT_EQ(got, want) << "workers=" << workers;
    EXPECT_EQ(target_batches(loader), want) << "second pass restarts the stream";
    EXPECT_EQ(stream->resets, 2);
    // Same transform draws as the inline run.
    auto inline_stream = std::make_shared<CountingStream>(11);
    DataLoader ref(inline_stream, {.batch_size = 4, .transform = noisy()});
    size_t i = 0;
    for (Batch& b : ref) EXPECT_EQ(b.data.to_vector<float>(), data[i++]);
  }
}

TEST(DataLoader, IterableDatasetDropLastAndErrors) {
  auto stream = std::make_shared<CountingStream>(11);
  DataLoader loader(stream, {.batch_size = 4, .drop_last = true, .num_workers = 1});
  EXPECT_EQ(target_batches(loader).size(), 2u);
  EXPECT_TRUE(throws_error([&] { loader.num_batches(); }, {"IterableDataset"}));
  EXPECT_TRUE(throws_error([&] { DataLoader(stream, {.shuffle = true}); }, {"shuffle"}));
  for (int workers : {0, 1}) {
    DataLoader broken(std::make_shared<CountingStream>(11, 6), {.batch_size = 4, .num_workers = workers});
    int delivered = 0;
    EXPECT_TRUE(throws_error(
        [&] {
          for (Batch& b : broken) {
            (void)b;
            ++delivered;
          }
        },
        {"stream broke at 6"}));
    EXPECT_EQ(delivered, 1);
  }
}

TEST(DataLoader, WorkersRunOpsSingleThreadedWithoutChangingTheCaller) {
  const int before = get_num_threads();
  std::atomic<int> most{0};
  Transform probe = [&](Example ex, Generator&) {
    int n = get_num_threads();
    int prev = most.load();
    while (n > prev && !most.compare_exchange_weak(prev, n)) {
    }
    return ex;
  };
  DataLoader loader(numbered(16), {.batch_size = 4, .num_workers = 2, .transform = probe});
  for (Batch& b : loader) (void)b;
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(get_num_threads(), before);
}

TEST(DataLoader, ExceptionInTheLoopBodyStopsTheWorkers) {
  auto ds = std::make_shared<ProbeDataset>(10000, -1, 50);
  DataLoader loader(ds, {.batch_size = 4, .num_workers = 3});
  EXPECT_THROW(
      for (Batch& b : loader) {
        if (b.target.to_vector<int64_t>()[0] == 8) throw std::runtime_error("user code failed");
      },
      std::runtime_error);
  int64_t calls = ds->calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ds->calls.load(), calls);
}

TEST(Subset, RandomSplitIsDisjointCompleteAndSeeded) {
  auto ds = numbered(10);
  auto parts = random_split(ds, {7, 3}, 5);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->size(), 7);
  EXPECT_EQ(parts[1]->size(), 3);
  std::set<int64_t> all;
  for (auto& p : parts)
    for (int64_t i = 0; i < p->size(); ++i) all.insert(p->get(i).target.item<int64_t>());
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(random_split(ds, {7, 3}, 5)[1]->indices(), parts[1]->indices());
  EXPECT_NE(random_split(ds, {7, 3}, 6)[0]->indices(), parts[0]->indices());
  Subset s(ds, {4, 1});
  EXPECT_EQ(s.get(0).target.item<int64_t>(), 4);
  EXPECT_TRUE(throws_error([&] { random_split(ds, {5, 4}, 0); }, {"sum to 9", "10 samples"}));
  EXPECT_TRUE(throws_error([&] { Subset(ds, {10}); }, {"index 10", "size 10"}));
}

namespace {
// Forwards to another dataset; not a TensorDataset, so the loader takes the generic path.
class Forward : public Dataset {
 public:
  explicit Forward(std::shared_ptr<Dataset> d) : d_(std::move(d)) {}
  int64_t size() const override { return d_->size(); }
  Example get(int64_t i) const override { return d_->get(i); }

 private:
  std::shared_ptr<Dataset> d_;
};
}  // namespace

TEST(DataLoader, TensorDatasetFastPathMatchesTheGenericPath) {
  auto ds = std::make_shared<TensorDataset>(randn({300, 3, 32, 32}), randint(0, 10, {300}));
  for (int workers : {0, 2}) {
    DataLoader fast(ds, {.batch_size = 64, .shuffle = true, .seed = 2, .num_workers = workers});
    DataLoader slow(std::make_shared<Forward>(ds), {.batch_size = 64, .shuffle = true, .seed = 2});
    std::vector<Batch> a, b;
    for (Batch& x : fast) a.push_back(x);
    for (Batch& x : slow) b.push_back(x);
    ASSERT_EQ(a.size(), 5u);
    ASSERT_EQ(b.size(), 5u);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].data.shape(), b[i].data.shape());
      EXPECT_EQ(a[i].data.to_vector<float>(), b[i].data.to_vector<float>());
      EXPECT_EQ(a[i].target.to_vector<int64_t>(), b[i].target.to_vector<int64_t>());
    }
  }
}

namespace {
// Epoch e reads 4, 4, e, 1 (repeats allowed), or `bad` indices when asked.
class ScriptedSampler : public Sampler {
 public:
  explicit ScriptedSampler(std::vector<int64_t> bad = {}) : bad_(std::move(bad)) {}
  int64_t size() const override { return 4; }
  std::vector<int64_t> indices(int64_t epoch) const override {
    if (!bad_.empty()) return bad_;
    return {4, 4, epoch, 1};
  }

 private:
  std::vector<int64_t> bad_;
};
}  // namespace

TEST(DataLoader, SamplerPicksEachPassesIndicesWithAnyWorkerCount) {
  auto ds = numbered(6);
  for (int workers : {0, 2}) {
    DataLoader loader(ds, {.batch_size = 3, .sampler = std::make_shared<ScriptedSampler>(),
                           .num_workers = workers});
    EXPECT_EQ(loader.num_batches(), 2);
    EXPECT_EQ(target_batches(loader), (std::vector<std::vector<int64_t>>{{4, 4, 0}, {1}}));
    EXPECT_EQ(target_batches(loader), (std::vector<std::vector<int64_t>>{{4, 4, 1}, {1}}));
  }
  DataLoader dropping(ds, {.batch_size = 3, .sampler = std::make_shared<ScriptedSampler>(), .drop_last = true});
  EXPECT_EQ(target_batches(dropping), (std::vector<std::vector<int64_t>>{{4, 4, 0}}));
}

TEST(DataLoader, SamplerErrors) {
  auto ds = numbered(6);
  EXPECT_TRUE(throws_error([&] { DataLoader(ds, {.shuffle = true, .sampler = std::make_shared<ScriptedSampler>()}); },
                           {"sampler", "shuffle"}));
  DataLoader out_of_range(ds, {.sampler = std::make_shared<ScriptedSampler>(std::vector<int64_t>{0, 1, 2, 6})});
  EXPECT_TRUE(throws_error([&] { target_batches(out_of_range); }, {"index 6"}));
  DataLoader short_pass(ds, {.sampler = std::make_shared<ScriptedSampler>(std::vector<int64_t>{0})});
  EXPECT_TRUE(throws_error([&] { target_batches(short_pass); }, {"1 indices", "size() is 4"}));
}
