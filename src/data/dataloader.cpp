// DataLoader: batch production (inline or by worker threads through an ordered ring of
// slots), default collate, per-epoch permutations and per-sample seeds.
#include "tandem/data/dataloader.h"

#include "tandem/data/batch_stream.h"
#include "tandem/generator_scope.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace tandem::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Turns whatever a worker threw into tandem::Error, keeping the message.
[[noreturn]] void rethrow_as_error(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& ex) {
    TANDEM_FAIL("DataLoader: {}", ex.what());
  } catch (...) {
    TANDEM_FAIL("DataLoader: a worker threw an exception that is not a std::exception");
  }
}

// Adds where it happened (batch, sample) in front of an error from get/transform/collate.
template <class F>
auto with_context(F&& f, int64_t batch, int64_t sample) {
  try {
    return f();
  } catch (const Error& e) {
    if (sample >= 0) TANDEM_FAIL("DataLoader: batch {}, sample {}: {}", batch, sample, e.what());
    TANDEM_FAIL("DataLoader: batch {}: {}", batch, e.what());
  } catch (const std::exception& e) {
    if (sample >= 0) TANDEM_FAIL("DataLoader: batch {}, sample {}: {}", batch, sample, e.what());
    TANDEM_FAIL("DataLoader: batch {}: {}", batch, e.what());
  }
}

}  // namespace

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(epoch));
  return splitmix64(h ^ static_cast<uint64_t>(index));
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  // Fisher-Yates with our own draws (std::shuffle's use of the engine is unspecified, and
  // the order must be the same on every standard library).
  uint64_t state = sample_seed(seed, epoch, -1);
  for (int64_t i = n - 1; i > 0; --i) {
    state = splitmix64(state);
    int64_t j = static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

// ---- collate

Tensor collate_tensors(const std::vector<Tensor>& tensors, const char* what) {
  TANDEM_CHECK(!tensors.empty(), "collate: no {} to stack", what);
  const Tensor& first = tensors[0];
  Shape shape = first.shape();
  DType dtype = first.dtype();
  for (size_t k = 1; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    TANDEM_CHECK(t.defined(), "collate: {} {} is undefined but {} 0 is not", what, k, what);
    TANDEM_CHECK(t.shape() == shape && t.dtype() == dtype,
                 "collate: {} {} has shape {} {} but {} 0 has {} {}; give every example the "
                 "same shape (e.g. a resize or crop transform) or pass a custom collate",
                 what, k, shape_str(t.shape()), t.dtype(), what, shape_str(shape), dtype);
  }
  Shape out_shape{static_cast<int64_t>(tensors.size())};
  out_shape.insert(out_shape.end(), shape.begin(), shape.end());
  Tensor out = empty(out_shape, {.dtype = dtype});
  const size_t row = first.nbytes();
  auto* dst = static_cast<char*>(out.data_ptr());
  for (size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    if (t.is_contiguous()) {
      if (row) std::memcpy(dst + k * row, t.data_ptr(), row);
    } else {
      Tensor slot = row_view(out, static_cast<int64_t>(k));
      slot.copy_(t.detach());
    }
  }
  return out;
}

Batch default_collate(std::vector<Example>&& examples) {
  TANDEM_CHECK(!examples.empty(), "default_collate: empty list of examples");
  std::vector<Tensor> data, targets;
  data.reserve(examples.size());
  bool has_target = examples[0].target.defined();
  for (size_t k = 0; k < examples.size(); ++k) {
    TANDEM_CHECK(examples[k].data.defined(), "default_collate: example {} has no data", k);
    TANDEM_CHECK(examples[k].target.defined() == has_target,
                 "default_collate: example {} {} a target but example 0 {}", k,
                 has_target ? "lacks" : "has", has_target ? "has one" : "does not");
    data.push_back(std::move(examples[k].data));
    if (has_target) targets.push_back(std::move(examples[k].target));
  }
  Batch b;
  b.data = collate_tensors(data, "example data");
  if (has_target) b.target = collate_tensors(targets, "example target");
  return b;
}

// ---- one pass

struct DataLoader::Run {
  virtual ~Run() = default;
  virtual std::optional<Batch> next() = 0;  // nullopt at the end of the pass
};

namespace {

// out[k] = t[idx[k]] for a contiguous t: one memcpy per row, the same bytes default_collate
// would produce from the row views.
Tensor gather_rows(const Tensor& t, const int64_t* idx, int64_t n) {
  Shape shape = t.shape();
  shape[0] = n;
  Tensor out = empty(shape, {.dtype = t.dtype()});
  const size_t row = t.size(0) ? t.nbytes() / static_cast<size_t>(t.size(0)) : 0;
  const auto* src = static_cast<const char*>(t.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  // NOTE: single-threaded on purpose: an OpenMP team for ~0.5 MB of copies costs more than it
  // saves, and far more when other processes keep the cores busy (measured 8 s/epoch on
  // Fashion-MNIST on a loaded 2-core machine, against 0.06 s for this loop).
  for (int64_t k = 0; k < n; ++k)
    if (row) std::memcpy(dst + k * row, src + idx[k] * row, row);
  return out;
}

// What a pass over a map-style dataset needs to build batch i, shared with the workers.
struct MapPlan {
  std::shared_ptr<Dataset> dataset;
  DataLoaderOptions options;
  int64_t epoch = 0;
  std::vector<int64_t> order;  // sample indices of this pass, in order
  int64_t num_batches = 0;

  // Set when the dataset is a TensorDataset and neither transform nor collate is given:
  // batches are then gathered straight from its rows (no per-sample Example).
  const TensorDataset* rows = nullptr;
  // Set when neither transform nor collate is given: the dataset may build whole batches.
  bool batched = false;

  Batch make(int64_t b, const std::atomic<bool>* stop) const {
    const int64_t bs = options.batch_size;
    const int64_t begin = b * bs;
    const int64_t end = std::min<int64_t>(begin + bs, static_cast<int64_t>(order.size()));
    if (rows) {
      Batch out;
      out.data = gather_rows(rows->data(), &order[begin], end - begin);
      if (rows->targets().defined()) out.target = gather_rows(rows->targets(), &order[begin], end - begin);
      return out;
    }
    if (batched) {
      std::optional<Batch> out = with_context(
          [&] { return dataset->get_batch(&order[begin], end - begin); }, b, -1);
      if (out) return std::move(*out);
    }
    std::vector<Example> examples;
    examples.reserve(static_cast<size_t>(end - begin));
    for (int64_t p = begin; p < end; ++p) {
      if (stop && stop->load(std::memory_order_relaxed)) return {};
      const int64_t idx = order[p];
      examples.push_back(with_context(
          [&] {
            // The sample's generator is also the thread's default generator (see
            // GeneratorScope): randn() in get or the transform is deterministic too.
            Generator gen(sample_seed(options.seed, epoch, idx));
            GeneratorScope scope(gen);
            Example ex = dataset->get(idx);
            if (options.transform) ex = options.transform(std::move(ex), gen);
            return ex;
          },
          b, idx));
    }
    return with_context(
        [&] {
          return options.collate ? options.collate(std::move(examples))
                                 : default_collate(std::move(examples));
        },
        b, -1);
  }
};

class InlineMapRun : public DataLoader::Run {
 public:
  explicit InlineMapRun(std::shared_ptr<const MapPlan> plan) : plan_(std::move(plan)) {}
  std::optional<Batch> next() override {
    if (next_ >= plan_->num_batches) return std::nullopt;
    return plan_->make(next_++, nullptr);
  }

 private:
  std::shared_ptr<const MapPlan> plan_;
  int64_t next_ = 0;
};

// Workers claim batch indices in increasing order; batch i goes to slot i % capacity. A
// worker may claim i only while i < consumed + capacity, which bounds the batches in flight.
class ThreadedMapRun : public DataLoader::Run {
 public:
  ThreadedMapRun(std::shared_ptr<const MapPlan> plan, int workers, int64_t capacity)
      : plan_(std::move(plan)), capacity_(capacity), slots_(static_cast<size_t>(capacity)) {
    threads_.reserve(static_cast<size_t>(workers));
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
  }

  ~ThreadedMapRun() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_work_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  std::optional<Batch> next() override {
    if (consumed_ >= plan_->num_batches) return std::nullopt;
    std::unique_lock<std::mutex> lk(mu_);
    Slot& slot = slots_[static_cast<size_t>(consumed_ % capacity_)];
    cv_ready_.wait(lk, [&] { return slot.ready; });
    Batch b = std::move(slot.batch);
    std::exception_ptr err = slot.error;
    slot = Slot{};
    ++consumed_;
    if (err) {
      stop_.store(true);  // the pass ends here: no more batches after a failure
      consumed_ = plan_->num_batches;
      lk.unlock();
      cv_work_.notify_all();
      rethrow_as_error(err);
    }
    lk.unlock();
    cv_work_.notify_all();
    return b;
  }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
    bool ready = false;
  };

  void work() {
    omp_set_num_threads(1);  // NOTE: per-thread setting; N workers x OpenMP teams would oversubscribe
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_work_.wait(lk, [&] {
        return stop_.load() || failed_ || claimed_ >= plan_->num_batches ||
               claimed_ < consumed_ + capacity_;
      });
      if (stop_.load() || failed_ || claimed_ >= plan_->num_batches) return;
      const int64_t i = claimed_++;
      lk.unlock();
      Slot result;
      try {
        result.batch = plan_->make(i, &stop_);
      } catch (...) {
        result.error = std::current_exception();
      }
      result.ready = true;
      lk.lock();
      if (result.error) failed_ = true;
      slots_[static_cast<size_t>(i % capacity_)] = std::move(result);
      cv_ready_.notify_all();
      if (failed_) {  // later batches would never be read
        cv_work_.notify_all();
        return;
      }
    }
  }

  std::shared_ptr<const MapPlan> plan_;
  const int64_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  std::vector<Slot> slots_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  bool failed_ = false;
  int64_t claimed_ = 0;   // guarded by mu_
  int64_t consumed_ = 0;  // guarded by mu_ (written only by the caller's thread)
};

// Reads a stream into batches; `sample_` counts examples for the per-sample seed.
struct StreamPlan {
  std::shared_ptr<IterableDataset> dataset;
  DataLoaderOptions options;
  int64_t epoch = 0;
  int64_t sample = 0;
  int64_t batch = 0;

  std::optional<Batch> make(const std::atomic<bool>* stop) {
    auto* batches = dynamic_cast<BatchStream*>(dataset.get());
    if (batches && !options.transform && !options.collate) {  // whole batches, no tensor per row
      if (stop && stop->load(std::memory_order_relaxed)) return std::nullopt;
      Batch b = with_context([&] { return batches->next_batch(options.batch_size); }, batch, -1);
      const int64_t n = b.data.defined() ? b.data.size(0) : 0;
      if (n == 0 || (options.drop_last && n < options.batch_size)) return std::nullopt;
      sample += n;
      ++batch;
      return b;
    }
    std::vector<Example> examples;
    examples.reserve(static_cast<size_t>(options.batch_size));
    while (static_cast<int64_t>(examples.size()) < options.batch_size) {
      if (stop && stop->load(std::memory_order_relaxed)) return std::nullopt;
      const int64_t idx = sample;
      std::optional<Example> ex = with_context(
          [&]() -> std::optional<Example> {
            Generator gen(sample_seed(options.seed, epoch, idx));
            GeneratorScope scope(gen);
            std::optional<Example> e = dataset->next();
            if (e && options.transform) e = options.transform(std::move(*e), gen);
            return e;
          },
          batch, idx);
      if (!ex) break;
      ++sample;
      examples.push_back(std::move(*ex));
    }
    if (examples.empty()) return std::nullopt;
    if (options.drop_last && static_cast<int64_t>(examples.size()) < options.batch_size)
      return std::nullopt;
    const int64_t b = batch++;
    return with_context(
        [&] {
          return options.collate ? options.collate(std::move(examples))
                                 : default_collate(std::move(examples));
        },
        b, -1);
  }
};

class InlineStreamRun : public DataLoader::Run {
 public:
  explicit InlineStreamRun(StreamPlan plan) : plan_(std::move(plan)) {}
  std::optional<Batch> next() override {
    if (done_) return std::nullopt;
    std::optional<Batch> b = plan_.make(nullptr);
    if (!b) done_ = true;
    return b;
  }

 private:
  StreamPlan plan_;
  bool done_ = false;
};

// One producer thread reads the stream ahead into a bounded FIFO.
class ThreadedStreamRun : public DataLoader::Run {
 public:
  ThreadedStreamRun(StreamPlan plan, int64_t capacity)
      : plan_(std::move(plan)), capacity_(capacity), thread_([this] { work(); }) {}

  ~ThreadedStreamRun() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    thread_.join();
  }

  std::optional<Batch> next() override {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !queue_.empty(); });
    Item item = std::move(queue_.front());
    queue_.pop_front();
    if (item.error || !item.batch) queue_.push_front(Item{});  // the end stays the end
    lk.unlock();
    cv_.notify_all();
    if (item.error) rethrow_as_error(item.error);
    return std::move(item.batch);
  }

 private:
  struct Item {
    std::optional<Batch> batch;  // nullopt (without error): end of the stream
    std::exception_ptr error;
  };

  void work() {
    omp_set_num_threads(1);  // per-thread, as in the map-style workers
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_.load() || static_cast<int64_t>(queue_.size()) < capacity_; });
        if (stop_.load()) return;
      }
      Item item;
      try {
        item.batch = plan_.make(&stop_);
      } catch (...) {
        item.error = std::current_exception();
      }
      const bool last = item.error || !item.batch;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_.load()) return;
        queue_.push_back(std::move(item));
      }
      cv_.notify_all();
      if (last) return;
    }
  }

  StreamPlan plan_;
  const int64_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts after everything it uses exists
};

