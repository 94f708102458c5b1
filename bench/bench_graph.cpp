// Graph mode next to eager: the same user code run eagerly and through tandem::compile
// (default options: every pass, Plan executor). bench/graph_torch.py times the same cases in
// PyTorch (eager, torch.jit.trace + freeze); bench/graph_run.sh prints them side by side.
//
//   graph/mlp_train_b{1,32,128}/{eager,compiled}   zero_grad, cross-entropy, backward, SGD
//                                                 (lr 0.01, momentum 0.9) on the zoo MLP
//   graph/cnn_train_b128/{eager,compiled}          the same with the zoo CNN and Adam (lr 1e-3)
//   graph/{mlp,cnn}_infer_b{1,64}/{eager,compiled} eval-mode forward under NoGradGuard
//
// Counters of graph/cnn_infer_b64/compiled: arena_bytes (the compiled plan's activation arena)
// and eager_peak_bytes (the most intermediate bytes live at once when the traced, unoptimized
// graph runs op by op, freeing each result after its last use: eager's peak).
// Run: build/release/bench/tandem_bench_graph --threads=1 (main() is bench_main.cpp).
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>

#include "bench_util.h"
#include "tandem/compile.h"
#include "tandem/graph/plan.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "tandem/tandem.h"

namespace tandem::bench {
namespace {

using StepFn = std::function<Tensor(const Tensor&, const Tensor&)>;

void train_case(benchmark::State& state, const std::string& model_name, int64_t batch, bool compiled) {
  manual_seed(0);
  auto model = models::create(model_name);
  model->train();
  std::unique_ptr<optim::Optimizer> opt;
  if (model_name == "mlp")
    opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  else
    opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-3});
  optim::Optimizer* o = opt.get();
  auto eager = [model, o](const Tensor& x, const Tensor& y) {
    o->zero_grad();
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    loss.backward();
    o->step();
    return loss;
  };
  StepFn step = eager;
  if (compiled) step = compile(eager, {.modules = {model}});
  Tensor x = randn({batch, 1, 28, 28});
  Tensor y = randint(0, 10, {batch});
  if (!try_once(state, [&] {
        for (int i = 0; i < 3; ++i) step(x, y);
      }))
    return;
  for (auto _ : state) benchmark::DoNotOptimize(step(x, y).impl());
}

void infer_case(benchmark::State& state, const std::string& model_name, int64_t batch, bool compiled) {
  manual_seed(0);
  auto model = models::create(model_name);
  model->eval();
  NoGradGuard no_grad;
  auto eager = [model](const Tensor& x) { return (*model)(x); };
  std::function<Tensor(const Tensor&)> fwd = eager;
  auto fwd_compiled = compile(eager, {.modules = {model}});
  if (compiled) fwd = fwd_compiled;
  Tensor x = randn({batch, 1, 28, 28});
  if (!try_once(state, [&] {
        for (int i = 0; i < 3; ++i) fwd(x);
      }))
    return;
  for (auto _ : state) benchmark::DoNotOptimize(fwd(x).impl());
  if (compiled && model_name == "cnn" && batch == 64) {
    auto traced = compile(eager, {.passes = {}, .modules = {model}});
    traced(x);
    state.counters["arena_bytes"] =
        static_cast<double>(graph::lower(fwd_compiled.graph()).memory().arena_bytes);
    state.counters["eager_peak_bytes"] =
        static_cast<double>(graph::lower(traced.graph()).memory().eager_peak_bytes);
  }
}

[[maybe_unused]] const bool registered = [] {
  auto reg = [](const std::string& name, auto fn, const std::string& model, int64_t batch) {
    for (bool compiled : {false, true})
      benchmark::RegisterBenchmark(("graph/" + name + (compiled ? "/compiled" : "/eager")).c_str(), fn, model, batch,
                                   compiled)
          ->UseRealTime();
  };
  for (int64_t b : {1, 32, 128}) reg("mlp_train_b" + std::to_string(b), train_case, "mlp", b);
  reg("cnn_train_b128", train_case, "cnn", 128);
  for (const char* m : {"mlp", "cnn"})
    for (int64_t b : {1, 64}) reg(std::string(m) + "_infer_b" + std::to_string(b), infer_case, m, b);
  return true;
}();

}  // namespace
}  // namespace tandem::bench
