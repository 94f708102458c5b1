// train::estimate_training_memory against the allocator's measured peak of real training
// steps (the estimate's total within 25% of it), its parts against the shapes, and the model
// left unchanged by the dry run.
#include "tandem/memory.h"
#include "tandem/models.h"
#include "tandem/train/memory_estimate.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

// Peak bytes of three training steps beyond what was allocated before them (the model's
// parameters are part of that base, so they are added back).
int64_t measured_peak(nn::Module& model, const Shape& shape, const std::string& optimizer,
                      int64_t parameter_bytes) {
  std::unique_ptr<optim::Optimizer> opt;
  if (optimizer == "sgd")
    opt = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  else
    opt = std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions{.lr = 1e-3});
  model.zero_grad();
  const int64_t base = memory_stats().allocated_bytes;
  reset_peak_memory_stats();
  {
    Tensor x = randn(shape);
    Tensor y = randint(0, 10, {shape[0]});
    for (int step = 0; step < 3; ++step) {
      opt->zero_grad();
      Tensor loss = cross_entropy(model(x), y);
      loss.backward();
      opt->step();
    }
  }
  return memory_stats().peak_allocated_bytes - base + parameter_bytes;
}

}  // namespace

TEST(MemoryEstimate, TotalIsWithinAQuarterOfTheMeasuredPeak) {
  for (const std::string name : {"mlp", "cnn"}) {
    for (const std::string optimizer : {"sgd", "adam"}) {
      SCOPED_TRACE(name + " " + optimizer);
      manual_seed(1);
      auto model = models::create(name);
      Shape shape = models::input_shape(name);
      shape.insert(shape.begin(), 64);
      train::TrainOptions o;
      o.optimizer = optimizer;
      train::MemoryEstimate m = train::estimate_training_memory(*model, shape, o);
      const int64_t params = model->num_parameters() * 4;
      EXPECT_EQ(m.gradients, params);
      EXPECT_GE(m.parameters, params);
      // SGD with momentum keeps one buffer per parameter, Adam two (in the allocator's size
      // classes: at most a quarter more than the tensors' bytes).
      const int64_t buffers = optimizer == "sgd" ? 1 : 2;
      EXPECT_GE(m.optimizer_state, buffers * params);
      EXPECT_LE(m.optimizer_state, buffers * params * 5 / 4);
      EXPECT_EQ(m.input, shape_numel(shape) * 4);
      EXPECT_GT(m.activations, m.input);
      const int64_t peak = measured_peak(*model, shape, optimizer, m.parameters);
      EXPECT_NEAR(static_cast<double>(m.total()), static_cast<double>(peak), 0.25 * peak)
          << train::format_memory_estimate(m) << "measured peak " << peak;
    }
  }
}

TEST(MemoryEstimate, LeavesTheModelAsItWas) {
  manual_seed(2);
  auto model = models::create("cnn");
  model->eval();
  std::map<std::string, Tensor> before;
  for (const auto& [k, v] : model->state_dict()) before[k] = v.clone();
  const double next = [] { Generator g = default_generator(); return g.next_double(); }();
  train::estimate_training_memory(*model, {8, 1, 28, 28}, {});
  for (const auto& [k, v] : model->state_dict()) EXPECT_ALL_CLOSE(v, before.at(k), 0.0, 0.0) << k;
  for (const Tensor& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_FALSE(model->is_training());
  EXPECT_EQ(default_generator().next_double(), next);
  EXPECT_TRUE(throws_error([&] { train::estimate_training_memory(*model, {}, {}); }, {"batch"}));
}
