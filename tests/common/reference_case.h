// PyTorch reference cases stored as .npy files, one directory per case, as the generators in
// tests/reference write them (gen_reference.py, weighted_cases.py and those built on it):
//
//   tests/data/<set>/<case>/in_<i>.npy    input i
//   tests/data/<set>/<case>/out_<k>.npy   output k
//   tests/data/<set>/<case>/w_<k>.npy     weights of output k in the loss sum_k sum(out_k * w_k)
//   tests/data/<set>/<case>/grad_<i>.npy  d loss / d input i (present: input i requires grad)
//   tests/data/<set>/<case>/v_<i>.npy,    second order (optional): the gradient of
//                           gg_<i>.npy    sum_i sum(grad_i * v_i) with respect to input i
//
//   check_reference_case("scatter", name, [](const Tensors& x) { return Tensors{...}; }, close);
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace tandem::testing {

using ReferenceFn = std::function<Tensors(const Tensors& inputs)>;
using CloseFn = std::function<::testing::AssertionResult(const Tensor& actual, const Tensor& expected)>;

// The same values in a non-contiguous layout: every other element of a buffer twice as long in
// the last dim (0-dim tensors as they are).
Tensor strided_copy(const Tensor& t);

// Closeness by the reference's dtype: float64 1e-10 + 1e-8 relative, float32 1e-5 + 1e-4
// relative, anything else exact; the dtypes must agree.
::testing::AssertionResult close_by_dtype(const Tensor& actual, const Tensor& expected);

// Runs case `name` of the set `set` (a folder of tests/data) through `fn`, on contiguous inputs
// and then on strided copies of them, and checks every output, gradient and second derivative
// the case has with `close`.
void check_reference_case(const std::string& set, const std::string& name, const ReferenceFn& fn,
                          const CloseFn& close = close_by_dtype);

// The case folders of a set, sorted.
std::vector<std::string> reference_case_dirs(const std::string& set);

}  // namespace tandem::testing
