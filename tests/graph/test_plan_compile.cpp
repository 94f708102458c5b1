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
