// graph::run_prepack_weights and the prepacked kernels: compiled inference with every pass
// matches eager on the zoo models; a weight changed after packing (in place, by an eager
// optimizer step, by another compiled step's Plan) is re-packed; a dead weight's packed copy
// is dropped and its address reused by a new weight never matches; conv2d_act fuses its
// activation and matches conv2d then the activation; unsupported cases fall back correctly.
#include <functional>
#include <limits>

#include "../../src/backend/cpu/packed_weights.h"
#include "tandem/compile.h"
#include "tandem/graph/fusion.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "test_util.h"

namespace tandem {
namespace {

namespace pw = cpu::packed_weights;

Tensor images(int64_t n, uint64_t seed) {
  Generator g(seed);
  return randn({n, 1, 28, 28}, {}, &g);
}

int count_prepacked(const graph::Graph& g) {
  int n = 0;
  for (const graph::Node* node : g.nodes()) n += node->attrs.get_or<int64_t>("prepacked", 0) == 1;
  return n;
}

Attrs prepacked_attrs(Attrs a, bool prepacked) {
  if (prepacked) a.set("prepacked", int64_t{1});
  return a;
}

Tensor linear_op(const Tensor& x, const Tensor& w, const Tensor& b, bool prepacked) {
  return dispatch1(op("linear"), {x, w, b}, prepacked_attrs({}, prepacked));
}

auto compiled_forward(const std::shared_ptr<nn::Module>& model) {
  return compile([model](const Tensor& x) { return model->forward(x); }, {.passes = {"all"}, .modules = {model}});
}

TEST(Prepack, ZooModelsCompiledWithAllPassesMatchEager) {
  for (const char* name : {"mlp", "cnn", "resnet"}) {
    for (int64_t batch : {1, 7}) {
      SCOPED_TRACE(fmt::format("{} batch {}", name, batch));
      manual_seed(3);
      auto model = models::create(name);
      model->eval();
      NoGradGuard ng;
      auto fwd = compiled_forward(model);
      Tensor x1 = images(batch, 1), x2 = images(batch, 2);
      EXPECT_ALL_CLOSE(fwd(x1), model->forward(x1), 1e-4, 1e-4);
      EXPECT_ALL_CLOSE(fwd(x2), model->forward(x2), 1e-4, 1e-4);  // the graph runs (cache hit)
      EXPECT_EQ(fwd.stats().cache_hits, 1);
      EXPECT_GT(count_prepacked(fwd.graph()), 0) << fwd.graph().str();
    }
  }
}

TEST(Prepack, InPlaceWeightChangeIsRepacked) {
  manual_seed(4);
  auto model = models::create("cnn");
  model->eval();
  NoGradGuard ng;
  auto fwd = compiled_forward(model);
  Tensor x = images(8, 1);  // more than 4 rows: linear packs too (fewer take the dot-product path)
  fwd(x);
  EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4);
  for (auto& [n, p] : model->named_parameters()) {
    if (p.dim() < 2) continue;  // the weights of linear and conv layers
    const size_t packs = pw::packs();
    p.copy_(randn(p.shape()) * 0.1);
    EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4) << n;
    EXPECT_GT(pw::packs(), packs) << n << " was not packed again";
  }
}

TEST(Prepack, EagerOptimizerStepIsSeen) {
  manual_seed(5);
  auto model = models::create("mlp");
  model->eval();
  auto fwd = compiled_forward(model);
  Tensor x = images(3, 1);
  {
    NoGradGuard ng;
    fwd(x);
    fwd(x);
  }
  optim::SGD opt(model->parameters(), {.lr = 0.5});
  Tensor loss = nn::functional::cross_entropy(model->forward(x), randint(0, 10, {3}, {.dtype = DType::Int64}));
  loss.backward();
  opt.step();
  opt.zero_grad();
  NoGradGuard ng;
  EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4);
}

