// Shape inference: binding symbolic dims, re-inferring after an edit, errors naming nodes.
#include "random_graph.h"

namespace tandem::graph {
namespace {

using tandem::testing::throws_error;

TEST(PassShapeInfer, BindsTheBatchDimEverywhere) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 2, 4});
  Value* w = g.add_variable("w", zeros({3, 8}));
  Value* r = g.add_node(op("reshape"), {x}, {{"shape", Shape{-1, 8}}})->output();
  Value* y = g.add_node(op("linear"), {r, w, nullptr})->output();
  Value* s = g.add_node(op("sum"), {y}, {{"dims", std::vector<int64_t>{1}}, {"keepdim", false}})->output();
  g.set_outputs({s});
  EXPECT_EQ(r->shape, (SymShape{Dim::sym("batch"), 8}));
  PassResult res = run_shape_infer(g, {{"batch", 5}});
  EXPECT_EQ(res.counts["bound_dims"], 1);
  EXPECT_EQ(res.counts["changed_values"], 3);
  EXPECT_EQ(x->shape, (SymShape{5, 2, 4}));
  EXPECT_EQ(r->shape, (SymShape{5, 8}));
  EXPECT_EQ(y->shape, (SymShape{5, 3}));
  EXPECT_EQ(s->shape, (SymShape{5}));
  g.verify();
}

TEST(PassShapeInfer, ReinfersAfterAnInputChanges) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {2, 3});
  Value* y = g.add_input("y", DType::Float32, {3});
  Value* a = g.add_node(op("mul"), {x, y})->output();
  Value* b = g.add_node(op("sum"), {a}, {{"dims", std::vector<int64_t>{0}}, {"keepdim", true}})->output();
  g.set_outputs({b});
  EXPECT_FALSE(run_shape_infer(g).changed);  // already consistent
  x->shape = {4, 1};
  x->dtype = DType::Float64;
  PassResult r = run_shape_infer(g);
  EXPECT_EQ(r.counts["changed_values"], 2);
  EXPECT_EQ(a->shape, (SymShape{4, 3}));
  EXPECT_EQ(a->dtype, DType::Float64);
  EXPECT_EQ(b->shape, (SymShape{1, 3}));
}

TEST(PassShapeInfer, ErrorsNameTheNodeAndShapes) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("n"), 3});
  Value* z = g.add_input("z", DType::Float32, {4, 3});
  // Recorded with symbolic outputs; the shapes only clash once n is bound to 5.
  Node* add = g.add_node_with_outputs(op("add"), {x, z}, {}, {{DType::Float32, {4, 3}}}, "block.add");
  g.set_outputs({add->output()});
  EXPECT_TRUE(throws_error([&] { run_shape_infer(g, {{"n", 5}}); },
                           {fmt::format("%{} (add, block.add)", add->id), "[5,3]", "[4,3]"}));
}

TEST(PassShapeInfer, UnknownSymbolsAndNegativeSizesAreErrors) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 3});
  g.set_outputs({g.add_node(op("relu"), {x})->output()});
  EXPECT_TRUE(throws_error([&] { run_shape_infer(g, {{"bacth", 2}}); }, {"'bacth'", "batch"}));
  EXPECT_TRUE(throws_error([&] { run_shape_infer(g, {{"batch", -1}}); }, {"negative"}));
  EXPECT_FALSE(run_shape_infer(g).changed);  // nothing bound: stays symbolic
  EXPECT_FALSE(is_static(g.outputs()[0]->shape));
}

TEST(PassShapeInfer, UpdatesMustStillMatchTheirVariables) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("b")});
  Value* v = g.add_variable("v", zeros({4}));
  Node* n = g.add_node_with_outputs(op("relu"), {x}, {}, {{DType::Float32, {4}}});
  g.add_update(v, n->output());
  EXPECT_TRUE(throws_error([&] { run_shape_infer(g, {{"b", 3}}); }, {"update of variable 'v'", "[3]"}));
}

TEST(PassShapeInfer, RandomGraphsAreAlreadyConsistent) {
  for (uint64_t seed = 0; seed < 100; ++seed) {
    testing::RandomGraph r = testing::random_graph(5000 + seed);
    std::string before = r.g.str();
    EXPECT_FALSE(run_shape_infer(r.g).changed) << before;
    EXPECT_EQ(r.g.str(), before);
  }
}

}  // namespace
}  // namespace tandem::graph
