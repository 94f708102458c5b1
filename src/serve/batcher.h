// Dynamic batching: concurrent requests for one model version are concatenated along dim 0,
// run once, and the outputs split back (TF Serving's BasicBatchScheduler, one queue per version).
//
//   Batcher b(options, &metrics);
//   b.submit(model, version, servable, inputs, deadline, done);   // returns at once
//
// A batch runs when it holds max_batch_size rows or when batch_timeout_micros passed since its
// first request arrived; padded with zero rows up to the next of allowed_batch_sizes. A request
// of more than max_batch_size rows is InvalidArgument; a full queue (max_enqueued_batches
// batches waiting) is Unavailable at once (HTTP 503), so a burst never queues without bound.
// Queues hold their version's servable only while they hold requests: an unloaded version's
// queue drains and lets it go.
#pragma once
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tandem/serve/server.h>

#include "api.h"
#include "metrics.h"

namespace tandem::serve {

class Batcher {
 public:
  Batcher(BatchingOptions options, Metrics* metrics);
  ~Batcher();  // runs what is queued, then joins the threads
  void submit(const std::string& model, int64_t version, std::shared_ptr<const Servable> servable,
              std::map<std::string, Tensor> inputs, Clock::time_point deadline, InferDone& done);  // done is taken only when queued

 private:
  struct Task {
    std::map<std::string, Tensor> inputs;
    int64_t rows = 0;
    Clock::time_point deadline, enqueued;
    InferDone done;
  };
  struct Queue {
    std::string model;
    int64_t version = 0;
    std::shared_ptr<const Servable> servable;
    std::deque<Task> tasks;
    int64_t rows = 0;
  };
  void loop();
  void run_batch(Queue& q, std::vector<Task> tasks);

  BatchingOptions options_;
  Metrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<const Servable*, Queue> queues_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tandem::serve
