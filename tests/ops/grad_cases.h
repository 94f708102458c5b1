// The gradcheck table. Every differentiable OpDef needs at least one case here
// (test_registry.cpp fails otherwise). Add cases next to the op's other tests:
//
//   TANDEM_GRAD_CASE(tanh, basic, [](const Tensors& x) { return tanh(x[0]); },
//                    [] { return Tensors{randn({3, 4}, kF64g)}; });
//
// The case must dispatch the named op (the test walks the autograd graph to check).
// `make_inputs` returns float64 tensors; those with requires_grad are checked.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace tandem::testing {

inline constexpr TensorOptions kF64g{.dtype = DType::Float64, .requires_grad = true};

struct GradCase {
  std::string op;
  std::string name;
  Fn fn;
  std::function<Tensors()> make_inputs;
  GradcheckOptions opts{};
};

std::vector<GradCase>& grad_cases();
inline void PrintTo(const GradCase& c, std::ostream* os) { *os << c.op << "." << c.name; }

struct GradCaseRegistrar {
  explicit GradCaseRegistrar(GradCase c) { grad_cases().push_back(std::move(c)); }
};

// A float64 tensor that requires grad and is not contiguous (a transposed view).
inline Tensor noncontiguous(const Shape& shape, uint64_t seed = 3) {
  Generator g(seed);
  Shape rev(shape.rbegin(), shape.rend());
  Tensor base = randn(rev, {.dtype = DType::Float64}, &g);
  IntArray perm;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) perm.push_back(i);
  Tensor t = base.permute(perm).detach();
  t.requires_grad_();
  return t;
}

}  // namespace tandem::testing

#define TANDEM_GRAD_CASE_CAT2(a, b) a##b
#define TANDEM_GRAD_CASE_CAT(a, b) TANDEM_GRAD_CASE_CAT2(a, b)
// TANDEM_GRAD_CASE(op, name, fn, make_inputs [, GradcheckOptions{...}])
#define TANDEM_GRAD_CASE(op, name, ...)                                                    \
  static ::tandem::testing::GradCaseRegistrar TANDEM_GRAD_CASE_CAT(grad_case_, __LINE__)( \
      ::tandem::testing::GradCase{#op, #name, __VA_ARGS__})
