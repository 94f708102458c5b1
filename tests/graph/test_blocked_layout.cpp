// graph::run_blocked_layout and its ops (conv2d_blocked, max_pool2d_blocked, from_blocked):
// compiled inference of the zoo models with every pass matches eager (the cnn keeps its
// conv/pool chain blocked; resnet's batch norms and residual adds read NCHW, but frozen its
// residual blocks fold into conv2d_blocked with a residual input and stay blocked); random
// residual blocks match eager with the residual blocked or NCHW; random
// conv/pool chains match eager whatever their channels, strides and paddings; training
// graphs are left alone; from_blocked is the exact permutation it claims, and blocked round
// trips are exact.
#include <random>

#include "tandem/compile.h"
#include "tandem/models.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "test_fuse_util.h"

namespace tandem::graph {
namespace {

using testing::count_ops;
using testing::expect_graph_matches;
using testing::PlanRecorder;
using testing::throws_error;

// The blocked layout of NCHW x: [N, C/16, H, W, 16] with [n, c/16, h, w, c%16] = x[n, c, h, w].
Tensor to_blocked_ref(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  return x.reshape({N, C / 16, 16, H, W}).permute({0, 1, 3, 4, 2}).contiguous();
}

Tensor images(int64_t n, uint64_t seed) {
  Generator g(seed);
  return randn({n, 1, 28, 28}, {}, &g);
}

int count_blocked_ops(const Graph& g) {
  return count_ops(g, "conv2d_blocked") + count_ops(g, "max_pool2d_blocked") + count_ops(g, "from_blocked");
}

TEST(BlockedLayout, ZooModelsCompiledMatchEager) {
  for (const char* name : {"cnn", "resnet"}) {
    for (int64_t batch : {1, 3, 17}) {
      SCOPED_TRACE(fmt::format("{} batch {}", name, batch));
      manual_seed(11);
      auto model = models::create(name);
      model->eval();
      NoGradGuard ng;
      auto fwd = compile([model](const Tensor& x) { return model->forward(x); }, {.passes = {"all"}, .modules = {model}});
      for (uint64_t seed : {1, 2}) {
        Tensor x = images(batch, seed);
        EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4);
      }
      if (std::string(name) == "cnn") {
        // conv1 -> pool -> conv2 -> pool stay blocked; flatten reads one from_blocked.
        const Graph& g = fwd.graph();
        EXPECT_EQ(count_ops(g, "conv2d_blocked"), 2) << g.str();
        EXPECT_EQ(count_ops(g, "max_pool2d_blocked"), 2) << g.str();
        EXPECT_EQ(count_ops(g, "from_blocked"), 1) << g.str();
        EXPECT_EQ(count_ops(g, "conv2d_act") + count_ops(g, "max_pool2d"), 0) << g.str();
      }
    }
  }
}

TEST(BlockedLayout, DynamicBatchCompiledCnnMatchesEager) {
  manual_seed(12);
  auto model = models::create("cnn");
  model->eval();
  NoGradGuard ng;
  auto fwd = compile([model](const Tensor& x) { return model->forward(x); },
                     {.dynamic_batch = true, .passes = {"all"}, .modules = {model}});
  for (int64_t batch : {1, 3, 17, 2, 0}) {
    SCOPED_TRACE(fmt::format("batch {}", batch));
    Tensor x = images(batch, batch);
    EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4);
  }
  EXPECT_EQ(count_ops(fwd.graph(), "conv2d_blocked"), 2) << fwd.graph().str();
}

// Nodes of g that are conv2d_blocked with a residual input.
int count_residual_convs(const Graph& g) {
  int n = 0;
  for (const Node* node : g.nodes())
    n += node->op->name == "conv2d_blocked" && node->inputs.size() > 3 && node->inputs[3] != nullptr;
  return n;
}

