// The graph IR: construction with shape inference, symbolic dims, rewiring, verify, text.
#include "tandem/graph/ir.h"

#include "test_util.h"

namespace tandem::graph {
namespace {

using testing::throws_error;

TEST(GraphIr, NodesInferDtypeAndShapeFromTheOpDef) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {4, 784});
  Value* w = g.add_variable("fc.weight", zeros({512, 784}));
  Node* fc = g.add_node(op("linear"), {x, w, nullptr});
  Node* act = g.add_node(op("relu"), {fc->output()});
  g.set_outputs({act->output()});
  g.verify();
  EXPECT_EQ(fc->output()->shape, (SymShape{4, 512}));
  EXPECT_EQ(act->output()->dtype, DType::Float32);
  EXPECT_EQ(x->users.size(), 1u);
  EXPECT_EQ(g.num_nodes(), 2u);
}

TEST(GraphIr, SymbolicBatchDimFlowsThroughShapeRules) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 8});
  Value* w = g.add_variable("w", zeros({3, 8}));
  Value* y = g.add_node(op("linear"), {x, w, nullptr})->output();
  Value* s = g.add_node(op("sum"), {y}, {{"dims", std::vector<int64_t>{1}}, {"keepdim", false}})->output();
  EXPECT_EQ(y->shape, (SymShape{Dim::sym("batch"), 3}));
  EXPECT_EQ(s->shape, (SymShape{Dim::sym("batch")}));
  EXPECT_FALSE(is_static(s->shape));
  EXPECT_TRUE(throws_error([&] { static_shape(s->shape); }, {"batch"}));
}

TEST(GraphIr, ShapeErrorsNameTheOpAndShapes) {
  Graph g;
  Value* a = g.add_input("a", DType::Float32, {2, 3});
  Value* b = g.add_input("b", DType::Float32, {4, 5});
  EXPECT_TRUE(throws_error([&] { g.add_node(op("matmul"), {a, b}); }, {"matmul", "[2,3]", "[4,5]"}));
}

TEST(GraphIr, ReplaceAllUsesRewiresUsersOutputsAndUpdates) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* v = g.add_variable("v", zeros({3}));
  Value* a = g.add_node(op("neg"), {x})->output();
  Value* b = g.add_node(op("exp"), {a})->output();
  g.set_outputs({a, b});
  g.add_update(v, a);
  g.replace_all_uses(a, x);
  EXPECT_EQ(b->producer->inputs[0], x);
  EXPECT_EQ(g.outputs()[0], x);
  EXPECT_EQ(g.updates()[0].second, x);
  g.remove_node(a->producer);
  EXPECT_EQ(g.num_nodes(), 1u);
  g.verify();
}

TEST(GraphIr, RemovingAUsedNodeIsRefused) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* a = g.add_node(op("neg"), {x})->output();
  g.add_node(op("exp"), {a});
  EXPECT_TRUE(throws_error([&] { g.remove_node(a->producer); }, {"still used"}));
}

TEST(GraphIr, UpdatesMustMatchTheVariable) {
  Graph g;
  Value* v = g.add_variable("v", zeros({3}));
  Value* x = g.add_input("x", DType::Float32, {4});
  EXPECT_TRUE(throws_error([&] { g.add_update(v, x); }, {"update of 'v'"}));
  EXPECT_TRUE(throws_error([&] { g.add_update(x, x); }, {"variable"}));
}

TEST(GraphIr, VerifyCatchesUseBeforeDefinition) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Node* a = g.add_node(op("neg"), {x});
  Node* b = g.add_node(op("exp"), {a->output()});
  g.move_before(b, a);
  EXPECT_TRUE(throws_error([&] { g.verify(); }, {"before it is defined"}));
}

TEST(GraphIr, TextAndDotForms) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 4});
  Value* y = g.add_node(op("relu"), {x})->output();
  g.set_outputs({y});
  std::string s = g.str();
  EXPECT_NE(s.find("graph(%x: float32[batch,4])"), std::string::npos) << s;
  EXPECT_NE(s.find("= relu(%x)"), std::string::npos) << s;
  EXPECT_NE(s.find("return %"), std::string::npos) << s;
  std::string d = g.dot();
  EXPECT_EQ(d.rfind("digraph", 0), 0u);
  EXPECT_NE(d.find("relu"), std::string::npos);
}

}  // namespace
}  // namespace tandem::graph
