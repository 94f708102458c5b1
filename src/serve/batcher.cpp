#include "batcher.h"

#include <fmt/format.h>
#include <tandem/ops.h>

namespace tandem::serve {

Batcher::Batcher(BatchingOptions options, Metrics* metrics) : options_(std::move(options)), metrics_(metrics) {
  for (int64_t i = 0; i < options_.num_batch_threads; ++i) threads_.emplace_back([this] { loop(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Batcher::submit(const std::string& model, int64_t version, std::shared_ptr<const Servable> servable,
                     std::map<std::string, Tensor> inputs, Clock::time_point deadline, InferDone& done) {
  int64_t rows = inputs.begin()->second.size(0);
  if (rows > options_.max_batch_size)
    throw StatusError(Code::InvalidArgument, fmt::format("Task size {} is larger than maximum input batch size {}", rows,
                                                         options_.max_batch_size));
  {
    std::lock_guard lock(mu_);
    TANDEM_CHECK(!stopping_, "serve: the batching queue is shut down");
    Queue& q = queues_[servable.get()];
    if (!q.servable) {
      q.model = model;
      q.version = version;
      q.servable = servable;
    }
    if (q.rows + rows > options_.max_enqueued_batches * options_.max_batch_size)
      throw StatusError(Code::Unavailable, "The batch scheduling queue to which this task was submitted is full");
    q.tasks.push_back({std::move(inputs), rows, deadline, Clock::now(), std::move(done)});
    q.rows += rows;
  }
  cv_.notify_one();
}

void Batcher::loop() {
  const auto timeout = std::chrono::microseconds(options_.batch_timeout_micros);
  std::unique_lock lock(mu_);
  while (true) {
    // A queue whose batch is full or whose oldest request waited long enough (or everything,
    // when stopping); else sleep until the earliest of those timeouts.
    auto now = Clock::now();
    auto wake = Clock::time_point::max();
    Queue* ready = nullptr;
    for (auto& [key, q] : queues_) {
      if (q.tasks.empty()) continue;
      auto due = q.tasks.front().enqueued + timeout;
      if (stopping_ || q.rows >= options_.max_batch_size || due <= now) {
        ready = &q;
        break;
      }
      wake = std::min(wake, due);
    }
    if (!ready) {
      if (stopping_) return;
      if (wake == Clock::time_point::max())
        cv_.wait(lock);
      else
        cv_.wait_until(lock, wake);
      continue;
    }
    // Take requests in arrival order while they fit and agree on every non-batch dim.
    std::vector<Task> batch;
    int64_t rows = 0;
    while (!ready->tasks.empty()) {
      Task& t = ready->tasks.front();
      if (rows + t.rows > options_.max_batch_size) break;
      if (!batch.empty()) {
        bool same = true;
        for (const auto& [name, x] : t.inputs) {
          const Tensor& y = batch.front().inputs.at(name);
          for (int64_t d = 1; same && d < x.dim(); ++d) same = x.size(d) == y.size(d);
        }
        if (!same) break;
      }
      rows += t.rows;
      batch.push_back(std::move(t));
      ready->tasks.pop_front();
    }
    ready->rows -= rows;
    Queue q{ready->model, ready->version, ready->servable, {}, 0};
    if (ready->tasks.empty()) queues_.erase(ready->servable.get());  // lets an unloaded version go
    lock.unlock();
    run_batch(q, std::move(batch));
    q.servable.reset();
    lock.lock();
  }
}

void Batcher::run_batch(Queue& q, std::vector<Task> tasks) {
  auto start = Clock::now();
  std::vector<Task> live;
  for (auto& t : tasks) {
    if (start > t.deadline) {
      t.done({}, std::make_exception_ptr(StatusError(Code::DeadlineExceeded, "the request's deadline passed in the batching queue")));
    } else {
      live.push_back(std::move(t));
    }
  }
  if (live.empty()) return;
  int64_t rows = 0;
  for (const auto& t : live) rows += t.rows;
  int64_t padded = rows;
  for (int64_t s : options_.allowed_batch_sizes)
    if (s >= rows) {
      padded = s;
      break;
    }
  std::vector<Tensor> ys;
  std::exception_ptr err;
  try {
    std::map<std::string, Tensor> inputs;
    if (live.size() == 1 && padded == rows) {
      inputs = live[0].inputs;
    } else {
      for (const auto& [name, x0] : live[0].inputs) {
        std::vector<Tensor> parts;
        for (const auto& t : live) parts.push_back(t.inputs.at(name));
        if (padded > rows) {
          Shape pad = x0.shape();
          pad[0] = padded - rows;
          parts.push_back(zeros(pad, {.dtype = x0.dtype()}));
        }
        inputs[name] = cat(parts, 0);
      }
    }
    auto t0 = Clock::now();
    ys = q.servable->run(inputs);
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (metrics_) {
      metrics_->record_execution(q.model, q.version, "predict", padded, us);
      metrics_->record_batch(q.model, rows, padded);
    }
    for (const auto& y : ys)
      TANDEM_CHECK(y.dim() > 0 && y.size(0) == padded, "serve: an output of the batched run has {} rows, not {}",
                   y.dim() ? y.size(0) : 0, padded);
  } catch (...) {
    err = std::current_exception();
  }
  int64_t offset = 0;
  for (auto& t : live) {
    if (err) {
      t.done({}, err);
      continue;
    }
    std::vector<Tensor> mine;
    for (const auto& y : ys) mine.push_back(y.narrow(0, offset, t.rows));
    offset += t.rows;
    t.done(std::move(mine), nullptr);
  }
}

}  // namespace tandem::serve