TEST(BlockedLayout, FrozenResnetKeepsResidualBlocksBlocked) {
  manual_seed(13);
  auto model = models::create("resnet");
  model->eval();
  NoGradGuard ng;
  auto fwd = compile([model](const Tensor& x) { return model->forward(x); }, {.freeze = true, .modules = {model}});
  for (int64_t batch : {1, 3, 17}) {
    SCOPED_TRACE(fmt::format("batch {}", batch));
    for (uint64_t seed : {1, 2}) {
      Tensor x = images(batch, seed);
      EXPECT_ALL_CLOSE(fwd(x), model->forward(x), 1e-4, 1e-4);
    }
  }
  // Stem and every conv blocked; each block's conv2 + add + relu is one conv; the pooling
  // reads the only from_blocked.
  const Graph& g = fwd.graph();
  EXPECT_EQ(count_residual_convs(g), 3) << g.str();
  EXPECT_EQ(count_ops(g, "conv2d_blocked"), 9) << g.str();
  EXPECT_EQ(count_ops(g, "from_blocked"), 1) << g.str();
  EXPECT_EQ(count_ops(g, "add") + count_ops(g, "relu") + count_ops(g, "conv2d") + count_ops(g, "conv2d_act"), 0)
      << g.str();
}

TEST(BlockedLayout, RandomResidualBlocksMatchEager) {
  std::mt19937 rng(17);
  auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + rng() % v.size()); };
  int fused = 0, blocked_residuals = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t batch = pick({1, 2, 3}), c = pick({16, 32}), hw = pick({5, 8, 13}), k = pick({1, 3});
    // r: the block's input x (NCHW: a graph input) or h = relu(conv(x)) (blocked: a conv's output).
    const bool r_is_h = rng() % 2 == 0, act = rng() % 2 == 0, swap = rng() % 2 == 0, bias = rng() % 3 != 0;
    const bool conv_escapes = rng() % 6 == 0;  // the conv's output is also a graph output: no fusion
    SCOPED_TRACE(fmt::format("trial {}: batch {} c {} hw {} k {} r {}{}{}{}{}", trial, batch, c, hw, k,
                             r_is_h ? "h" : "x", act ? " relu" : "", swap ? " swapped" : "",
                             bias ? "" : " nobias", conv_escapes ? " escapes" : ""));
    manual_seed(200 + trial);
    NoGradGuard ng;
    Tensor x = randn({batch, c, hw, hw}), w0 = randn({c, c, 3, 3}) * 0.2, w1 = randn({c, c, k, k}) * 0.2;
    Tensor b1 = bias ? randn({c}) : Tensor();
    PlanRecorder rec;
    rec.input("x", x);
    rec.variable("w0", w0);
    rec.variable("w1", w1);
    if (bias) rec.variable("b1", b1);
    auto eager = rec.record([&] {
      Tensor h = relu(conv2d(x, w0, Tensor(), {1, 1}, {1, 1}));
      Tensor y = conv2d(h, w1, b1, {1, 1}, {k / 2, k / 2});
      Tensor r = r_is_h ? h : x;
      Tensor s = swap ? r + y : y + r;
      std::vector<Tensor> out{act ? relu(s) : s};
      if (conv_escapes) out.push_back(y);
      return out;
    });
    run_fuse_matmul_act(rec.graph);
    PassResult pr = run_blocked_layout(rec.graph);
    const int f = pr.counts["blocked_residual_add"];
    EXPECT_EQ(f, conv_escapes ? 0 : 1) << rec.graph.str();
    fused += f;
    for (const Node* n : rec.graph.nodes()) blocked_residuals += n->attrs.get_or<int64_t>("residual_blocked", 0);
    if (f == 1) EXPECT_EQ(count_ops(rec.graph, "relu") + count_ops(rec.graph, "add"), 0) << rec.graph.str();
    expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
  }
  EXPECT_GT(fused, 25);
  EXPECT_GT(blocked_residuals, 5);
}

TEST(BlockedLayout, BroadcastOrScaledAddsAreNotFused) {
  manual_seed(14);
  NoGradGuard ng;
  Tensor x = randn({2, 16, 6, 6}), w = randn({16, 16, 3, 3}), bias = randn({16, 1, 1});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.variable("bias", bias);
  // conv + a broadcast tensor, and conv + alpha * x: the adds stay (reading from_blocked).
  auto eager = rec.record([&] {
    Tensor h = relu(conv2d(x, w, Tensor(), {1, 1}, {1, 1}));
    Tensor a = conv2d(h, w, Tensor(), {1, 1}, {1, 1}) + bias;
    Tensor b = add(conv2d(h, w, Tensor(), {1, 1}, {1, 1}), x, 0.5);
    return std::vector<Tensor>{a, b};
  });
  run_fuse_matmul_act(rec.graph);
  EXPECT_EQ(run_blocked_layout(rec.graph).counts["blocked_residual_add"], 0);
  EXPECT_EQ(count_ops(rec.graph, "add"), 2) << rec.graph.str();
  expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
}

