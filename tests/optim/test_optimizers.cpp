// Optimizers against PyTorch 1.13 (tests/reference/gen_optim.py): the same parameters and
// gradients, the parameters compared after every step; state_dict round trips; errors.
#include <gtest/gtest.h>

#include "optim_cases.h"

namespace tandem::testing {
namespace {

using namespace optim_cases;

// Runs a reference case for `steps` steps and compares with PyTorch after each.
void check_case(const nlohmann::json& c, DType dtype, bool non_contiguous, double atol,
                double rtol) {
  const std::string name = c["name"];
  SCOPED_TRACE(name + " " + std::string(dtype_name(dtype)) +
               (non_contiguous ? " non-contiguous" : ""));
  Tensor expected = load_npy("optim/opt_" + name + ".npy");
  std::vector<Tensor> params = make_params(dtype, non_contiguous);
  auto opt = make_optimizer(c, params);
  ASSERT_TRUE(opt);
  const int steps = cases()["steps"];
  for (int step = 0; step < steps; ++step) {
    set_grads(params, step, c["skip"]);
    opt->step();
    ASSERT_TRUE(all_close(flatten_all(params), expected.select(0, step), atol, rtol))
        << "after step " << step;
  }
}

TEST(Optimizers, MatchPyTorchFloat64FusedPath) {
  for (const auto& c : cases()["optimizers"]) check_case(c, kFloat64, false, 1e-13, 1e-12);
}

TEST(Optimizers, MatchPyTorchGenericPathNonContiguous) {
  for (const auto& c : cases()["optimizers"]) check_case(c, kFloat64, true, 1e-13, 1e-12);
}

TEST(Optimizers, MatchPyTorchFloat32) {
  for (const auto& c : cases()["optimizers"]) check_case(c, kFloat32, false, 2e-5, 2e-5);
}

TEST(Optimizers, BFloat16ParamsTakeTheGenericPath) {
  // bf16 keeps 8 bits of mantissa: the trajectory follows PyTorch's to bf16 resolution.
  for (const auto& c : cases()["optimizers"])
    if (c["name"] == "sgd_momentum" || c["name"] == "adam_wd") check_case(c, kBFloat16, false, 2e-2, 2e-2);
}

TEST(Optimizers, StepIsInPlaceBumpsVersionAndKeepsLeaves) {
  std::vector<Tensor> params = make_params();
  optim::Adam opt(params, {.lr = 0.1});
  set_grads(params, 0);
  void* data = params[0].data_ptr();
  uint64_t v = params[0].version();
  opt.step();
  EXPECT_EQ(params[0].data_ptr(), data);
  EXPECT_GT(params[0].version(), v);
  EXPECT_TRUE(params[0].is_leaf());
  EXPECT_TRUE(params[0].requires_grad());
  EXPECT_FALSE(params[0].grad_fn());
}

TEST(Optimizers, StepRecordsNoHistoryEvenWithGradModeOn) {
  std::vector<Tensor> params = make_params(kFloat64, /*non_contiguous=*/true);
  optim::RMSprop opt(params, {.momentum = 0.5, .centered = true});
  set_grads(params, 0);
  ASSERT_TRUE(is_grad_enabled());
  opt.step();  // the generic path runs in-place ops on leaves: an Error unless under NoGradGuard
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE(params[1].is_leaf());
}

TEST(Optimizers, ParamsWithoutGradKeepValuesAndGetNoState) {
  std::vector<Tensor> params = make_params();
  Tensor before = params[1].clone();
  optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9});
  set_grads(params, 0);
  params[1].set_grad(Tensor());
  opt.step();
  EXPECT_TRUE(all_close(params[1], before, 0, 0));
  EXPECT_EQ(opt.state(params[1]), nullptr);
  ASSERT_NE(opt.state(params[0]), nullptr);
  EXPECT_EQ(opt.state(params[0])->step, 1);
  EXPECT_TRUE(opt.state(params[0])->tensors.count("momentum_buffer"));
}

TEST(Optimizers, ZeroGrad) {
  std::vector<Tensor> params = make_params();
  optim::SGD opt(params, {.lr = 0.1});
  set_grads(params, 0);
  Tensor g0 = params[0].grad();
  opt.zero_grad(/*set_to_none=*/false);
  EXPECT_TRUE(params[0].grad().defined());
  EXPECT_EQ(params[0].grad().data_ptr(), g0.data_ptr());
  EXPECT_TRUE(all_close(params[0].grad(), zeros(params[0].shape(), kF64), 0, 0));
  opt.zero_grad();
  for (const auto& p : params) EXPECT_FALSE(p.grad().defined());
}

