// ExportOptions::dynamic_axes beyond recurrent layers: the ops whose attributes hold sizes
// (reshape/flatten/view, expand, slice, sort's k, var/std's count) must not bake the
// example's sizes into the file. Each model is traced at one size and run at others by ONNX's
// checker + strict shape inference + the independent evaluator (check_onnx_export.py), by
// ONNX Runtime and by tandem's importer, all compared with tandem's eager outputs.
#include <gtest/gtest.h>

#include "tandem/nn.h"
#include "tandem/onnx.h"
#include "test_export_util.h"

namespace tandem::onnx {
namespace {

using exptest::Fn;
using V = std::vector<Tensor>;
using Sizes = std::vector<int64_t>;

struct DynCase {
  std::string name;
  std::vector<std::shared_ptr<nn::Module>> modules;
  Fn fn;
  std::function<V(const Sizes&)> inputs;
  ExportOptions opts;
  Sizes trace;               // the example's sizes
  std::vector<Sizes> runs;   // other sizes the file must run on
};

std::vector<DynCase> dyn_cases() {
  manual_seed(5);
  std::vector<DynCase> cases;
  {
    // A CNN on any batch and image size: conv, pool, global pooling, flatten, linear.
    auto cnn = std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(3, 4, 3, nn::Conv2dOptions{.padding = 1}), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(4, 6, 3, nn::Conv2dOptions{.stride = 2}),
        std::make_shared<nn::AdaptiveAvgPool2d>(1), std::make_shared<nn::Flatten>(),
        std::make_shared<nn::Linear>(6, 5));
    DynCase c{"cnn_batch_height_width", {cnn}, exptest::module_fn(cnn),
              [](const Sizes& s) { return V{randn({s[0], 3, s[1], s[2]})}; }, {}, {2, 16, 16},
              {{1, 16, 16}, {3, 24, 20}, {2, 11, 13}}};
    c.opts.dynamic_axes = {{"input", {{0, "batch"}, {2, "height"}, {3, "width"}}}, {"output", {{0, "batch"}}}};
    cases.push_back(c);
  }
  {
    // Attention-style reshapes over [batch, seq, 8], the last step, a tail slice, statistics
    // and a sort along the sequence, an expand and an unsqueeze.
    auto lin = std::make_shared<nn::Linear>(4, 8);
    Fn fn = [lin](const V& in) {
      Tensor h = lin->forward(in[0]);
      const int64_t B = h.size(0), T = h.size(1);
      Tensor q = h.reshape({B, T, 2, 4}).permute({0, 2, 1, 3});  // [B, 2, T, 4]
      Tensor att = softmax(matmul(q, q.transpose(2, 3)) * 0.5, -1);
      Tensor o = matmul(att, q).permute({0, 2, 1, 3}).reshape({B, T, 8});
      return V{o,
               o.select(1, -1),
               o.slice(1, 1, std::nullopt),
               o.slice(1, -2, std::nullopt),
               tandem::std(o, {1}),
               var(o, {1}, 0),
               sort(o, 1).first,
               o.flatten(0, 1),
               o.unsqueeze(0),
               o.unsqueeze(1).expand(Shape{B, 3, T, 8})};
    };
    DynCase c{"attention_batch_seq", {lin}, fn, [](const Sizes& s) { return V{randn({s[0], s[1], 4})}; },
              {}, {2, 5}, {{1, 3}, {3, 9}, {4, 2}}};
    c.opts.dynamic_axes = {{"input", {{0, "batch"}, {1, "seq"}}}};
    cases.push_back(c);
  }
  {
    // An LSTM classifier on the last time step (batch first).
    auto lstm = std::make_shared<nn::LSTM>(3, 5, nn::RNNOptions{.batch_first = true});
    auto fc = std::make_shared<nn::Linear>(5, 2);
    DynCase c{"lstm_last_step_classifier", {lstm, fc},
              [lstm, fc](const V& in) { return V{fc->forward(lstm->forward(in[0]).select(1, -1))}; },
              [](const Sizes& s) { return V{randn({s[0], s[1], 3})}; }, {}, {2, 6}, {{1, 2}, {3, 11}}};
    c.opts.dynamic_axes = {{"input", {{0, "batch"}, {1, "seq"}}}, {"output", {{0, "batch"}}}};
    cases.push_back(c);
  }
  return cases;
}

std::string sizes_str(const Sizes& s) {
  std::string r;
  for (int64_t v : s) r += fmt::format("_{}", v);
  return r;
}

int total_runs() {
  int n = 0;
  for (const DynCase& c : dyn_cases()) n += static_cast<int>(c.runs.size()) + 1;
  return n;
}

// <dir>/<case>_<sizes>: the model traced at c.trace, inputs and eager outputs at <sizes>.
const std::string& dyn_dir() {
  static const std::string dir = [] {
    std::string d = exptest::fresh_dir("dynamic");
    for (const DynCase& c : dyn_cases()) {
      V trace = c.inputs(c.trace);
      exptest::write_case(d, c.name + sizes_str(c.trace), c.fn, trace, c.opts, c.modules, trace);
      for (const Sizes& s : c.runs)
        exptest::write_case(d, c.name + sizes_str(s), c.fn, trace, c.opts, c.modules, c.inputs(s));
    }
    return d;
  }();
  return dir;
}

TEST(OnnxExportDynamic, NamedDimsAreSymbolicInTheFile) {
  for (const DynCase& c : dyn_cases()) {
    ModelInfo info = Model::load(dyn_dir() + "/" + c.name + sizes_str(c.trace) + "/model.onnx").info();
    for (const ValueInfo& v : info.inputs)
      for (const auto& [axis, name] : c.opts.dynamic_axes.at(v.name))
        EXPECT_EQ(v.shape.at(static_cast<size_t>(axis)).symbol, name) << c.name;
  }
}

TEST(OnnxExportDynamic, RunsOnOtherSizesInTheIndependentEvaluator) {
  if (!exptest::python_unavailable().empty()) GTEST_SKIP() << exptest::python_unavailable();
  std::string log;
  int rc = exptest::run_checker(dyn_dir(), log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find(fmt::format("{0}/{0} exported models pass", total_runs())), std::string::npos) << log;
}

TEST(OnnxExportDynamic, RunsOnOtherSizesInOnnxRuntime) { TANDEM_EXPECT_ORT_PASSES(dyn_dir(), total_runs()); }

TEST(OnnxExportDynamic, RunsOnOtherSizesInTandemsImporter) {
  int n = 0;
  std::string failures = exptest::roundtrip_failures(dyn_dir(), &n);
  EXPECT_EQ(n, total_runs());
  EXPECT_EQ(failures, "");
}

TEST(OnnxExportDynamic, AdaptivePoolingOverADynamicImageIsRefused) {
  // ONNX has no adaptive pooling: a 2x2 output over a dynamic image size cannot be written.
  auto pool = std::make_shared<nn::AdaptiveAvgPool2d>(2);
  ExportOptions o;
  o.dynamic_axes = {{"input", {{2, "height"}}}};
  std::string d = exptest::fresh_dir("dynamic_pool");
  EXPECT_TRUE(testing::throws_error([&] { export_model(pool, randn({1, 1, 8, 8}), d + "/m.onnx", o); },
                                    {"adaptive_avg_pool2d", "dynamic image size"}));
}

}  // namespace
}  // namespace tandem::onnx