TEST(BlockedLayout, ResidualConvRejectsAWrongResidualShapeClearly) {
  manual_seed(15);
  NoGradGuard ng;
  Tensor x = randn({1, 16, 4, 4}), w = randn({16, 16, 1, 1});
  Attrs a;
  a.set("residual_blocked", int64_t{1});
  EXPECT_TRUE(throws_error([&] { dispatch1(op("conv2d_blocked"), {x, w, Tensor(), randn({1, 16, 4, 4})}, a); },
                           {"residual", "blocked shape"}));
}

// One step of a random chain: a convolution (with an activation or not) or a max pool.
struct Layer {
  bool conv = true;
  int64_t out = 16, k = 3, s = 1, p = 0;
  bool bias = true, ceil = false;
  std::string act;  // "", "relu" or "clamp" (clamp has no oneDNN post-op: applied after)
};

std::string describe(const std::vector<Layer>& layers, int64_t c, int64_t hw) {
  std::string s = fmt::format("in {}x{}x{}", c, hw, hw);
  for (const Layer& l : layers)
    s += l.conv ? fmt::format(" -> conv(o{} k{} s{} p{}{}{})", l.out, l.k, l.s, l.p, l.bias ? "" : " nobias",
                              l.act.empty() ? "" : " " + l.act)
                : fmt::format(" -> pool(k{} s{} p{}{})", l.k, l.s, l.p, l.ceil ? " ceil" : "");
  return s;
}

TEST(BlockedLayout, RandomConvPoolChainsMatchEager) {
  std::mt19937 rng(7);
  auto pick = [&](std::initializer_list<int64_t> v) { return *(v.begin() + rng() % v.size()); };
  int64_t rewritten = 0, pools = 0, blocked_inputs = 0;
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t batch = pick({1, 2, 3}), c0 = pick({1, 3, 16, 24}), hw = pick({9, 12, 16});
    std::vector<Layer> layers;
    int64_t size = hw;
    for (int i = 0, n = static_cast<int>(2 + rng() % 3); i < n; ++i) {
      Layer l;
      l.conv = i == 0 || rng() % 3 != 0;
      if (l.conv) {
        l.out = pick({16, 32, 48, 24, 10});
        l.k = pick({1, 3});
        l.s = pick({1, 2});
        l.p = pick({0, 1});
        l.bias = rng() % 4 != 0;
        l.act = std::vector<std::string>{"", "relu", "relu", "clamp"}[rng() % 4];
      } else {
        l.k = pick({2, 3});
        l.s = pick({1, 2});
        l.p = pick({0, 1});
        l.ceil = rng() % 3 == 0;
      }
      if (size + 2 * l.p < l.k) break;  // too small for another layer
      size = (size + 2 * l.p - l.k + (l.ceil ? l.s - 1 : 0)) / l.s + 1;
      layers.push_back(l);
    }
    SCOPED_TRACE(fmt::format("trial {} batch {}: {}", trial, batch, describe(layers, c0, hw)));
    manual_seed(100 + trial);
    NoGradGuard ng;
    Tensor x = randn({batch, c0, hw, hw});
    std::vector<Tensor> weights, biases;
    int64_t c = c0;
    for (const Layer& l : layers) {
      if (!l.conv) continue;
      weights.push_back(randn({l.out, c, l.k, l.k}) * 0.3);
      biases.push_back(l.bias ? randn({l.out}) : Tensor());
      c = l.out;
    }
    PlanRecorder rec;
    rec.input("x", x);
    for (size_t i = 0; i < weights.size(); ++i) {
      rec.variable(fmt::format("w{}", i), weights[i]);
      if (biases[i].defined()) rec.variable(fmt::format("b{}", i), biases[i]);
    }
    auto eager = rec.record([&] {
      Tensor h = x, first;
      size_t wi = 0;
      for (const Layer& l : layers) {
        if (l.conv) {
          h = conv2d(h, weights[wi], biases[wi], {l.s, l.s}, {l.p, l.p});
          ++wi;
          if (l.act == "relu") h = relu(h);
          if (l.act == "clamp") h = clamp(h, -0.5, 0.7);
        } else {
          h = max_pool2d(h, {l.k, l.k}, {l.s, l.s}, {l.p, l.p}, {1, 1}, l.ceil);
        }
        if (!first.defined()) first = h;
      }
      // The first layer's output is also a graph output: blocked readers and an NCHW one.
      return std::vector<Tensor>{h, first};
    });
    run_fuse_matmul_act(rec.graph);
    PassResult r = run_blocked_layout(rec.graph);
    rewritten += r.counts["blocked_conv2d"];
    pools += r.counts["blocked_max_pool2d"];
    for (const Node* n : rec.graph.nodes()) blocked_inputs += n->attrs.get_or<int64_t>("blocked_input", 0);
    expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
  }
  // Most chains have a 16-multiple conv feeding a pool or conv.
  EXPECT_GT(rewritten, 20);
  EXPECT_GT(pools, 5);
  EXPECT_GT(blocked_inputs, 5);
}

