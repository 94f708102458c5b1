// ONNX export of every mapped op: small functions over the ops of each family are exported
// (checker + strict shape inference inside export), and an independent evaluator
// (tests/reference/check_onnx_export.py) and, when installed, ONNX Runtime (onnxruntime-node)
// reproduce tandem's eager outputs.
#include <gtest/gtest.h>

#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/nn.h"
#include "tandem/onnx/export.h"
#include "test_export_util.h"
#include "test_util.h"

namespace tandem::onnx {
namespace {

using exptest::Fn;
using exptest::write_case;
using V = std::vector<Tensor>;

// All op cases, written once per process into one directory.
const std::string& ops_dir() {
  static const std::string dir = [] {
    std::string d = exptest::fresh_dir("ops");
    manual_seed(11);
    Tensor x = randn({3, 4}), y = randn({3, 4}), yb = randn({4});
    write_case(d, "unary", [](const V& in) {
      const Tensor& x = in[0];
      Tensor ax = abs(x);
      return V{exp(x), log(ax + 0.5), log1p(ax), sqrt(ax), rsqrt(ax + 0.5), neg(x), sign(x), sin(x),
               cos(x), tanh(x), sigmoid(x), relu(x), silu(x), gelu(x), gelu(x, "tanh"),
               leaky_relu(x, 0.2), softplus(x), softplus(x, 2.0), clamp(x, -0.5, 0.5),
               clamp(x, std::nullopt, 0.3), x.to(DType::Float64), (x * 3.0).to(DType::Int64)};
    }, {x});
    write_case(d, "binary", [](const V& in) {
      const Tensor &x = in[0], &y = in[1], &b = in[2];
      return V{x + y, x - y, sub(x, b, 2.0), add(x, y, 0.5), x * b, x / (abs(y) + 1.0),
               pow(abs(x) + 0.5, y), pow(x, 2.0), minimum(x, y), maximum(x, b), x * 2.0, 3.0 - x,
               x > y, x < b, x >= y, x <= y, eq(x, x), ne(x, y), where(x > y, x, y),
               masked_fill(x, x < 0.0 * x, -1.0), logical_and(x > 0.0 * x, y > 0.0 * y),
               logical_or(x > y, y > b), logical_xor(x > y, x > b), logical_not(x > y)};
    }, {x, y, yb});
    Tensor w45 = randn({4, 5}), b4 = randn({4}), m56 = randn({5, 6}), bm = randn({2, 5, 2});
    write_case(d, "linalg", [=](const V& in) {
      const Tensor& x = in[0];
      return V{linear(x, w45, b4), linear(x, w45), matmul(x, m56), bmm(x, bm),
               linear(x.reshape({6, 5}), w45, b4), linear(x.reshape({6, 5}), w45)};
    }, {randn({2, 3, 5})});
    Tensor wg = randn({6, 1, 3, 3}), bg = randn({6}), wt = randn({3, 4, 3, 3}), bt = randn({4});
    Tensor w1 = randn({4, 3, 3});
    write_case(d, "conv_pool", [=](const V& in) {
      const Tensor& x = in[0];
      return V{conv2d(x, wg, bg, {2, 2}, {1, 1}, {1, 1}, 3), conv2d(x, wg.reshape({2, 3, 3, 3}), {}, {1, 1}, {0, 0}, {2, 2}),
               conv_transpose2d(x, wt, bt, {2, 2}, {1, 1}, {1, 1}),
               max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), max_pool2d(x, {2, 2}),
               avg_pool2d(x, {2, 2}), avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, false),
               avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, true),
               adaptive_avg_pool2d(x.slice(2, 0, 8).slice(3, 0, 8), {2, 2}), adaptive_avg_pool2d(x, {1, 1}),
               conv1d(x.reshape({2, 3, 81}), w1, b4, 2, 1)};
    }, {randn({2, 3, 9, 9})});
    Tensor rm = randn({3}), rv = rand({3}) + 0.5, g3 = randn({3}), bb3 = randn({3});
    Tensor g6 = randn({6}), b6 = randn({6});
    Tensor g4 = randn({4}), g34 = randn({3, 4}), b34 = randn({3, 4});
    Fn norm_fn = [=](const V& in) {
      const Tensor& x = in[0];
      return V{batch_norm(x, rm, rv, g3, bb3, false, 0.1, 1e-3), batch_norm(x, rm, rv),
               layer_norm(x, {4}, g4, b4), layer_norm(x, {4}), layer_norm(x, {3, 4}, g34, b34, 1e-3),
               layer_norm(x, {4}, g4), softmax(x, 1), log_softmax(x, -1),
               group_norm(x.reshape({2, 6, 2}), 3, g6, b6), group_norm(x.reshape({2, 6, 2}), 2),
               group_norm(x.reshape({2, 6, 2}), 6, g6)};
    };
    write_case(d, "norm", norm_fn, {randn({2, 3, 4})});
    write_case(d, "norm_opset13", norm_fn, {randn({2, 3, 4})}, {.opset = 13});
    write_case(d, "reduce", [](const V& in) {
      const Tensor& x = in[0];
      auto [mv, mi] = max(x, 1);
      auto [nv, ni] = min(x, 2, true);
      return V{sum(x, {1}), sum(x), mean(x, {0, 2}, true), mean(x), amax(x, {2}), amin(x, {0, 1}),
               prod(x, {1}), logsumexp(x, {2}), norm(x, 2.0, {1}), norm(x, 1.0, {2}, true), mv, mi,
               nv, ni, argmax(x, 1), argmin(x, 2, true), argmax(x), cumsum(x, 1), max(x),
               var(x, {1}), var(x, {0, 2}, 0, true), tandem::std(x), tandem::std(x, {2}, 1, true)};
    }, {randn({2, 3, 4})});
    Tensor emb = randn({10, 3}), idx = tensor(std::vector<int64_t>{2, 0, 1}), gidx = tensor(std::vector<int64_t>{0, 2, 1, 1, 0, 2}, Shape{2, 3});
    write_case(d, "shape", [=](const V& in) {
      const Tensor& x = in[0];
      auto [tv, ti] = topk(x, 2, 1);
      auto [sv, si] = sort(x, -1, true);
      return V{x.reshape({6, 4}), x.flatten(1), x.permute({2, 0, 1}), x.transpose(0, 1),
               x.unsqueeze(1), x.slice(0, 0, 1).squeeze(0), x.narrow(2, 1, 2), x.slice(2, 0, 4, 2),
               x.select(1, 2), x.select(2, -1), unbind(x, 1)[2], x.slice(0, 0, 1).expand({4, 3, 4}), cat({x, x * 2.0}, 1),
               index_select(x, 1, idx), gather(x.select(2, 0), 1, gidx), embedding(emb, in[1]),
               pad(x, {1, 2}), pad(x, {1, 1, 2, 0}, "constant", 0.5), pad(x, {2, 1}, "reflect"),
               pad(x, {1, 1, 1, 1}, "replicate"), tv, ti, sv, si, x.clone(),
               one_hot(in[1], 10)};
    }, {randn({2, 3, 4}), tensor(std::vector<int64_t>{1, 9, 4, 4}, Shape{2, 2})});
    // roi_align (RoiAlign-16: both coordinate modes; the batch index column becomes int64).
    Tensor rois = tensor({0.0, 0.5, 1.0, 6.0, 5.5, 1.0, 2.0, 0.0, 7.5, 4.0, 1.0, -1.0, 3.0, 2.0, 8.5})
                      .reshape({3, 5});
    write_case(d, "roi_align", [=](const V& in) {
      return V{roi_align(in[0], rois, {2, 3}, 1.0, 2, false), roi_align(in[0], rois, {3, 3}, 0.5, 0, true)};
    }, {randn({2, 3, 8, 9})});
    // Scatter: ScatterElements, and its add/mul reductions (opset 16+) from scatter_reduce.
    write_case(d, "scatter", [](const V& in) {
      const Tensor& x = in[0];
      const Tensor idx = tensor(std::vector<int64_t>{2, 0, 1, 0, 3, 3}, Shape{2, 3});
      const Tensor src = in[1];
      return V{scatter(x, 1, idx, src), scatter(x, 0, tensor(std::vector<int64_t>{2, 0, 1, 1}, Shape{1, 4}), 1.5),
               scatter_add(x, 1, idx, src), scatter_reduce(x, -1, idx, src, "sum"),
               scatter_reduce(x, 1, idx, src, "prod")};
    }, {randn({3, 4}), randn({2, 3})});
    // Sampling: grid_sample (GridSample, opset 16+) in each mode, pixel_shuffle (DepthToSpace
    // CRD) and pixel_unshuffle (SpaceToDepth + a channel reorder), 4-D and 5-D.
    write_case(d, "sampling", [](const V& in) {
      const Tensor &x = in[0], &g = in[1];
      return V{grid_sample(x, g), grid_sample(x, g, "nearest", "border", true),
               grid_sample(x, g, "bicubic", "reflection"), pixel_shuffle(x, 2),
               pixel_unshuffle(x, 2), pixel_shuffle(x.unsqueeze(0), 2)};
    }, {randn({2, 4, 4, 6}), rand({2, 3, 5, 2}) * 2.4 - 1.2});
    // Resampling: interpolate in each mode as Resize (scales from a scale factor, else sizes),
    // and with a dynamic batch, whose size reaches Resize's sizes through Shape.
    write_case(d, "interpolate", [](const V& in) {
      const Tensor& x = in[0];
      return V{interpolate(x, {.scale_factor = {2.0}}),
               interpolate(x, {.size = {5, 7}, .mode = "bilinear"}),
               interpolate(x, {.scale_factor = {1.5, 0.5}, .mode = "bilinear", .align_corners = true}),
               interpolate(x, {.scale_factor = {1.7}, .mode = "bicubic"}),
               interpolate(x, {.size = {3, 9}, .mode = "bicubic", .align_corners = true}),
               interpolate(x, {.size = {6, 9}, .mode = "nearest-exact"}),
               interpolate(x.flatten(2), {.scale_factor = {2.5}, .mode = "linear"}),
               interpolate(x.unsqueeze(2), {.size = {2, 5, 3}, .mode = "trilinear"})};
    }, {randn({2, 3, 4, 6})});
    write_case(d, "interpolate_dynamic", [](const V& in) {
      return V{interpolate(in[0], {.size = {5, 9}, .mode = "bilinear"}),
               interpolate(in[0], {.scale_factor = {2.0}})};
    }, {randn({2, 3, 4, 6})}, {.dynamic_batch = true}, {}, {randn({3, 3, 4, 6})});
    // The importer's own ops (ONNX math tandem has no eager op for, integer division), fill
    // and scatter_add (ScatterElements with reduction add).
    Tensor sidx = tensor(std::vector<int64_t>{0, 2, 2, 1, 0, 0, 1, 2}, Shape{2, 1, 4});
    Tensor ssrc = randn({2, 1, 4});
    write_case(d, "importer_ops", [=](const V& in) {
      const Tensor &x = in[0], &i = in[1], &j = in[2];
      auto un = [&](const char* fn) { return dispatch1(op("onnx_unary"), {x}, {{"fn", std::string(fn)}}); };
      auto idiv = [&](const char* fn) { return dispatch1(op("onnx_int_div"), {i, j}, {{"fn", std::string(fn)}}); };
      Tensor filled = x * 2.0;
      filled.fill_(1.5);
      return V{un("erf"), un("floor"), un("atan"), un("isnan"), idiv("div"), idiv("mod"), idiv("fmod"),
               filled + x, scatter_add(x, 1, sidx, ssrc)};
    }, {randn({2, 3, 4}), tensor(std::vector<int64_t>{-7, 7, -7, 7, 5, -5}, Shape{2, 3}),
        tensor(std::vector<int64_t>{2, -2, -3, 3, 5, 2}, Shape{2, 3})});
    // Modules: Sequential of layers, dynamic batch traced at 4 and run at 5.
    auto seq = std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(2, 4, 3, nn::Conv2dOptions{.padding = 1}),
        std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::GELU>(),
        std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
        std::make_shared<nn::Linear>(4 * 3 * 3, 8), std::make_shared<nn::LayerNorm>(Shape{8}),
        std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::SiLU>(),
        std::make_shared<nn::Linear>(8, 3), std::make_shared<nn::Softmax>(1));
    write_case(d, "sequential_dynamic", exptest::module_fn(seq), {randn({4, 2, 6, 6})},
               {.dynamic_batch = true}, {seq}, {randn({5, 2, 6, 6})});
    // Sequence models: a transformer encoder layer (attention, gelu, layer norm; batch first,
    // traced at batch 2 and run at 3) and a 2-layer bidirectional LSTM and a GRU (ONNX LSTM/GRU nodes).
    auto enc = std::make_shared<nn::TransformerEncoderLayer>(
        8, 2, nn::TransformerEncoderLayerOptions{.dim_feedforward = 16, .activation = "gelu", .batch_first = true});
    write_case(d, "transformer_dynamic", exptest::module_fn(enc), {randn({2, 5, 8})}, {.dynamic_batch = true},
               {enc}, {randn({3, 5, 8})});
    auto lstm = std::make_shared<nn::LSTM>(4, 6, nn::RNNOptions{.num_layers = 2, .bidirectional = true});
    auto gru = std::make_shared<nn::GRU>(4, 5, nn::RNNOptions{.batch_first = true});
    write_case(d, "rnn", [lstm, gru](const V& in) { return V{lstm->forward(in[0]), gru->forward(in[0])}; },
               {randn({3, 2, 4})}, {}, {lstm, gru});
    return d;
  }();
  return dir;
}

