// The caching allocator under AddressSanitizer: tensor data that went back to the cache, and
// the slack of a size class past a tensor's last byte, must be unaddressable, so ASan reports
// a use-after-free of tensor data although the block never went back to malloc.
// These tests exist only in sanitizer builds (build/asan): without ASan there is nothing to
// report a bad access with, and a release build has no poisoning to check.
#include "../../src/core/allocator.h"
#include "test_util.h"

#ifdef TANDEM_ASAN
#include <sanitizer/asan_interface.h>

using namespace tandem;

namespace {

// Reads through a pointer the compiler cannot prove dead.
float read_float(const float* p) { return *static_cast<const volatile float*>(p); }

}  // namespace

TEST(AllocatorAsan, FreedTensorDataIsPoisonedInTheCache) {
  for (int64_t n : {3, 250, 100000}) {  // thread cache, global cache, a large class
    const float* data = nullptr;
    {
      Tensor t = ones({n});
      data = t.data<float>();
      EXPECT_EQ(__asan_address_is_poisoned(data), 0);
      EXPECT_EQ(__asan_address_is_poisoned(data + n - 1), 0);
    }
    EXPECT_NE(__asan_address_is_poisoned(data), 0) << n;
    EXPECT_NE(__asan_address_is_poisoned(data + n - 1), 0) << n;
    // The next tensor of that size reuses the block: addressable again, exactly its bytes.
    Tensor u = zeros({n});
    EXPECT_EQ(__asan_address_is_poisoned(u.data<float>() + n - 1), 0);
    EXPECT_EQ(u.sum().item<float>(), 0.f);
  }
}

TEST(AllocatorAsan, SlackPastTheLastElementIsPoisoned) {
  Tensor t = ones({5});  // 20 bytes in a 64-byte block
  EXPECT_NE(__asan_address_is_poisoned(t.data<float>() + 5), 0);
  EXPECT_NE(__asan_address_is_poisoned(t.data<float>() + 15), 0);
}

TEST(AllocatorAsanDeathTest, UseAfterFreeOfTensorDataIsReported) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_DEATH(
      {
        const float* data = nullptr;
        {
          Tensor t = ones({64});
          data = t.data<float>();
        }
        std::printf("%f\n", read_float(data + 7));
      },
      "use-after-poison");
}

TEST(AllocatorAsanDeathTest, ReadPastTheEndOfTensorDataIsReported) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_DEATH(
      {
        Tensor t = ones({5});
        std::printf("%f\n", read_float(t.data<float>() + 6));
      },
      "use-after-poison");
}

#endif  // TANDEM_ASAN