// Depthwise convolutions and groups of whole 16-channel blocks run blocked from a blocked
// input (oneDNN's blocked kernels); other group widths, and grouped convs reading NCHW, stay
// NCHW. Each chain: conv (16 -> 32) -> grouped conv [-> relu] -> 1x1 conv (-> 16), against eager.
// Fire / inception blocks: convs joined by a cat along the channels, read by a conv and a pool.
// With every channel count divisible by 16 the branches, the cat (along dim 1 of the blocked
// twins) and its readers stay blocked; with one branch of 8 channels (a padded block) the cat is
// a gather_channels_blocked and its readers stay blocked too.
TEST(BlockedLayout, ChannelCatOfBlockedBranchesStaysBlocked) {
  for (int64_t c1 : {16, 8}) {
    for (bool cat_last : {false, true}) {
      SCOPED_TRACE(fmt::format("first branch {} channels, cat dim {}", c1, cat_last ? -3 : 1));
      manual_seed(31);
      NoGradGuard ng;
      Tensor x = randn({2, 16, 9, 9}), w0 = randn({16, 16, 1, 1}) * 0.3, w1 = randn({c1, 16, 1, 1}) * 0.3;
      Tensor w2 = randn({32, 16, 3, 3}) * 0.2, w3 = randn({16, c1 + 32, 3, 3}) * 0.2, b2 = randn({32});
      PlanRecorder rec;
      rec.input("x", x);
      for (auto [name, t] : {std::pair{"w0", w0}, {"w1", w1}, {"w2", w2}, {"w3", w3}, {"b2", b2}}) rec.variable(name, t);
      auto eager = rec.record([&] {
        Tensor s = relu(conv2d(x, w0));
        Tensor e1 = relu(conv2d(s, w1));
        Tensor e3 = relu(conv2d(s, w2, b2, {1, 1}, {1, 1}));
        Tensor cat_out = cat({e1, e3}, cat_last ? -3 : 1);
        return std::vector<Tensor>{conv2d(cat_out, w3, Tensor(), {1, 1}, {1, 1}), max_pool2d(cat_out, {3, 3}, {2, 2})};
      });
      run_fuse_matmul_act(rec.graph);
      PassResult r = run_blocked_layout(rec.graph);
      EXPECT_EQ(r.counts["blocked_cat"], 1) << rec.graph.str();
      EXPECT_EQ(count_ops(rec.graph, "conv2d_blocked"), 4) << rec.graph.str();
      EXPECT_EQ(count_ops(rec.graph, "max_pool2d_blocked"), 1) << rec.graph.str();
      EXPECT_EQ(count_ops(rec.graph, "from_blocked"), 2) << rec.graph.str();  // the two outputs
      EXPECT_EQ(count_ops(rec.graph, "gather_channels_blocked"), c1 == 16 ? 0 : 1) << rec.graph.str();
      expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
    }
  }
}