TEST(OnnxExportOps, EveryOpFamilyMatchesEagerInIndependentEvaluator) {
  if (!exptest::python_unavailable().empty()) GTEST_SKIP() << exptest::python_unavailable();
  std::string log;
  int rc = exptest::run_checker(ops_dir(), log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("17/17 exported models pass"), std::string::npos) << log;
}

TEST(OnnxExportOps, EveryOpFamilyMatchesEagerInOnnxRuntime) { TANDEM_EXPECT_ORT_PASSES(ops_dir(), 17); }

TEST(OnnxExportOps, EveryOpFamilyRoundTripsThroughTheImporter) {
  int n = 0;
  std::string failures = exptest::roundtrip_failures(ops_dir(), &n);
  EXPECT_EQ(n, 17);
  EXPECT_TRUE(failures.empty()) << failures;
}

TEST(OnnxExportOps, EveryExportableOpIsExercised) {
  // Each supported op appears in the doc strings (the traced node) of some exported case.
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(ops_dir()))
    all += exptest::read_file(e.path().string() + "/model.onnx");
  for (const std::string& name : supported_ops()) {
    if (name == "dropout") continue;  // only in training mode, which export refuses
    if (name == "copy") continue;     // in-place copy_ is not traced into inference graphs
    EXPECT_NE(all.find(" " + name + "("), std::string::npos) << name << " is not covered";
  }
}

