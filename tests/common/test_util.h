// Shared test helpers: gradcheck against finite differences, closeness checks, reference data.
//
//   gradcheck([](const Tensors& x) { return tandem::tanh(x[0]); }, {randn({3, 4}, kF64)});
//   expect_close(actual, load_npy("ops/softmax_out.npy"), 1e-6, 1e-5);
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tandem/tandem.h"

namespace tandem::testing {

using Tensors = std::vector<Tensor>;
using Fn = std::function<Tensor(const Tensors&)>;
inline constexpr TensorOptions kF64{.dtype = DType::Float64};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  bool second_order = false;  // also check the gradient of the gradient
};

// Compares the gradient of sum(fn(inputs) * v) (v random, fixed) with central
// finite differences, for every floating input that requires grad (inputs
// without requires_grad are left alone). Inputs must be float64. Keeps each
// input's layout, so non-contiguous inputs stay non-contiguous.
::testing::AssertionResult gradcheck(const Fn& fn, const Tensors& inputs, GradcheckOptions opts = {});

// Element-wise |a - e| <= atol + rtol * |e|, same shape; NaNs must match.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol = 1e-6,
                                     double rtol = 1e-5);
#define EXPECT_ALL_CLOSE(a, e, ...) EXPECT_TRUE(::tandem::testing::all_close(a, e, ##__VA_ARGS__))

// Runs `fn` and expects a tandem::Error whose message contains every one of `needles`.
::testing::AssertionResult throws_error(const std::function<void()>& fn,
                                        const std::vector<std::string>& needles);

// Reads a .npy file under tests/data (reference data committed by tests/reference/*.py).
Tensor load_npy(const std::string& relative_path);

}  // namespace tandem::testing
