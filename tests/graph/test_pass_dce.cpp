// Dead-code elimination: what goes (unused chains) and what stays (results, updates, random
// ops and ops marked as having side effects).
#include "random_graph.h"

namespace tandem::graph {
namespace {

const std::vector<std::string> op_names(const Graph& g) {
  std::vector<std::string> names;
  for (const Node* n : g.nodes()) names.push_back(n->op->name);
  return names;
}

TEST(PassDce, RemovesChainsThatReachNoResult) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* a = g.add_node(op("neg"), {x})->output();
  g.add_node(op("exp"), {a});  // dead, and makes `a` dead
  Value* y = g.add_node(op("relu"), {x})->output();
  g.set_outputs({y});
  PassResult r = run_dce(g);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.counts["removed_nodes"], 2);
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"relu"}));
  EXPECT_TRUE(x->users.size() == 1 && x->users[0] == y->producer);
  g.verify();
}

TEST(PassDce, KeepsWhatFeedsAnUpdate) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* v = g.add_variable("running_mean", zeros({3}));
  Value* m = g.add_node(op("mul"), {v, g.add_constant(wrap_scalar(0.9))})->output();
  Value* upd = g.add_node(op("add"), {m, x})->output();
  g.add_update(v, upd);
  Value* y = g.add_node(op("relu"), {x})->output();
  g.set_outputs({y});
  PassResult r = run_dce(g);
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.counts.empty());
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"mul", "add", "relu"}));
}

TEST(PassDce, KeepsUnusedRandomOpsAndTheirInputs) {
  // An unused dropout still advances the generator: removing it would change later masks.
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {8});
  Value* t = g.add_node(op("tanh"), {x})->output();
  g.add_node(op("dropout"), {t}, {{"p", 0.5}});
  Value* y = g.add_node(op("dropout"), {x}, {{"p", 0.5}})->output();
  g.add_node(op("sigmoid"), {x});  // dead
  g.set_outputs({y});
  PassResult r = run_dce(g);
  EXPECT_EQ(r.counts["removed_nodes"], 1);
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"tanh", "dropout", "dropout"}));
}

TEST(PassDce, KeepsOpsMarkedWithSideEffects) {
  if (!find_op("test_dce_effect")) {
    OpDef d;
    d.name = "test_dce_effect";
    d.infer = infer_same_as_input;
    d.cpu = [](const KernelArgs& k) { k.outputs[0].copy_(k.inputs[0]); };
    d.non_differentiable = true;
    register_op(std::move(d));
    mark_side_effect_op("test_dce_effect");
  }
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {2});
  Value* a = g.add_node(op("neg"), {x})->output();
  g.add_node(op("test_dce_effect"), {a});
  g.add_node(op("exp"), {x});  // dead
  g.set_outputs({x});
  run_dce(g);
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"neg", "test_dce_effect"}));
  EXPECT_TRUE(has_side_effects(*g.nodes()[1]));
  EXPECT_FALSE(has_side_effects(*g.nodes()[0]));
}

TEST(PassDce, MultiOutputNodeStaysWhenOneOutputIsUsed) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {4});
  Node* s = g.add_node(op("sort"), {x}, {{"dim", int64_t{0}}, {"descending", false}});
  g.set_outputs({s->outputs[1]});
  EXPECT_FALSE(run_dce(g).changed);
  EXPECT_EQ(g.num_nodes(), 1u);
}

TEST(PassDce, RandomGraphsComputeTheSame) {
  int changed = testing::differential(run_dce, 250, 1000);
  EXPECT_GT(changed, 50);
}

}  // namespace
}  // namespace tandem::graph