TEST(OnnxExportOps, ScatterReductionsWithoutAnOnnxEquivalentAreRefused) {
  using tandem::testing::throws_error;
  const Tensor idx = tensor(std::vector<int64_t>{1, 0, 1}, Shape{1, 3});
  const V in{randn({2, 3}), randn({1, 3})};
  std::string d = exptest::fresh_dir("scatter_refused");
  auto reduce = [&](const std::string& r, bool self) {
    return [=](const V& x) { return V{scatter_reduce(x[0], 0, idx, x[1], r, self)}; };
  };
  EXPECT_TRUE(throws_error([&] { export_model(reduce("amax", true), in, d + "/a.onnx"); }, {"scatter_reduce", "amax", "opset 18"}));
  EXPECT_TRUE(throws_error([&] { export_model(reduce("mean", true), in, d + "/b.onnx"); }, {"scatter_reduce", "mean"}));
  EXPECT_TRUE(throws_error([&] { export_model(reduce("sum", false), in, d + "/c.onnx"); }, {"include_self"}));
  Fn add = [=](const V& x) { return V{scatter_add(x[0], 0, idx, x[1])}; };
  EXPECT_TRUE(throws_error([&] { export_model(add, in, d + "/d.onnx", {.opset = 13}); }, {"scatter_add", "opset 16"}));
}

