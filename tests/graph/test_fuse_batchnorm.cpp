// graph::run_fold_batchnorm: conv2d/linear + eval batch_norm folded into new constants; the
// folded graph computes what eager computed (conv/linear then batch norm), and everything
// the pass must leave alone stays.
#include "test_fuse_util.h"

namespace tandem::graph {
namespace {

using testing::count_ops;
using testing::expect_graph_matches;
using testing::PlanRecorder;

struct Bn {
  Tensor mean, var, gamma, beta;
  explicit Bn(int64_t c) : mean(randn({c})), var(rand({c}) + 0.5), gamma(randn({c})), beta(randn({c})) {}
  void add_to(PlanRecorder& rec) {
    rec.variable("bn.mean", mean);
    rec.variable("bn.var", var);
    rec.variable("bn.weight", gamma);
    rec.variable("bn.bias", beta);
  }
};

TEST(FuseBatchNorm, ConvWithBiasFoldsAndMatchesEager) {
  manual_seed(1);
  NoGradGuard ng;
  Tensor x = randn({2, 3, 7, 7}), w = randn({5, 3, 3, 3}), b = randn({5});
  Bn bn(5);
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.variable("b", b);
  bn.add_to(rec);
  auto eager = rec.record([&] {
    return std::vector<Tensor>{relu(batch_norm(conv2d(x, w, b, {2, 2}, {1, 1}), bn.mean, bn.var, bn.gamma,
                                               bn.beta, false, 0.1, 1e-3))};
  });
  PassResult r = run_fold_batchnorm(rec.graph);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.counts["folded_batch_norms"], 1);
  EXPECT_EQ(count_ops(rec.graph, "batch_norm"), 0);
  EXPECT_EQ(count_ops(rec.graph, "conv2d"), 1);
  expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
  // Folding is a snapshot: a later change of the statistics does not reach the graph.
  bn.mean.fill_(100.0);
  expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
}

TEST(FuseBatchNorm, LinearWithoutBiasAndBatchNormWithoutAffine) {
  manual_seed(2);
  NoGradGuard ng;
  Tensor x = randn({4, 6}), w = randn({3, 6});
  Bn bn(3);
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  bn.add_to(rec);
  auto eager = rec.record([&] {
    return std::vector<Tensor>{batch_norm(linear(x, w), bn.mean, bn.var, Tensor(), Tensor(), false, 0.1, 1e-5)};
  });
  EXPECT_EQ(run_fold_batchnorm(rec.graph).counts["folded_batch_norms"], 1);
  EXPECT_EQ(count_ops(rec.graph, "batch_norm"), 0);
  expect_graph_matches(rec.graph, {x}, eager, 1e-5, 1e-5);
}

TEST(FuseBatchNorm, LeavesTrainingModeSharedOutputsAndUpdatedStatsAlone) {
  manual_seed(3);
  NoGradGuard ng;
  Tensor x = randn({2, 3, 5, 5}), w = randn({4, 3, 3, 3});
  Bn bn(4);
  {  // training mode: batch statistics
    PlanRecorder rec;
    rec.input("x", x);
    rec.variable("w", w);
    bn.add_to(rec);
    rec.record([&] {
      return std::vector<Tensor>{batch_norm(conv2d(x, w), Tensor(), Tensor(), bn.gamma, bn.beta, true, 0.1, 1e-5)};
    });
    EXPECT_FALSE(run_fold_batchnorm(rec.graph).changed);
  }
  {  // the conv output is also a graph output
    PlanRecorder rec;
    rec.input("x", x);
    rec.variable("w", w);
    bn.add_to(rec);
    rec.record([&] {
      Tensor c = conv2d(x, w);
      return std::vector<Tensor>{c, batch_norm(c, bn.mean, bn.var, bn.gamma, bn.beta, false, 0.1, 1e-5)};
    });
    EXPECT_FALSE(run_fold_batchnorm(rec.graph).changed);
  }
  {  // the graph updates the weight (a training step): not frozen
    PlanRecorder rec;
    graph::Value* x_in = rec.input("x", x);
    graph::Value* wv = rec.variable("w", w);
    bn.add_to(rec);
    rec.record([&] {
      return std::vector<Tensor>{batch_norm(conv2d(x, w), bn.mean, bn.var, bn.gamma, bn.beta, false, 0.1, 1e-5)};
    });
    Value* neg = rec.graph.add_node(op("neg"), {wv})->output();
    rec.graph.add_update(wv, neg);
    (void)x_in;
    EXPECT_FALSE(run_fold_batchnorm(rec.graph).changed);
  }
}

TEST(FuseBatchNorm, ZooModelsInEvalModeMatchEager) {
  for (const char* name : {"resnet"}) {  // the only zoo model with batch norm
    SCOPED_TRACE(name);
    manual_seed(5);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    // Non-trivial running statistics, as after training.
    for (auto& [n, b] : model->named_buffers())
      if (b.is_floating_point()) b.copy_(rand(b.shape()) + 0.5);
    Tensor x = randn({3, 1, 28, 28});
    PlanRecorder rec;
    rec.input("x", x);
    for (auto& [n, p] : model->named_parameters()) rec.variable(n, p);
    for (auto& [n, b] : model->named_buffers()) rec.variable(n, b);
    auto eager = rec.record([&] { return std::vector<Tensor>{(*model)(x)}; });
    int bns = count_ops(rec.graph, "batch_norm");
    PassResult r = run_fold_batchnorm(rec.graph);
    EXPECT_GT(bns, 0);
    EXPECT_EQ(r.counts["folded_batch_norms"], bns);
    EXPECT_EQ(count_ops(rec.graph, "batch_norm"), 0);
    expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
  }
}

}  // namespace
}  // namespace tandem::graph
