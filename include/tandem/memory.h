// The CPU caching allocator's statistics and controls, as torch.cuda.memory_stats /
// torch.cuda.empty_cache give them for CUDA.
//
//   auto s = tandem::memory_stats();
//   fmt::print("{} MB in tensors, {} MB held, peak {} MB\n", s.allocated_bytes >> 20,
//              s.reserved_bytes >> 20, s.peak_allocated_bytes >> 20);
//   tandem::empty_cache();                       // hand every cached block back to the OS
//   tandem::set_cache_limit(size_t{256} << 20);  // keep at most 256 MB of freed blocks
//
// Tensor data comes from size classes (64-byte steps up to 1 KiB, then four classes per power
// of two); a freed block is kept for reuse (the "cache") until the cap is reached, then given
// back. Byte counts are of whole blocks (the class size), like PyTorch's.
// NOTE: the counters are process-wide and updated with relaxed atomics: exact once threads
// are quiet, approximate while other threads allocate.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tandem {

struct MemoryStats {
  int64_t allocated_bytes = 0;       // blocks now held by tensors
  int64_t reserved_bytes = 0;        // allocated + cached: what the allocator holds from the OS
  int64_t cached_bytes = 0;          // freed blocks kept for reuse
  int64_t peak_allocated_bytes = 0;  // since start or reset_peak_memory_stats()
  int64_t peak_reserved_bytes = 0;
  int64_t num_allocs = 0;            // blocks handed out
  int64_t num_frees = 0;
  int64_t cache_hits = 0;            // handed out from the cache
  int64_t os_allocs = 0;             // taken from the OS (aligned_alloc)
  int64_t os_frees = 0;              // given back to the OS
  int64_t cache_limit_bytes = 0;     // the cap on cached bytes
};

MemoryStats memory_stats();
// Peaks restart from the current values.
void reset_peak_memory_stats();
// Gives every cached block (of all threads' shared cache) back to the OS and asks malloc to
// return free pages (malloc_trim). Tensors alive keep their memory.
void empty_cache();
// Caps the bytes kept in the cache; frees beyond it go to the OS. Lowering the cap releases
// the excess at once. The default is 4 GiB, or TANDEM_CACHE_LIMIT_MB from the environment.
void set_cache_limit(size_t bytes);
size_t cache_limit();

}  // namespace tandem
