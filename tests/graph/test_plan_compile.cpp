// Plans lowered from graphs traced by tandem::compile: zoo forward passes with a symbolic batch
// bound at lowering, and batch-norm training-mode forward passes whose running statistics are
// variable updates, against the same model run eagerly.
#include "tandem/compile.h"
#include "tandem/graph/plan.h"
#include "tandem/models.h"
#include "test_util.h"

namespace tandem::graph {
namespace {

TEST(PlanFromCompile, ZooForwardWithSymbolicBatch) {
  for (const char* name : {"mlp", "cnn", "resnet"}) {
    SCOPED_TRACE(name);
    manual_seed(21);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    auto fwd = compile([&](const Tensor& x) { return model->forward(x); },
                       {.dynamic_batch = true, .modules = {model}});
    fwd(randn({2, 1, 28, 28}));
    fwd(randn({3, 1, 28, 28}));  // confirms the symbolic batch
    const Graph& g = fwd.graph();
    for (int64_t n : {1, 5}) {
      Plan plan = lower(g, {.input_shapes = {{n, 1, 28, 28}}});
      Tensor x = randn({n, 1, 28, 28});
      Tensor expected = model->forward(x);
      std::vector<Tensor> got = plan.run({x});
      ASSERT_EQ(got.size(), 1u);
      EXPECT_ALL_CLOSE(got[0], expected, 1e-6, 1e-5) << plan.str();
    }
  }
}

TEST(PlanFromCompile, BatchNormRunningStatsAreUpdated) {
  manual_seed(22);
  auto eager = models::create("resnet");
  manual_seed(22);
  auto traced = models::create("resnet");
  NoGradGuard ng;
  Tensor x1 = randn({4, 1, 28, 28});
  auto fwd = compile([&](const Tensor& x) { return traced->forward(x); }, {.modules = {traced}});
  fwd(x1);  // traced: ran eagerly once
  eager->forward(x1);
  ASSERT_FALSE(fwd.graph().updates().empty());
  Plan plan = lower(fwd.graph());
  for (int step = 0; step < 3; ++step) {
    Tensor x = randn({4, 1, 28, 28});
    Tensor expected = eager->forward(x);
    std::vector<Tensor> got = plan.run({x});
    EXPECT_ALL_CLOSE(got[0], expected, 1e-5, 1e-4) << "step " << step;
    auto eb = eager->named_buffers(), tb = traced->named_buffers();
    ASSERT_EQ(eb.size(), tb.size());
    for (size_t i = 0; i < eb.size(); ++i)
      EXPECT_ALL_CLOSE(tb[i].second, eb[i].second, 1e-6, 1e-5) << eb[i].first << " step " << step;
  }
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

// A whole SGD training step (forward, loss, backward, parameter update) traced by compile and
// run through a Plan: after the same batches, the parameters equal the eager model's.
TEST(PlanFromCompile, SgdTrainingStepMatchesEager) {
  manual_seed(23);
  auto eager = models::create("mlp");
  manual_seed(23);
  auto traced = models::create("mlp");
  auto step_fn = [](nn::Module& m, const Tensor& x, const Tensor& y) {
    Tensor d = m.forward(x) - y;
    Tensor loss = mean(d * d);  // (cross_entropy reads its int64 targets on the host)
    loss.backward();
    NoGradGuard ng;
    for (Tensor& p : m.parameters()) {
      p.sub_(p.grad(), 0.1);
      p.set_grad(Tensor());
    }
    return loss;
  };
  Tensor x0 = randn({8, 1, 28, 28}), y0 = randn({8, 10});
  auto step = compile([&](const Tensor& x, const Tensor& y) { return step_fn(*traced, x, y); },
                      {.modules = {traced}});
  Tensor l0 = step(x0, y0);  // traced (runs eagerly once)
  Tensor e0 = step_fn(*eager, x0, y0);
  EXPECT_ALL_CLOSE(l0, e0, 1e-6, 1e-5);
  ASSERT_FALSE(step.graph().updates().empty()) << step.graph().str();
  Plan plan = lower(step.graph());
  for (int i = 0; i < 3; ++i) {
    Tensor x = randn({8, 1, 28, 28}), y = randn({8, 10});
    Tensor expected = step_fn(*eager, x, y);
    std::vector<Tensor> got = plan.run({x, y});
    EXPECT_ALL_CLOSE(got[0], expected, 1e-5, 1e-4) << "step " << i;
    auto ep = eager->named_parameters(), tp = traced->named_parameters();
    for (size_t k = 0; k < ep.size(); ++k)
      EXPECT_ALL_CLOSE(tp[k].second, ep[k].second, 1e-5, 1e-4) << ep[k].first << " step " << i;
  }
  // p - 0.1 * grad is written straight into each parameter (its last reader is that step).
  EXPECT_EQ(plan.memory().num_direct_updates, 6) << plan.str();
}

}  // namespace
}  // namespace tandem::graph

#include "plan_recorder.h"
#include "tandem/graph/passes.h"

namespace tandem::graph {
namespace {

// The whole pass pipeline (inference: batch-norm folding, fusion) then a Plan: the zoo models'
// forward still matches eager (folding changes rounding, hence the tolerance).
TEST(PlanFromPasses, ZooForwardAfterAllPassesMatchesEager) {
  for (const char* name : {"mlp", "cnn", "resnet"}) {
    SCOPED_TRACE(name);
    manual_seed(24);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    Tensor x = randn({4, 1, 28, 28});
    testing::PlanRecorder rec;
    rec.input("x", x);
    for (auto& [n, p] : model->named_parameters()) rec.variable(n, p);
    for (auto& [n, b] : model->named_buffers()) rec.variable(n, b);
    auto eager = rec.record([&] { return std::vector<Tensor>{(*model)(x)}; });
    PipelineReport rep = run_pipeline(rec.graph, {.passes = "all", .inference = true});
    Plan plan = lower(rec.graph);
    EXPECT_ALL_CLOSE(plan.run({x})[0], eager[0], 1e-4, 1e-4) << rep.str() << plan.str();
    EXPECT_ALL_CLOSE(plan.run({x})[0], eager[0], 1e-4, 1e-4);
  }
}

}  // namespace
}  // namespace tandem::graph
