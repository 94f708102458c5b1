// C++ numbers next to tensors (`x > 0`, `0 < x`, `xi + 1`, `mask & true`) and the logical
// operators on bool tensors, against PyTorch 1.13: each case's comment is the Python
// expression, and the expected dtype and values are what /usr/bin/python3 (torch 1.13)
// printed for it with
//   xf = tensor([-1.5, 0, 0.5, 1, 2]); xi = tensor([-2, 0, 1, 3]); xi32 = xi.int()
//   xb = tensor([True, False, True]); u8 = tensor([200, 10], dtype=uint8)
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <tandem/tandem.h>

using namespace tandem;

namespace {

Tensor xf() { return tensor({-1.5, 0, 0.5, 1, 2}); }
Tensor xi() { return tensor(std::vector<int64_t>{-2, 0, 1, 3}); }
Tensor xi32() { return tensor(std::vector<int32_t>{-2, 0, 1, 3}); }
Tensor xb() { return tensor({1, 0, 1}, {.dtype = DType::Bool}); }
Tensor u8() { return tensor(std::vector<uint8_t>{200, 10}); }

void expect_bool(const Tensor& t, const std::vector<bool>& want, const char* expr) {
  ASSERT_EQ(t.dtype(), DType::Bool) << expr;
  std::vector<bool> got;
  for (double v : t.to_vector<double>()) got.push_back(v != 0);
  EXPECT_EQ(got, want) << expr;
}

void expect_values(const Tensor& t, DType dtype, const std::vector<double>& want, const char* expr) {
  ASSERT_EQ(t.dtype(), dtype) << expr;
  EXPECT_EQ(t.to_vector<double>(), want) << expr;
}

TEST(ScalarOperators, ComparisonsWithNumbersOnEitherSide) {
  expect_bool(xf() > 0, {false, false, true, true, true}, "xf > 0");
  expect_bool(0 < xf(), {false, false, true, true, true}, "0 < xf");
  expect_bool(xf() == 1, {false, false, false, true, false}, "xf == 1");
  expect_bool(xf() != 0.5, {true, true, false, true, true}, "xf != 0.5");
  expect_bool(xi() > 0.5, {false, false, true, true}, "xi > 0.5");
  expect_bool(xi() >= 1, {false, false, true, true}, "xi >= 1");
  expect_bool(1 <= xi(), {false, false, true, true}, "1 <= xi");
  expect_bool(0.5 >= xi(), {true, true, false, false}, "0.5 >= xi");
  expect_bool(xi32() == 3, {false, false, false, true}, "xi32 == 3");
  expect_bool(xf() <= 0.0f, {true, true, false, false, false}, "xf <= 0.0 (a C++ float)");
  expect_bool(xi() < int64_t{1}, {true, true, false, false}, "xi < 1 (a C++ int64_t)");
  expect_bool(xi() != 0u, {true, false, true, true}, "xi != 0 (a C++ unsigned)");
}

TEST(ScalarOperators, ComparisonsUseTheTensorsFloatType) {
  // A float32 tensor compares with a Python float in float32 (the number is rounded first).
  expect_bool(tensor({0.1}) == 0.1, {true}, "tensor([0.1]) == 0.1");
  // An int64 tensor against a float compares in the default float type: 16777217 rounds.
  expect_bool(tensor(std::vector<int64_t>{16777217}) > 16777216.0, {false},
              "tensor([16777217]) > 16777216.0");
}

TEST(ScalarOperators, ArithmeticKeepsIntegerTensorsInteger) {
  expect_values(xi() + 1, DType::Int64, {-1, 1, 2, 4}, "xi + 1");
  expect_values(xi() * 2, DType::Int64, {-4, 0, 2, 6}, "xi * 2");
  expect_values(1 - xi(), DType::Int64, {3, 1, 0, -2}, "1 - xi");
  expect_values(xi32() + 1, DType::Int32, {-1, 1, 2, 4}, "xi32 + 1");
  expect_values(u8() + 100, DType::UInt8, {44, 110}, "u8 + 100 (wraps like uint8)");
  expect_values(xb() + 1, DType::Int64, {2, 1, 2}, "xb + 1");
  expect_values(xb() * true, DType::Bool, {1, 0, 1}, "xb * True");
  expect_values(xi() * 2.5, DType::Float32, {-5, 0, 2.5, 7.5}, "xi * 2.5");
  expect_values(xi() / 2, DType::Float32, {-1, 0, 0.5, 1.5}, "xi / 2 (true division)");
  expect_values(xf() * 2, DType::Float32, {-3, 0, 1, 2, 4}, "xf * 2");
  expect_values(2 - xf(), DType::Float32, {3.5, 2, 1.5, 1, 0}, "2 - xf");
}

TEST(ScalarOperators, WhereAndPowWithNumbers) {
  expect_values(where(xf() > 0, xf(), 0), DType::Float32, {0, 0, 0.5, 1, 2}, "where(xf > 0, xf, 0)");
  expect_values(where(xf() > 0, 1, xf()), DType::Float32, {-1.5, 0, 1, 1, 1}, "where(xf > 0, 1, xf)");
  expect_values(where(xi() > 0, xi(), -1), DType::Int64, {-1, -1, 1, 3}, "where(xi > 0, xi, -1)");
  expect_values(where(xi() > 0, xi(), 0.5), DType::Float32, {0.5, 0.5, 1, 3}, "where(xi > 0, xi, 0.5)");
  expect_values(where(xf() > 0, 1.0, 0.0), DType::Float32, {0, 0, 1, 1, 1}, "where(xf > 0, 1.0, 0.0)");
  expect_values(where(xi() > 0, 1, 0), DType::Int64, {0, 0, 1, 1}, "where(xi > 0, 1, 0)");
  expect_values(pow(2, xi()), DType::Int64, {0, 1, 2, 8}, "pow(2, xi)");
  expect_values(pow(2.0, xi()), DType::Float32, {0.25, 1, 2, 8}, "pow(2.0, xi)");
  expect_values(pow(xi(), 2), DType::Int64, {4, 0, 1, 9}, "xi ** 2");
}

TEST(ScalarOperators, InPlaceWithNumbers) {
  Tensor a = xi();
  a += 1;
  expect_values(a, DType::Int64, {-1, 1, 2, 4}, "a = xi; a += 1");
  a *= 3;
  a -= 2;
  expect_values(a, DType::Int64, {-5, 1, 4, 10}, "a *= 3; a -= 2");
  Tensor f = xf();
  f /= 2;
  expect_values(f, DType::Float32, {-0.75, 0, 0.25, 0.5, 1}, "f = xf; f /= 2");
  // "result type Float can't be cast to the desired output type Long"
  EXPECT_THROW(a += 1.5, Error);
}

TEST(ScalarOperators, LogicalOperatorsOnBoolTensors) {
  Tensor pos = xf() > 0, small = xf() < 1.5, neg = xf() < -1;
  expect_bool(pos & small, {false, false, true, true, false}, "(xf > 0) & (xf < 1.5)");
  expect_bool(pos | neg, {true, false, true, true, true}, "(xf > 0) | (xf < -1)");
  expect_bool(pos ^ small, {true, true, false, false, true}, "(xf > 0) ^ (xf < 1.5)");
  expect_bool(~pos, {true, true, false, false, false}, "~(xf > 0)");
  expect_bool(pos & true, {false, false, true, true, true}, "(xf > 0) & True");
  expect_bool(false | pos, {false, false, true, true, true}, "False | (xf > 0)");
  expect_bool(pos ^ true, {true, true, false, false, false}, "(xf > 0) ^ True");
}

TEST(ScalarOperators, BitwiseOperatorsOnNonBoolTensorsAreAClearError) {
  for (auto fn : {+[] { return xi() & xi(); }, +[] { return xi() | (xi() > 0); },
                  +[] { return (xf() > 0) ^ xf(); }, +[] { return ~xi(); },
                  +[] { return xi() & true; }}) {
    try {
      fn();
      ADD_FAILURE() << "expected an Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bool tensors only"), std::string::npos) << e.what();
    }
  }
}

TEST(ScalarOperators, ScalarOperatorsAreDifferentiable) {
  Tensor x = tensor({1.0, -2.0, 3.0}).requires_grad_();
  Tensor y = (2 * x + 1) * (x > 0);  // d/dx = 2 where x > 0, else 0
  y.sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 0, 2}));
}

}  // namespace
