// graph::run_fuse_matmul_act: linear/conv2d + activation -> linear_act/conv2d_act, matching
// eager for every activation; pre-activation values read elsewhere stay unfused.
#include "tandem/autocast.h"
#include "test_fuse_util.h"

namespace tandem::graph {
namespace {

using testing::count_ops;
using testing::expect_graph_matches;
using testing::PlanRecorder;

const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>& activations() {
  static const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> acts = {
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"gelu", [](const Tensor& t) { return gelu(t); }},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"tanh", [](const Tensor& t) { return tanh(t); }},
      {"silu", [](const Tensor& t) { return silu(t); }},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.2); }},
      {"clamp", [](const Tensor& t) { return clamp(t, -0.5, 0.7); }},
      {"clamp_min", [](const Tensor& t) { return clamp(t, -0.5, std::nullopt); }},
  };
  return acts;
}

TEST(FuseMatmulAct, LinearAndConvWithEveryActivationMatchEager) {
  manual_seed(1);
  NoGradGuard ng;
  for (const auto& [name, act] : activations()) {
    SCOPED_TRACE(name);
    for (DType dt : {DType::Float32, DType::Float64}) {
      Tensor x = randn({5, 7}, {.dtype = dt}), w = randn({4, 7}, {.dtype = dt}), b = randn({4}, {.dtype = dt});
      Tensor xi = randn({2, 3, 6, 6}, {.dtype = dt}), wc = randn({4, 3, 3, 3}, {.dtype = dt});
      PlanRecorder rec;
      rec.input("x", x);
      rec.input("xi", xi);
      rec.variable("w", w);
      rec.variable("b", b);
      rec.variable("wc", wc);
      auto eager = rec.record([&] {
        return std::vector<Tensor>{act(linear(x, w, b)), act(linear(x, w)), act(conv2d(xi, wc, b, {1, 1}, {1, 1}))};
      });
      PassResult r = run_fuse_matmul_act(rec.graph);
      EXPECT_EQ(r.counts["fused_linear_act"], 2);
      EXPECT_EQ(r.counts["fused_conv2d_act"], 1);
      EXPECT_EQ(count_ops(rec.graph, "linear"), 0);
      EXPECT_EQ(rec.graph.num_nodes(), 3u);
      double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
      expect_graph_matches(rec.graph, {x, xi}, eager, tol, tol);
    }
  }
}

// Under bf16 autocast a convolution and relu fuse too (relu as the bf16 primitive's post-op, or
// the bf16 relu kernel after it); other activations of bfloat16 values and bf16 linears stay.
TEST(FuseMatmulAct, Bf16ConvAndReluFuseAndMatchEager) {
  manual_seed(6);
  NoGradGuard ng;
  Tensor xi = randn({2, 3, 6, 6}), wc = randn({4, 3, 3, 3}), b = randn({4}), x = randn({5, 7}), w = randn({4, 7});
  PlanRecorder rec;
  rec.input("x", x);
  rec.input("xi", xi);
  rec.variable("wc", wc);
  rec.variable("b", b);
  rec.variable("w", w);
  std::vector<Tensor> eager;
  {
    AutocastGuard autocast;
    eager = rec.record([&] {
      return std::vector<Tensor>{relu(conv2d(xi, wc, b, {1, 1}, {1, 1})), tanh(conv2d(xi, wc)), relu(linear(x, w))};
    });
  }
  ASSERT_EQ(eager[0].dtype(), DType::BFloat16);
  PassResult r = run_fuse_matmul_act(rec.graph);
  EXPECT_EQ(r.counts["fused_conv2d_act"], 1);
  EXPECT_EQ(r.counts["fused_linear_act"], 0);
  EXPECT_EQ(count_ops(rec.graph, "conv2d_act"), 1);
  EXPECT_EQ(count_ops(rec.graph, "relu"), 1);  // the linear's
  // Same bfloat16 values: the post-op rounds relu(conv) once, as relu of the rounded conv.
  expect_graph_matches(rec.graph, {x, xi}, eager, 1e-6, 1e-6);
}

