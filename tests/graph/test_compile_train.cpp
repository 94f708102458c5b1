// Whole training steps under tandem::compile: forward, loss, backward, optimizer step and
// zero_grad captured into one graph. N compiled steps must give the model (and optimizer
// state, batch-norm running stats, grads) that N eager steps give, bit for bit: the graph
// runs the same kernels in the same order.
#include "tandem/compile.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "compile_train_util.h"
#include "test_util.h"

namespace tandem {
namespace {

using testing::batches;
using testing::throws_error;
using testing::train_step;

void expect_same_state(nn::Module& a, nn::Module& b, const std::string& what) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].second.to_vector<double>(), pb[i].second.to_vector<double>())
        << what << ": parameter " << pa[i].first;
    ASSERT_EQ(pa[i].second.grad().defined(), pb[i].second.grad().defined()) << pa[i].first;
    if (pa[i].second.grad().defined())
      EXPECT_EQ(pa[i].second.grad().to_vector<double>(), pb[i].second.grad().to_vector<double>())
          << what << ": grad of " << pa[i].first;
  }
  auto ba = a.named_buffers(), bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i)
    EXPECT_EQ(ba[i].second.to_vector<double>(), bb[i].second.to_vector<double>())
        << what << ": buffer " << ba[i].first;
}

template <class MakeOpt>
void expect_training_matches(const std::string& model_name, MakeOpt make_opt, int steps,
                             int64_t batch, bool use_plan = true,
                             std::vector<std::string> passes = {}) {
  manual_seed(11);
  auto eager_model = models::create(model_name);
  manual_seed(11);
  auto model = models::create(model_name);
  auto eager_opt = make_opt(eager_model->parameters());
  auto opt = make_opt(model->parameters());
  auto data = batches(steps, batch, 5);

  auto eager_step = train_step(*eager_model, *eager_opt);
  auto step = compile(train_step(*model, *opt), {.passes = passes, .modules = {model}, .use_plan = use_plan});
  for (int i = 0; i < steps; ++i) {
    Tensor le = eager_step(data[i].x, data[i].y);
    Tensor lc = step(data[i].x, data[i].y);
    EXPECT_EQ(le.item<double>(), lc.item<double>()) << model_name << " step " << i;
  }
  // zero_grad() inside clears the grads first: the .grad state is not part of the key, so
  // one trace serves every step.
  EXPECT_EQ(step.stats().traces, 1) << fmt::format("{}", fmt::join(step.stats().reasons, "; "));
  EXPECT_EQ(step.stats().cache_hits, steps - 1);
  EXPECT_TRUE(step.stats().notes.empty()) << step.stats().notes[0];  // the Plan ran it
  expect_same_state(*eager_model, *model, model_name);
  auto se = eager_opt->state_dict(), sc = opt->state_dict();
  ASSERT_EQ(se.tensors.size(), sc.tensors.size());
  for (auto& [k, t] : se.tensors)
    EXPECT_EQ(t.template to_vector<double>(), sc.tensors.at(k).template to_vector<double>()) << "optimizer " << k;
  // The graph holds the optimizer step as ops and the state as updated variables.
  std::string g = step.graph().str();
  EXPECT_NE(g.find(opt->name() == "SGD" ? "sgd_step(" : "adam_step("), std::string::npos) << g;
  const std::string first = model->named_parameters()[0].first;
  EXPECT_NE(g.find("%" + first + " <- "), std::string::npos) << g;
  if (model_name == "resnet")  // batch-norm running stats are updated variables too
    EXPECT_NE(g.find(".running_mean <- "), std::string::npos) << g;
}

TEST(CompileTrain, MlpSgdMomentumMatchesEager) {
  expect_training_matches(
      "mlp",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.05, .momentum = 0.9,
                                                                   .weight_decay = 1e-4});
      },
      5, 8);
}

TEST(CompileTrain, MlpSgdMatchesEagerInterpreter) {
  expect_training_matches(
      "mlp",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
      },
      4, 4, false);
}

TEST(CompileTrain, MlpAdamWithAllPassesMatchesEager) {
  expect_training_matches(
      "mlp",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = 1e-3});
      },
      4, 4, true, {"all"});
}

TEST(CompileTrain, CnnAdamMatchesEager) {
  expect_training_matches(
      "cnn",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = 1e-3});
      },
      4, 4);
}

TEST(CompileTrain, ResnetSgdBatchNormBuffersMatchEager) {
  expect_training_matches(
      "resnet",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
      },
      3, 2);
}