void check_options(const DataLoaderOptions& o) {
  TANDEM_CHECK(o.batch_size >= 1, "DataLoader: batch_size must be >= 1, got {}", o.batch_size);
  TANDEM_CHECK(o.num_workers >= 0, "DataLoader: num_workers must be >= 0, got {}", o.num_workers);
  TANDEM_CHECK(o.prefetch >= 1, "DataLoader: prefetch must be >= 1, got {}", o.prefetch);
  TANDEM_CHECK(!o.sampler || !o.shuffle, "DataLoader: give a sampler or shuffle, not both (the "
               "sampler sets the order; shuffle inside it)");
}

}  // namespace

// ---- DataLoader

DataLoader::Iterator::Iterator(std::shared_ptr<Run> run) : run_(std::move(run)) { ++*this; }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  if (done_) return *this;
  current_ = Batch{};  // release the previous batch before waiting for the next
  std::optional<Batch> b;
  try {
    b = run_->next();
  } catch (...) {
    done_ = true;
    run_.reset();  // stop and join the workers before the exception leaves
    throw;
  }
  if (b) {
    current_ = std::move(*b);
  } else {
    done_ = true;
    run_.reset();
  }
  return *this;
}

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  TANDEM_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  check_options(options_);
}

DataLoader::DataLoader(std::shared_ptr<IterableDataset> dataset, DataLoaderOptions options)
    : iterable_(std::move(dataset)), options_(std::move(options)) {
  TANDEM_CHECK(iterable_ != nullptr, "DataLoader: the dataset is null");
  check_options(options_);
  TANDEM_CHECK(!options_.sampler, "DataLoader: a sampler picks indices of a Dataset; an "
               "IterableDataset is read in stream order (shard it instead)");
  TANDEM_CHECK(!options_.shuffle,
               "DataLoader: shuffle is not supported for an IterableDataset (its order is the "
               "stream's); shuffle inside the stream or use a Dataset");
}

