// Type promotion of binary elementwise ops: result_type() and the dtypes the ops
// really produce, against PyTorch 1.13. Each expected dtype was checked with
// /usr/bin/python3 (torch 1.13); the comment gives the expression.
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

// An operand as PyTorch sees it: a dimensioned tensor, a 0-dim tensor, or a
// C++ number (a Python number in PyTorch: lowest priority).
enum class Kind { Dim, ZeroDim, Number };
struct Operand {
  Kind kind;
  DType dtype;
  Tensor make() const {
    switch (kind) {
      case Kind::Dim: return ones({2}, {.dtype = dtype});
      case Kind::ZeroDim: return ones({}, {.dtype = dtype});
      case Kind::Number:
        if (dtype == kFloat64) return wrap_scalar(1.0);
        if (dtype == kBool) return wrap_scalar(true);
        return wrap_scalar(int64_t{1});
    }
    return Tensor();
  }
};
Operand dim(DType t) { return {Kind::Dim, t}; }
Operand zero_dim(DType t) { return {Kind::ZeroDim, t}; }
Operand number_f() { return {Kind::Number, kFloat64}; }
Operand number_i() { return {Kind::Number, kInt64}; }
Operand number_b() { return {Kind::Number, kBool}; }

struct Case {
  const char* torch_expr;
  Operand a, b;
  DType expected;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"tensor([1, 2], int32) + 2.5", dim(kInt32), number_f(), kFloat32},
      {"tensor([1, 2]) + 2", dim(kInt64), number_i(), kInt64},
      {"tensor([1., 2]) + tensor(1., float64)", dim(kFloat32), zero_dim(kFloat64), kFloat32},
      {"tensor([1, 2], int32) + tensor(1., float64)", dim(kInt32), zero_dim(kFloat64), kFloat64},
      {"tensor([True]) + tensor([False])", dim(kBool), dim(kBool), kBool},
      {"tensor([True]) + 1", dim(kBool), number_i(), kInt64},
      {"tensor([True]) + 1.5", dim(kBool), number_f(), kFloat32},
      {"tensor([True]) + True", dim(kBool), number_b(), kBool},
      {"tensor([1], int8) + 1000", dim(kInt8), number_i(), kInt8},
      {"tensor([1], int32) + tensor(1, int64)", dim(kInt32), zero_dim(kInt64), kInt32},
      {"tensor(1, int32) + tensor(1, int64)", zero_dim(kInt32), zero_dim(kInt64), kInt64},
      {"tensor(1, int32) + 2.5", zero_dim(kInt32), number_f(), kFloat32},
      {"tensor(1., float64) + 2.5", zero_dim(kFloat64), number_f(), kFloat64},
      {"tensor([1.], float16) + 2.5", dim(kFloat16), number_f(), kFloat16},
      {"tensor([1.], float16) + tensor(2.5, float64)", dim(kFloat16), zero_dim(kFloat64), kFloat16},
      {"tensor([1.], float16) + tensor([2.5], bfloat16)", dim(kFloat16), dim(kBFloat16), kFloat32},
      {"tensor([1], uint8) + tensor(1, int64)", dim(kUInt8), zero_dim(kInt64), kUInt8},
      {"tensor([1]) + tensor(1., float16)", dim(kInt64), zero_dim(kFloat16), kFloat16},
      {"tensor(True) + tensor([1], uint8)", zero_dim(kBool), dim(kUInt8), kUInt8},
      {"tensor([1.], float64) + tensor([1.], float32)", dim(kFloat64), dim(kFloat32), kFloat64},
      {"tensor([1], uint8) + True", dim(kUInt8), number_b(), kUInt8},
      {"tensor(1, uint8) + tensor(1., float32)", zero_dim(kUInt8), zero_dim(kFloat32), kFloat32},
      {"tensor([1], int32) * tensor([1.], bfloat16)", dim(kInt32), dim(kBFloat16), kBFloat16},
      {"tensor([1.], bfloat16) * tensor(1., float32)", dim(kBFloat16), zero_dim(kFloat32), kBFloat16},
      {"tensor([1], int8) * tensor(1, int32)", dim(kInt8), zero_dim(kInt32), kInt8},
      {"tensor(1.5, float64) * tensor(1, int32)", zero_dim(kFloat64), zero_dim(kInt32), kFloat64},
      {"2.5 + tensor([1, 2], int32) (number first)", number_f(), dim(kInt32), kFloat32},
      {"torch.maximum(tensor([1], int32), tensor([1.], float16))", dim(kInt32), dim(kFloat16), kFloat16},
      {"tensor([1, 2], uint8) + tensor([1, 2], int8)", dim(kUInt8), dim(kInt8), kInt16},
      {"tensor(1, int8) * tensor(1, uint8)", zero_dim(kInt8), zero_dim(kUInt8), kInt16},
      {"tensor([1], int16) + tensor(1, int64)", dim(kInt16), zero_dim(kInt64), kInt16},
      {"tensor([1], int16) + 100000", dim(kInt16), number_i(), kInt16},
      {"tensor([1], uint8) + tensor(1, int16)", dim(kUInt8), zero_dim(kInt16), kUInt8},
      {"tensor([1], int16) + 2.5", dim(kInt16), number_f(), kFloat32},
  };
  return c;
}

}  // namespace

