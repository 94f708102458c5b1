#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {
const DType kAll[] = {kBool,    kUInt8,   kInt8,     kInt16,   kUInt16,  kInt32,
                      kInt64,   kFloat16, kBFloat16, kFloat32, kFloat64};
}

TEST(DType, PromotionMatchesTorchPromoteTypes) {
  // Rows/columns in kAll order, as indices into kAll: torch.promote_types (PyTorch 1.13);
  // for uint16, which PyTorch lacks, numpy.promote_types (tests/reference/gen_int16.py).
  std::vector<int64_t> expected = load_npy("int16/promote.npy").to_vector<int64_t>();
  ASSERT_EQ(expected.size(), 11u * 11u);
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j)
      EXPECT_EQ(dtype_name(promote_types(kAll[i], kAll[j])), dtype_name(kAll[expected[i * 11 + j]]))
          << dtype_name(kAll[i]) << " x " << dtype_name(kAll[j]);
}

TEST(DType, NamesRoundTripAndUnknownNameIsAnError) {
  for (DType t : kAll) EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  EXPECT_TRUE(throws_error([] { dtype_from_name("float17"); }, {"float17", "float32"}));
}

TEST(DType, HalfAndBFloat16ConversionMatchTorchBits) {
  // torch.tensor([...], dtype=torch.float32).half().view(torch.int16) / .bfloat16()
  const float in[] = {0.1f, 1.0f / 3.0f, 65504.f, 70000.f, 1e-7f, -2.5f, 6e-8f};
  const int16_t half_bits[] = {11878, 13653, 31743, 31744, 2, -16128, 1};
  const int16_t bf16_bits[] = {15821, 16043, 18304, 18313, 13271, -16352, 13185};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(static_cast<int16_t>(Half(in[i]).bits), half_bits[i]) << in[i];
    EXPECT_EQ(static_cast<int16_t>(BFloat16(in[i]).bits), bf16_bits[i]) << in[i];
  }
  EXPECT_FLOAT_EQ(static_cast<float>(Half(0.1f)), 0.0999755859375f);
  EXPECT_FLOAT_EQ(static_cast<float>(Half(6e-8f)), 5.960464477539063e-08f);
  EXPECT_TRUE(std::isinf(static_cast<float>(Half(70000.f))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(NAN))));
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(NAN))));
}

TEST(DType, TensorConversionBetweenAllTypes) {
  Tensor x = tensor({-2.0, 0.0, 1.5, 3.0});
  for (DType t : kAll) {
    Tensor y = x.to(t);
    EXPECT_EQ(y.dtype(), t);
    std::vector<double> v = y.to_vector<double>();
    if (t == kBool) {
      EXPECT_EQ(v, (std::vector<double>{1, 0, 1, 1}));
    } else if (t == kUInt8 || t == kUInt16) {
      EXPECT_EQ(v[1], 0.0);
      EXPECT_EQ(v[3], 3.0);
    } else if (is_floating(t)) {
      EXPECT_EQ(v, (std::vector<double>{-2.0, 0.0, 1.5, 3.0})) << dtype_name(t);
    } else {
      EXPECT_EQ(v, (std::vector<double>{-2.0, 0.0, 1.0, 3.0})) << dtype_name(t);
    }
  }
}

TEST(DType, ResultTypeFollowsTorchCategories) {
  auto meta = [](DType t, Shape s, bool wrapped = false) {
    TensorMeta m;
    m.dtype = t;
    m.shape = std::move(s);
    m.is_wrapped_number = wrapped;
    return m;
  };
  // torch: int32 tensor + float64 0-dim -> float64; float32 tensor + float64 0-dim -> float32
  EXPECT_EQ(result_type({meta(kInt32, {2}), meta(kFloat64, {})}), kFloat64);
  EXPECT_EQ(result_type({meta(kFloat32, {2}), meta(kFloat64, {})}), kFloat32);
  // int tensor + 2.5 -> float32 (default float dtype); float16 tensor + 2.5 -> float16
  EXPECT_EQ(result_type({meta(kInt64, {2}), meta(kFloat64, {}, true)}), kFloat32);
  EXPECT_EQ(result_type({meta(kFloat16, {2}), meta(kFloat64, {}, true)}), kFloat16);
  // uint8 tensor + 300 (an int) -> uint8; bool tensor + 1 -> int64
  EXPECT_EQ(result_type({meta(kUInt8, {2}), meta(kInt64, {}, true)}), kUInt8);
  EXPECT_EQ(result_type({meta(kBool, {2}), meta(kInt64, {}, true)}), kInt64);
  // two dimensioned tensors promote normally
  EXPECT_EQ(result_type({meta(kInt32, {2}), meta(kInt64, {2})}), kInt64);
}
