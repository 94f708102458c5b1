// Graph fusion passes, measured through graph::lower + Plan (eval mode, no grad).
//
//   fuse_chain/{1M,16M}/{eager,plan,plan_fused}  gelu(x * w + b) * y on x, y [rows, 1024], w, b [1024]:
//                                          5 kernels and 4 temporaries vs one fused_elementwise
//   fuse_infer/<model>_b<N>/{plan,plan_passes}
//                                          the zoo model's traced forward lowered as traced vs
//                                          after run_pipeline(all, inference: batch-norm folding,
//                                          matmul/conv + activation, elementwise fusion)
// Counter nodes: graph nodes after the passes (plan rows: as traced).
// Run: build/release/bench/tandem_bench_fusion --threads=1
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "bench_util.h"
#include "tandem/compile.h"
#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"
#include "tandem/models.h"
#include "tandem/tandem.h"

namespace tandem::bench {
namespace {

void chain_case(benchmark::State& state, int mode, int64_t rows) {
  manual_seed(0);
  NoGradGuard ng;
  Tensor x = randn({rows, 1024}), w = randn({1024}), b = randn({1024}), y = randn({rows, 1024});
  auto fn = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) { return gelu(x * w + b) * y; };
  auto compiled = compile(fn);
  std::unique_ptr<graph::Plan> plan;
  std::vector<Tensor> in = {x, w, b, y};
  std::vector<Tensor> out = {empty({rows, 1024})};
  size_t nodes = 0;
  if (!try_once(state, [&] {
        compiled(x, w, b, y);
        auto& g = const_cast<graph::Graph&>(compiled.graph());  // lowered by hand below, never re-run
        if (mode == 2) graph::run_pipeline(g, {.inference = true});
        nodes = g.num_nodes();
        plan = std::make_unique<graph::Plan>(graph::lower(g));
      }))
    return;
  for (auto _ : state) {
    if (mode == 0) benchmark::DoNotOptimize(fn(x, w, b, y).impl());
    else plan->run_into(in, out);
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  set_bytes(state, 4.0 * (3 * rows * 1024 + 2 * 1024));
}

void infer_case(benchmark::State& state, const std::string& name, int64_t batch, bool passes) {
  manual_seed(0);
  auto model = models::create(name);
  model->eval();
  NoGradGuard ng;
  for (auto& [n, buf] : model->named_buffers())
    if (buf.is_floating_point()) buf.copy_(rand(buf.shape()) + 0.5);
  Tensor x = randn({batch, 1, 28, 28});
  auto fwd = compile([&](const Tensor& in) { return model->forward(in); }, {.modules = {model}});
  std::unique_ptr<graph::Plan> plan;
  std::vector<Tensor> in = {x}, out;
  size_t nodes = 0;
  if (!try_once(state, [&] {
        fwd(x);
        auto& g = const_cast<graph::Graph&>(fwd.graph());
        if (passes) graph::run_pipeline(g, {.inference = true});
        nodes = g.num_nodes();
        plan = std::make_unique<graph::Plan>(graph::lower(g));
        out = {empty(plan->output_metas()[0].shape)};
      }))
    return;
  for (auto _ : state) plan->run_into(in, out);
  state.counters["nodes"] = static_cast<double>(nodes);
}

int register_all() {
  for (int64_t rows : {1024, 16384}) {
    std::string size = rows == 1024 ? "1M" : "16M";
    for (int mode : {0, 1, 2}) {
      const char* kind = mode == 0 ? "eager" : mode == 1 ? "plan" : "plan_fused";
      benchmark::RegisterBenchmark(("fuse_chain/" + size + "/" + kind).c_str(), chain_case, mode, rows)->UseRealTime();
    }
  }
  for (const char* m : {"mlp", "cnn", "resnet"})
    for (int64_t b : {1, 64})
      for (bool p : {false, true}) {
        std::string n = std::string("fuse_infer/") + m + "_b" + std::to_string(b) + (p ? "/plan_passes" : "/plan");
        benchmark::RegisterBenchmark(n.c_str(), infer_case, std::string(m), b, p)->UseRealTime();
      }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace tandem::bench
