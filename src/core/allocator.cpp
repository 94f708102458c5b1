#include "allocator.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tandem/memory.h"

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

// Counters for memory_stats(): relaxed atomics (one add on each path).
struct Counters {
  std::atomic<int64_t> allocated{0}, reserved{0}, peak_allocated{0}, peak_reserved{0};
  std::atomic<int64_t> allocs{0}, frees{0}, hits{0}, os_allocs{0}, os_frees{0};
};
Counters& counters() {
  static Counters* c = new Counters();  // NOTE: leaked on purpose, like the cache
  return *c;
}
void raise_peak(std::atomic<int64_t>& peak, int64_t v) {
  int64_t p = peak.load(std::memory_order_relaxed);
  while (v > p && !peak.compare_exchange_weak(p, v, std::memory_order_relaxed)) {
  }
}

size_t initial_cache_limit() {
  if (const char* e = std::getenv("TANDEM_CACHE_LIMIT_MB")) {
    char* end = nullptr;
    unsigned long long mb = std::strtoull(e, &end, 10);
    if (end != e && *end == '\0') return static_cast<size_t>(mb) << 20;
  }
  return size_t{4} << 30;  // beyond this, frees go to the OS
}
std::atomic<size_t>& max_cached() {
  static std::atomic<size_t> limit{initial_cache_limit()};
  return limit;
}

void* os_alloc(size_t cls) {
  void* p = std::aligned_alloc(kAlign, cls);
  if (p != nullptr) {
    Counters& k = counters();
    k.os_allocs.fetch_add(1, std::memory_order_relaxed);
    raise_peak(k.peak_reserved, k.reserved.fetch_add(static_cast<int64_t>(cls), std::memory_order_relaxed) +
                                    static_cast<int64_t>(cls));
  }
  return p;
}
void os_free(void* p, size_t cls) {
  Counters& k = counters();
  k.os_frees.fetch_add(1, std::memory_order_relaxed);
  k.reserved.fetch_sub(static_cast<int64_t>(cls), std::memory_order_relaxed);
  std::free(p);
}

// Size classes: 64-byte steps up to 1 KiB, then 4 classes per power of two
// (at most 25% slack).
size_t size_class(size_t n) {
  if (n <= 1024) return (n + kAlign - 1) / kAlign * kAlign + (n == 0 ? kAlign : 0);
  size_t p = size_t{1} << (63 - __builtin_clzll(n - 1));  // largest power of two < n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

// NOTE: a miss of a large class takes a cached block of up to 1.5x its size before asking
// the OS: the block is resident anyway, idle in the cache. Without it, a network whose layers
// all have different activation sizes (MobileNetV2 at batch 8) kept one idle block per size
// while allocating fresh ones: its cache outgrew its tensors. Such a block stays of its own
// (real) class: `lent` remembers it until it is freed, and every count uses the real class.
constexpr size_t kBestFitMin = size_t{1} << 20;

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  std::unordered_map<void*, size_t> lent;  // blocks handed out for a smaller class -> real class
  size_t cached = 0;
};
Cache& cache() {
  static Cache* c = new Cache();  // NOTE: leaked on purpose: tensors may die after static destructors
  return *c;
}

// A block for class `cls`; *real is the class of the block handed out (cls, or larger).
void* allocate_global(size_t cls, size_t* real) {
  Cache& c = cache();
  *real = cls;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free.find(cls);
    if (it == c.free.end() || it->second.empty()) {
      it = c.free.end();
      if (cls >= kBestFitMin) {  // the smallest cached class that fits, up to 1.5x
        for (auto j = c.free.begin(); j != c.free.end(); ++j)
          if (!j->second.empty() && j->first > cls && j->first <= cls + cls / 2 &&
              (it == c.free.end() || j->first < it->first))
            it = j;
      }
    }
    if (it != c.free.end()) {
      void* p = it->second.back();
      it->second.pop_back();
      *real = it->first;
      c.cached -= *real;
      if (*real != cls) c.lent[p] = *real;
      counters().hits.fetch_add(1, std::memory_order_relaxed);
      return p;
    }
  }
  void* p = os_alloc(cls);
  if (p == nullptr) {
    empty_cache();
    p = os_alloc(cls);
    if (p == nullptr) throw std::bad_alloc();
  }
  return p;
}