TEST(FuseMatmulAct, SeparateBiasAddJoinsTheLinear) {
  manual_seed(3);
  NoGradGuard ng;
  Tensor x = randn({5, 7}), w = randn({4, 7}), b = randn({4});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.variable("b", b);
  auto eager = rec.record([&] { return std::vector<Tensor>{gelu(linear(x, w) + b), relu(b + linear(x, w))}; });
  PassResult r = run_fuse_matmul_act(rec.graph);
  EXPECT_EQ(r.counts["fused_bias_add"], 1);  // the bias as add's first operand is left alone
  EXPECT_EQ(r.counts["fused_linear_act"], 1);
  EXPECT_EQ(count_ops(rec.graph, "linear_act"), 1);
  expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
}

// Exporters' fully-connected layers on [N, H, W, C] or [B, T, C]: MatMul by a constant, Add of a
// constant bias (either operand, [N] or [1, N]), then maybe an activation -> one linear(_act).
// A matmul by a variable (a weight the graph may update) stays.
TEST(FuseMatmulAct, MatmulByConstantBecomesLinear) {
  manual_seed(4);
  NoGradGuard ng;
  Tensor x = randn({2, 3, 5, 7}), w = randn({7, 4}), b = randn({4}), w2 = randn({4, 6}), b2 = randn({1, 6});
  Tensor wv = randn({7, 3});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("wv", wv);  // w, b, w2, b2 are constants of the graph
  auto eager = rec.record([&] {
    Tensor h = gelu(matmul(x, w) + b);
    return std::vector<Tensor>{add(b2, matmul(h, w2)), matmul(x, w), matmul(x, wv)};
  });
  PassResult r = run_fuse_matmul_act(rec.graph);
  EXPECT_EQ(r.counts["matmul_add_to_linear"], 2);
  EXPECT_EQ(r.counts["matmul_to_linear"], 1);
  EXPECT_EQ(r.counts["fused_linear_act"], 1);
  EXPECT_EQ(count_ops(rec.graph, "matmul"), 1);  // the one by the variable
  EXPECT_EQ(count_ops(rec.graph, "linear_act"), 1);
  EXPECT_EQ(count_ops(rec.graph, "linear"), 2);
  EXPECT_EQ(count_ops(rec.graph, "add"), 0);
  expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
}

TEST(FuseMatmulAct, PreActivationReadElsewhereStaysUnfused) {
  manual_seed(2);
  NoGradGuard ng;
  Tensor x = randn({3, 4}), w = randn({2, 4});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.record([&] {
    Tensor pre = linear(x, w);
    Tensor a = gelu(pre);
    // a second reader of the pre-activation, as gelu's backward node would be
    return std::vector<Tensor>{mul(a, pre)};
  });
  EXPECT_FALSE(run_fuse_matmul_act(rec.graph).changed);
  PlanRecorder rec2;
  rec2.input("x", x);
  rec2.variable("w", w);
  rec2.record([&] {
    Tensor pre = linear(x, w);
    return std::vector<Tensor>{relu(pre), pre};  // pre is a graph output
  });
  EXPECT_FALSE(run_fuse_matmul_act(rec2.graph).changed);
}

TEST(FuseMatmulAct, ZooMlpAndCnnInference) {
  for (const char* name : {"mlp", "cnn"}) {
    SCOPED_TRACE(name);
    manual_seed(5);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    Tensor x = randn({3, 1, 28, 28});
    PlanRecorder rec;
    rec.input("x", x);
    for (auto& [n, p] : model->named_parameters()) rec.variable(n, p);
    auto eager = rec.record([&] { return std::vector<Tensor>{(*model)(x)}; });
    PassResult r = run_fuse_matmul_act(rec.graph);
    EXPECT_TRUE(r.changed) << rec.graph.str();
    expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
  }
}

}  // namespace
}  // namespace tandem::graph