// An MBConv block as exporters write it (EfficientNet, MobileNetV3): SiLU as x * sigmoid(x),
// a depthwise conv, squeeze-excitation (spatial mean, two small convs, a channel scale), hard-swish
// as x * clamp(x / 6 + 0.5, 0, 1) (after the depthwise conv: its post-op; after the channel
// scale: elementwise), a projection. The activations, the mean, the squeeze convs
// (8 channels: one padded block) and the scale run on the blocked twins; only the result is
// reordered back. Channel counts that are not multiples of 16 (24 -> 40 -> squeeze 10) run the
// same way on padded blocks: the sigmoids make the padding nonzero, which must not leak.
TEST(BlockedLayout, ElementwiseOpsAndSqueezeExcitationStayBlocked) {
  struct Channels {
    int64_t in, mid, squeeze;
  };
  for (auto [batch, ch] : {std::pair{int64_t{1}, Channels{16, 32, 8}}, {3, Channels{16, 32, 8}},
                           {2, Channels{24, 40, 10}}}) {
    SCOPED_TRACE(fmt::format("batch {} channels {} {} {}", batch, ch.in, ch.mid, ch.squeeze));
    manual_seed(41);
    NoGradGuard ng;
    Tensor x = randn({batch, ch.in, 7, 7}), w0 = randn({ch.mid, ch.in, 1, 1}) * 0.3;
    Tensor wd = randn({ch.mid, 1, 3, 3}) * 0.3, w1 = randn({ch.squeeze, ch.mid, 1, 1}) * 0.3;
    Tensor w2 = randn({ch.mid, ch.squeeze, 1, 1}) * 0.3, w3 = randn({ch.in, ch.mid, 1, 1}) * 0.3;
    PlanRecorder rec;
    rec.input("x", x);
    for (auto [name, t] : {std::pair{"w0", w0}, {"wd", wd}, {"w1", w1}, {"w2", w2}, {"w3", w3}}) rec.variable(name, t);
    auto eager = rec.record([&] {
      Tensor h = conv2d(x, w0);
      h = h * sigmoid(h);
      Tensor d = conv2d(h, wd, Tensor(), {1, 1}, {1, 1}, {1, 1}, ch.mid);
      d = d * clamp(d / 6.0 + 0.5, 0.0, 1.0);
      Tensor s = sigmoid(conv2d(relu(conv2d(mean(d, {2, 3}, true), w1)), w2));
      Tensor e = d * s;
      return std::vector<Tensor>{conv2d(e * clamp(e / 6.0 + 0.5, 0.0, 1.0), w3)};
    });
    run_fuse_matmul_act(rec.graph);
    run_fuse_hardswish(rec.graph);
    PassResult r = run_blocked_layout(rec.graph);
    // The depthwise conv's hard-swish is its post-op; the scaled value's runs on the twins.
    int hardswish_convs = 0;
    for (const Node* n : rec.graph.nodes())
      hardswish_convs += n->op->name == "conv2d_blocked" && n->attrs.get_or<std::string>("act", "") == "hardswish";
    EXPECT_EQ(hardswish_convs, 1) << rec.graph.str();
    EXPECT_GE(r.counts["blocked_elementwise"], 6) << rec.graph.str();
    EXPECT_EQ(r.counts["blocked_spatial_reduction"], 1) << rec.graph.str();
    EXPECT_EQ(count_ops(rec.graph, "conv2d_blocked"), 5) << rec.graph.str();
    EXPECT_EQ(count_ops(rec.graph, "from_blocked"), 1) << rec.graph.str();
    expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
  }
}

// ShuffleNetV2 units as exporters write them: split the channels in two (slices), a branch of
// 1x1 -> depthwise 3x3 -> 1x1 convs on one half, cat with the other half, channel shuffle
// (reshape [N, 2, C/2, H, W], permute, clone, reshape back). With 24-channel halves (padded
// blocks) and 32-channel ones, the slices, cats and shuffles run as gathers on the blocked twins:
// only the result is reordered to NCHW, and a cat -> shuffle -> slice reads its sources once.
TEST(BlockedLayout, ChannelSplitCatAndShuffleStayBlocked) {
  for (int64_t half : {24, 32}) {
    SCOPED_TRACE(fmt::format("halves of {} channels", half));
    manual_seed(43);
    NoGradGuard ng;
    const int64_t C = 2 * half;
    Tensor x = randn({2, C, 6, 6}), w0 = randn({C, C, 1, 1}) * 0.2;
    std::vector<Tensor> w;
    for (int unit = 0; unit < 2; ++unit)
      for (Tensor t : {randn({half, half, 1, 1}) * 0.3, randn({half, 1, 3, 3}) * 0.3, randn({half, half, 1, 1}) * 0.3})
        w.push_back(t);
    PlanRecorder rec;
    rec.input("x", x);
    rec.variable("w0", w0);
    for (size_t i = 0; i < w.size(); ++i) rec.variable(fmt::format("w{}", i + 1), w[i]);
    auto eager = rec.record([&] {
      Tensor h = relu(conv2d(x, w0));
      for (int unit = 0; unit < 2; ++unit) {
        Tensor a = h.slice(1, 0, half).clone(), b = h.slice(1, half, C).clone();
        b = relu(conv2d(b, w[3 * unit]));
        b = conv2d(b, w[3 * unit + 1], Tensor(), {1, 1}, {1, 1}, {1, 1}, half);
        b = relu(conv2d(b, w[3 * unit + 2]));
        h = cat({a, b}, 1).reshape({2, 2, half, 6, 6}).permute({0, 2, 1, 3, 4}).clone().reshape({2, C, 6, 6});
      }
      return std::vector<Tensor>{h};
    });
    run_fuse_matmul_act(rec.graph);
    PassResult r = run_blocked_layout(rec.graph);
    run_dce(rec.graph);
    EXPECT_EQ(r.counts["blocked_channel_shuffle"], 2) << rec.graph.str();
    EXPECT_EQ(r.counts["blocked_channel_slice"], 4) << rec.graph.str();
    EXPECT_EQ(count_ops(rec.graph, "conv2d_blocked"), 7) << rec.graph.str();
    EXPECT_EQ(count_ops(rec.graph, "from_blocked"), 1) << rec.graph.str();
    for (const char* nchw : {"slice", "cat", "permute", "reshape", "conv2d", "conv2d_act"})
      EXPECT_EQ(count_ops(rec.graph, nchw), 0) << nchw << "\n" << rec.graph.str();
    // The second unit's slices read the first unit's sources: cat and shuffle are gone.
    EXPECT_LE(count_ops(rec.graph, "gather_channels_blocked"), 5) << rec.graph.str();
    expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
  }
}