TEST(Optimizers, LearningRatePerGroupAndSetLr) {
  std::vector<Tensor> params = make_params();
  optim::Adam opt({{.params = {params[0]}, .options = {{"lr", 0.5}}},
                   {.params = {params[1], params[2]}, .options = {{"betas0", 0.7}}}},
                  {.lr = 0.01, .beta2 = 0.9});
  EXPECT_EQ(opt.lr(0), 0.5);
  EXPECT_EQ(opt.lr(1), 0.01);
  EXPECT_EQ(opt.param_groups()[1].options.at("beta1"), 0.7);  // PyTorch's betas[0] spelling
  EXPECT_EQ(opt.param_groups()[0].options.at("beta2"), 0.9);   // missing keys take the defaults
  opt.set_lr(0.25);
  EXPECT_EQ(opt.lr(0), 0.25);
  EXPECT_EQ(opt.lr(1), 0.25);
  EXPECT_TRUE(throws_error([&] { opt.lr(2); }, {"group 2", "has 2"}));
}

TEST(Optimizers, AddParamGroupAfterConstruction) {
  std::vector<Tensor> params = make_params();
  optim::SGD opt({params[0]}, {.lr = 0.1, .momentum = 0.9});
  opt.add_param_group({.params = {params[1]}, .options = {{"lr", 0.01}}});
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[1].options.at("momentum"), 0.9);
  EXPECT_TRUE(throws_error([&] { opt.add_param_group({.params = {params[0]}}); },
                           {"more than once"}));
}

// ---- state_dict

// k steps, save, load into a fresh optimizer over fresh copies of the parameters, continue:
// the same numbers bit for bit as the run that was never interrupted.
void check_resume(const nlohmann::json& c, DType dtype, int k) {
  SCOPED_TRACE(c["name"].get<std::string>());
  const int steps = cases()["steps"];
  std::vector<Tensor> a = make_params(dtype);
  auto opt_a = make_optimizer(c, a);
  for (int s = 0; s < steps; ++s) {
    set_grads(a, s, c["skip"]);
    opt_a->step();
  }

  std::vector<Tensor> b = make_params(dtype);
  auto opt_b = make_optimizer(c, b);
  for (int s = 0; s < k; ++s) {
    set_grads(b, s, c["skip"]);
    opt_b->step();
  }
  StateDict sd = opt_b->state_dict();
  for (auto& [key, t] : sd.tensors) t = t.clone();  // a snapshot, as a checkpoint file would be
  std::vector<Tensor> b2;
  for (const auto& p : b) b2.push_back(p.detach().clone().requires_grad_());
  opt_b.reset();
  auto opt_c = make_optimizer(c, b2);
  opt_c->set_lr(123.0);  // overwritten by the loaded param_groups
  opt_c->load_state_dict(sd);
  for (int s = k; s < steps; ++s) {
    set_grads(b2, s, c["skip"]);
    opt_c->step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_close(b2[i], a[i], 0, 0)) << "param " << i;
}

TEST(OptimizerStateDict, ResumeIsBitExact) {
  for (const auto& c : cases()["optimizers"]) {
    check_resume(c, kFloat64, 3);
    check_resume(c, kFloat32, 2);
  }
}

TEST(OptimizerStateDict, Layout) {
  std::vector<Tensor> params = make_params();
  optim::Adam opt({{.params = {params[0]}}, {.params = {params[1], params[2]}, .options = {{"amsgrad", 1}}}});
  set_grads(params, 0);
  params[1].set_grad(Tensor());
  opt.step();
  StateDict sd = opt.state_dict();
  EXPECT_EQ(sd.metadata.at("optimizer"), "Adam");
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd.tensors) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step",
                                            "state.2.exp_avg", "state.2.exp_avg_sq",
                                            "state.2.max_exp_avg_sq", "state.2.step"}));
  EXPECT_EQ(sd.tensors.at("state.2.step").item<int64_t>(), 1);
  auto groups = nlohmann::json::parse(sd.metadata.at("param_groups"));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[1]["params"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(groups[1]["amsgrad"], 1.0);
  EXPECT_EQ(groups[0]["lr"], 1e-3);
  // Tensors alias the live state, as PyTorch's state_dict().
  EXPECT_EQ(sd.tensors.at("state.0.exp_avg").data_ptr(),
            opt.state(params[0])->tensors.at("exp_avg").data_ptr());
}

