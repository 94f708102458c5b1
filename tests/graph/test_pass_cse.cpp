// Common-subexpression elimination: identical nodes and constants merge; random ops,
// different attributes or input order, and results that would alias do not.
#include "random_graph.h"

namespace tandem::graph {
namespace {

using tandem::testing::throws_error;

TEST(PassCse, MergesSameOpSameAttrsSameInputs) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* y = g.add_input("y", DType::Float32, {3});
  Value* a = g.add_node(op("add"), {x, y})->output();
  Value* b = g.add_node(op("add"), {x, y})->output();
  Value* c = g.add_node(op("mul"), {a, b})->output();
  g.set_outputs({c});
  PassResult r = run_cse(g);
  EXPECT_EQ(r.counts["merged_nodes"], 1);
  EXPECT_EQ(g.num_nodes(), 2u);
  EXPECT_EQ(c->producer->inputs[0], a);
  EXPECT_EQ(c->producer->inputs[1], a);
  g.verify();
}

TEST(PassCse, ChainsMergeInOneRun) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* a1 = g.add_node(op("relu"), {g.add_node(op("exp"), {x})->output()})->output();
  Value* a2 = g.add_node(op("relu"), {g.add_node(op("exp"), {x})->output()})->output();
  g.set_outputs({g.add_node(op("sub"), {a1, a2})->output()});
  EXPECT_EQ(run_cse(g).counts["merged_nodes"], 2);
  EXPECT_EQ(g.num_nodes(), 3u);
}

TEST(PassCse, DifferentAttrsOrInputOrderStaySeparate) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {2, 3});
  Value* y = g.add_input("y", DType::Float32, {2, 3});
  Value* s0 = g.add_node(op("sum"), {x}, {{"dims", std::vector<int64_t>{0}}, {"keepdim", true}})->output();
  Value* s1 = g.add_node(op("sum"), {x}, {{"dims", std::vector<int64_t>{1}}, {"keepdim", true}})->output();
  Value* d0 = g.add_node(op("sub"), {x, y})->output();
  Value* d1 = g.add_node(op("sub"), {y, x})->output();
  Value* a0 = g.add_node(op("add"), {x, y})->output();
  Value* a1 = g.add_node(op("add"), {x, y}, {{"alpha", 2.0}})->output();
  g.set_outputs({s0, s1, d0, d1, a0, a1});
  EXPECT_FALSE(run_cse(g).changed);
  EXPECT_EQ(g.num_nodes(), 6u);
}

TEST(PassCse, CommutedAddAndMulMergeOthersDoNot) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* y = g.add_input("y", DType::Float32, {2, 3});
  Value* a0 = g.add_node(op("add"), {x, y})->output();
  Value* a1 = g.add_node(op("add"), {y, x})->output();                      // merges with a0
  Value* a2 = g.add_node(op("add"), {y, x}, {{"alpha", 2.0}})->output();    // y + 2x: stays
  Value* a3 = g.add_node(op("add"), {x, y}, {{"alpha", 2.0}})->output();    // x + 2y: stays
  Value* m0 = g.add_node(op("mul"), {y, x})->output();
  Value* m1 = g.add_node(op("mul"), {x, y})->output();                      // merges with m0
  Value* x0 = g.add_node(op("maximum"), {x, y})->output();
  Value* x1 = g.add_node(op("maximum"), {y, x})->output();                  // stays
  g.set_outputs({g.add_node(op("cat"), {a0, a1, a2, a3, m0, m1, x0, x1}, {{"dim", int64_t{0}}})->output()});
  PassResult r = run_cse(g);
  EXPECT_EQ(r.counts["merged_nodes"], 2);
  const std::vector<Value*>& ins = g.outputs()[0]->producer->inputs;
  EXPECT_EQ(ins[1], a0);
  EXPECT_EQ(ins[5], m0);
  EXPECT_EQ(ins[2], a2);
  EXPECT_EQ(ins[3], a3);
  EXPECT_EQ(ins[7], x1);
}

TEST(PassCse, NeverMergesRandomOps) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {16});
  Value* a = g.add_node(op("dropout"), {x}, {{"p", 0.5}})->output();
  Value* b = g.add_node(op("dropout"), {x}, {{"p", 0.5}})->output();
  g.set_outputs({g.add_node(op("add"), {a, b})->output()});
  EXPECT_FALSE(run_cse(g).changed);
  EXPECT_EQ(g.num_nodes(), 3u);
  EXPECT_TRUE(is_random_op(op("dropout")));
  EXPECT_FALSE(is_random_op(op("add")));
}

TEST(PassCse, IdenticalConstantsMergeAndEnableNodeMerges) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* c1 = g.add_constant(tensor({1.0, 2.0, 3.0}));
  Value* c2 = g.add_constant(tensor({1.0, 2.0, 3.0}));
  Value* c3 = g.add_constant(tensor({1.0, 2.0, 4.0}));
  Value* a = g.add_node(op("mul"), {x, c1})->output();
  Value* b = g.add_node(op("mul"), {x, c2})->output();
  Value* c = g.add_node(op("mul"), {x, c3})->output();
  g.set_outputs({g.add_node(op("add"), {g.add_node(op("add"), {a, b})->output(), c})->output()});
  PassResult r = run_cse(g);
  EXPECT_EQ(r.counts["merged_constants"], 1);
  EXPECT_EQ(r.counts["merged_nodes"], 1);
  EXPECT_EQ(g.num_nodes(), 4u);
  EXPECT_TRUE(c2->users.empty());
  EXPECT_EQ(c->producer->inputs[1], c3);
}

TEST(PassCse, WrappedScalarAndZeroDimTensorAreDifferentConstants) {
  // They promote differently (a 0-dim float64 tensor beats a 0-dim float32 one, a wrapped
  // number does not), so equal bytes are not enough.
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {});
  Value* a = g.add_node(op("mul"), {x, g.add_constant(wrap_scalar(2.0))})->output();
  Value* b = g.add_node(op("mul"), {x, g.add_constant(scalar_tensor(2.0, {.dtype = DType::Float64}))})->output();
  g.set_outputs({a, b});
  EXPECT_EQ(a->dtype, DType::Float32);
  EXPECT_EQ(b->dtype, DType::Float64);
  EXPECT_FALSE(run_cse(g).changed);
}

TEST(PassCse, TwoResultsNeverBecomeOneBuffer) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* v = g.add_variable("v", zeros({3}));
  Value* a = g.add_node(op("exp"), {x})->output();
  Value* b = g.add_node(op("exp"), {x})->output();
  g.set_outputs({a});
  g.add_update(v, b);
  EXPECT_FALSE(run_cse(g).changed);
  // When only one of them is a result, merging is fine.
  Value* c = g.add_node(op("exp"), {x})->output();
  g.set_outputs({a, g.add_node(op("neg"), {c})->output()});
  EXPECT_EQ(run_cse(g).counts["merged_nodes"], 1);
  g.verify();
}

TEST(PassCse, RandomGraphsComputeTheSame) {
  int changed = testing::differential(run_cse, 250, 2000);
  EXPECT_GT(changed, 50);
}

}  // namespace
}  // namespace tandem::graph
