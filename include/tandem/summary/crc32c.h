// CRC32C (Castagnoli), as TFRecord framing uses it to guard each record of an event file.
//
//   uint32_t c = summary::crc32c("123456789", 9);     // 0xE3069283
//   uint32_t m = summary::masked_crc32c(data, n);       // what the file stores
#pragma once
#include <cstddef>
#include <cstdint>

namespace tandem::summary {

// CRC32C of `n` bytes, continuing from `crc` (0 for a fresh checksum).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// TFRecord's masking: a CRC stored next to the data it covers is rotated and offset so
// that a CRC of bytes that themselves contain CRCs does not degenerate.
inline uint32_t mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t unmask_crc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}
inline uint32_t masked_crc32c(const void* data, size_t n) { return mask_crc(crc32c(data, n)); }

}  // namespace tandem::summary
