// clip_grad_norm_ / clip_grad_value_ against PyTorch 1.13 (gen_optim.py "clip"), plus edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "optim_cases.h"

namespace tandem::testing {
namespace {

using namespace optim_cases;

void check_clip(DType dtype, bool non_contiguous, double tol) {
  for (const auto& c : cases()["clip"]) {
    SCOPED_TRACE(c.dump().substr(0, 60) + " " + std::string(dtype_name(dtype)));
    std::vector<Tensor> params = make_params(dtype, non_contiguous);
    set_grads(params, 0);
    if (non_contiguous)  // strided grads, so the generic path runs
      for (auto& p : params) {
        Shape wide = p.shape();
        wide.back() *= 2;
        Tensor g = zeros(wide, {.dtype = dtype}).slice(-1, 0, wide.back(), 2);
        g.copy_(p.grad());
        p.set_grad(g);
      }
    if (c["kind"] == "norm") {
      double norm_type = c["norm_type"].is_string() ? std::numeric_limits<double>::infinity()
                                                    : c["norm_type"].get<double>();
      double total = nn::utils::clip_grad_norm_(params, c["limit"].get<double>(), norm_type);
      EXPECT_NEAR(total, c["total"].get<double>(), tol * c["total"].get<double>());
    } else {
      nn::utils::clip_grad_value_(params, c["limit"].get<double>());
    }
    std::vector<Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad());
    Tensor expected = tensor(c["clipped"].get<std::vector<double>>(), std::nullopt, kF64);
    EXPECT_TRUE(all_close(flatten_all(grads), expected, tol, tol));
  }
}

TEST(ClipGrad, MatchesPyTorch) {
  check_clip(kFloat64, false, 1e-13);
  check_clip(kFloat64, true, 1e-13);
  check_clip(kFloat32, false, 1e-6);
}

TEST(ClipGrad, SkipsParamsWithoutGradAndEmptyLists) {
  Tensor a = tensor({3.0, 4.0}, kF64).requires_grad_(), b = zeros({2}, kF64).requires_grad_();
  a.set_grad(tensor({3.0, 4.0}, kF64));
  EXPECT_DOUBLE_EQ(nn::utils::clip_grad_norm_({a, b}, 1.0), 5.0);
  EXPECT_FALSE(b.grad().defined());
  EXPECT_NEAR(a.grad().to_vector<double>()[0], 3.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_EQ(nn::utils::clip_grad_norm_({b}, 1.0), 0.0);
  nn::utils::clip_grad_value_({b}, 1.0);
}

TEST(ClipGrad, NonFiniteNorm) {
  Tensor a = zeros({3}, kF64).requires_grad_();
  a.set_grad(tensor({1.0, std::numeric_limits<double>::infinity(), 0.0}, kF64));
  EXPECT_TRUE(throws_error([&] { nn::utils::clip_grad_norm_({a}, 1.0, 2.0, true); },
                           {"non-finite", "inf", "error_if_nonfinite"}));
  EXPECT_EQ(a.grad().to_vector<double>()[1], std::numeric_limits<double>::infinity());  // untouched
  a.set_grad(tensor({1.0, std::nan(""), 0.0}, kF64));
  EXPECT_TRUE(std::isnan(nn::utils::clip_grad_norm_({a}, 1.0, nn::utils::kInf)));
  EXPECT_TRUE(throws_error([&] { nn::utils::clip_grad_norm_({a}, 1.0, 0.0); }, {"norm_type"}));
}

}  // namespace
}  // namespace tandem::testing
