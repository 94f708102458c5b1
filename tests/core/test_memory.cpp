// The caching allocator's statistics (tandem::memory_stats) and controls (empty_cache,
// set_cache_limit): counts follow the allocations, and memory given back really leaves the
// process (resident set size from /proc/self/statm).
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "../../src/core/allocator.h"
#include "tandem/memory.h"
#include "test_util.h"

using namespace tandem;

namespace {

int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

constexpr int64_t kMB = 1 << 20;

// Restores the cache cap a test changed.
struct CacheLimitGuard {
  size_t saved = cache_limit();
  ~CacheLimitGuard() { set_cache_limit(saved); }
};

}  // namespace

TEST(MemoryStats, CountAllocationsFreesAndCacheHits) {
  empty_cache();
  MemoryStats s0 = memory_stats();
  EXPECT_EQ(s0.cached_bytes, 0);
  {
    Tensor t = zeros({2 * kMB});  // 8 MB: a global size class, not the per-thread small blocks
    MemoryStats s1 = memory_stats();
    EXPECT_GE(s1.allocated_bytes - s0.allocated_bytes, 8 * kMB);
    EXPECT_EQ(s1.num_allocs - s0.num_allocs, 1);
    EXPECT_EQ(s1.os_allocs - s0.os_allocs, 1);
    EXPECT_EQ(s1.reserved_bytes, s1.allocated_bytes + s1.cached_bytes);
  }
  MemoryStats s2 = memory_stats();
  EXPECT_EQ(s2.allocated_bytes, s0.allocated_bytes);
  EXPECT_GE(s2.cached_bytes, 8 * kMB);  // kept for reuse
  EXPECT_EQ(s2.num_frees - s0.num_frees, 1);
  {
    Tensor t = empty({2 * kMB});  // the same class again: from the cache
    MemoryStats s3 = memory_stats();
    EXPECT_EQ(s3.cache_hits - s2.cache_hits, 1);
    EXPECT_EQ(s3.os_allocs, s2.os_allocs);
  }
}

TEST(MemoryStats, LargeMissTakesACachedBlockUpToHalfLarger) {
  empty_cache();
  { Tensor big = empty({kMB}); }  // a 4 MiB block, now cached
  MemoryStats s0 = memory_stats();
  EXPECT_GE(s0.cached_bytes, 4 * kMB);
  {
    Tensor t = full({3 * kMB / 4}, 2.0);  // 3 MiB: another class, within 1.5x of it
    MemoryStats s1 = memory_stats();
    EXPECT_EQ(s1.os_allocs, s0.os_allocs);
    EXPECT_EQ(s1.cache_hits - s0.cache_hits, 1);
    EXPECT_EQ(s1.allocated_bytes - s0.allocated_bytes, 4 * kMB);  // the whole block is counted
    EXPECT_EQ(s1.reserved_bytes, s1.allocated_bytes + s1.cached_bytes);
    const float* d = t.data<float>();  // the whole request is usable (ASan checks the bounds)
    EXPECT_EQ(std::count(d, d + 3 * kMB / 4, 2.0f), 3 * kMB / 4);
  }
  MemoryStats s2 = memory_stats();
  EXPECT_EQ(s2.allocated_bytes, s0.allocated_bytes);
  EXPECT_EQ(s2.cached_bytes, s0.cached_bytes);  // back as the 4 MiB block it is
  {
    Tensor t = empty({kMB});  // its own class again: a hit
    EXPECT_EQ(memory_stats().os_allocs, s2.os_allocs);
  }
  {
    Tensor t = empty({kMB / 2});  // 2 MiB: the 4 MiB block is too large to lend
    EXPECT_EQ(memory_stats().os_allocs, s2.os_allocs + 1);
  }
}

TEST(MemoryStats, PeakFollowsTheHighestPointAndResets) {
  reset_peak_memory_stats();
  int64_t base = memory_stats().allocated_bytes;
  EXPECT_EQ(memory_stats().peak_allocated_bytes, base);
  {
    Tensor a = zeros({4 * kMB});  // 16 MB
    Tensor b = zeros({4 * kMB});
  }
  MemoryStats s = memory_stats();
  EXPECT_GE(s.peak_allocated_bytes - base, 32 * kMB);
  EXPECT_EQ(s.allocated_bytes, base);
  reset_peak_memory_stats();
  EXPECT_EQ(memory_stats().peak_allocated_bytes, base);
}

TEST(MemoryStats, EmptyCacheGivesTheMemoryBackToTheOs) {
  empty_cache();
  int64_t before_alloc = rss_bytes();
  {
    Tensor t = ones({64 * kMB});  // 256 MB, every page written
    EXPECT_GE(rss_bytes() - before_alloc, 200 * kMB);
  }
  MemoryStats cached = memory_stats();
  EXPECT_GE(cached.cached_bytes, 256 * kMB);
  int64_t held = rss_bytes();
  empty_cache();
  MemoryStats after = memory_stats();
  EXPECT_EQ(after.cached_bytes, 0);
  EXPECT_GE(after.os_frees - cached.os_frees, 1);
#ifndef TANDEM_ASAN
  // ASan keeps freed memory in its quarantine, so the resident size only drops without it.
  EXPECT_LE(rss_bytes(), held - 200 * kMB) << "RSS before " << before_alloc << ", held " << held;
#endif
}

TEST(MemoryStats, CacheLimitCapsWhatIsKept) {
  CacheLimitGuard guard;
  empty_cache();
  { Tensor t = ones({4 * kMB}); }
  EXPECT_GE(memory_stats().cached_bytes, 16 * kMB);
  set_cache_limit(8 * kMB);  // lowering the cap releases the excess at once
  EXPECT_LE(memory_stats().cached_bytes, 8 * kMB);
  EXPECT_EQ(memory_stats().cache_limit_bytes, 8 * kMB);
  set_cache_limit(0);
  int64_t frees = memory_stats().os_frees;
  { Tensor t = ones({4 * kMB}); }
  EXPECT_EQ(memory_stats().os_frees - frees, 1);  // freed straight to the OS
  EXPECT_EQ(memory_stats().cached_bytes, 0);
}
