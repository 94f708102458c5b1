// train::Trainer against the hand-written loop it replaced. `reference_losses` below is the
// loop `tandem train` ran before the Trainer existed (zero_grad, forward, cross-entropy,
// backward, optimizer step, per-step scheduler, per-epoch reshuffle), kept here as the
// independent reference; train::fit (now a client of the Trainer) and a Trainer configured
// by hand must give its losses step for step, bit for bit (single-threaded, same seed).
#include <gtest/gtest.h>

#include <tandem/models.h>
#include <tandem/optim.h>
#include <tandem/train.h>

#include "test_util.h"
#include "train_test_util.h"

namespace tandem::testing {
namespace {

struct Recipe {
  std::string model, optimizer;
  int64_t epochs = 2, batch_size = 32, train_limit = 96;
  uint64_t seed = 5;
};

std::unique_ptr<optim::Optimizer> make_opt(const std::string& name, std::vector<Tensor> params) {
  if (name == "sgd") return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  if (name == "adam") return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 1e-3});
  return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = 1e-3, .weight_decay = 1e-2});
}

// The loop of the former train::fit, without its files and printing.
std::vector<double> reference_losses(const Recipe& r, const std::string& dir) {
  set_num_threads(1);
  auto train_set = train::load_dataset(dir, true, r.train_limit);
  manual_seed(r.seed);
  auto model = models::create(r.model);
  auto opt = make_opt(r.optimizer, model->parameters());
  data::DataLoader loader(train_set, {.batch_size = r.batch_size, .shuffle = true, .seed = r.seed});
  optim::CosineAnnealingLR sched(*opt, r.epochs * loader.num_batches());
  std::vector<double> losses;
  model->train();
  for (int64_t epoch = 0; epoch < r.epochs; ++epoch) {
    loader.set_epoch(epoch);
    for (auto& batch : loader) {
      opt->zero_grad();
      Tensor loss = cross_entropy((*model)(batch.data), batch.target);
      loss.backward();
      opt->step();
      sched.step();
      losses.push_back(loss.item());
    }
    train::evaluate(*model, *train::load_dataset(dir, false));  // as fit did between epochs
  }
  return losses;
}

std::vector<double> fit_losses(const Recipe& r, const std::string& dir) {
  train::TrainOptions o;
  o.model = r.model;
  o.optimizer = r.optimizer;
  o.data = dir;
  o.epochs = r.epochs;
  o.batch_size = r.batch_size;
  o.train_limit = r.train_limit;
  o.seed = r.seed;
  o.threads = 1;
  o.write_files = false;
  o.verbose = false;
  std::vector<double> losses;
  o.on_step = [&](int64_t, double loss) { losses.push_back(loss); };
  train::fit(o);
  return losses;
}

std::vector<double> trainer_losses(const Recipe& r, const std::string& dir) {
  auto train_set = train::load_dataset(dir, true, r.train_limit);
  manual_seed(r.seed);
  train::TrainModule m;
  m.model = models::create(r.model);
  m.loss = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  std::string opt_name = r.optimizer;
  m.optimizer = [opt_name](std::vector<Tensor> p) { return make_opt(opt_name, std::move(p)); };
  m.scheduler = [](optim::Optimizer& opt, int64_t total) {
    return std::make_unique<optim::CosineAnnealingLR>(opt, total);
  };
  std::vector<double> losses;
  train::Trainer trainer({.max_epochs = r.epochs, .threads = 1, .progress_bar = false});
  trainer.add_callback(std::make_shared<train::LambdaCallback>(train::LambdaCallback::Hooks{
      .on_train_batch_end = [&](train::Trainer&, train::Logs& l) { losses.push_back(l.at("loss")); }}));
  data::DataLoader loader(train_set, {.batch_size = r.batch_size, .shuffle = true, .seed = r.seed});
  trainer.fit(m, loader);
  return losses;
}

class TrainerReference : public ::testing::TestWithParam<Recipe> {
 protected:
  static void SetUpTestSuite() {
    dir_ = fresh_temp_dir("trainer_reference");
    write_tiny_idx(dir_, 96, 32);
  }
  static std::string dir_;
};
std::string TrainerReference::dir_;

TEST_P(TrainerReference, FitAndTrainerRepeatTheHandWrittenLoopStepForStep) {
  const Recipe& r = GetParam();
  std::vector<double> want = reference_losses(r, dir_);
  ASSERT_EQ(want.size(), size_t(r.epochs * (r.train_limit / r.batch_size)));
  EXPECT_EQ(fit_losses(r, dir_), want);
  EXPECT_EQ(trainer_losses(r, dir_), want);
}

INSTANTIATE_TEST_SUITE_P(Zoo, TrainerReference,
                         ::testing::Values(Recipe{"mlp", "sgd"}, Recipe{"cnn", "adam"},
                                           Recipe{"resnet", "adamw", 2, 32, 64}),
                         [](const auto& info) { return info.param.model; });

}  // namespace
}  // namespace tandem::testing
