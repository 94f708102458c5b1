// Optimizers driving nn modules: least squares converges to the known solution, and a module
// converted to another dtype in place keeps training with its optimizer state converted.
#include <gtest/gtest.h>

#include "optim_cases.h"
#include "tandem/nn.h"

namespace tandem::testing {
namespace {

// y = X w* + b* exactly; every optimizer should find (w*, b*).
void check_least_squares(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>& make,
                         int steps, double tol) {
  manual_seed(3);
  Generator gen(11);
  Tensor x = randn({64, 3}, kF64, &gen);
  Tensor w_true = tensor({1.5, -2.0, 0.5}, kF64).reshape({3, 1});
  Tensor y = matmul(x, w_true) + 0.25;
  auto model = std::make_shared<nn::Linear>(3, 1);
  model->to(kFloat64);
  auto opt = make(model->parameters());
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    opt->zero_grad();
    Tensor loss = mse_loss(model->forward(x), y);
    loss.backward();
    opt->step();
    (s == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first * 1e-4);
  auto named = model->named_parameters();
  EXPECT_TRUE(all_close(named[0].second.reshape({3, 1}), w_true, tol, 0)) << named[0].first;
  EXPECT_NEAR(named[1].second.item(), 0.25, tol) << named[1].first;
}

TEST(OptimTraining, LeastSquaresConvergesToTheSolution) {
  check_least_squares([](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9}); }, 300, 1e-4);
  check_least_squares([](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true}); }, 300, 1e-4);
  check_least_squares([](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.05}); }, 800, 1e-3);
  check_least_squares([](std::vector<Tensor> p) { return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5}); }, 800, 1e-2);
  check_least_squares([](std::vector<Tensor> p) { return std::make_unique<optim::Adagrad>(p, optim::AdagradOptions{.lr = 0.5}); }, 800, 1e-3);
}

TEST(OptimTraining, ModuleConvertedInPlaceKeepsItsOptimizerState) {
  manual_seed(5);
  auto model = std::make_shared<nn::Linear>(4, 2);
  optim::Adam opt(model->parameters(), {.lr = 0.01});
  Tensor x = ones({3, 4});
  model->forward(x).sum().backward();
  opt.step();
  Tensor m_before = opt.state(model->parameters()[0])->tensors.at("exp_avg").clone();
  model->to(kFloat64);  // same parameter handles, new dtype
  opt.zero_grad();
  model->forward(x.to(kFloat64)).sum().backward();
  opt.step();
  const auto* st = opt.state(model->parameters()[0]);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->step, 2);
  EXPECT_EQ(st->tensors.at("exp_avg").dtype(), kFloat64);
  // exp_avg = 0.9 * previous + 0.1 * grad, the previous carried over through the conversion.
  Tensor expected = m_before.to(kFloat64) * 0.9 + model->parameters()[0].grad() * 0.1;
  EXPECT_TRUE(all_close(st->tensors.at("exp_avg"), expected, 1e-7, 1e-6));
}

}  // namespace
}  // namespace tandem::testing
