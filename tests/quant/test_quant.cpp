// The quantization ops against NumPy references written from ONNX's definitions
// (tests/data/quant/gen_quant_refs.py): rounding ties to even, saturation, per-axis scales
// and zero points, integer matmul and convolution.
#include <gtest/gtest.h>

#include "tandem/quant.h"
#include "test_util.h"

using namespace tandem;
using tandem::testing::load_npy;

namespace {

Tensor ref(const std::string& name) { return load_npy("quant/" + name + ".npy"); }

// Same dtype, shape and every value.
::testing::AssertionResult same(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << " != " << dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " != " << shape_str(want.shape());
  auto g = got.contiguous().to_vector<double>(), w = want.contiguous().to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] != w[i]) return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << " != " << w[i];
  return ::testing::AssertionSuccess();
}

TEST(QuantizeLinear, PerTensorUint8RoundsTiesToEvenAndSaturates) {
  Tensor x = ref("q_u8_x");
  Tensor y = quantize_linear(x, full({}, 0.5), full({}, 128, {.dtype = kUInt8}));
  EXPECT_TRUE(same(y, ref("q_u8_y")));
  // 0.25 / 0.5 = 0.5 -> 0, 0.75 -> 2 (1.5 -> 2), -0.25 -> -0 : ties go to the even neighbour.
  auto v = y.to_vector<int64_t>();
  EXPECT_EQ(v[0], 128);
  EXPECT_EQ(v[1], 130);
  EXPECT_EQ(v[10], 255);  // 1000 saturates
  EXPECT_EQ(v[11], 0);    // -1000 saturates
}

TEST(QuantizeLinear, PerTensorInt8WithNegativeZeroPoint) {
  EXPECT_TRUE(same(quantize_linear(ref("q_u8_x"), full({}, 0.5), full({}, -3, {.dtype = kInt8})), ref("q_s8_y")));
}

TEST(QuantizeLinear, PerAxisInt8AndBack) {
  Tensor q = quantize_linear(ref("qa_x"), ref("qa_scale"), ref("qa_zp"), 1);
  EXPECT_TRUE(same(q, ref("qa_y")));
  EXPECT_TRUE(same(dequantize_linear(q, ref("qa_scale"), ref("qa_zp"), 1), ref("qa_deq")));
}

TEST(QuantizeLinear, PerAxisUint8OnDimZero) {
  EXPECT_TRUE(same(quantize_linear(ref("qw_x"), ref("qw_scale"), ref("qw_zp"), 0), ref("qw_y")));
}

TEST(QuantizeLinear, WithoutZeroPointIsUint8AroundZero) {
  Tensor y = quantize_linear(tensor({-1.0f, 0.4f, 1.6f}), full({}, 1.0));
  EXPECT_EQ(y.dtype(), kUInt8);
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 2}));
}

TEST(QuantizeLinear, BadArgumentsAreErrors) {
  Tensor x = randn({2, 3});
  EXPECT_TRUE(tandem::testing::throws_error([&] { quantize_linear(x, full({4}, 0.1), Tensor(), 1); }, {"4 scales", "dim 1"}));
  EXPECT_TRUE(tandem::testing::throws_error([&] { quantize_linear(x, full({3}, 0.1), full({2}, 0, {.dtype = kInt8}), 1); },
                                            {"zero point shape"}));
  EXPECT_TRUE(tandem::testing::throws_error([&] { dequantize_linear(x, full({}, 0.1)); }, {"uint8, int8 or int32"}));
}

TEST(MatmulInteger, PerColumnZeroPointsAndBroadcastBatch) {
  Tensor y = matmul_integer(ref("mm_a"), ref("mm_b"), ref("mm_a_zp"), ref("mm_b_zp"));
  EXPECT_TRUE(same(y, ref("mm_y")));
}

TEST(ConvInteger, GroupsStridesDilationAsymmetricPadsPerChannelZeroPoints) {
  Tensor y = conv_integer(ref("conv_x"), ref("conv_w"), ref("conv_x_zp"), ref("conv_w_zp"), {2, 1}, {1, 2, 0, 1}, {1, 2}, 2);
  EXPECT_TRUE(same(y, ref("conv_y")));
}

TEST(Requantize, PerChannelTiesAndSaturation) {
  Tensor y = requantize(ref("rq_acc"), ref("rq_mult"), full({}, -2, {.dtype = kInt8}), kInt8, 1);
  EXPECT_TRUE(same(y, ref("rq_y")));
}

}  // namespace