TEST(OnnxExportOps, TrainingModeOpsAreRefused) {
  Tensor rm = zeros({3}), rv = ones({3});
  Fn bn = [=](const V& in) { return V{batch_norm(in[0], rm, rv, {}, {}, true)}; };
  std::string d = exptest::fresh_dir("train_mode");
  EXPECT_TRUE(tandem::testing::throws_error([&] { export_model(bn, {randn({2, 3})}, d + "/a.onnx"); },
                                            {"onnx export"}));
  Fn drop = [](const V& in) { return V{dropout(in[0], 0.5, true)}; };
  EXPECT_TRUE(tandem::testing::throws_error([&] { export_model(drop, {randn({2, 3})}, d + "/b.onnx"); },
                                            {"dropout", "eval"}));
}

TEST(OnnxExportOps, AntialiasedInterpolateIsRefused) {
  Fn f = [](const V& in) { return V{interpolate(in[0], {.size = {2, 3}, .mode = "bilinear", .antialias = true})}; };
  std::string d = exptest::fresh_dir("antialias");
  EXPECT_TRUE(tandem::testing::throws_error([&] { export_model(f, {randn({1, 2, 6, 7})}, d + "/a.onnx"); },
                                            {"antialias", "opset 18"}));
}

}  // namespace
}  // namespace tandem::onnx
