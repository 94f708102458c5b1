// Caching CPU allocator: freed blocks are kept in size buckets and reused, so a
// training loop that allocates the same shapes every step stops touching the OS.
#pragma once
#include <cstddef>

namespace tandem::cpu_allocator {

void* allocate(size_t nbytes);  // 64-byte aligned; nbytes may be 0
void deallocate(void* p, size_t nbytes);
void empty_cache();               // return cached blocks to the OS
size_t cached_bytes();

}  // namespace tandem::cpu_allocator
