// Inference through a graph::Plan vs eager, on the zoo models (eval mode, no grad).
//
//   plan_infer/<model>_b<N>/eager      model->forward(x), one dispatch per op
//   plan_infer/<model>_b<N>/interp     graph::run on the traced graph (one dispatch per node)
//   plan_infer/<model>_b<N>/plan       Plan::run (fresh output tensors)
//   plan_infer/<model>_b<N>/plan_into  Plan::run_into (caller's output tensor: no allocation)
//
//   plan_train/mlp_b<N>/{eager,plan}     one SGD step (forward, MSE loss, backward, p -= 0.1 grad)
//                                        eager vs the compile-traced step lowered to a Plan
//   plan_lower/<model>_b64               graph::lower of the traced forward graph (per batch size)
//   plan_chain/<n>ops/{eager,plan_into}  n small elementwise ops on 64 floats: the cost per op
//                                        of dispatch vs the plan's direct kernel calls
//
// Counters: arena_bytes, naive_bytes and eager_peak_bytes of the plan (same for all four rows).
// Run: build/release/bench/tandem_bench_plan --threads=1 (main() is bench_main.cpp).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench_util.h"
#include "tandem/compile.h"
#include "tandem/graph/plan.h"
#include "tandem/models.h"
#include "tandem/tandem.h"

namespace tandem::bench {
namespace {

enum class Mode { Eager, Interp, Plan, PlanInto };

void infer_case(benchmark::State& state, const std::string& name, int64_t batch, Mode mode) {
  manual_seed(0);
  auto model = models::create(name);
  model->eval();
  NoGradGuard ng;
  Tensor x = randn({batch, 1, 28, 28});
  auto fwd = compile([&](const Tensor& in) { return model->forward(in); }, {.modules = {model}});
  std::unique_ptr<graph::Plan> plan;
  std::vector<Tensor> in = {x}, out;
  if (!try_once(state, [&] {
        fwd(x);
        plan = std::make_unique<graph::Plan>(graph::lower(fwd.graph()));
        out = {empty(plan->output_metas()[0].shape)};
      }))
    return;
  const graph::Graph& g = fwd.graph();
  for (auto _ : state) {
    switch (mode) {
      case Mode::Eager: benchmark::DoNotOptimize(model->forward(x).impl()); break;
      case Mode::Interp: benchmark::DoNotOptimize(graph::run(g, in)[0].impl()); break;
      case Mode::Plan: benchmark::DoNotOptimize(plan->run(in)[0].impl()); break;
      case Mode::PlanInto: plan->run_into(in, out); break;
    }
  }
  state.counters["arena_bytes"] = static_cast<double>(plan->memory().arena_bytes);
  state.counters["naive_bytes"] = static_cast<double>(plan->memory().naive_bytes);
  state.counters["eager_peak_bytes"] = static_cast<double>(plan->memory().eager_peak_bytes);
}

void chain_case(benchmark::State& state, int n, bool use_plan) {
  Tensor x = randn({64});
  auto f = [n](const Tensor& in) {
    Tensor h = in;
    for (int i = 0; i < n; ++i) h = (i % 2) ? tanh(h) : h * 0.5;
    return h;
  };
  NoGradGuard ng;
  auto fwd = compile(f);
  std::unique_ptr<graph::Plan> plan;
  std::vector<Tensor> in = {x}, out = {empty({64})};
  if (!try_once(state, [&] {
        fwd(x);
        plan = std::make_unique<graph::Plan>(graph::lower(fwd.graph()));
      }))
    return;
  for (auto _ : state) {
    if (use_plan)
      plan->run_into(in, out);
    else
      benchmark::DoNotOptimize(f(x).impl());
  }
  state.counters["ops"] = n;
}

Tensor sgd_step(nn::Module& m, const Tensor& x, const Tensor& y) {
  Tensor d = m.forward(x) - y;
  Tensor loss = mean(d * d);
  loss.backward();
  NoGradGuard ng;
  for (Tensor& p : m.parameters()) {
    p.sub_(p.grad(), 0.1);
    p.set_grad(Tensor());
  }
  return loss;
}

void train_case(benchmark::State& state, int64_t batch, bool use_plan) {
  manual_seed(0);
  auto model = models::create("mlp");
  Tensor x = randn({batch, 1, 28, 28}), y = randn({batch, 10}) * 0.1;
  auto step = compile([&](const Tensor& a, const Tensor& b) { return sgd_step(*model, a, b); }, {.modules = {model}});
  std::unique_ptr<graph::Plan> plan;
  std::vector<Tensor> in = {x, y};
  if (!try_once(state, [&] {
        step(x, y);
        plan = std::make_unique<graph::Plan>(graph::lower(step.graph()));
      }))
    return;
  for (auto _ : state) {
    if (use_plan)
      benchmark::DoNotOptimize(plan->run(in)[0].impl());
    else
      benchmark::DoNotOptimize(sgd_step(*model, x, y).impl());
  }
  state.counters["arena_bytes"] = static_cast<double>(plan->memory().arena_bytes);
  state.counters["eager_peak_bytes"] = static_cast<double>(plan->memory().eager_peak_bytes);
}

void lower_case(benchmark::State& state, const std::string& name) {
  manual_seed(0);
  auto model = models::create(name);
  model->eval();
  NoGradGuard ng;
  auto fwd = compile([&](const Tensor& in) { return model->forward(in); }, {.modules = {model}});
  if (!try_once(state, [&] { fwd(randn({64, 1, 28, 28})); })) return;
  for (auto _ : state) benchmark::DoNotOptimize(graph::lower(fwd.graph()).arena_bytes());
  state.counters["nodes"] = static_cast<double>(fwd.graph().num_nodes());
}

[[maybe_unused]] const bool registered = [] {
  for (const char* model : {"mlp", "cnn", "resnet"})
    benchmark::RegisterBenchmark(("plan_lower/" + std::string(model) + "_b64").c_str(), lower_case,
                                 std::string(model))
        ->UseRealTime();
  for (int64_t batch : {1, 32, 128})
    for (bool use_plan : {false, true})
      benchmark::RegisterBenchmark(
          ("plan_train/mlp_b" + std::to_string(batch) + (use_plan ? "/plan" : "/eager")).c_str(), train_case, batch,
          use_plan)
          ->UseRealTime();
  for (bool use_plan : {false, true})
    benchmark::RegisterBenchmark(use_plan ? "plan_chain/50ops/plan_into" : "plan_chain/50ops/eager", chain_case, 50,
                                 use_plan)
        ->UseRealTime();
  const std::pair<Mode, const char*> modes[] = {
      {Mode::Eager, "eager"}, {Mode::Interp, "interp"}, {Mode::Plan, "plan"}, {Mode::PlanInto, "plan_into"}};
  for (const char* model : {"mlp", "cnn"})
    for (int64_t batch : {1, 64})
      for (const auto& [mode, label] : modes)
        benchmark::RegisterBenchmark(
            ("plan_infer/" + std::string(model) + "_b" + std::to_string(batch) + "/" + label).c_str(),
            infer_case, std::string(model), batch, mode)
            ->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace tandem::bench