TEST(BlockedLayout, GroupedConvsStayBlockedWhereOneDnnHasKernels) {
  struct Case {
    int64_t groups, out;
    bool blocked;
  };
  for (const Case& c : {Case{32, 32, true}, Case{2, 32, true}, Case{2, 64, true}, Case{4, 32, false},
                        Case{32, 64, false}}) {
    for (int64_t stride : {1, 2}) {
      SCOPED_TRACE(fmt::format("groups {} out {} stride {}", c.groups, c.out, stride));
      manual_seed(40 + c.groups + stride);
      NoGradGuard ng;
      Tensor x = randn({2, 16, 10, 10}), w0 = randn({32, 16, 3, 3}) * 0.2;
      Tensor wg = randn({c.out, 32 / c.groups, 3, 3}) * 0.3, bg = randn({c.out}), w1 = randn({16, c.out, 1, 1}) * 0.2;
      PlanRecorder rec;
      rec.input("x", x);
      for (auto [name, t] : {std::pair{"w0", w0}, {"wg", wg}, {"bg", bg}, {"w1", w1}}) rec.variable(name, t);
      auto eager = rec.record([&] {
        Tensor h = conv2d(x, w0, Tensor(), {1, 1}, {1, 1});
        h = relu(conv2d(h, wg, bg, {stride, stride}, {1, 1}, {1, 1}, c.groups));
        return std::vector<Tensor>{conv2d(h, w1)};
      });
      run_fuse_matmul_act(rec.graph);
      run_blocked_layout(rec.graph);
      int grouped_blocked = 0;
      for (const Node* n : rec.graph.nodes())
        if (n->op->name == "conv2d_blocked" && n->attrs.get_or<int64_t>("groups", 1) != 1) {
          ++grouped_blocked;
          EXPECT_EQ(n->attrs.get_or<int64_t>("blocked_input", 0), 1);
        }
      EXPECT_EQ(grouped_blocked, c.blocked ? 1 : 0) << rec.graph.str();
      expect_graph_matches(rec.graph, {x}, eager, 1e-4, 1e-4);
    }
  }
}

TEST(BlockedLayout, ConvWithoutBlockedReaderIsLeftAlone) {
  manual_seed(3);
  NoGradGuard ng;
  Tensor x = randn({2, 3, 8, 8}), w = randn({16, 3, 3, 3}), w2 = randn({10, 16, 3, 3});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w", w);
  rec.variable("w2", w2);
  // conv -> add (no blocked reader); conv -> dilated conv (no blocked kernel).
  rec.record([&] {
    Tensor h = conv2d(x, w);
    return std::vector<Tensor>{h + 1.0, conv2d(relu(conv2d(x, w)), w2, Tensor(), {1, 1}, {2, 2}, {2, 2})};
  });
  run_fuse_matmul_act(rec.graph);
  const std::string before = rec.graph.str();
  EXPECT_FALSE(run_blocked_layout(rec.graph).changed);
  EXPECT_EQ(rec.graph.str(), before);
}