TEST(Promotion, ResultTypeMatchesPyTorch) {
  for (const Case& c : cases()) {
    Tensor a = c.a.make(), b = c.b.make();
    EXPECT_EQ(result_type({TensorMeta::of(a), TensorMeta::of(b)}), c.expected) << c.torch_expr;
  }
}

TEST(Promotion, ArithmeticOpsProduceThePromotedDtype) {
  for (const Case& c : cases()) {
    Tensor a = c.a.make(), b = c.b.make();
    EXPECT_EQ(add(a, b).dtype(), c.expected) << c.torch_expr;
    EXPECT_EQ(mul(a, b).dtype(), c.expected) << c.torch_expr;
    EXPECT_EQ(maximum(a, b).dtype(), c.expected) << c.torch_expr;
    EXPECT_EQ(where(ones({1}, {.dtype = kBool}), a, b).dtype(), c.expected) << c.torch_expr;
    // Values are computed in the promoted dtype: 1 + 1 = 2 everywhere (bool: true).
    EXPECT_DOUBLE_EQ(add(a, b).to_vector<double>()[0], c.expected == kBool ? 1.0 : 2.0) << c.torch_expr;
  }
}

TEST(Promotion, DivisionAndFloatMathGiveFloat32ForIntegers) {
  for (const Case& c : cases()) {
    Tensor a = c.a.make(), b = c.b.make();
    DType want = is_floating(c.expected) ? c.expected : kFloat32;
    EXPECT_EQ(div(a, b).dtype(), want) << c.torch_expr;
  }
  // torch.tensor([1]) / torch.tensor(2., dtype=torch.float64) -> float64
  EXPECT_EQ(div(ones({1}, {.dtype = kInt64}), full({}, 2.0, {.dtype = kFloat64})).dtype(), kFloat64);
  // torch.pow(torch.tensor([2], dtype=torch.int32), 2.0) -> float32, [4.]
  Tensor p = pow(full({1}, 2.0, {.dtype = kInt32}), 2.0);
  EXPECT_EQ(p.dtype(), kFloat32);
  EXPECT_DOUBLE_EQ(p.item(), 4.0);
}

TEST(Promotion, ComparisonsCompareInThePromotedDtypeAndReturnBool) {
  // torch.tensor([1], dtype=torch.uint8) < 2.5 -> tensor([True])
  Tensor r = lt(full({1}, 1.0, {.dtype = kUInt8}), wrap_scalar(2.5));
  EXPECT_EQ(r.dtype(), kBool);
  EXPECT_TRUE(r.item<bool>());
  // 2.5 is not truncated to 2 before comparing
  EXPECT_FALSE(eq(full({1}, 2.0, {.dtype = kInt64}), wrap_scalar(2.5)).item<bool>());
  // uint8 255 vs int8 -1 compare as 255 > -1 (both exact in int32)
  EXPECT_TRUE(gt(full({1}, 255.0, {.dtype = kUInt8}), full({1}, -1.0, {.dtype = kInt8})).item<bool>());
}

TEST(Promotion, NumberOperatorsWrapDoublesAsFloatNumbers) {
  Tensor i = ones({2}, {.dtype = kInt64});
  EXPECT_EQ((i + 2.5).dtype(), kFloat32);   // torch: tensor([1, 1]) + 2.5 -> float32
  EXPECT_EQ((2.0 * i).dtype(), kFloat32);    // a C++ double is a Python float
  EXPECT_EQ((i + wrap_scalar(int64_t{2})).dtype(), kInt64);
  Tensor f = ones({2}, {.dtype = kFloat32});
  EXPECT_EQ((f * 1e300).dtype(), kFloat32);  // the number never widens a float tensor
  EXPECT_EQ((1.0 - f).dtype(), kFloat32);
  Tensor d = ones({2}, {.dtype = kFloat64});
  EXPECT_EQ((d / 3.0).dtype(), kFloat64);
}
