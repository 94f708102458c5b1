// int16 and uint16: promotion, arithmetic, reductions, casts and indexing against
// tests/reference/gen_int16.py (PyTorch 1.13 for int16; NumPy for uint16, which PyTorch lacks).
#include <filesystem>

#include "tandem/io/npy.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

Tensor int16_ref(const std::string& name) { return load_npy("int16/" + name + ".npy"); }

// Same dtype, shape and values (integers compare exactly, through int64).
::testing::AssertionResult same(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(actual.dtype()) << ", expected "
                                         << dtype_name(expected.dtype());
  if (actual.shape() != expected.shape()) return ::testing::AssertionFailure() << "shape differs";
  if (is_floating(expected.dtype())) return all_close(actual, expected, 0.0, 0.0);
  std::vector<int64_t> a = actual.to_vector<int64_t>(), e = expected.to_vector<int64_t>();
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != e[i]) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << e[i];
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(Int16, ReferenceFilesLoadAsInt16AndUInt16) {
  EXPECT_EQ(int16_ref("a").dtype(), kInt16);
  EXPECT_EQ(int16_ref("ua").dtype(), kUInt16);
  EXPECT_EQ(int16_ref("a").to_vector<int64_t>()[0], -32768);
  EXPECT_EQ(int16_ref("ua").to_vector<int64_t>()[0], 65535);
}

TEST(Int16, ArithmeticWrapsAsPyTorch) {
  Tensor a = int16_ref("a"), b = int16_ref("b");
  EXPECT_TRUE(same(a + b, int16_ref("add")));
  EXPECT_TRUE(same(a - b, int16_ref("sub")));
  EXPECT_TRUE(same(a * b, int16_ref("mul")));
  EXPECT_TRUE(same(maximum(a, b), int16_ref("maximum")));
  EXPECT_TRUE(same(minimum(a, b), int16_ref("minimum")));
  EXPECT_TRUE(same(neg(a), int16_ref("neg")));
  EXPECT_TRUE(same(abs(a), int16_ref("abs")));
  EXPECT_TRUE(same(lt(a, b), int16_ref("lt")));
  EXPECT_TRUE(same(eq(a, b), int16_ref("eq")));
  // Non-contiguous operands take the strided loops.
  EXPECT_TRUE(same(a.t() + b.t(), int16_ref("add").t().contiguous()));
}

TEST(Int16, MixedDtypesPromoteAsPyTorch) {
  Tensor a = int16_ref("a");
  for (const char* n : {"u8", "i8", "i32", "f32"}) EXPECT_TRUE(same(a + int16_ref(n), int16_ref(std::string("add_") + n))) << n;
  EXPECT_TRUE(same(int16_ref("u8") + int16_ref("i8"), int16_ref("u8_plus_i8")));
}

TEST(Int16, ReductionsMatchPyTorch) {
  Tensor a = int16_ref("a");
  EXPECT_TRUE(same(sum(a), int16_ref("sum_all")));
  EXPECT_TRUE(same(sum(a, {1}), int16_ref("sum_dim1")));
  EXPECT_TRUE(same(amax(a, {0}), int16_ref("amax_dim0")));
  EXPECT_TRUE(same(amin(a, {1}), int16_ref("amin_dim1")));
  EXPECT_TRUE(same(argmax(a, 1), int16_ref("argmax_dim1")));
  EXPECT_TRUE(same(cumsum(a, 1), int16_ref("cumsum_dim1")));
  EXPECT_TRUE(same(sort(a, 1).first, int16_ref("sort_dim1")));
}

TEST(Int16, CastsToAndFromEveryDtypeMatchPyTorch) {
  Tensor a = int16_ref("a");
  for (const char* n : {"uint8", "int8", "int32", "int64", "float16", "float32", "float64", "bool"})
    EXPECT_TRUE(same(a.to(dtype_from_name(n)), int16_ref(std::string("cast_") + n))) << n;
  EXPECT_TRUE(same(int16_ref("f_in").to(kInt16), int16_ref("from_f32")));
  EXPECT_TRUE(same(int16_ref("l_in").to(kInt16), int16_ref("from_i64")));
  // Through bfloat16 and back: every int16 of at most 8 significant bits survives.
  Tensor small = tensor({-32768.0, -256.0, -3.0, 0.0, 255.0, 32512.0}).to(kInt16);
  EXPECT_TRUE(same(small.to(kBFloat16).to(kInt16), small));
  EXPECT_TRUE(same(small.to(kUInt16).to(kInt16), small));
}