int64_t DataLoader::num_samples() const {
  TANDEM_CHECK(dataset_ != nullptr,
               "DataLoader: an IterableDataset has no known length; count the batches instead");
  const int64_t n = options_.sampler ? options_.sampler->size() : dataset_->size();
  return options_.drop_last ? n / options_.batch_size * options_.batch_size : n;
}

int64_t DataLoader::num_batches() const {
  TANDEM_CHECK(dataset_ != nullptr,
               "DataLoader: an IterableDataset has no known length; count the batches instead");
  const int64_t n = options_.sampler ? options_.sampler->size() : dataset_->size();
  const int64_t bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t epoch = epoch_++;
  const int workers = options_.num_workers;
  const int64_t capacity = static_cast<int64_t>(std::max(workers, 1)) * options_.prefetch;
  if (iterable_) {
    iterable_->reset();
    StreamPlan plan{iterable_, options_, epoch};
    if (workers == 0) return Iterator(std::make_shared<InlineStreamRun>(std::move(plan)));
    return Iterator(std::make_shared<ThreadedStreamRun>(std::move(plan), capacity));
  }
  auto plan = std::make_shared<MapPlan>();
  plan->dataset = dataset_;
  plan->options = options_;
  plan->epoch = epoch;
  if (!options_.transform && !options_.collate) {
    plan->rows = dynamic_cast<const TensorDataset*>(dataset_.get());
    plan->batched = true;
  }
  const int64_t n = dataset_->size();
  TANDEM_CHECK(n >= 0, "DataLoader: dataset size is negative ({})", n);
  if (options_.sampler) {
    plan->order = options_.sampler->indices(epoch);
    TANDEM_CHECK(static_cast<int64_t>(plan->order.size()) == options_.sampler->size(),
                 "DataLoader: the sampler gave {} indices for epoch {}, its size() is {}",
                 plan->order.size(), epoch, options_.sampler->size());
    for (int64_t i : plan->order)
      TANDEM_CHECK(i >= 0 && i < n, "DataLoader: the sampler gave index {}, the dataset has {} "
                   "samples", i, n);
  } else if (options_.shuffle) {
    plan->order = epoch_permutation(n, options_.seed, epoch);
  } else {
    plan->order.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) plan->order[i] = i;
  }
  plan->num_batches = num_batches();
  if (options_.drop_last) plan->order.resize(static_cast<size_t>(num_samples()));
  if (workers == 0) return Iterator(std::make_shared<InlineMapRun>(std::move(plan)));
  const int threads = static_cast<int>(std::min<int64_t>(workers, std::max<int64_t>(plan->num_batches, 1)));
  return Iterator(std::make_shared<ThreadedMapRun>(std::move(plan), threads, capacity));
}

}  // namespace tandem::data
