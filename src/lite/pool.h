// tandem-lite's thread pool: worker threads owned by a context, used by the kernels of that
// context's runs. A kernel splits its work into chunks whose every output element is computed
// by the same arithmetic as in one thread, so results are bit-identical for any thread count.
// Under emscripten (the single-threaded WebAssembly build) there are no workers: everything
// runs on the calling thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

namespace tlite {

class ThreadPool {
 public:
  // `threads` >= 1 threads in all: the caller's and threads - 1 workers (started here).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  int threads() const { return threads_; }
  // fn(t) for t < tasks, spread over the threads; returns when all are done. The first
  // exception a task throws is rethrown here (after the others finish).
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  struct State;
  int threads_ = 1;
  std::unique_ptr<State> st_;
};

// The pool the kernels on this thread use (null: one thread); set by Context::run.
ThreadPool* lite_current_pool();
struct LitePoolScope {
  explicit LitePoolScope(ThreadPool* p);
  ~LitePoolScope();
  ThreadPool* prev;
};

// Splits [0, n) into contiguous chunks whose boundaries are multiples of `align` (except n)
// and calls fn(begin, end) for each, on the current pool's threads; at most one chunk per
// thread, none smaller than `min_chunk` (work below that runs in one call).
void lite_parallel_for(int64_t n, int64_t align, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);
// The current pool's thread count (1 without one).
int lite_num_threads();

}  // namespace tlite
