// RMSprop and Adagrad steps under tandem::compile (rmsprop_step, adagrad_step ops): N compiled
// training steps of the zoo mlp must leave the parameters, grads and optimizer state (tensors
// and step counts) that N eager steps leave, bit for bit (the ops run the eager fused loops),
// with no graph passes and with the default ones. Learning-rate schedules reach the compiled
// step; changing another option re-traces with a reason naming it.
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

// Parameters, grads and the optimizer's state_dict (state tensors and step counts) agree bit
// for bit.
void expect_same(nn::Module& eager_model, optim::Optimizer& eager_opt, nn::Module& model,
                 optim::Optimizer& opt, const std::string& what) {
  auto pe = eager_model.named_parameters(), pc = model.named_parameters();
  ASSERT_EQ(pe.size(), pc.size());
  for (size_t i = 0; i < pe.size(); ++i) {
    EXPECT_EQ(pe[i].second.to_vector<double>(), pc[i].second.to_vector<double>())
        << what << ": parameter " << pe[i].first;
    ASSERT_TRUE(pc[i].second.grad().defined()) << what << ": grad of " << pc[i].first;
    EXPECT_EQ(pe[i].second.grad().to_vector<double>(), pc[i].second.grad().to_vector<double>())
        << what << ": grad of " << pe[i].first;
  }
  auto se = eager_opt.state_dict(), sc = opt.state_dict();
  ASSERT_EQ(se.tensors.size(), sc.tensors.size()) << what;
  for (auto& [k, t] : se.tensors) {
    ASSERT_TRUE(sc.tensors.count(k)) << what << ": optimizer " << k;
    EXPECT_EQ(t.to_vector<double>(), sc.tensors.at(k).to_vector<double>()) << what << ": optimizer " << k;
  }
}

// N compiled steps == N eager steps from the same initial model, with `passes` (nullptr: the
// default CompileOptions::passes); one trace serves every step, and the graph holds `op_name`
// with the state named after its parameter (`state` updated in place).
template <class MakeOpt>
void expect_training_matches(MakeOpt make_opt, const std::string& op_name, const std::string& state,
                             const std::vector<std::string>* passes, int steps = 4) {
  const std::string what = passes ? fmt::format("passes [{}]", fmt::join(*passes, ",")) : "default passes";
  manual_seed(11);
  auto eager_model = models::create("mlp");
  manual_seed(11);
  auto model = models::create("mlp");
  auto eager_opt = make_opt(eager_model->parameters());
  auto opt = make_opt(model->parameters());
  auto data = batches(steps, 8, 5);
  CompileOptions options{.modules = {model}};
  if (passes) options.passes = *passes;
  auto eager_step = train_step(*eager_model, *eager_opt);
  auto step = compile(train_step(*model, *opt), options);
  for (int i = 0; i < steps; ++i) {
    Tensor le = eager_step(data[i].x, data[i].y);
    Tensor lc = step(data[i].x, data[i].y);
    EXPECT_EQ(le.item<double>(), lc.item<double>()) << what << ": step " << i;
  }
  EXPECT_EQ(step.stats().traces, 1) << what << ": " << fmt::format("{}", fmt::join(step.stats().reasons, "; "));
  EXPECT_EQ(step.stats().cache_hits, steps - 1) << what;
  expect_same(*eager_model, *eager_opt, *model, *opt, what);
  std::string g = step.graph().str();
  EXPECT_NE(g.find(op_name + "("), std::string::npos) << what << "\n" << g;
  const std::string first = model->named_parameters()[0].first;
  EXPECT_NE(g.find("%" + first + " <- "), std::string::npos) << what << "\n" << g;
  EXPECT_NE(g.find("%" + first + "." + state + " <- "), std::string::npos) << what << "\n" << g;
}

template <class MakeOpt>
void expect_training_matches_with_and_without_passes(MakeOpt make_opt, const std::string& op_name,
                                                     const std::vector<std::string>& states) {
  const std::vector<std::string> none;
  for (const std::string& s : states) {
    expect_training_matches(make_opt, op_name, s, &none);
    expect_training_matches(make_opt, op_name, s, nullptr);
  }
}

