// `tandem train --compile`: the training step captured by tandem::compile gives the same
// per-step losses and final weights as the eager loop (same kernels, so bit for bit).
#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"
#include "train_test_util.h"

namespace tandem::testing {
namespace {

struct FitRun {
  std::vector<double> losses;
  std::map<std::string, Tensor> weights;
};

FitRun fit_tiny(const std::string& model, const std::string& optimizer, bool compiled,
             const std::string& dir) {
  train::TrainOptions o;
  o.model = model;
  o.data = dir;
  o.epochs = 2;
  o.batch_size = 50;  // 120 images: batches of 50, 50 and 20 (two graphs)
  o.optimizer = optimizer;
  o.threads = 1;
  o.write_files = false;
  o.verbose = false;
  o.compile = compiled;
  FitRun r;
  o.on_step = [&](int64_t, double loss) { r.losses.push_back(loss); };
  manual_seed(0);
  auto m = models::create(model);
  train::fit(o, m);
  r.weights = m->state_dict();
  return r;
}

class FitCompile : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(FitCompile, SameLossesAndWeightsAsEager) {
  std::string dir = fresh_temp_dir("fit_compile");
  write_tiny_idx(dir, 120, 40);
  auto [model, optimizer] = GetParam();
  FitRun eager = fit_tiny(model, optimizer, false, dir);
  FitRun graph = fit_tiny(model, optimizer, true, dir);
  ASSERT_EQ(eager.losses.size(), 6u);
  EXPECT_EQ(graph.losses, eager.losses);
  ASSERT_EQ(graph.weights.size(), eager.weights.size());
  for (auto& [name, w] : eager.weights) EXPECT_ALL_CLOSE(graph.weights.at(name), w, 0.0, 0.0) << name;
}

INSTANTIATE_TEST_SUITE_P(Zoo, FitCompile,
                         ::testing::Values(std::pair{"mlp", "sgd"}, std::pair{"cnn", "adam"},
                                           std::pair{"resnet", "adamw"}));

}  // namespace
}  // namespace tandem::testing
