// Constant folding: nodes on constants only become constants with the kernel's values;
// inputs, variables, random ops, results and oversized outputs are left alone.
#include "random_graph.h"

namespace tandem::graph {
namespace {

TEST(PassConstFold, FoldsAChainOfConstantsToItsValue) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* c1 = g.add_constant(tensor({1.0, 2.0, 3.0}));
  Value* c2 = g.add_constant(tensor({0.5, 0.5, -1.0}));
  Value* s = g.add_node(op("add"), {c1, c2})->output();
  Value* t = g.add_node(op("mul"), {s, g.add_constant(wrap_scalar(2.0))})->output();
  Value* y = g.add_node(op("add"), {x, t})->output();
  g.set_outputs({y});
  PassResult r = run_const_fold(g);
  EXPECT_EQ(r.counts["folded_nodes"], 2);
  ASSERT_EQ(g.num_nodes(), 1u);
  Value* folded = y->producer->inputs[1];
  ASSERT_TRUE(folded->is_constant());
  EXPECT_ALL_CLOSE(folded->data, tensor({3.0, 5.0, 4.0}), 0, 0);  // (c1 + c2) * 2 by hand
  EXPECT_FALSE(folded->data.impl()->is_wrapped_number);
  g.verify();
}

TEST(PassConstFold, LeavesInputsVariablesAndRandomOps) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* w = g.add_variable("w", ones({3}));
  Value* c = g.add_constant(ones({3}));
  Value* a = g.add_node(op("mul"), {w, c})->output();                  // a variable changes
  Value* b = g.add_node(op("dropout"), {c}, {{"p", 0.5}})->output();   // random
  Value* d = g.add_node(op("add"), {x, c})->output();                  // an input
  g.set_outputs({g.add_node(op("add"), {g.add_node(op("add"), {a, b})->output(), d})->output()});
  EXPECT_FALSE(run_const_fold(g).changed);
  EXPECT_EQ(g.num_nodes(), 5u);
}

TEST(PassConstFold, ResultsStayFreshBuffers) {
  Graph g;
  Value* c = g.add_constant(tensor({1.0, 2.0}));
  Value* a = g.add_node(op("exp"), {c})->output();
  Value* b = g.add_node(op("neg"), {a})->output();
  g.set_outputs({b});
  PassResult r = run_const_fold(g);
  EXPECT_EQ(r.counts["folded_nodes"], 1);  // exp folds; neg, the output, stays
  ASSERT_EQ(g.num_nodes(), 1u);
  EXPECT_EQ(g.nodes()[0]->op->name, "neg");
  EXPECT_ALL_CLOSE(b->producer->inputs[0]->data, exp(tensor({1.0, 2.0})), 0, 0);
}

TEST(PassConstFold, SizeCapKeepsExpandsOfSmallConstants) {
  auto build = [](Graph& g) {
    Value* x = g.add_input("x", DType::Float32, {512, 1024});
    Value* e = g.add_node(op("expand"), {g.add_constant(ones({1, 1024})), }, {{"shape", Shape{512, 1024}}})->output();
    g.set_outputs({g.add_node(op("mul"), {x, e})->output()});
  };
  Graph g1, g2;
  build(g1);
  build(g2);
  EXPECT_FALSE(run_const_fold(g1).changed);  // 2 MiB > 1 MiB and > 4 KiB of input
  EXPECT_EQ(g1.num_nodes(), 2u);
  EXPECT_TRUE(run_const_fold(g2, {.max_bytes = int64_t{4} << 20}).changed);
  EXPECT_EQ(g2.num_nodes(), 1u);
}

TEST(PassConstFold, FoldedScalarKeepsTensorPromotion) {
  // add(wrapped 1, wrapped 2) is an op output: a 0-dim tensor (float64 by the shape rule),
  // which promotes a 0-dim float16 input. Folding into a wrapped number would give float16.
  Graph g;
  Value* x = g.add_input("x", DType::Float16, {});
  Value* s = g.add_node(op("add"), {g.add_constant(wrap_scalar(1.0)), g.add_constant(wrap_scalar(2.0))})->output();
  Value* y = g.add_node(op("mul"), {x, s})->output();
  g.set_outputs({y});
  EXPECT_EQ(y->dtype, DType::Float64);
  EXPECT_TRUE(run_const_fold(g).changed);
  g.verify();  // re-infers y from the folded constant
  EXPECT_EQ(y->dtype, DType::Float64);
}

TEST(PassConstFold, ViewsOfConstantsFoldToContiguousCopies) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3, 2});
  Value* c = g.add_constant(tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {.dtype = DType::Float32}).reshape({2, 3}));
  Value* t = g.add_node(op("permute"), {c}, {{"dims", std::vector<int64_t>{1, 0}}})->output();
  Value* y = g.add_node(op("add"), {x, t})->output();
  g.set_outputs({y});
  EXPECT_TRUE(run_const_fold(g).changed);
  const Tensor& folded = y->producer->inputs[1]->data;
  EXPECT_TRUE(folded.is_contiguous());
  EXPECT_ALL_CLOSE(folded, tensor({1.0, 4.0, 2.0, 5.0, 3.0, 6.0}, {.dtype = DType::Float32}).reshape({3, 2}), 0, 0);
}

TEST(PassConstFold, RandomGraphsComputeTheSame) {
  int changed = testing::differential([](Graph& g) { return run_const_fold(g); }, 250, 3000);
  EXPECT_GT(changed, 50);
}

}  // namespace
}  // namespace tandem::graph
