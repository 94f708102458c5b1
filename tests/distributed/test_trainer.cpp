// train::Trainer with a process group: which samples each rank trains on.
#include <sstream>

#include "dist_test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {
// Samples 0..n-1 whose single feature is their index, so a step can tell what it read.
std::shared_ptr<data::TensorDataset> numbered(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i);
  return std::make_shared<data::TensorDataset>(tensor(x, Shape{n, 1}), zeros({n, 1}));
}

// Every step's sample indices as this rank read them, over `epochs` epochs.
std::vector<std::vector<int64_t>> rank_batches(std::shared_ptr<distributed::ProcessGroup> pg,
                                               int64_t n, int64_t global_batch, int64_t epochs) {
  std::vector<std::vector<int64_t>> seen;
  train::TrainModule m;
  m.model = std::make_shared<nn::Linear>(1, 1);
  m.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.0});
  };
  m.training_step = [&seen](nn::Module& model, const data::Batch& b) {
    std::vector<int64_t> ids;
    for (float v : b.data.to_vector<float>()) ids.push_back(static_cast<int64_t>(v));
    seen.push_back(ids);
    return train::StepOutput{.loss = mse_loss(model(b.data), b.target)};
  };
  std::ostringstream quiet;
  train::Trainer trainer({.max_epochs = epochs, .val_every_n_epochs = 0, .progress_bar = false,
                          .out = &quiet, .process_group = pg});
  data::DataLoader loader(numbered(n), {.batch_size = global_batch, .shuffle = true, .seed = 5});
  trainer.fit(m, loader);
  return seen;
}
}  // namespace

// DistributedSampler's semantics over the loader's own order: each epoch's permutation padded
// to a multiple of R by repeating from its start, rank r taking positions r, r + R, ..., in
// batches of global_batch / R. Built here from the permutation by hand.
TEST(DistributedTrainer, EachRankReadsItsSamplerShareOfOneGlobalOrder) {
  auto pg = world();
  const int64_t R = pg->size(), rank = pg->rank();
  const int64_t n = 10, per_rank = 2, epochs = 2;  // 10 is not a multiple of 3: padding
  auto seen = rank_batches(pg, n, per_rank * R, epochs);
  std::vector<std::vector<int64_t>> want;
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<int64_t> order = data::epoch_permutation(n, 5, e);
    const int64_t padded = (n + R - 1) / R * R;
    for (int64_t i = n; i < padded; ++i) order.push_back(order[static_cast<size_t>(i - n)]);
    std::vector<int64_t> mine;
    for (int64_t i = rank; i < padded; i += R) mine.push_back(order[static_cast<size_t>(i)]);
    for (size_t i = 0; i < mine.size(); i += per_rank)
      want.emplace_back(mine.begin() + static_cast<std::ptrdiff_t>(i),
                        mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), i + per_rank)));
  }
  EXPECT_EQ(seen, want) << "rank " << rank;
}

// A global batch the ranks cannot share evenly is refused with a message.
TEST(DistributedTrainer, GlobalBatchMustBeAMultipleOfTheWorldSize) {
  auto pg = world();
  ASSERT_GE(pg->size(), 2) << "run under mpirun -np 2 or more";
  EXPECT_THROW(rank_batches(pg, 10, pg->size() + 1, 1), Error);
}

// The compiled training step (TrainerOptions::compile) of a distributed fit: the gradients
// go through the buckets' start and wait graph ops and the run must end where the eager one
// does.
TEST(DistributedTrainer, CompiledStepEqualsEagerStep) {
  auto pg = world();
  Generator g(77);
  auto ds = std::make_shared<data::TensorDataset>(randn({48, 8}, {}, &g),
                                                  randint(0, 4, {48}, {.dtype = kInt64}, &g));
  auto run = [&](bool compiled) {
    train::TrainModule m;
    m.model = make_mlp(3);
    m.loss = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
    m.optimizer = [](std::vector<Tensor> p) {
      return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2});
    };
    std::ostringstream quiet;
    train::Trainer trainer({.max_epochs = 2, .compile = compiled, .val_every_n_epochs = 0,
                            .progress_bar = false, .out = &quiet, .process_group = pg});
    data::DataLoader loader(ds, {.batch_size = 4 * pg->size(), .shuffle = true, .seed = 2});
    trainer.fit(m, loader);
    return m.model;
  };
  auto eager = run(false), compiled = run(true);
  auto want = eager->named_parameters();
  auto got = compiled->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(max_abs_diff(got[i].second, want[i].second), 1e-6) << got[i].first << " rank " << pg->rank();
}

// The epoch's train_loss and training metrics count every rank's rows: with the weights held
// still (lr 0) they equal the loss and accuracy of the model over the whole data set, not
// rank 0's share of it.
TEST(DistributedTrainer, ReportedLossAndAccuracyAreGlobal) {
  auto pg = world();
  const int64_t R = pg->size(), n = 24 * R;  // a multiple of R: no padding
  Generator g(31);
  Tensor x = randn({n, 8}, {}, &g), y = randint(0, 4, {n}, {.dtype = kInt64}, &g);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  train::TrainModule m;
  m.model = make_mlp(8);
  m.loss = [](const Tensor& out, const Tensor& t) { return cross_entropy(out, t); };
  m.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.0});
  };
  m.metrics = {std::make_shared<train::Accuracy>()};
  std::ostringstream quiet;
  train::Trainer trainer({.max_epochs = 1, .val_every_n_epochs = 0, .progress_bar = false,
                          .out = &quiet, .process_group = pg});
  data::DataLoader loader(ds, {.batch_size = 4 * R, .shuffle = true, .seed = 1});
  auto result = trainer.fit(m, loader);
  ASSERT_EQ(result.history.size(), 1u);
  Tensor out = (*m.model)(x);
  const double want_loss = cross_entropy(out, y).item();
  const double want_acc = eq(out.argmax(1), y).to(kFloat64).mean().item();
  EXPECT_NEAR(result.history[0].at("train_loss"), want_loss, 1e-5) << "rank " << pg->rank();
  EXPECT_NEAR(result.history[0].at("train_accuracy"), want_acc, 1e-12) << "rank " << pg->rank();
}