TEST(Prepack, WeightUpdatedByAnotherCompiledTrainingStep) {
  manual_seed(6);
  auto model = models::create("mlp");
  optim::SGD opt(model->parameters(), {.lr = 0.5, .momentum = 0.9});
  auto step = compile(
      [&](const Tensor& x, const Tensor& y) {
        opt.zero_grad();
        Tensor loss = nn::functional::cross_entropy(model->forward(x), y);
        loss.backward();
        opt.step();
        return loss;
      },
      {.passes = {"all"}, .modules = {model}});
  auto fwd = compiled_forward(model);
  Tensor x = images(4, 1), y = randint(0, 10, {4}, {.dtype = DType::Int64});
  for (int i = 0; i < 3; ++i) {
    step(x, y);  // the step's Plan writes the weights and bumps their versions
    NoGradGuard ng;
    Tensor got = fwd(x);
    EXPECT_ALL_CLOSE(got, model->forward(x), 1e-4, 1e-4) << "after step " << i;
  }
  EXPECT_EQ(step.stats().traces, 1);
  EXPECT_GE(fwd.stats().cache_hits, 1);
  // The training step updates every weight: nothing in it is marked.
  EXPECT_EQ(count_prepacked(step.graph()), 0) << step.graph().str();
  EXPECT_GT(count_prepacked(fwd.graph()), 0) << fwd.graph().str();
}

TEST(Prepack, PassMarksConstantsAndVariablesNotUpdated) {
  graph::Graph g;
  graph::Value* x = g.add_input("x", DType::Float32, {2, 4});
  graph::Value* w_upd = g.add_variable("w_upd", randn({3, 4}));
  graph::Value* w_var = g.add_variable("w_var", randn({3, 4}));
  graph::Value* w_const = g.add_constant(randn({3, 4}), "w_const");
  graph::Value* w_op = g.add_node(op("neg"), {w_var})->output();  // computed in the graph
  std::vector<graph::Value*> outs;
  for (graph::Value* w : {w_upd, w_var, w_const, w_op}) outs.push_back(g.add_node(op("linear"), {x, w, nullptr})->output());
  g.set_outputs(outs);
  g.add_update(w_upd, g.add_node(op("mul"), {w_upd, w_upd})->output());
  graph::PassResult r = graph::run_prepack_weights(g);
  EXPECT_EQ(r.counts["prepacked_linear"], 2);
  EXPECT_EQ(count_prepacked(g), 2);
  for (const graph::Node* n : g.nodes())
    if (n->op->name == "linear")
      EXPECT_EQ(n->attrs.get_or<int64_t>("prepacked", 0) == 1, n->inputs[1] == w_var || n->inputs[1] == w_const)
          << n->inputs[1]->name;
  EXPECT_FALSE(graph::run_prepack_weights(g).changed);  // marked once
  // The attribute leaves shape inference alone.
  const std::vector<TensorMeta> in = {TensorMeta::of(randn({2, 4})), TensorMeta::of(randn({3, 4})),
                                      TensorMeta::of(Tensor())};
  EXPECT_EQ(op("linear").infer(in, Attrs{{"prepacked", int64_t{1}}})[0].shape, (Shape{2, 3}));
}

TEST(Prepack, DeadWeightDropsItsPackedCopyAndItsAddressNeverMatches) {
  manual_seed(7);
  NoGradGuard ng;
  Tensor x = randn({5, 64}), b = randn({32});
  const size_t before = pw::size();
  {
    Tensor w = randn({32, 64});
    EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, w, b), 1e-5, 1e-5);
    EXPECT_EQ(pw::size(), before + 1);
  }
  EXPECT_EQ(pw::size(), before);
  // A new weight of the same size likely gets the dead one's block from the caching
  // allocator: its packed copy must be made from its own data.
  for (int i = 0; i < 3; ++i) {
    Tensor w = randn({32, 64});
    EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, w, b), 1e-5, 1e-5) << i;
  }
  EXPECT_EQ(pw::size(), before);
}

TEST(Prepack, LinearPrepackedMatchesPlainAndFallsBack) {
  manual_seed(8);
  NoGradGuard ng;
  Tensor w = randn({6, 10}), b = randn({6});
  for (const Shape& xs : {Shape{10}, Shape{1, 10}, Shape{7, 10}, Shape{2, 3, 10}}) {
    Tensor x = randn(xs);
    EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, w, b), 1e-5, 1e-5) << shape_str(xs);
    EXPECT_ALL_CLOSE(linear_op(x, w, Tensor(), true), linear(x, w), 1e-5, 1e-5) << shape_str(xs);
  }
  // Fallbacks: float64, a transposed weight, a strided input.
  Tensor xd = randn({4, 10}, {.dtype = DType::Float64}), wd = randn({6, 10}, {.dtype = DType::Float64});
  EXPECT_ALL_CLOSE(linear_op(xd, wd, Tensor(), true), linear(xd, wd), 1e-12, 1e-12);
  Tensor wt = randn({10, 6}).t(), xs = randn({10, 4}).t();
  EXPECT_ALL_CLOSE(linear_op(xs, wt, b, true), matmul(xs, wt.t()) + b, 1e-5, 1e-5);
  // linear_act (one matmul with the activation post-op) on prepacked weights.
  Tensor x = randn({2, 3, 10});
  Attrs a = prepacked_attrs({{"act", std::string("gelu")}}, true);
  EXPECT_ALL_CLOSE(dispatch1(op("linear_act"), {x, w, b}, a), gelu(linear(x, w, b)), 1e-5, 1e-5);
}