auto rmsprop(optim::RMSpropOptions o) {
  return [o](std::vector<Tensor> ps) { return std::make_unique<optim::RMSprop>(ps, o); };
}
auto adagrad(optim::AdagradOptions o) {
  return [o](std::vector<Tensor> ps) { return std::make_unique<optim::Adagrad>(ps, o); };
}

TEST(CompileOptim, RmspropMatchesEager) {
  expect_training_matches_with_and_without_passes(rmsprop({.lr = 0.01}), "rmsprop_step", {"square_avg"});
}

TEST(CompileOptim, RmspropMomentumMatchesEager) {
  expect_training_matches_with_and_without_passes(rmsprop({.lr = 0.01, .momentum = 0.9}), "rmsprop_step",
                                                  {"square_avg", "momentum_buffer"});
}

TEST(CompileOptim, RmspropCenteredMatchesEager) {
  expect_training_matches_with_and_without_passes(rmsprop({.lr = 0.005, .eps = 1e-6, .centered = true}),
                                                  "rmsprop_step", {"square_avg", "grad_avg"});
}

TEST(CompileOptim, RmspropCenteredMomentumMatchesEager) {
  expect_training_matches_with_and_without_passes(
      rmsprop({.lr = 0.005, .alpha = 0.9, .momentum = 0.5, .centered = true}), "rmsprop_step",
      {"square_avg", "grad_avg", "momentum_buffer"});
}

TEST(CompileOptim, RmspropWeightDecayMatchesEager) {
  expect_training_matches_with_and_without_passes(rmsprop({.lr = 0.01, .weight_decay = 0.1}),
                                                  "rmsprop_step", {"square_avg"});
}

TEST(CompileOptim, AdagradMatchesEager) {
  expect_training_matches_with_and_without_passes(adagrad({.lr = 0.1}), "adagrad_step", {"sum"});
}

TEST(CompileOptim, AdagradLrDecayAndInitialAccumulatorMatchEager) {
  expect_training_matches_with_and_without_passes(
      adagrad({.lr = 0.1, .lr_decay = 0.05, .initial_accumulator_value = 0.5}), "adagrad_step", {"sum"});
}

TEST(CompileOptim, AdagradWeightDecayMatchesEager) {
  expect_training_matches_with_and_without_passes(adagrad({.lr = 0.1, .weight_decay = 0.1}),
                                                  "adagrad_step", {"sum"});
}

// A scheduler stepping between compiled calls (and, for Adagrad, a changed lr_decay: read on
// every run like lr) reaches the compiled step without re-tracing. Then a changed option that
// the graph bakes in re-traces with its reason, and training stays exact after it.
template <class MakeOpt>
void expect_schedule_then_retrace(MakeOpt make_opt, const std::vector<std::string>* passes,
                                  const std::function<void(optim::Optimizer&)>& change_lr_decay,
                                  const std::string& option, double new_value,
                                  const std::string& reason) {
  manual_seed(4);
  auto eager_model = models::create("mlp");
  manual_seed(4);
  auto model = models::create("mlp");
  auto eager_opt = make_opt(eager_model->parameters());
  auto opt = make_opt(model->parameters());
  optim::StepLR eager_sched(*eager_opt, 2, 0.5);
  optim::StepLR sched(*opt, 2, 0.5);
  CompileOptions options{.modules = {model}};
  if (passes) options.passes = *passes;
  auto eager_step = train_step(*eager_model, *eager_opt);
  auto step = compile(train_step(*model, *opt), options);
  auto data = batches(8, 4, 9);
  for (int i = 0; i < 6; ++i) {
    if (i == 3 && change_lr_decay) {
      change_lr_decay(*eager_opt);
      change_lr_decay(*opt);
    }
    Tensor le = eager_step(data[i].x, data[i].y), lc = step(data[i].x, data[i].y);
    EXPECT_EQ(le.item<double>(), lc.item<double>()) << "step " << i;
    eager_sched.step();
    sched.step();
  }
  EXPECT_EQ(opt->param_groups()[0].options.at("lr"), eager_opt->param_groups()[0].options.at("lr"));
  EXPECT_EQ(step.stats().traces, 1) << fmt::format("{}", fmt::join(step.stats().reasons, "; "));
  expect_same(*eager_model, *eager_opt, *model, *opt, "lr schedule");

  eager_opt->param_groups()[0].options[option] = new_value;
  opt->param_groups()[0].options[option] = new_value;
  for (int i = 6; i < 8; ++i) {
    Tensor le = eager_step(data[i].x, data[i].y), lc = step(data[i].x, data[i].y);
    EXPECT_EQ(le.item<double>(), lc.item<double>()) << "step " << i;
  }
  EXPECT_EQ(step.stats().traces, 2);
  EXPECT_EQ(step.stats().reasons.back(), reason);
  expect_same(*eager_model, *eager_opt, *model, *opt, "after " + option + " changed");
}

