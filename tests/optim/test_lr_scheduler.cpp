// LR schedulers against PyTorch 1.13 (tests/reference/gen_optim.py "schedulers": the lr of each
// group after construction and after every step), state_dict resume, errors.
#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "optim_cases.h"

namespace tandem::testing {
namespace {

using namespace optim_cases;
using optim::LRScheduler;
using optim::Optimizer;

// The optimizers of gen_optim.py's sgd2() / adam2(): two groups with lr 0.1 and 0.02.
struct TwoGroups {
  std::vector<Tensor> params{zeros({2}, kF64).requires_grad_(), zeros({3}, kF64).requires_grad_()};
  std::unique_ptr<Optimizer> opt;
  explicit TwoGroups(const std::string& kind) {
    std::vector<optim::ParamGroup> groups{{.params = {params[0]}, .options = {{"lr", 0.1}}},
                                          {.params = {params[1]}, .options = {{"lr", 0.02}}}};
    if (kind == "adam")
      opt = std::make_unique<optim::Adam>(groups);
    else
      opt = std::make_unique<optim::SGD>(groups, optim::SGDOptions{.lr = 0.1, .momentum = kind == "sgd_momentum" ? 0.9 : 0.0});
  }
};

struct SchedCase {
  std::string name;
  std::string optimizer;  // "sgd", "sgd_momentum", "adam"
  std::function<std::unique_ptr<LRScheduler>(Optimizer&)> make;
};

const std::vector<SchedCase>& sched_cases() {
  using namespace optim;
  static const std::vector<SchedCase> c = {
      {"steplr", "sgd", [](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5); }},
      {"multisteplr", "sgd",
       [](Optimizer& o) { return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{2, 5, 5, 9}, 0.3); }},
      {"exponentiallr", "sgd", [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.9); }},
      {"cosine", "sgd", [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 10, 0.001); }},
      {"cosine_no_min", "sgd", [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 7); }},
      {"linearlr_warmup", "sgd", [](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.25, 1.0, 4); }},
      {"linearlr_decay", "sgd", [](Optimizer& o) { return std::make_unique<LinearLR>(o, 1.0, 0.1, 5); }},
      {"onecycle_cos", "sgd_momentum",
       [](Optimizer& o) { return std::make_unique<OneCycleLR>(o, std::vector<double>{1.0, 0.5}, 20); }},
      {"onecycle_linear_3phase", "adam",
       [](Optimizer& o) {
         return std::make_unique<OneCycleLR>(
             o, 0.3, 16,
             OneCycleLROptions{.pct_start = 0.25, .anneal_strategy = "linear", .div_factor = 10.0,
                               .final_div_factor = 100.0, .three_phase = true});
       }},
      {"onecycle_no_momentum", "sgd",
       [](Optimizer& o) {
         return std::make_unique<OneCycleLR>(o, 0.4, 10, OneCycleLROptions{.pct_start = 0.5, .cycle_momentum = false});
       }},
      {"sequential_warmup_cosine", "sgd",
       [](Optimizer& o) {
         return std::make_unique<SequentialLR>(
             o,
             std::vector<std::shared_ptr<LRScheduler>>{std::make_shared<LinearLR>(o, 0.1, 1.0, 3),
                                                       std::make_shared<CosineAnnealingLR>(o, 8, 0.001)},
             std::vector<int64_t>{3});
       }},
      {"sequential_three", "sgd",
       [](Optimizer& o) {
         return std::make_unique<SequentialLR>(
             o,
             std::vector<std::shared_ptr<LRScheduler>>{
                 std::make_shared<ExponentialLR>(o, 0.8),
                 std::make_shared<MultiStepLR>(o, std::vector<int64_t>{1, 3}, 0.5),
                 std::make_shared<StepLR>(o, 2, 0.7)},
             std::vector<int64_t>{2, 6});
       }},
      {"plateau_min_rel", "sgd",
       [](Optimizer& o) {
         return std::make_unique<ReduceLROnPlateau>(
             o, ReduceLROnPlateauOptions{.mode = "min", .factor = 0.5, .patience = 2, .threshold = 0.01,
                                         .cooldown = 1, .min_lr = 0.01});
       }},
      {"plateau_max_abs", "sgd",
       [](Optimizer& o) {
         return std::make_unique<ReduceLROnPlateau>(
             o, ReduceLROnPlateauOptions{.mode = "max", .factor = 0.2, .patience = 1, .threshold = 0.1,
                                         .threshold_mode = "abs", .min_lrs = {0.001, 0.0005}});
       }},
  };
  return c;
}

const nlohmann::json& reference(const std::string& name) {
  for (const auto& r : cases()["schedulers"])
    if (r["name"] == name) return r;
  static const nlohmann::json none;
  ADD_FAILURE() << "no reference for scheduler case " << name << "; rerun gen_optim.py";
  return none;
}

std::vector<double> momenta(const Optimizer& o) {
  std::vector<double> m;
  for (const auto& g : o.param_groups())
    m.push_back(g.options.count("beta1") ? g.options.at("beta1") : g.options.at("momentum"));
  return m;
}

void advance(LRScheduler& s, Optimizer& o, const nlohmann::json& ref, size_t epoch) {
  o.step();
  if (ref.contains("metrics"))
    static_cast<optim::ReduceLROnPlateau&>(s).step(ref["metrics"][epoch].get<double>());
  else
    s.step();
}

void expect_near_all(const std::vector<double>& a, const nlohmann::json& e, const std::string& what) {
  ASSERT_EQ(a.size(), e.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], e[i].get<double>(), 1e-15 + 1e-13 * std::abs(e[i].get<double>())) << what << " group " << i;
}

