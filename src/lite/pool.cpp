#include "pool.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <vector>

#if !defined(__EMSCRIPTEN__)
#include <condition_variable>
#include <thread>
#endif

namespace tlite {

#if !defined(__EMSCRIPTEN__)
struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  const std::function<void(int64_t)>* fn = nullptr;
  int64_t tasks = 0;
  std::atomic<int64_t> next{0};
  int active = 0;        // workers still inside the current job
  uint64_t generation = 0;
  bool stop = false;
  std::exception_ptr error;

  // Takes tasks until none are left (the caller and every worker).
  void drain() {
    for (;;) {
      const int64_t t = next.fetch_add(1);
      if (t >= tasks) return;
      try {
        (*fn)(t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        if (!error) error = std::current_exception();
      }
    }
  }
  void worker() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu);
        wake.wait(lk, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      drain();
      std::lock_guard<std::mutex> lk(mu);
      if (--active == 0) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)), st_(new State) {
  for (int i = 1; i < threads_; ++i) st_->workers.emplace_back([s = st_.get()] { s->worker(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(st_->mu);
    st_->stop = true;
  }
  st_->wake.notify_all();
  for (auto& w : st_->workers) w.join();
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (threads_ == 1 || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  State& s = *st_;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    s.fn = &fn;
    s.tasks = tasks;
    s.next.store(0);
    s.error = nullptr;
    s.active = int(s.workers.size());
    ++s.generation;
  }
  s.wake.notify_all();
  s.drain();
  std::unique_lock<std::mutex> lk(s.mu);
  s.done.wait(lk, [&] { return s.active == 0; });
  s.fn = nullptr;
  if (s.error) {
    std::exception_ptr e = s.error;
    s.error = nullptr;
    std::rethrow_exception(e);
  }
}
#else
struct ThreadPool::State {};
ThreadPool::ThreadPool(int) : threads_(1) {}
ThreadPool::~ThreadPool() = default;
void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  for (int64_t t = 0; t < tasks; ++t) fn(t);
}
#endif

namespace {
thread_local ThreadPool* lite_pool_current = nullptr;
}  // namespace

ThreadPool* lite_current_pool() { return lite_pool_current; }
LitePoolScope::LitePoolScope(ThreadPool* p) : prev(lite_pool_current) { lite_pool_current = p; }
LitePoolScope::~LitePoolScope() { lite_pool_current = prev; }

int lite_num_threads() { return lite_pool_current ? lite_pool_current->threads() : 1; }

void lite_parallel_for(int64_t n, int64_t align, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  ThreadPool* p = lite_pool_current;
  const int64_t units = (n + align - 1) / align;  // aligned blocks
  int64_t chunks = p ? std::min<int64_t>(p->threads(), units) : 1;
  if (min_chunk > 0) chunks = std::min<int64_t>(chunks, std::max<int64_t>(1, n / min_chunk));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  p->run(chunks, [&](int64_t c) {
    const int64_t b = std::min(n, units * c / chunks * align), e = std::min(n, units * (c + 1) / chunks * align);
    LitePoolScope serial(nullptr);  // a kernel called inside a chunk runs on its thread alone
    if (b < e) fn(b, e);
  });
}

}  // namespace tlite