struct Act {
  std::string name;
  double p0, p1;
  std::function<Tensor(const Tensor&)> eager;
};

std::vector<Act> activations() {
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {"relu", 0, 0, [](const Tensor& t) { return relu(t); }},
      {"gelu", 0, 0, [](const Tensor& t) { return gelu(t); }},
      {"gelu_tanh", 0, 0, [](const Tensor& t) { return gelu(t, "tanh"); }},
      {"sigmoid", 0, 0, [](const Tensor& t) { return sigmoid(t); }},
      {"tanh", 0, 0, [](const Tensor& t) { return tanh(t); }},
      {"silu", 0, 0, [](const Tensor& t) { return silu(t); }},
      {"leaky_relu", 0.2, 0, [](const Tensor& t) { return leaky_relu(t, 0.2); }},
      {"clamp", -0.5, 0.7, [](const Tensor& t) { return clamp(t, -0.5, 0.7); }},
      {"clamp", -0.5, inf, [](const Tensor& t) { return clamp(t, -0.5, std::nullopt); }},
  };
}

Attrs conv_attrs(IntArray stride, IntArray padding, int64_t groups) {
  return {{"stride", stride}, {"padding", padding}, {"dilation", IntArray{1, 1}}, {"groups", groups}};
}

TEST(Prepack, Conv2dActEqualsConv2dThenActivation) {
  manual_seed(9);
  NoGradGuard ng;
  Tensor x = randn({2, 4, 9, 9}), w = randn({6, 4, 3, 3}) * 0.3, b = randn({6});
  Tensor wg = randn({6, 2, 3, 3}) * 0.3;  // groups = 2
  for (const Act& act : activations()) {
    for (bool prepacked : {false, true}) {
      SCOPED_TRACE(fmt::format("{} prepacked={}", act.name, prepacked));
      Attrs a = prepacked_attrs(conv_attrs({1, 1}, {1, 1}, 1), prepacked);
      a.set("act", act.name).set("act_p0", act.p0).set("act_p1", act.p1);
      EXPECT_ALL_CLOSE(dispatch1(op("conv2d_act"), {x, w, b}, a), act.eager(conv2d(x, w, b, {1, 1}, {1, 1})), 1e-5,
                       1e-5);
      EXPECT_ALL_CLOSE(dispatch1(op("conv2d_act"), {x, w, Tensor()}, a), act.eager(conv2d(x, w, Tensor(), {1, 1}, {1, 1})),
                       1e-5, 1e-5);
      Attrs ag = prepacked_attrs(conv_attrs({2, 2}, {0, 0}, 2), prepacked);
      ag.set("act", act.name).set("act_p0", act.p0).set("act_p1", act.p1);
      EXPECT_ALL_CLOSE(dispatch1(op("conv2d_act"), {x, wg, b}, ag),
                       act.eager(conv2d(x, wg, b, {2, 2}, {0, 0}, {1, 1}, 2)), 1e-5, 1e-5);
    }
  }
}