TEST(LRSchedulers, MatchPyTorch) {
  for (const auto& c : sched_cases()) {
    SCOPED_TRACE(c.name);
    const auto& ref = reference(c.name);
    TwoGroups s(c.optimizer);
    auto sched = c.make(*s.opt);
    const auto& lrs = ref["lrs"];
    for (size_t e = 0; e < lrs.size(); ++e) {
      if (e > 0) advance(*sched, *s.opt, ref, e - 1);
      std::string what = fmt::format("epoch {}", e);
      expect_near_all(sched->get_last_lr(), lrs[e], what + " get_last_lr");
      expect_near_all(std::vector<double>{s.opt->lr(0), s.opt->lr(1)}, lrs[e], what + " optimizer lr");
      if (c.name.rfind("onecycle", 0) == 0) expect_near_all(momenta(*s.opt), ref["momentum"][e], what + " momentum");
    }
  }
}

TEST(LRSchedulers, ResumeFromStateDictGivesTheSameLrs) {
  for (const auto& c : sched_cases()) {
    SCOPED_TRACE(c.name);
    const auto& ref = reference(c.name);
    const size_t epochs = ref["lrs"].size() - 1, k = epochs / 2;
    TwoGroups a(c.optimizer);
    auto sa = c.make(*a.opt);
    for (size_t e = 0; e < epochs; ++e) advance(*sa, *a.opt, ref, e);

    TwoGroups b(c.optimizer);
    auto sb = c.make(*b.opt);
    for (size_t e = 0; e < k; ++e) advance(*sb, *b.opt, ref, e);
    StateDict osd = b.opt->state_dict(), ssd = sb->state_dict();
    TwoGroups b2(c.optimizer);
    auto sb2 = c.make(*b2.opt);  // constructed fresh, as a resumed program does, then loaded
    b2.opt->load_state_dict(osd);
    sb2->load_state_dict(ssd);
    EXPECT_EQ(sb2->last_epoch(), sb->last_epoch());
    EXPECT_EQ(sb2->get_last_lr(), sb->get_last_lr());
    for (size_t e = k; e < epochs; ++e) advance(*sb2, *b2.opt, ref, e);
    EXPECT_EQ(sb2->get_last_lr(), sa->get_last_lr());  // bit for bit
    EXPECT_EQ(momenta(*b2.opt), momenta(*a.opt));
  }
}

TEST(LRSchedulers, PlateauStateKeepsInfiniteBest) {
  TwoGroups s("sgd");
  optim::ReduceLROnPlateau p(*s.opt);
  StateDict sd = p.state_dict();  // best is +inf before the first metric
  optim::ReduceLROnPlateau q(*s.opt, {.mode = "max"});
  p.step(3.0);
  p.load_state_dict(sd);
  EXPECT_EQ(p.best(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(p.last_epoch(), 0);
}

TEST(LRSchedulers, Errors) {
  TwoGroups s("sgd");
  EXPECT_TRUE(throws_error([&] { optim::StepLR(*s.opt, 0); }, {"StepLR", "step_size"}));
  EXPECT_TRUE(throws_error([&] { optim::CosineAnnealingLR(*s.opt, 0); }, {"T_max"}));
  EXPECT_TRUE(throws_error([&] { optim::LinearLR(*s.opt, 1.5); }, {"start_factor"}));
  EXPECT_TRUE(throws_error([&] { optim::OneCycleLR(*s.opt, 0.1, 0); }, {"total_steps"}));
  EXPECT_TRUE(throws_error([&] { optim::OneCycleLR(*s.opt, 0.1, 10, {.anneal_strategy = "exp"}); },
                           {"anneal_strategy"}));
  EXPECT_TRUE(throws_error([&] { optim::OneCycleLR(*s.opt, std::vector<double>{0.1}, 10); },
                           {"expected 2 max_lr"}));
  optim::Adagrad adagrad({zeros({2}, kF64).requires_grad_()});
  EXPECT_TRUE(throws_error([&] { optim::OneCycleLR(adagrad, 0.1, 10); }, {"cycle_momentum", "Adagrad"}));
  EXPECT_TRUE(throws_error([&] { optim::ReduceLROnPlateau(*s.opt, {.factor = 1.0}); }, {"factor"}));
  EXPECT_TRUE(throws_error([&] { optim::ReduceLROnPlateau(*s.opt, {.mode = "mean"}); }, {"mode"}));
  EXPECT_TRUE(throws_error([&] { optim::ReduceLROnPlateau(*s.opt, {.min_lrs = {0.1}}); }, {"expected 2 min_lrs"}));
  optim::ReduceLROnPlateau plateau(*s.opt);
  EXPECT_TRUE(throws_error([&] { plateau.step(); }, {"step(metric)"}));

  TwoGroups t("sgd");
  optim::OneCycleLR one(*t.opt, 0.1, 3, {.cycle_momentum = false});
  for (int i = 0; i < 3; ++i) one.step();  // last_epoch == total_steps is still allowed, as in PyTorch
  EXPECT_TRUE(throws_error([&] { one.step(); }, {"stepped 5 times", "total_steps is 3"}));

  TwoGroups u("sgd");
  optim::StepLR step(*u.opt, 2);
  optim::ExponentialLR expo(*u.opt, 0.5);
  EXPECT_TRUE(throws_error([&] { expo.load_state_dict(step.state_dict()); }, {"saved by a StepLR"}));
  StateDict bad = step.state_dict();
  bad.metadata["state"] = "{\"last_epoch\": 1}";
  EXPECT_TRUE(throws_error([&] { step.load_state_dict(bad); }, {"lacks"}));
}

}  // namespace
}  // namespace tandem::testing