// The default pipeline ("all") on the convolutional zoo models' training steps.
TEST(CompileTrain, CnnAdamWithAllPassesMatchesEager) {
  expect_training_matches(
      "cnn",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::Adam>(ps, optim::AdamOptions{.lr = 1e-3});
      },
      3, 4, true, {"all"});
}

TEST(CompileTrain, ResnetSgdWithAllPassesMatchesEager) {
  expect_training_matches(
      "resnet",
      [](std::vector<Tensor> ps) {
        return std::make_unique<optim::SGD>(ps, optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
      },
      3, 2, true, {"all"});
}

TEST(CompileTrain, LearningRateChangesReachTheCompiledStep) {
  manual_seed(4);
  auto eager_model = models::create("mlp");
  manual_seed(4);
  auto model = models::create("mlp");
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1});
  optim::SGD opt(model->parameters(), {.lr = 0.1});
  auto data = batches(5, 4, 9);
  auto step = compile([&](const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  }, {.modules = {model}});
  for (int i = 0; i < 5; ++i) {
    double lr = 0.1 / (i + 1);  // a schedule: must not be baked into the graph
    eager_opt.set_lr(lr);
    opt.set_lr(lr);
    eager_opt.zero_grad();
    nn::functional::cross_entropy(eager_model->forward(data[i].x), data[i].y).backward();
    eager_opt.step();
    step(data[i].x, data[i].y);
  }
  EXPECT_EQ(step.stats().traces, 1);
  expect_same_state(*eager_model, *model, "lr schedule");
  // A baked option changing is a re-trace with its reason.
  opt.param_groups()[0].options["momentum"] = 0.5;
  step(data[0].x, data[0].y);
  EXPECT_EQ(step.stats().traces, 2);
  EXPECT_EQ(step.stats().reasons.back(),
            "SGD option 'momentum' of parameter group 0 changed from 0 to 0.5");
}

TEST(CompileTrain, DynamicBatchTrainingStepStaysExact) {
  manual_seed(6);
  auto eager_model = models::create("mlp");
  manual_seed(6);
  auto model = models::create("mlp");
  optim::SGD eager_opt(eager_model->parameters(), {.lr = 0.1, .momentum = 0.9});
  optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  auto step = compile([&](const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  }, {.dynamic_batch = true, .modules = {model}});
  int i = 0;
  for (int64_t n : {8, 5, 6, 7, 5}) {
    auto b = batches(1, n, 20 + i++)[0];
    eager_opt.zero_grad();
    nn::functional::cross_entropy(eager_model->forward(b.x), b.y).backward();
    eager_opt.step();
    step(b.x, b.y);
  }
  expect_same_state(*eager_model, *model, "dynamic batch");
  // The second size either made the batch symbolic or found why it can't be.
  ASSERT_GE(step.stats().reasons.size(), 2u);
  EXPECT_NE(step.stats().reasons[1].find("dynamic_batch"), std::string::npos)
      << fmt::format("{}", fmt::join(step.stats().reasons, "\n"));
}

TEST(CompileTrain, GradientsAccumulateAcrossCallsWithoutZeroGrad) {
  // No zero_grad in fn: each call adds to .grad, as eager backward() does. The first call
  // starts without .grad, later ones accumulate into the .grad that exists at the call.
  manual_seed(8);
  auto eager = std::make_shared<nn::Linear>(6, 3);
  manual_seed(8);
  auto lin = std::make_shared<nn::Linear>(6, 3);
  auto f = compile([&](const Tensor& x) {
    Tensor loss = lin->forward(x).pow(2.0).sum();
    loss.backward();
    return loss;
  }, {.modules = {lin}});
  Generator g(3);
  for (int i = 0; i < 4; ++i) {
    Tensor x = randn({5, 6}, {}, &g);
    eager->forward(x).pow(2.0).sum().backward();
    f(x);
  }
  expect_same_state(*eager, *lin, "accumulation");
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_NE(f.stats().reasons[1].find("changed from undefined to defined"), std::string::npos)
      << f.stats().reasons[1];
}

TEST(CompileTrain, ClipGradNormInsideACompiledStepIsAnError) {
  manual_seed(4);
  auto model = models::create("mlp");
  optim::SGD opt(model->parameters(), {.lr = 0.1});
  auto data = batches(1, 4, 9);
  auto step = compile([&](const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    nn::utils::clip_grad_norm_(model->parameters(), 1.0);  // reads the norm on the host
    opt.step();
    return loss;
  });
  EXPECT_TRUE(throws_error([&] { step(data[0].x, data[0].y); },
                           {"compile: fn reads the value of a traced tensor"}));
}

}  // namespace
}  // namespace tandem
