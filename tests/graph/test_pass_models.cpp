// The passes on traced zoo models: inference graphs (eval mode) and whole SGD training steps
// (forward, loss, backward, optimizer step: the updates carry the gradients) compute the same
// after each pass and after the whole pipeline, judged by the reference evaluator.
#include <cstdlib>
#include <iostream>

#include "random_graph.h"
#include "tandem/compile.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/optim.h"

namespace tandem::graph {
namespace {

using testing::EvalResult;
using testing::eval_graph;

struct Traced {
  std::shared_ptr<nn::Module> model;
  std::unique_ptr<optim::SGD> opt;
  Graph g;
  std::vector<Tensor> inputs;
};

Traced trace_model(const std::string& name, bool train) {
  Traced t;
  manual_seed(3);
  t.model = models::create(name);
  Generator gen(11);
  Tensor x = randn({2, 1, 28, 28}, {}, &gen);  // batch 2: batch-norm statistics need more than one
  if (!train) {
    t.model->eval();
    auto fwd = tandem::compile([m = t.model](const Tensor& x) { return (*m)(x); },
                               {.modules = {t.model}, .use_plan = false});
    fwd(x);
    t.g = copy_graph(fwd.graph());
    t.inputs = {x};
    return t;
  }
  t.model->train();
  t.opt = std::make_unique<optim::SGD>(t.model->parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  Tensor y = tensor(std::vector<int64_t>{3, 7});
  auto step = tandem::compile(
      [m = t.model, o = t.opt.get()](const Tensor& x, const Tensor& y) {
        o->zero_grad();
        Tensor loss = nn::functional::cross_entropy((*m)(x), y);
        loss.backward();
        o->step();
        return loss;
      },
      {.modules = {t.model}, .use_plan = false});
  step(x, y);
  t.g = copy_graph(step.graph());
  t.inputs = {x, y};
  return t;
}

void expect_same(const EvalResult& a, const EvalResult& b, const std::string& what) {
  ASSERT_EQ(a.outputs.size(), b.outputs.size()) << what;
  ASSERT_EQ(a.updates.size(), b.updates.size()) << what;
  for (size_t i = 0; i < a.outputs.size(); ++i)
    EXPECT_ALL_CLOSE(b.outputs[i], a.outputs[i], 1e-5, 1e-4) << what << " output " << i;
  for (size_t i = 0; i < a.updates.size(); ++i)
    EXPECT_ALL_CLOSE(b.updates[i], a.updates[i], 1e-5, 1e-4) << what << " update " << i;
}

// Each pass alone (when `each`), then the whole pipeline.
void check_model(const std::string& name, bool train, bool each) {
  Traced t = trace_model(name, train);
  EvalResult ref = eval_graph(t.g, t.inputs);
  ASSERT_FALSE(ref.outputs.empty());
  if (train) ASSERT_FALSE(ref.updates.empty()) << "a training step updates parameters";
  for (const char* pass : {"shape_infer", "const_fold", "simplify", "cse", "dce"}) {
    if (!each) break;
    Graph g = copy_graph(t.g);
    run_pipeline(g, {.passes = pass, .verify_each = true});
    expect_same(ref, eval_graph(g, t.inputs), name + " " + pass);
  }
  Graph g = copy_graph(t.g);
  PipelineReport rep = run_pipeline(g, {.inference = !train, .verify_each = true});
  expect_same(ref, eval_graph(g, t.inputs), name + " all");
  EXPECT_LE(rep.nodes_after, rep.nodes_before);
  if (std::getenv("TANDEM_TEST_VERBOSE")) std::cout << name << (train ? " train\n" : " eval\n") << rep.str();
}

TEST(PassModels, CopyGraphIsTheSameGraph) {
  Traced t = trace_model("mlp", false);
  Graph c = copy_graph(t.g);
  EXPECT_EQ(c.str(), t.g.str());
  c.verify();
}

TEST(PassModels, InferenceGraphsComputeTheSame) {
  // Every pass alone on the MLP; the pipeline on all (the slow part is evaluating convs).
  for (const char* name : {"mlp", "cnn", "resnet"}) check_model(name, false, name == std::string("mlp"));
}

TEST(PassModels, TrainingStepsComputeTheSame) {
  for (const char* name : {"mlp", "cnn", "resnet"}) check_model(name, true, name == std::string("mlp"));
}

}  // namespace
}  // namespace tandem::graph