TEST(Int16, IndexingGatherScatterCatMatchPyTorch) {
  Tensor a = int16_ref("a"), b = int16_ref("b");
  EXPECT_TRUE(same(index_select(a, 1, int16_ref("idx")), int16_ref("index_select")));
  EXPECT_TRUE(same(gather(a, 1, int16_ref("gidx")), int16_ref("gather")));
  EXPECT_TRUE(same(cat({a, b}, 0), int16_ref("cat0")));
  EXPECT_TRUE(same(where(gt(a, b), a, b), int16_ref("where")));
  EXPECT_TRUE(same(scatter_add(a, 0, int16_ref("sidx"), b.slice(0, 0, 3)), int16_ref("scatter_add")));
}

TEST(UInt16, ArithmeticReductionsAndCastsMatchNumPy) {
  Tensor ua = int16_ref("ua"), ub = int16_ref("ub");
  EXPECT_TRUE(same(ua + ub, int16_ref("u_add")));
  EXPECT_TRUE(same(ua - ub, int16_ref("u_sub")));
  EXPECT_TRUE(same(ua * ub, int16_ref("u_mul")));  // 65535 * 65535 wraps to 1
  EXPECT_TRUE(same(maximum(ua, ub), int16_ref("u_maximum")));
  EXPECT_TRUE(same(minimum(ua, ub), int16_ref("u_minimum")));
  EXPECT_TRUE(same(lt(ua, ub), int16_ref("u_lt")));
  EXPECT_TRUE(same(sum(ua, {1}), int16_ref("u_sum_dim1")));
  EXPECT_TRUE(same(amax(ua, {0}), int16_ref("u_amax_dim0")));
  EXPECT_TRUE(same(argmin(ua, 1), int16_ref("u_argmin_dim1")));
  EXPECT_TRUE(same(ua.to(kInt16), int16_ref("u_cast_int16")));
  EXPECT_TRUE(same(ua.to(kFloat32), int16_ref("u_cast_float32")));
  EXPECT_TRUE(same(ua.to(kUInt8), int16_ref("u_cast_uint8")));
  EXPECT_TRUE(same(int16_ref("l_in").to(kUInt16), int16_ref("u_from_i64")));
}

TEST(UInt16, MixedDtypesPromoteAsNumPy) {
  Tensor ua = int16_ref("ua");
  EXPECT_TRUE(same(ua + int16_ref("u8"), int16_ref("u_plus_u8")));
  EXPECT_TRUE(same(ua + int16_ref("a"), int16_ref("u_plus_i16")));
  EXPECT_TRUE(same(ua + int16_ref("i8"), int16_ref("u_plus_i8")));
}

TEST(Int16, NpyRoundTripKeepsDtypeAndValues) {
  const std::string dir = ::testing::TempDir();
  for (const char* n : {"a", "ua"}) {
    std::string path = dir + "/tandem_int16_" + n + ".npy";
    io::save_npy(path, int16_ref(n));
    EXPECT_TRUE(same(io::load_npy(path), int16_ref(n))) << n;
    std::filesystem::remove(path);
  }
}

TEST(Int16, FillValuesOutOfRangeAreErrors) {
  Tensor a = int16_ref("a");
  EXPECT_TRUE(throws_error([&] { masked_fill(a, gt(a, scalar_tensor(0.0, {.dtype = kInt16})), 40000.0); },
                           {"40000", "int16"}));
  Tensor ua = int16_ref("ua");
  EXPECT_TRUE(throws_error([&] { masked_fill(ua, gt(ua, scalar_tensor(0.0, {.dtype = kUInt16})), -1.0); },
                           {"-1", "uint16"}));
}