TEST(Prepack, Conv2dPrepackedMatchesPlainAndFallsBack) {
  manual_seed(10);
  NoGradGuard ng;
  Tensor x = randn({3, 3, 8, 8}), w = randn({5, 3, 3, 3}), b = randn({5});
  Attrs a = prepacked_attrs(conv_attrs({1, 1}, {1, 1}, 1), true);
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d"), {x, w, b}, a), conv2d(x, w, b, {1, 1}, {1, 1}), 1e-5, 1e-5);
  // Fallbacks: float64 (reference loops) and a non-contiguous weight (converted per call).
  Tensor xd = x.to(DType::Float64), wd = w.to(DType::Float64);
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d"), {xd, wd, Tensor()}, a), conv2d(xd, wd, Tensor(), {1, 1}, {1, 1}), 1e-12,
                   1e-12);
  Tensor wp = randn({3, 5, 3, 3}).transpose(0, 1);  // [5, 3, 3, 3], odd strides
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d"), {x, wp, b}, a), conv2d(x, wp.contiguous(), b, {1, 1}, {1, 1}), 1e-5, 1e-5);
  // Act with float64 and prepacked: the two-pass fallback.
  Attrs aa = a;
  aa.set("act", std::string("silu"));
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d_act"), {xd, wd, Tensor()}, aa), silu(conv2d(xd, wd, Tensor(), {1, 1}, {1, 1})),
                   1e-12, 1e-12);
}

bool prepack_bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

// Element i of w's buffer as it is in memory now (a released plain copy reads as zeros).
float prepack_raw(const Tensor& w, int64_t i) { return static_cast<const float*>(w.data_ptr())[i]; }

TEST(Prepack, PackedCopyReplacesThePlainOneAndRestoresItWhenNeeded) {
  manual_seed(11);
  NoGradGuard ng;
  pw::clear();
  Tensor w = randn({256, 512}), b = randn({256});  // 512 KiB: its inner pages can go back
  const Tensor original = w.clone();
  graph::release_plain_when_packed({w});
  Tensor x = randn({64, 512});
  EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, original, b), 1e-5, 1e-5);
  // Packed now: the plain copy's pages were handed back (they read as zeros).
  EXPECT_GE(pw::released_bytes(), size_t{500} << 10);
  EXPECT_EQ(prepack_raw(w, w.numel() / 2), 0.0f);
  EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, original, b), 1e-5, 1e-5);  // the packed copy serves
  // One row takes the plain dot-product path: the kernel restores w from its packed copy.
  Tensor x1 = randn({1, 512});
  EXPECT_ALL_CLOSE(linear_op(x1, w, b, true), linear(x1, original, b), 1e-5, 1e-5);
  EXPECT_EQ(pw::released_bytes(), size_t{0});
  EXPECT_TRUE(prepack_bit_equal(w, original));  // the reorder back is exact
  // Packed again at another batch size (another layout may be picked): released again;
  // restore_plain_weights puts the values back for good.
  Tensor x2 = randn({40, 512});
  EXPECT_ALL_CLOSE(linear_op(x2, w, b, true), linear(x2, original, b), 1e-5, 1e-5);
  graph::restore_plain_weights({w});
  EXPECT_EQ(pw::released_bytes(), size_t{0});
  EXPECT_TRUE(prepack_bit_equal(w, original));
  pw::clear();
  EXPECT_ALL_CLOSE(linear_op(x, w, b, true), linear(x, original, b), 1e-5, 1e-5);
  EXPECT_EQ(pw::released_bytes(), size_t{0});  // no longer marked
}

TEST(Prepack, ReleasedConvWeightIsRestoredForEagerReaders) {
  manual_seed(12);
  NoGradGuard ng;
  pw::clear();
  Tensor x = randn({2, 64, 12, 12}), w = randn({64, 64, 3, 3}), b = randn({64});  // 144 KiB weight
  const Tensor original = w.clone();
  graph::release_plain_when_packed({w});
  Attrs a = prepacked_attrs(conv_attrs({1, 1}, {1, 1}, 1), true);
  const Tensor want = conv2d(x, original, b, {1, 1}, {1, 1});
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d"), {x, w, b}, a), want, 1e-4, 1e-4);
  EXPECT_GT(pw::released_bytes(), size_t{100} << 10);
  EXPECT_ALL_CLOSE(dispatch1(op("conv2d"), {x, w, b}, a), want, 1e-4, 1e-4);
  // Dropping the cache (its size cap, clear()) restores released weights first.
  pw::clear();
  EXPECT_EQ(pw::released_bytes(), size_t{0});
  EXPECT_TRUE(prepack_bit_equal(w, original));
  EXPECT_ALL_CLOSE(conv2d(x, w, b, {1, 1}, {1, 1}), want, 1e-4, 1e-4);  // an eager reader
  graph::restore_plain_weights({w});
}

}  // namespace
}  // namespace tandem
