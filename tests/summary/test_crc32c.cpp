// CRC32C against published check values and an independent bitwise implementation.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tandem/summary/crc32c.h"

namespace tandem::summary {
namespace {

// Bit-at-a-time CRC32C straight from the definition (reflected polynomial 0x82F63B78).
uint32_t crc32c_bitwise(const unsigned char* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

TEST(Crc32c, CheckValueOf123456789) { EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u); }

TEST(Crc32c, Rfc3720TestVectors) {
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<unsigned char>(i), dec[i] = 31 - i;
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(dec.data(), 32), 0x113FDB5Cu);
}

TEST(Crc32c, EmptyInputIsZero) { EXPECT_EQ(crc32c("", 0), 0u); }

TEST(Crc32c, MatchesBitwiseOnRandomBuffersAtEveryAlignmentAndLength) {
  std::mt19937 rng(7);
  std::vector<unsigned char> buf(300);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  for (size_t off = 0; off < 9; ++off)
    for (size_t n = 0; n + off <= buf.size(); n += 7)
      ASSERT_EQ(crc32c(buf.data() + off, n), crc32c_bitwise(buf.data() + off, n))
          << "offset " << off << " length " << n;
}

TEST(Crc32c, ContinuesAcrossChunks) {
  std::string s = "The quick brown fox jumps over the lazy dog";
  for (size_t cut = 0; cut <= s.size(); ++cut)
    EXPECT_EQ(crc32c(s.data() + cut, s.size() - cut, crc32c(s.data(), cut)),
              crc32c(s.data(), s.size()));
}

TEST(Crc32c, MaskIsTFRecordsRotationPlusConstant) {
  uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(mask_crc(c), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  for (uint32_t v : {0u, 1u, 0xFFFFFFFFu, 0xE3069283u, 0x12345678u}) EXPECT_EQ(unmask_crc(mask_crc(v)), v);
  EXPECT_EQ(masked_crc32c("123456789", 9), mask_crc(c));
}

}  // namespace
}  // namespace tandem::summary