void deallocate_global(void* p, size_t cls) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + cls <= max_cached().load(std::memory_order_relaxed)) {
      c.free[cls].push_back(p);
      c.cached += cls;
      return;
    }
  }
  unpoison(p, cls, cls);
  os_free(p, cls);
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
    if (t_cache.count[k] > 0) {
      p = t_cache.blocks[k][--t_cache.count[k]];
      counters().hits.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (p == nullptr) p = allocate_global(cls, &cls);
  unpoison(p, nbytes, cls);
  Counters& k = counters();
  k.allocs.fetch_add(1, std::memory_order_relaxed);
  raise_peak(k.peak_allocated, k.allocated.fetch_add(static_cast<int64_t>(cls), std::memory_order_relaxed) +
                                   static_cast<int64_t>(cls));
  return p;
}

void deallocate(void* p, size_t nbytes) {
  if (p == nullptr) return;
  size_t cls = size_class(nbytes);
  if (cls >= kBestFitMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.lent.find(p);
    if (it != c.lent.end()) {
      cls = it->second;  // served from a larger class: it goes back as what it is
      c.lent.erase(it);
    }
  }
  poison(p, cls);
  Counters& counts = counters();
  counts.frees.fetch_add(1, std::memory_order_relaxed);
  counts.allocated.fetch_sub(static_cast<int64_t>(cls), std::memory_order_relaxed);
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
  // The calling thread's small blocks go back too; other threads' few small blocks stay
  // with them (taking them would need a lock on every small allocation).
  if (!t_cache.dead) {
    for (size_t k = 0; k < kSmallClasses; ++k)
      for (int i = 0; i < t_cache.count[k]; ++i)
        deallocate_global(t_cache.blocks[k][i], (k + 1) * kAlign);
    std::fill(std::begin(t_cache.count), std::end(t_cache.count), 0);
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [cls, blocks] : c.free)
    for (void* p : blocks) {
      unpoison(p, cls, cls);
      os_free(p, cls);
    }
  c.free.clear();
  c.cached = 0;
}

// Frees cached blocks, largest first, until at most `limit` bytes stay cached.
static void trim_cache(size_t limit) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::vector<size_t> classes;
  for (const auto& [cls, blocks] : c.free) classes.push_back(cls);
  std::sort(classes.rbegin(), classes.rend());
  for (size_t cls : classes) {
    auto& blocks = c.free[cls];
    while (c.cached > limit && !blocks.empty()) {
      void* p = blocks.back();
      blocks.pop_back();
      c.cached -= cls;
      unpoison(p, cls, cls);
      os_free(p, cls);
    }
  }
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace tandem::cpu_allocator

namespace tandem {

MemoryStats memory_stats() {
  auto& k = cpu_allocator::counters();
  auto get = [](const std::atomic<int64_t>& a) { return a.load(std::memory_order_relaxed); };
  MemoryStats s;
  s.allocated_bytes = get(k.allocated);
  s.reserved_bytes = get(k.reserved);
  s.cached_bytes = std::max<int64_t>(0, s.reserved_bytes - s.allocated_bytes);
  s.peak_allocated_bytes = get(k.peak_allocated);
  s.peak_reserved_bytes = get(k.peak_reserved);
  s.num_allocs = get(k.allocs);
  s.num_frees = get(k.frees);
  s.cache_hits = get(k.hits);
  s.os_allocs = get(k.os_allocs);
  s.os_frees = get(k.os_frees);
  s.cache_limit_bytes = static_cast<int64_t>(cache_limit());
  return s;
}

void reset_peak_memory_stats() {
  auto& k = cpu_allocator::counters();
  k.peak_allocated.store(k.allocated.load(std::memory_order_relaxed), std::memory_order_relaxed);
  k.peak_reserved.store(k.reserved.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void empty_cache() {
  cpu_allocator::empty_cache();
  malloc_trim(0);  // glibc keeps freed heap pages otherwise
}

void set_cache_limit(size_t bytes) {
  cpu_allocator::max_cached().store(bytes, std::memory_order_relaxed);
  cpu_allocator::trim_cache(bytes);
}

size_t cache_limit() { return cpu_allocator::max_cached().load(std::memory_order_relaxed); }

}  // namespace tandem