TEST(OptimizerStateDict, MismatchesAreClearErrorsAndLeaveStateAlone) {
  std::vector<Tensor> params = make_params();
  optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9});
  set_grads(params, 0);
  opt.step();
  const StateDict good = opt.state_dict();
  Tensor buf_before = opt.state(params[0])->tensors.at("momentum_buffer").clone();

  std::vector<Tensor> others = make_params();
  optim::Adam adam(others);
  EXPECT_TRUE(throws_error([&] { adam.load_state_dict(good); }, {"saved by a SGD", "load it into a SGD"}));

  optim::SGD two_groups({{.params = {others[0]}}, {.params = {others[1], others[2]}}}, {.lr = 0.1, .momentum = 0.9});
  EXPECT_TRUE(throws_error([&] { two_groups.load_state_dict(good); }, {"1 parameter groups", "has 2"}));

  optim::SGD fewer({others[0], others[1]}, {.lr = 0.1, .momentum = 0.9});
  EXPECT_TRUE(throws_error([&] { fewer.load_state_dict(good); }, {"3 parameters in the state dict and 2"}));

  Tensor wrong = zeros({7}, kF64).requires_grad_();
  optim::SGD shapes({others[0], wrong, others[2]}, {.lr = 0.1, .momentum = 0.9});
  EXPECT_TRUE(throws_error([&] { shapes.load_state_dict(good); }, {"state.1.momentum_buffer", "[5]", "[7]"}));

  StateDict bad = good;
  bad.tensors["state.0.exp_avg"] = zeros({3, 4}, kF64);
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"unexpected state 'exp_avg'", "momentum_buffer"}));
  bad = good;
  bad.tensors["state.9.momentum_buffer"] = zeros({3, 4}, kF64);
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"parameter 9", "has 3 parameters"}));
  bad = good;
  bad.tensors["model.weight"] = zeros({3, 4}, kF64);
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"unexpected tensor 'model.weight'"}));
  bad = good;
  bad.metadata["param_groups"] = "[{\"lr\": -1.0, \"params\": [0, 1, 2]}]";
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"invalid learning rate -1"}));
  bad = good;
  bad.metadata["param_groups"] = "[{";
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"not valid JSON"}));
  bad = good;
  bad.metadata.erase("optimizer");
  EXPECT_TRUE(throws_error([&] { opt.load_state_dict(bad); }, {"no 'optimizer' metadata"}));

  // Nothing above changed the optimizer that refused the loads.
  EXPECT_TRUE(all_close(opt.state(params[0])->tensors.at("momentum_buffer"), buf_before, 0, 0));
  EXPECT_EQ(opt.lr(), 0.1);
}

TEST(OptimizerStateDict, MissingAdamMomentIsAnError) {
  std::vector<Tensor> params = make_params();
  optim::Adam opt(params, {.amsgrad = true});
  set_grads(params, 0);
  opt.step();
  StateDict sd = opt.state_dict();
  sd.tensors.erase("state.1.max_exp_avg_sq");
  optim::Adam fresh(make_params(), {.amsgrad = true});
  EXPECT_TRUE(throws_error([&] { fresh.load_state_dict(sd); }, {"parameter 1", "lacks 'state.1.max_exp_avg_sq'"}));
}

// ---- bad options

TEST(OptimizerErrors, BadOptions) {
  std::vector<Tensor> p = make_params();
  EXPECT_TRUE(throws_error([&] { optim::SGD(p, {.lr = -0.1}); }, {"SGD", "invalid learning rate -0.1"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD(p, {}); }, {"SGD", "no learning rate"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD(p, {.lr = 0.1, .nesterov = true}); }, {"Nesterov"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
                           {"Nesterov", "zero dampening"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD(p, {.lr = 0.1, .momentum = -1}); }, {"invalid momentum"}));
  EXPECT_TRUE(throws_error([&] { optim::Adam(p, {.lr = -1}); }, {"Adam", "invalid learning rate"}));
  EXPECT_TRUE(throws_error([&] { optim::Adam(p, {.beta1 = 1.0}); }, {"invalid beta1 1", "[0, 1)"}));
  EXPECT_TRUE(throws_error([&] { optim::AdamW(p, {.beta2 = -0.5}); }, {"AdamW", "invalid beta2 -0.5"}));
  EXPECT_TRUE(throws_error([&] { optim::Adam(p, {.eps = -1e-8}); }, {"invalid eps"}));
  EXPECT_TRUE(throws_error([&] { optim::AdamW(p, {.weight_decay = -0.1}); }, {"invalid weight_decay"}));
  EXPECT_TRUE(throws_error([&] { optim::RMSprop(p, {.alpha = -0.1}); }, {"RMSprop", "invalid alpha"}));
  EXPECT_TRUE(throws_error([&] { optim::Adagrad(p, {.lr_decay = -0.1}); }, {"Adagrad", "invalid lr_decay"}));
  EXPECT_TRUE(throws_error([&] { optim::Adagrad(p, {.initial_accumulator_value = -1}); },
                           {"initial_accumulator_value"}));
  EXPECT_TRUE(throws_error([&] { optim::Adam({{.params = p, .options = {{"lrr", 0.1}}}}); },
                           {"unknown option 'lrr'", "lr, "}));
  EXPECT_TRUE(throws_error([&] { optim::Adam({{.params = p}, {.params = {p[0]}, .options = {{"beta2", 2}}}}); },
                           {"invalid beta2 2", "parameter group 1"}));
}

TEST(OptimizerErrors, BadParameters) {
  std::vector<Tensor> p = make_params();
  EXPECT_TRUE(throws_error([&] { optim::SGD(std::vector<Tensor>{}, {.lr = 0.1}); }, {"empty"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD({p[0], p[1], p[0]}, {.lr = 0.1}); }, {"more than once"}));
  Tensor non_leaf = p[0] * 2.0;
  EXPECT_TRUE(throws_error([&] { optim::SGD({non_leaf}, {.lr = 0.1}); }, {"not a leaf"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD({zeros({2}, {.dtype = kInt64})}, {.lr = 0.1}); },
                           {"int64", "floating-point"}));
  EXPECT_TRUE(throws_error([&] { optim::SGD({Tensor()}, {.lr = 0.1}); }, {"undefined"}));
}

}  // namespace
}  // namespace tandem::testing
