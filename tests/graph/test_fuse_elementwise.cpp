// graph::run_fuse_elementwise: regions of float32 elementwise ops -> one fused_elementwise
// node; differential tests against eager on hand-written and random graphs (broadcast
// inputs, scalars, values that escape the region, trailing sum/mean over the last dim).
#include <random>

#include "test_fuse_util.h"

namespace tandem::graph {
namespace {

using testing::count_ops;
using testing::expect_graph_matches;
using testing::PlanRecorder;

TEST(FuseElementwise, GeluChainBecomesOneNode) {
  manual_seed(1);
  NoGradGuard ng;
  Tensor x = randn({37, 300}), w = randn({300}), b = randn({37, 1}), y = randn({37, 300});
  PlanRecorder rec;
  rec.input("x", x);
  rec.input("w", w);
  rec.input("b", b);
  rec.input("y", y);
  auto eager = rec.record([&] { return std::vector<Tensor>{gelu(x * w + b) * y * 0.5 - 1.0}; });
  PassResult r = run_fuse_elementwise(rec.graph);
  EXPECT_EQ(r.counts["fused_regions"], 1);
  EXPECT_EQ(r.counts["fused_nodes"], 6);
  EXPECT_EQ(rec.graph.num_nodes(), 1u) << rec.graph.str();
  EXPECT_EQ(rec.graph.nodes()[0]->inputs.size(), 4u);  // the scalars are immediates
  expect_graph_matches(rec.graph, {x, w, b, y}, eager, 1e-6, 1e-6);
}

TEST(FuseElementwise, TrailingSumAndMeanOverTheLastDim) {
  manual_seed(2);
  NoGradGuard ng;
  for (int64_t cols : {1, 7, 512, 1300}) {
    SCOPED_TRACE(cols);
    Tensor x = randn({9, cols}), y = randn({cols});
    PlanRecorder rec;
    rec.input("x", x);
    rec.input("y", y);
    auto eager = rec.record([&] {
      return std::vector<Tensor>{sum(tanh(x) * y, {-1}), mean(sigmoid(x + y), {1}, true), sum(relu(x), {1})};
    });
    PassResult r = run_fuse_elementwise(rec.graph);
    EXPECT_EQ(r.counts["fused_reductions"], 3);
    EXPECT_EQ(count_ops(rec.graph, "sum") + count_ops(rec.graph, "mean"), 0);
    expect_graph_matches(rec.graph, {x, y}, eager, 1e-5, 1e-5);
  }
}

TEST(FuseElementwise, LeavesOtherDtypesAndEscapingValuesAlone) {
  manual_seed(3);
  NoGradGuard ng;
  Tensor x = randn({4, 5}, {.dtype = DType::Float64});
  PlanRecorder rec;
  rec.input("x", x);
  rec.record([&] { return std::vector<Tensor>{exp(neg(x))}; });
  EXPECT_FALSE(run_fuse_elementwise(rec.graph).changed);

  Tensor a = randn({4, 5});
  PlanRecorder rec2;
  rec2.input("a", a);
  auto eager = rec2.record([&] {
    Tensor t = tanh(a);
    Tensor u = exp(t);
    return std::vector<Tensor>{t, relu(u) + 1.0};  // t escapes: its own node; exp+relu+add fuse
  });
  PassResult r = run_fuse_elementwise(rec2.graph);
  EXPECT_EQ(r.counts["fused_nodes"], 3);
  EXPECT_EQ(count_ops(rec2.graph, "tanh"), 1);
  expect_graph_matches(rec2.graph, {a}, eager, 1e-6, 1e-6);
}

// Backward formulas (as in a training step's graph) fuse with their neighbours.
TEST(FuseElementwise, ActivationBackwardsFuse) {
  manual_seed(4);
  NoGradGuard ng;
  for (const char* bw : {"relu_backward", "tanh_backward", "sigmoid_backward", "silu_backward", "gelu_backward"}) {
    for (const char* approx : {"none", "tanh"}) {
      if (std::string(approx) == "tanh" && std::string(bw) != "gelu_backward") continue;
      SCOPED_TRACE(std::string(bw) + " " + approx);
      Graph g;
      Tensor gt = randn({6, 33}), xt = randn({6, 33}), st = randn({33});
      Value* gv = g.add_input("g", DType::Float32, {6, 33});
      Value* xv = g.add_input("x", DType::Float32, {6, 33});
      Value* sv = g.add_input("s", DType::Float32, {33});
      Attrs a;
      if (std::string(bw) == "gelu_backward") a.set("approximate", std::string(approx));
      Value* y = g.add_node(op("tanh"), {xv})->output();  // a saved value in (-1, 1)
      Value* d = g.add_node(op(bw), {gv, y}, a)->output();
      Value* o = g.add_node(op("mul"), {d, sv})->output();
      g.set_outputs({o});
      std::vector<Tensor> before = run(g, {gt, xt, st});
      PassResult r = run_fuse_elementwise(g);
      EXPECT_EQ(r.counts["fused_nodes"], 3);
      expect_graph_matches(g, {gt, xt, st}, before, 1e-6, 1e-6);
    }
  }
}

// Random DAGs of elementwise ops over inputs of broadcasting shapes; random values escape
// as graph outputs. The fused graph must equal eager.
TEST(FuseElementwise, RandomGraphsMatchEager) {
  using Un = std::function<Tensor(const Tensor&)>;
  using Bin = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<Un> unary = {
      [](const Tensor& t) { return neg(t); },     [](const Tensor& t) { return tanh(t); },
      [](const Tensor& t) { return sigmoid(t); }, [](const Tensor& t) { return relu(t); },
      [](const Tensor& t) { return gelu(t); },    [](const Tensor& t) { return silu(t); },
      [](const Tensor& t) { return sin(t); },     [](const Tensor& t) { return leaky_relu(t, 0.3); },
      [](const Tensor& t) { return exp(tanh(t)); },
      [](const Tensor& t) { return log1p(abs(t)); },
      [](const Tensor& t) { return sqrt(abs(t) + 0.1); },
      [](const Tensor& t) { return clamp(t, -1.0, 1.5); },
      [](const Tensor& t) { return t * 1.5; },
      [](const Tensor& t) { return 2.0 - t; },
  };
  const std::vector<Bin> binary = {
      [](const Tensor& a, const Tensor& b) { return a + b; },
      [](const Tensor& a, const Tensor& b) { return sub(a, b, 0.5); },
      [](const Tensor& a, const Tensor& b) { return a * b; },
      [](const Tensor& a, const Tensor& b) { return a / (abs(b) + 1.0); },
      [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
      [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
  };
  std::mt19937 rng(7);
  int fused_total = 0;
  for (int trial = 0; trial < 40; ++trial) {
    SCOPED_TRACE(trial);
    manual_seed(100 + trial);
    NoGradGuard ng;
    int64_t n = 1 + rng() % 6, c = 1 + rng() % 700;
    std::vector<Tensor> ins = {randn({n, c}), randn({c}), randn({n, 1}), randn({n, c})};
    PlanRecorder rec;
    for (size_t k = 0; k < ins.size(); ++k) rec.input("in" + std::to_string(k), ins[k]);
    auto eager = rec.record([&] {
      std::vector<Tensor> vals = ins;
      std::vector<Tensor> outs;
      int steps = 3 + static_cast<int>(rng() % 14);
      for (int s = 0; s < steps; ++s) {
        const Tensor& a = vals[rng() % vals.size()];
        if (rng() % 2) vals.push_back(unary[rng() % unary.size()](a));
        else vals.push_back(binary[rng() % binary.size()](a, vals[rng() % vals.size()]));
        if (rng() % 5 == 0) outs.push_back(vals.back());
      }
      outs.push_back(vals.back());
      if (rng() % 3 == 0 && vals.back().dim() == 2) outs.push_back(sum(vals.back() * 0.5, {-1}));
      return outs;
    });
    fused_total += static_cast<int>(run_fuse_elementwise(rec.graph).counts["fused_nodes"]);
    expect_graph_matches(rec.graph, ins, eager, 1e-5, 1e-5);
  }
  EXPECT_GT(fused_total, 100);
}

}  // namespace
}  // namespace tandem::graph
