#include "allocator.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#ifdef TANDEM_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace tandem::cpu_allocator {
namespace {

// A block of class `cls` becomes unaddressable when it enters a cache (poison) and only its
// first `nbytes` become addressable again when it leaves (the class's slack stays poisoned).
// NOTE: each block is (un)poisoned only by the thread that owns it at that moment.
#ifdef TANDEM_ASAN
void poison(void* p, size_t cls) { ASAN_POISON_MEMORY_REGION(p, cls); }
void unpoison(void* p, size_t nbytes, size_t cls) {
  ASAN_POISON_MEMORY_REGION(p, cls);
  ASAN_UNPOISON_MEMORY_REGION(p, nbytes);
}
#else
void poison(void*, size_t) {}
void unpoison(void*, size_t, size_t) {}
#endif

constexpr size_t kAlign = 64;
constexpr size_t kMaxCached = size_t{4} << 30;  // beyond this, frees go to the OS

// Size classes: 64-byte steps up to 1 KiB, then 4 classes per power of two
// (at most 25% slack).
size_t size_class(size_t n) {
  if (n <= 1024) return (n + kAlign - 1) / kAlign * kAlign + (n == 0 ? kAlign : 0);
  size_t p = size_t{1} << (63 - __builtin_clzll(n - 1));  // largest power of two < n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t cached = 0;
};
Cache& cache() {
  static Cache* c = new Cache();  // NOTE: leaked on purpose: tensors may die after static destructors
  return *c;
}

void* allocate_global(size_t cls) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, cls);
  if (p == nullptr) {
    empty_cache();
    p = std::aligned_alloc(kAlign, cls);
    if (p == nullptr) throw std::bad_alloc();
  }
  return p;
}

void deallocate_global(void* p, size_t cls) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + cls <= kMaxCached) {
      c.free[cls].push_back(p);
      c.cached += cls;
      return;
    }
  }
  unpoison(p, cls, cls);
  std::free(p);
}

// Blocks of up to 1 KiB (scalars, small shapes) come and go at every op: each
// thread keeps a few per size class, with no lock and no hashing. A block freed
// by another thread than the one that took it simply joins that thread's cache.
constexpr size_t kSmallClasses = 16;  // 64, 128, ..., 1024 bytes
constexpr int kPerClass = 32;
struct ThreadCache {
  void* blocks[kSmallClasses][kPerClass];
  int count[kSmallClasses];
  bool dead;  // the thread is exiting: its cache was handed back
};
// NOTE: trivially destructible, so it stays usable while later thread_local and
// static destructors still free tensors; the Flusher hands its blocks back.
thread_local ThreadCache t_cache;
struct Flusher {
  bool armed = false;
  ~Flusher() {
    for (size_t k = 0; k < kSmallClasses; ++k)
      for (int i = 0; i < t_cache.count[k]; ++i)
        deallocate_global(t_cache.blocks[k][i], (k + 1) * kAlign);
    std::fill(std::begin(t_cache.count), std::end(t_cache.count), 0);
    t_cache.dead = true;
  }
};
thread_local Flusher t_flusher;

}  // namespace

void* allocate(size_t nbytes) {
  size_t cls = size_class(nbytes);
  void* p = nullptr;
  if (cls <= kSmallClasses * kAlign && !t_cache.dead) {
    size_t k = cls / kAlign - 1;
    if (t_cache.count[k] > 0) p = t_cache.blocks[k][--t_cache.count[k]];
  }
  if (p == nullptr) p = allocate_global(cls);
  unpoison(p, nbytes, cls);
  return p;
}

void deallocate(void* p, size_t nbytes) {
  if (p == nullptr) return;
  size_t cls = size_class(nbytes);
  poison(p, cls);
  if (cls <= kSmallClasses * kAlign && !t_cache.dead) {
    size_t k = cls / kAlign - 1;
    if (t_cache.count[k] < kPerClass) {
      t_flusher.armed = true;  // first use constructs this thread's flusher
      t_cache.blocks[k][t_cache.count[k]++] = p;
      return;
    }
  }
  deallocate_global(p, cls);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [cls, blocks] : c.free)
    for (void* p : blocks) {
      unpoison(p, cls, cls);
      std::free(p);
    }
  c.free.clear();
  c.cached = 0;
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace tandem::cpu_allocator