TEST(BlockedLayout, TrainingGraphsAreLeftAlone) {
  manual_seed(4);
  {  // a graph with an update, by hand
    NoGradGuard ng;
    Tensor x = randn({2, 16, 8, 8}), w = randn({16, 16, 3, 3});
    PlanRecorder rec;
    rec.input("x", x);
    graph::Value* wv = rec.variable("w", w);
    rec.record([&] { return std::vector<Tensor>{max_pool2d(conv2d(x, w, Tensor(), {1, 1}, {1, 1}), {2, 2})}; });
    rec.graph.add_update(wv, rec.graph.outputs()[0]->producer->inputs[0]->producer->inputs[1]);
    const std::string before = rec.graph.str();
    EXPECT_FALSE(run_blocked_layout(rec.graph).changed);
    EXPECT_EQ(rec.graph.str(), before);
  }
  // A compiled training step of the cnn with every pass: no blocked op, same loss as eager.
  auto model = models::create("cnn");
  optim::SGD opt(model->parameters(), {.lr = 0.05});
  auto step = compile(
      [&](const Tensor& x, const Tensor& y) {
        opt.zero_grad();
        Tensor loss = nn::functional::cross_entropy(model->forward(x), y);
        loss.backward();
        opt.step();
        return loss;
      },
      {.passes = {"all"}, .modules = {model}});
  Tensor x = images(4, 1), y = randint(0, 10, {4}, {.dtype = DType::Int64});
  step(x, y);
  step(x, y);
  EXPECT_EQ(count_blocked_ops(step.graph()), 0) << step.graph().str();
}

TEST(BlockedLayout, FromBlockedIsTheExactPermutation) {
  manual_seed(5);
  for (const Shape& s : {Shape{1, 16, 1, 1}, Shape{2, 48, 5, 7}, Shape{3, 32, 14, 14}}) {
    Tensor x = randn(s);
    Tensor back = dispatch1(op("from_blocked"), {to_blocked_ref(x)}, {});
    EXPECT_EQ(back.shape(), s);
    EXPECT_ALL_CLOSE(back, x, 0.0, 0.0);
  }
}

TEST(BlockedLayout, RoundTripsAreExact) {
  manual_seed(6);
  NoGradGuard ng;
  Tensor x = randn({3, 32, 6, 5});
  // A 1x1 identity convolution into blocks, a 1x1 pool in blocks, from_blocked back: x.
  Tensor eye = zeros({32, 32, 1, 1});
  for (int64_t c = 0; c < 32; ++c) eye.select(0, c).select(0, c).fill_(1.0);
  Attrs conv_attrs{{"stride", IntArray{1, 1}}, {"padding", IntArray{0, 0}}, {"dilation", IntArray{1, 1}},
                   {"groups", int64_t{1}}};
  Tensor b = dispatch1(op("conv2d_blocked"), {x, eye, Tensor(), Tensor()}, conv_attrs);
  EXPECT_EQ(b.shape(), (Shape{3, 2, 6, 5, 16}));
  EXPECT_ALL_CLOSE(b, to_blocked_ref(x), 0.0, 0.0);
  Attrs blocked_in = conv_attrs;
  blocked_in.set("blocked_input", int64_t{1});
  Tensor b2 = dispatch1(op("conv2d_blocked"), {b, eye, Tensor(), Tensor()}, blocked_in);
  Tensor p = dispatch1(op("max_pool2d_blocked"), {b2}, {{"kernel_size", IntArray{1, 1}}});
  EXPECT_ALL_CLOSE(dispatch1(op("from_blocked"), {p}, {}), x, 0.0, 0.0);
}

