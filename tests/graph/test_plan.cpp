// graph::Plan: lowered graphs give what eager execution gives (the reference: every op
// dispatched eagerly while the graph was recorded), run after run; input checks; variables
// read by handle; updates; symbolic dims bound at lowering.
#include "tandem/graph/plan.h"

#include "plan_recorder.h"
#include "test_util.h"

namespace tandem::graph {
namespace {

using testing::PlanRecorder;
using testing::throws_error;
using testing::kF64;

// Plan outputs equal the recorded eager outputs exactly (same kernels on the same data), with
// and without the in-place pass, and a second run gives the same again.
void expect_plan_matches(const Graph& g, const std::vector<Tensor>& inputs, const std::vector<Tensor>& eager,
                         LowerOptions opts = {}) {
  for (bool inplace : {true, false}) {
    opts.inplace = inplace;
    Plan plan = lower(g, opts);
    for (int rep = 0; rep < 2; ++rep) {
      std::vector<Tensor> outs = plan.run(inputs);
      ASSERT_EQ(outs.size(), eager.size());
      for (size_t k = 0; k < outs.size(); ++k) {
        EXPECT_EQ(outs[k].shape(), eager[k].shape()) << "output " << k;
        EXPECT_EQ(outs[k].dtype(), eager[k].dtype()) << "output " << k;
        EXPECT_ALL_CLOSE(outs[k], eager[k], 0.0, 0.0) << "output " << k << " inplace=" << inplace
                                                       << " run " << rep << "\n" << plan.str();
      }
    }
  }
}

TEST(Plan, LinearReluSoftmaxMatchesEager) {
  manual_seed(1);
  Tensor x = randn({8, 16}), w1 = randn({32, 16}), b1 = randn({32}), w2 = randn({10, 32});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w1", w1);
  rec.variable("b1", b1);
  rec.variable("w2", w2);
  auto eager = rec.record([&] {
    Tensor h = relu(linear(x, w1, b1));
    return std::vector<Tensor>{softmax(linear(h, w2), -1)};
  });
  expect_plan_matches(rec.graph, {x}, eager);
  Plan plan = lower(rec.graph);
  EXPECT_EQ(plan.num_steps(), 4u);
  EXPECT_GE(plan.memory().num_inplace, 1) << plan.str();  // relu writes into linear's output
  EXPECT_NE(plan.str().find("in place of"), std::string::npos) << plan.str();
}

TEST(Plan, ConvPoolReshapeMatchesEager) {
  manual_seed(2);
  Tensor x = randn({2, 3, 8, 8}), w = randn({4, 3, 3, 3}), b = randn({4}), fw = randn({5, 64});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.variable("b", b);
  rec.variable("fw", fw);
  auto eager = rec.record([&] {
    Tensor h = max_pool2d(relu(conv2d(x, w, b, {1, 1}, {1, 1})), {2, 2});
    return std::vector<Tensor>{linear(h.reshape({2, -1}), fw)};
  });
  expect_plan_matches(rec.graph, {x}, eager);
}

TEST(Plan, ViewsReductionsCatAndMultiOutputOps) {
  manual_seed(3);
  Tensor a = randn({4, 6}), c = randn({6, 4});
  PlanRecorder rec;
  rec.input("a", a);
  rec.input("c", c);
  auto eager = rec.record([&] {
    Tensor at = a.t();                         // view of an input
    Tensor s = add(at, c);                     // reads the view
    Tensor m = sum(s, {1}, true);              // reduction
    Tensor r = mul(s, m);                      // broadcast
    auto [vals, idx] = max(r, 0);              // two outputs, values and int64 indices
    Tensor cc = cat({r, s.t().t()}, 0);        // cat of a buffer and a view chain
    Tensor sl = cc.slice(0, 2, 9, 3);          // a strided view as an output (copied out)
    Tensor flat = r.t().reshape({-1});         // reshape of a transposed buffer copies
    Tensor z = sum(a).reshape({1, 1}) + wrap_scalar(2.0).reshape({1, 1});  // 0-dim reshapes copy
    return std::vector<Tensor>{vals, idx, sl, exp(flat), a, m, z};
  });
  expect_plan_matches(rec.graph, {a, c}, eager);
  Plan plan = lower(rec.graph);
  EXPECT_NE(plan.str().find("copy"), std::string::npos) << plan.str();
}

TEST(Plan, ResidualAddRunsInPlace) {
  manual_seed(4);
  Tensor x = randn({5, 8}), w = randn({8, 8});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  auto eager = rec.record([&] {
    Tensor h = linear(x, w);
    Tensor y = relu(h) + linear(h, w);  // add of two dying intermediates
    Tensor z = tanh(y) * y;             // y read twice by z's inputs: tanh(y) dies at mul
    return std::vector<Tensor>{z};
  });
  expect_plan_matches(rec.graph, {x}, eager);
  Plan plan = lower(rec.graph);
  EXPECT_GE(plan.memory().num_inplace, 2) << plan.str();
}

TEST(Plan, ZooModelsForwardMatchEager) {
  for (const char* name : {"mlp", "cnn", "resnet"}) {
    manual_seed(5);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    Tensor x = randn({3, 1, 28, 28});
    PlanRecorder rec;
    rec.input("x", x);
    for (auto& [n, p] : model->named_parameters()) rec.variable(n, p);
    for (auto& [n, b] : model->named_buffers()) rec.variable(n, b);
    auto eager = rec.record([&] { return std::vector<Tensor>{(*model)(x)}; });
    SCOPED_TRACE(name);
    expect_plan_matches(rec.graph, {x}, eager);
    Plan plan = lower(rec.graph);
    EXPECT_LT(plan.arena_bytes(), plan.memory().naive_bytes) << plan.str();
    EXPECT_LE(plan.arena_bytes(), plan.memory().eager_peak_bytes) << plan.str();
  }
}

TEST(Plan, WrongInputsAreErrorsNamingTheInput) {
  Tensor x = randn({2, 3});
  PlanRecorder rec;
  rec.input("x", x);
  auto eager = rec.record([&] { return std::vector<Tensor>{relu(x)}; });
  Plan plan = lower(rec.graph);
  EXPECT_TRUE(throws_error([&] { plan.run({randn({3, 3})}); }, {"input 0 'x'", "float32[2, 3]", "float32[3, 3]"}));
  EXPECT_TRUE(throws_error([&] { plan.run({randn({2, 3}, kF64)}); }, {"'x'", "float64[2, 3]"}));
  EXPECT_TRUE(throws_error([&] { plan.run({}); }, {"expected 1 inputs, got 0"}));
  EXPECT_TRUE(throws_error([&] { plan.run({Tensor()}); }, {"'x'", "undefined"}));
  // Still usable after an error.
  EXPECT_ALL_CLOSE(plan.run({x})[0], eager[0], 0.0, 0.0);
}

TEST(Plan, NonContiguousInputsAreAccepted) {
  Tensor base = randn({3, 2});
  Tensor x = base.t();  // [2, 3], not contiguous
  PlanRecorder rec;
  Tensor proto = x.contiguous();
  rec.input("x", proto);
  auto eager = rec.record([&] { return std::vector<Tensor>{sum(proto.t(), {0}) * proto.t()}; });
  Plan plan = lower(rec.graph);
  EXPECT_ALL_CLOSE(plan.run({x})[0], eager[0], 0.0, 0.0);
}

TEST(Plan, VariablesAreReadByHandleAtRunTime) {
  Tensor x = randn({4, 3}), w = randn({2, 3});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.record([&] { return std::vector<Tensor>{linear(x, w)}; });
  Plan plan = lower(rec.graph);
  w.mul_(wrap_scalar(2.0));  // an in-place update made elsewhere after lowering
  EXPECT_ALL_CLOSE(plan.run({x})[0], linear(x, w), 0.0, 0.0);
  // A variable that changed shape cannot be run.
  rec.graph.variables()[0]->data.impl()->sizes = {3, 2};
  EXPECT_TRUE(throws_error([&] { plan.run({x}); }, {"variable 'w'", "lower the graph again"}));
  rec.graph.variables()[0]->data.impl()->sizes = {2, 3};
}

TEST(Plan, OutputsNeverAliasTheArenaOrEachOther) {
  Tensor x = randn({4, 4});
  PlanRecorder rec;
  rec.input("x", x);
  auto eager = rec.record([&] {
    Tensor y = exp(x);
    return std::vector<Tensor>{y, y, relu(y)};
  });
  Plan plan = lower(rec.graph);
  std::vector<Tensor> first = plan.run({x});
  std::vector<Tensor> keep = {first[0].clone(), first[1].clone(), first[2].clone()};
  std::vector<Tensor> second = plan.run({x * 2.0});
  EXPECT_FALSE(first[0].shares_storage(first[1]));
  EXPECT_FALSE(first[0].shares_storage(second[0]));
  for (int k = 0; k < 3; ++k) EXPECT_ALL_CLOSE(first[k], keep[k], 0.0, 0.0);
  // run_into writes into the caller's tensors.
  std::vector<Tensor> into = {empty({4, 4}), empty({4, 4}), empty({4, 4})};
  plan.run_into({x}, into);
  for (int k = 0; k < 3; ++k) EXPECT_ALL_CLOSE(into[k], eager[k], 0.0, 0.0);
  EXPECT_TRUE(throws_error([&] { plan.run_into({x}, {empty({4, 4})}); }, {"expected 3 output tensors"}));
}

TEST(Plan, SymbolicBatchIsBoundAtLowering) {
  Graph g;
  Tensor w = randn({5, 7});
  Value* x = g.add_input("x", DType::Float32, {Dim::sym("batch"), 7});
  Value* wv = g.add_variable("w", w);
  Value* y = g.add_node(op("linear"), {x, wv, nullptr})->output();
  y = g.add_node(op("relu"), {y})->output();
  g.set_outputs({y});
  EXPECT_TRUE(throws_error([&] { lower(g); }, {"'x'", "symbolic", "input_shapes"}));
  EXPECT_TRUE(throws_error([&] { lower(g, {.input_shapes = {{3, 6}}}); }, {"'x'", "[3, 6]"}));
  for (int64_t n : {1, 9}) {
    Plan plan = lower(g, {.input_shapes = {{n, 7}}});
    Tensor xs = randn({n, 7});
    EXPECT_ALL_CLOSE(plan.run({xs})[0], relu(linear(xs, w)), 0.0, 0.0);
  }
}

// variable <- value: copied at the end, or written straight by the producing kernel.
TEST(Plan, UpdatesWriteVariablesAtTheEnd) {
  Graph g;
  Tensor v = randn({6}), m = randn({6}), a = randn({3}), b = randn({3});
  Tensor v0 = v.clone(), m0 = m.clone(), a0 = a.clone(), b0 = b.clone();
  Value* x = g.add_input("x", DType::Float32, {6});
  Value* vv = g.add_variable("v", v);
  Value* mv = g.add_variable("m", m);
  Value* av = g.add_variable("a", a);
  Value* bv = g.add_variable("b", b);
  // m <- 0.5 * m + x (m last read by that step: written in place); v <- v + m_new, and the
  // output reads v after the update's value is computed.
  Value* half = g.add_constant(wrap_scalar(0.5));
  Value* mh = g.add_node(op("mul"), {mv, half})->output();
  Value* mn = g.add_node(op("add"), {mh, x})->output();
  Value* vn = g.add_node(op("add"), {vv, mn})->output();
  Value* out = g.add_node(op("mul"), {vv, vn})->output();
  g.add_update(mv, mn);
  g.add_update(vv, vn);
  // a and b swap.
  g.add_update(av, bv);
  g.add_update(bv, av);
  g.set_outputs({out});
  Plan plan = lower(g);
  EXPECT_GE(plan.memory().num_direct_updates, 1) << plan.str();
  Tensor xin = randn({6});
  for (int rep = 0; rep < 2; ++rep) {
    std::vector<Tensor> o = plan.run({xin});
    Tensor mn_ref = m0 * 0.5 + xin;
    Tensor vn_ref = v0 + mn_ref;
    EXPECT_ALL_CLOSE(o[0], v0 * vn_ref, 0.0, 0.0);
    EXPECT_ALL_CLOSE(m, mn_ref, 0.0, 0.0);
    EXPECT_ALL_CLOSE(v, vn_ref, 0.0, 0.0);
    EXPECT_ALL_CLOSE(a, rep == 0 ? b0 : a0, 0.0, 0.0);
    EXPECT_ALL_CLOSE(b, rep == 0 ? a0 : b0, 0.0, 0.0);
    m0 = mn_ref;
    v0 = vn_ref;
  }
  LowerOptions no_direct;
  no_direct.direct_updates = false;
  EXPECT_EQ(lower(g, no_direct).memory().num_direct_updates, 0);
}

TEST(Plan, HalfInputsFallBackToDispatch) {
  Tensor x = randn({4, 5}).to(DType::Float16);
  PlanRecorder rec;
  rec.input("x", x);
  auto eager = rec.record([&] { return std::vector<Tensor>{sigmoid(x) * x}; });
  expect_plan_matches(rec.graph, {x}, eager);
}

TEST(Plan, DeepChainArenaIsSmallerThanTheSumOfIntermediates) {
  Tensor x = randn({16, 32}), w = randn({32, 32}) * 0.1;
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  auto eager = rec.record([&] {
    Tensor h = x;
    for (int i = 0; i < 20; ++i) h = tanh(linear(h, w));
    return std::vector<Tensor>{h};
  });
  Plan plan = lower(rec.graph);
  const size_t one = 16 * 32 * 4;
  // 40 intermediates; the last linear and tanh share the output tensor (in place).
  EXPECT_EQ(plan.memory().naive_bytes, 38 * one);
  EXPECT_LE(plan.arena_bytes(), 2 * one) << plan.str();
  EXPECT_ALL_CLOSE(plan.run({x})[0], eager[0], 0.0, 0.0);
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

TEST(PlanEdges, GraphWithoutNodesAndGraphWithOnlyUpdates) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  g.set_outputs({x, x});
  Plan p = lower(g);
  EXPECT_EQ(p.num_steps(), 0u);
  EXPECT_EQ(p.arena_bytes(), 0u);
  Tensor xin = randn({3});
  std::vector<Tensor> o = p.run({xin});
  EXPECT_ALL_CLOSE(o[0], xin, 0.0, 0.0);
  EXPECT_FALSE(o[0].shares_storage(xin));  // outputs never alias the inputs either
  EXPECT_FALSE(o[0].shares_storage(o[1]));

  Graph h;
  Tensor v = zeros({4});
  Value* in = h.add_input("d", DType::Float32, {4});
  Value* var = h.add_variable("v", v);
  h.add_update(var, h.add_node(op("add"), {var, in})->output());
  Plan q = lower(h);
  EXPECT_EQ(q.memory().num_direct_updates, 1) << q.str();
  Tensor d = randn({4});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(q.run({d}).empty());
  EXPECT_ALL_CLOSE(v, d * 3.0, 1e-6, 1e-6);
}

TEST(PlanEdges, ZeroSizedTensorsAndIntegerOps) {
  Tensor e = randn({0, 5}), i = randint(0, 10, {6});
  PlanRecorder rec;
  rec.input("e", e);
  rec.input("i", i);
  auto eager = rec.record([&] {
    return std::vector<Tensor>{relu(e) + 1.0, i * i + i, argmax(i.to(DType::Float32))};
  });
  expect_plan_matches(rec.graph, {e, i}, eager);
}

TEST(PlanEdges, StrListsStepsWithOffsetsAndTheMemorySummary) {
  Tensor x = randn({2, 8}), w = randn({4, 8});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("fc.weight", w);
  rec.record([&] { return std::vector<Tensor>{sigmoid(relu(linear(x, w)).t())}; });
  std::string s = lower(rec.graph).str();
  for (const char* needle : {"linear(%x, %fc.weight, _)", "arena[+0, 32B]", "in place of", "(view)", "output 0",
                             "memory: arena"})
    EXPECT_NE(s.find(needle), std::string::npos) << needle << "\n" << s;
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

TEST(PlanEdges, SetVariableRebindsAHandle) {
  Tensor x = randn({3, 4}), w = randn({2, 4}), w2 = randn({2, 4});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.record([&] { return std::vector<Tensor>{linear(x, w)}; });
  Plan plan = lower(rec.graph);
  ASSERT_EQ(plan.num_variables(), 1u);
  plan.set_variable(0, w2);
  EXPECT_ALL_CLOSE(plan.run({x})[0], linear(x, w2), 0.0, 0.0);
  EXPECT_TRUE(throws_error([&] { plan.set_variable(0, randn({4, 2})); }, {"'w'", "[2, 4]", "[4, 2]"}));
  EXPECT_TRUE(throws_error([&] { plan.set_variable(0, randn({4, 2}).t()); }, {"'w'", "strides"}));
  EXPECT_TRUE(throws_error([&] { plan.set_variable(1, w2); }, {"out of range"}));
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

TEST(PlanEdges, GraphShapesThatDisagreeWithInferenceAreErrorsNamingTheNode) {
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {3});
  Value* y = g.add_node_with_outputs(op("relu"), {x}, {}, {{DType::Float32, SymShape{4}}})->output();
  g.set_outputs({y});
  EXPECT_TRUE(throws_error([&] { lower(g); }, {"relu(%x)", "float32[4]", "float32[3]"}));
  Graph h;
  Value* a = h.add_input("a", DType::Float32, {2, 3});
  Value* b = h.add_input("b", DType::Float32, {4, 5});
  h.set_outputs({h.add_node_with_outputs(op("matmul"), {a, b}, {}, {{DType::Float32, SymShape{2, 5}}})->output()});
  EXPECT_TRUE(throws_error([&] { lower(h); }, {"matmul(%a, %b)", "float32[2, 3]", "float32[4, 5]"}));
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

// The in-place pass relies on every OpDef::elementwise kernel reading element i of its operands
// before writing element i of its output, at any input slot. Check each such op: the operand
// at slot i is a dying intermediate (a clone), so the plan writes the result into it.
TEST(PlanInplace, EveryElementwiseOpMayWriteIntoAnyOperand) {
  int checked = 0;
  for (const OpDef* def : all_ops()) {
    if (!def->elementwise || def->num_inputs < 1 || !def->cpu) continue;
    std::vector<Tensor> xs;
    for (int k = 0; k < def->num_inputs; ++k) xs.push_back(rand({3, 4}) + 0.5);
    try {
      NoGradGuard ng;
      if (dispatch(*def, xs, {}).size() != 1) continue;  // the pass rewrites one-output ops only
    } catch (const Error&) {
      continue;  // needs attributes or other dtypes: not callable generically
    }
    for (int slot = 0; slot < def->num_inputs; ++slot) {
      Graph g;
      std::vector<Value*> ins;
      for (int k = 0; k < def->num_inputs; ++k) ins.push_back(g.add_input(fmt::format("x{}", k), DType::Float32, {3, 4}));
      std::vector<Value*> args = ins;
      args[slot] = g.add_node(op("clone"), {ins[slot]})->output();
      Node* n = g.add_node(*def, args, {});
      g.set_outputs({n->output()});
      Plan plan = lower(g);
      NoGradGuard ng;
      Tensor expected = dispatch(*def, xs, {})[0];
      SCOPED_TRACE(def->name + " slot " + std::to_string(slot));
      if (n->output()->dtype == DType::Float32) EXPECT_EQ(plan.memory().num_inplace, 1) << plan.str();
      EXPECT_ALL_CLOSE(plan.run(xs)[0], expected, 0.0, 0.0);
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);  // 61 op-slot pairs at the time of writing
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

// A two-output elementwise kernel (the shape of a fused optimizer step: param and state):
// out0 = a + 0.5 b, out1 = a - b, float32 contiguous.
const OpDef& two_output_op() {
  static const OpDef& d = [] {
    OpDef o;
    o.name = "plan_test_two_outputs";
    o.num_inputs = 2;
    o.elementwise = true;
    o.non_differentiable = true;
    o.doc = "test only";
    o.infer = [](const std::vector<TensorMeta>& in, const Attrs&) { return std::vector<TensorMeta>{in[0], in[0]}; };
    o.cpu = [](const KernelArgs& k) {
      const float* a = k.inputs[0].data<float>();
      const float* b = k.inputs[1].data<float>();
      float* p = k.outputs[0].data<float>();
      float* q = k.outputs[1].data<float>();
      for (int64_t i = 0; i < k.outputs[0].numel(); ++i) {
        float ai = a[i], bi = b[i];
        p[i] = ai + 0.5f * bi;
        q[i] = ai - bi;
      }
    };
    return std::cref(register_op(std::move(o)));
  }();
  return d;
}

TEST(PlanEdges, EachOutputOfAMultiOutputKernelMayWriteItsVariable) {
  Tensor x = randn({5}), y = randn({5});
  Tensor x0 = x.clone(), y0 = y.clone();
  Graph g;
  Value* xv = g.add_variable("x", x);
  Value* yv = g.add_variable("y", y);
  Node* n = g.add_node(two_output_op(), {xv, yv});
  g.add_update(xv, n->output(0));
  g.add_update(yv, n->output(1));
  g.set_outputs({g.add_node(op("mul"), {n->output(0), n->output(1)})->output()});
  Plan plan = lower(g);
  EXPECT_EQ(plan.memory().num_direct_updates, 2) << plan.str();
  EXPECT_NE(plan.str().find("writes variable 'y'"), std::string::npos) << plan.str();
  for (int rep = 0; rep < 3; ++rep) {
    Tensor xn = x0 + y0 * 0.5, yn = x0 - y0;
    EXPECT_ALL_CLOSE(plan.run({})[0], xn * yn, 0.0, 0.0);
    EXPECT_ALL_CLOSE(x, xn, 0.0, 0.0);
    EXPECT_ALL_CLOSE(y, yn, 0.0, 0.0);
    x0 = xn;
    y0 = yn;
  }
}

}  // namespace
}  // namespace tandem::graph

namespace tandem::graph {
namespace {

TEST(PlanPasses, InplaceAndMemoryPlanReportThroughThePipelineWithoutChangingTheGraph) {
  Tensor x = randn({4, 8}), w = randn({6, 8});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.record([&] { return std::vector<Tensor>{tanh(relu(linear(x, w))) * 2.0}; });
  std::string before = rec.graph.str();
  PipelineReport rep = run_pipeline(rec.graph, {.passes = "inplace,memory_plan"});
  EXPECT_EQ(rec.graph.str(), before);
  ASSERT_EQ(rep.passes.size(), 2u);
  Plan plan = lower(rec.graph);
  EXPECT_FALSE(rep.passes[0].result.changed);
  EXPECT_EQ(rep.passes[0].result.counts.at("inplace_steps"), plan.memory().num_inplace);
  EXPECT_GE(rep.passes[0].result.counts.at("inplace_steps"), 2);
  EXPECT_EQ(rep.passes[1].result.counts.at("arena_bytes"), static_cast<int64_t>(plan.arena_bytes()));
  EXPECT_EQ(rep.passes[1].result.counts.at("naive_bytes"), static_cast<int64_t>(plan.memory().naive_bytes));
  EXPECT_EQ(rep.passes[1].result.counts.at("steps"), 4);
  EXPECT_NE(rep.str().find("arena_bytes"), std::string::npos) << rep.str();
  // "all" runs them last; a graph with a symbolic input is reported as such.
  Graph g;
  Value* s = g.add_input("s", DType::Float32, {Dim::sym("batch"), 3});
  g.set_outputs({g.add_node(op("relu"), {s})->output()});
  PassResult r = run_memory_plan(g);
  EXPECT_EQ(r.counts.at("symbolic_inputs"), 1);
  const auto& order = default_pass_order();
  EXPECT_EQ(order.back(), "memory_plan");
}

}  // namespace
}  // namespace tandem::graph