TEST(CompileOptim, RmspropFollowsAnLrScheduleAndRetracesWhenAnOptionChanges) {
  const std::vector<std::string> none;
  for (const std::vector<std::string>* passes : {&none, static_cast<const std::vector<std::string>*>(nullptr)}) {
    SCOPED_TRACE(passes ? "no passes" : "default passes");
    // Turning centering on mid-training creates grad_avg at the re-trace, as eager does.
    expect_schedule_then_retrace(rmsprop({.lr = 0.01, .momentum = 0.5}), passes, nullptr, "centered", 1.0,
                                 "RMSprop option 'centered' of parameter group 0 changed from 0 to 1");
    expect_schedule_then_retrace(rmsprop({.lr = 0.01}), passes, nullptr, "alpha", 0.9,
                                 "RMSprop option 'alpha' of parameter group 0 changed from 0.99 to 0.9");
  }
}

TEST(CompileOptim, AdagradFollowsAnLrScheduleAndLrDecayAndRetracesWhenAnOptionChanges) {
  const std::vector<std::string> none;
  auto decay = [](optim::Optimizer& o) { o.param_groups()[0].options["lr_decay"] = 0.2; };
  for (const std::vector<std::string>* passes : {&none, static_cast<const std::vector<std::string>*>(nullptr)}) {
    SCOPED_TRACE(passes ? "no passes" : "default passes");
    expect_schedule_then_retrace(adagrad({.lr = 0.1, .lr_decay = 0.05}), passes, decay, "eps", 1e-3,
                                 "Adagrad option 'eps' of parameter group 0 changed from 1e-10 to 0.001");
    expect_schedule_then_retrace(adagrad({.lr = 0.1}), passes, nullptr, "weight_decay", 0.01,
                                 "Adagrad option 'weight_decay' of parameter group 0 changed from 0 to 0.01");
  }
}

// A parameter the fused loop can't take (here float16) is an error while tracing, never a step
// silently left out of the graph.
TEST(CompileOptim, UncapturableParametersAreAnError) {
  Tensor w = randn({4}, {.dtype = DType::Float16}).requires_grad_();
  optim::RMSprop rms({w}, {.lr = 0.01});
  optim::Adagrad ada({w}, {.lr = 0.01});
  for (optim::Optimizer* o : {static_cast<optim::Optimizer*>(&rms), static_cast<optim::Optimizer*>(&ada)}) {
    auto step = compile([&](const Tensor& x) {
      o->zero_grad();
      Tensor loss = (w * x).sum();
      loss.backward();
      o->step();
      return loss;
    });
    EXPECT_TRUE(throws_error([&] { step(ones({4}, {.dtype = DType::Float16})); },
                             {"compile: " + o->name() + ".step on a float16 parameter can't be captured",
                              "call step() outside the compiled function"}));
  }
}

}  // namespace
}  // namespace tandem