TEST(BlockedLayout, BlockedMaxPoolMatchesMaxPool) {
  manual_seed(7);
  Tensor x = randn({2, 32, 11, 10});
  struct Case {
    IntArray k, s, p, d;
    bool ceil;
  };
  for (const Case& c : {Case{{2, 2}, {2, 2}, {0, 0}, {1, 1}, false}, Case{{3, 3}, {2, 2}, {1, 1}, {1, 1}, true},
                        Case{{3, 2}, {1, 2}, {1, 0}, {1, 1}, false}, Case{{2, 2}, {2, 2}, {1, 1}, {1, 1}, true},
                        Case{{3, 3}, {1, 1}, {1, 1}, {2, 2}, false}, Case{{2, 3}, {3, 2}, {0, 1}, {2, 1}, true}}) {
    SCOPED_TRACE(fmt::format("k [{}] s [{}] p [{}] d [{}] ceil {}", fmt::join(c.k, ","), fmt::join(c.s, ","),
                             fmt::join(c.p, ","), fmt::join(c.d, ","), c.ceil));
    Tensor ref = max_pool2d(x, c.k, c.s, c.p, c.d, c.ceil);
    Attrs a{{"kernel_size", c.k}, {"stride", c.s}, {"padding", c.p}, {"dilation", c.d}, {"ceil_mode", c.ceil}};
    Tensor got = dispatch1(op("from_blocked"), {dispatch1(op("max_pool2d_blocked"), {to_blocked_ref(x)}, a)}, {});
    EXPECT_ALL_CLOSE(got, ref, 0.0, 0.0);
  }
}

// The blocked twin of NCHW x with its channels padded to whole blocks of 16 (zeros).
Tensor to_padded_blocked_ref(const Tensor& x) {
  const int64_t pad = (16 - x.size(1) % 16) % 16;
  return to_blocked_ref(pad == 0 ? x : cat({x, zeros({x.size(0), pad, x.size(2), x.size(3)})}, 1));
}

// gather_channels_blocked against index_select on the NCHW concatenation: a permutation with
// repeats over inputs of 24 (padded) and 32 channels, a slice, whole blocks; exact, padding zero.
TEST(BlockedLayout, GatherChannelsIsTheExactIndexSelect) {
  manual_seed(44);
  Tensor a = randn({2, 24, 5, 3}), b = randn({2, 32, 5, 3});
  const Tensor both = cat({a, b}, 1);
  std::vector<IntArray> indexes = {{}, {}, {}};
  for (int64_t c = 0; c < 30; ++c) indexes[0].push_back((c * 7 + 3) % 56);  // scattered, with repeats
  for (int64_t c = 20; c < 45; ++c) indexes[1].push_back(c);                // a slice across the inputs
  for (int64_t c = 24; c < 56; ++c) indexes[2].push_back(c);                // b's whole blocks
  for (const IntArray& index : indexes) {
    SCOPED_TRACE(fmt::format("index [{}]", fmt::join(index, ",")));
    Attrs attrs{{"channels", IntArray{24, 32}}, {"index", index}};
    Tensor y = dispatch1(op("gather_channels_blocked"), {to_padded_blocked_ref(a), to_padded_blocked_ref(b)}, attrs);
    const int64_t K = static_cast<int64_t>(index.size());
    ASSERT_EQ(y.shape(), (Shape{2, (K + 15) / 16, 5, 3, 16}));
    Tensor want = index_select(both, 1, tensor(index));
    EXPECT_ALL_CLOSE(dispatch1(op("from_blocked"), {y}, {{"channels", K}}), want, 0.0, 0.0);
    EXPECT_ALL_CLOSE(y, to_padded_blocked_ref(want), 0.0, 0.0);  // the padding is zero
  }
  EXPECT_TRUE(throws_error(
      [&] {
        dispatch1(op("gather_channels_blocked"), {to_padded_blocked_ref(a)},
                  {{"channels", IntArray{24}}, {"index", IntArray{0, 24}}});
      },
      {"channel index 24 out of range for 24 input channels"}));
}

TEST(BlockedLayout, OpsRejectWrongShapesClearly) {
  Tensor x = randn({2, 24, 4, 4});
  EXPECT_TRUE(throws_error([&] { dispatch1(op("from_blocked"), {x}, {}); }, {"blocked input [N, ceil(C/16), H, W, 16]"}));
  // 24 channels take 2 blocks of 16: 40 do not fit, 16 leave one empty.
  Tensor xb = randn({2, 2, 4, 4, 16});
  for (int64_t c : {40, 16})
    EXPECT_TRUE(throws_error([&] { dispatch1(op("from_blocked"), {xb}, {{"channels", c}}); },
                             {"channels do not fill the 2 blocks"}));
  Tensor w = randn({24, 40, 3, 3});
  Attrs a{{"stride", IntArray{1, 1}}, {"padding", IntArray{1, 1}}, {"blocked_input", int64_t{1}}};
  EXPECT_TRUE(throws_error([&] { dispatch1(op("conv2d_blocked"), {xb, w, Tensor(), Tensor()}, a); },
                           {"channels do not fill the 2 blocks"}));
}

}  // namespace
}  // namespace tandem::graph
