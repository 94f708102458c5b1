// Caching CPU allocator: freed blocks are kept in size buckets and reused, so a
// training loop that allocates the same shapes every step stops touching the OS.
//
// Under AddressSanitizer a cached block is poisoned from its free until it is handed out
// again, and only the requested bytes of a handed-out block are addressable: a read of
// freed tensor data or past a tensor's end is reported ("use-after-poison") although the
// memory never went back to malloc.
#pragma once
#include <cstddef>

namespace tandem::cpu_allocator {

void* allocate(size_t nbytes);  // 64-byte aligned; nbytes may be 0
void deallocate(void* p, size_t nbytes);
void empty_cache();               // return cached blocks to the OS
size_t cached_bytes();

#if defined(__SANITIZE_ADDRESS__)
#define TANDEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TANDEM_ASAN 1
#endif
#endif

}  // namespace tandem::cpu_allocator
