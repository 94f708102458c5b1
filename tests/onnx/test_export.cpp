// ONNX export of the zoo models: every model passes ONNX's checker and shape inference (in
// export itself), and an independent evaluator (tests/reference/check_onnx_export.py, PyTorch
// implementations of the ONNX operators) reproduces tandem's eager outputs.
#include <gtest/gtest.h>

#include "tandem/error.h"
#include "tandem/compile.h"
#include "tandem/generator.h"
#include "tandem/models.h"
#include "tandem/onnx/export.h"
#include "tandem/sampling.h"
#include "test_export_util.h"
#include "test_util.h"

namespace tandem::onnx {
namespace {

using exptest::fresh_dir;
using exptest::module_fn;
using exptest::write_case;
using tandem::testing::throws_error;

// The zoo models exported static (batch 2), with a dynamic batch (traced at 2, run at 3) and
// at opset 13; written once per process.
const std::string& zoo_dir() {
  static const std::string dir = [] {
    std::string d = fresh_dir("zoo");
    manual_seed(3);
    for (std::string name : {"mlp", "cnn", "resnet"}) {
      auto m = models::create(name);
      Tensor x = randn({2, 1, 28, 28});
      write_case(d, name, module_fn(m), {x}, {}, {m});
      write_case(d, name + "_dynamic", module_fn(m), {x}, {.dynamic_batch = true}, {m},
                 {randn({3, 1, 28, 28})});
      write_case(d, name + "_opset13", module_fn(m), {x}, {.opset = 13}, {m});
    }
    return d;
  }();
  return dir;
}

TEST(OnnxExport, ZooModelsMatchEagerInIndependentEvaluator) {
  if (!exptest::python_unavailable().empty()) GTEST_SKIP() << exptest::python_unavailable();
  std::string log;
  int rc = exptest::run_checker(zoo_dir(), log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("9/9 exported models pass"), std::string::npos) << log;
}

TEST(OnnxExport, ZooModelsRoundTripThroughTheImporter) {
  int n = 0;
  std::string failures = exptest::roundtrip_failures(zoo_dir(), &n);
  EXPECT_EQ(n, 9);
  EXPECT_TRUE(failures.empty()) << failures;
}

TEST(OnnxExport, ZooModelsMatchEagerInOnnxRuntime) { TANDEM_EXPECT_ORT_PASSES(zoo_dir(), 9); }

TEST(OnnxExport, InitializersKeepParameterNamesAndModelMetadata) {
  auto m = models::create("cnn");
  std::string dir = fresh_dir("names");
  export_model(m, randn({1, 1, 28, 28}), dir + "/cnn.onnx", {.doc_string = "the zoo CNN"});
  std::string bytes = exptest::read_file(dir + "/cnn.onnx");
  for (const char* s : {"conv1.weight", "conv1.bias", "conv2.weight", "fc1.weight", "fc2.bias",
                        "tandem", "the zoo CNN", "exported by tandem", "input", "output"})
    EXPECT_NE(bytes.find(s), std::string::npos) << s;
  EXPECT_NO_THROW(check_model_bytes(bytes));
}

TEST(OnnxExport, CompiledFunctionGraph) {
  auto m = models::create("mlp");
  m->eval();
  auto fwd = tandem::compile([m](const Tensor& x) { return softmax((*m)(x), 1); },
                             {.passes = {}, .modules = {m}});  // as traced: no fused kernels
  Tensor x = randn({4, 1, 28, 28});
  Tensor want;
  {
    NoGradGuard ng;
    want = fwd(x);
  }
  std::string dir = fresh_dir("compiled");
  export_graph(fwd.graph(), dir + "/f.onnx", {.output_names = {"probs"}});
  Model im = Model::load(dir + "/f.onnx");
  ASSERT_EQ(im.info().outputs.size(), 1u);
  EXPECT_EQ(im.info().outputs[0].name, "probs");
  std::vector<Tensor> got = im.run({{"input", x}});
  EXPECT_ALL_CLOSE(got.at(0), want, 1e-6, 1e-4);
}

TEST(OnnxExport, FusedGraphIsRefusedWithAHint) {
  auto m = models::create("mlp");
  m->eval();
  NoGradGuard ng;
  auto fwd = tandem::compile([m](const Tensor& x) { return (*m)(x); }, {.modules = {m}});  // all passes
  fwd(randn({2, 1, 28, 28}));
  std::string dir = fresh_dir("fused");
  EXPECT_TRUE(throws_error([&] { export_graph(fwd.graph(), dir + "/f.onnx"); }, {"linear_act", ".passes = {}"}));
}

TEST(OnnxExport, TrainingGraphIsRefused) {
  auto m = models::create("resnet");
  m->train();
  auto fwd = tandem::compile([m](const Tensor& x) { return (*m)(x); }, {.modules = {m}});
  fwd(randn({2, 1, 28, 28}));
  std::string dir = fresh_dir("refused");
  EXPECT_TRUE(throws_error([&] { export_graph(fwd.graph(), dir + "/f.onnx"); }, {"in place", "eval()"}));
}

TEST(OnnxExport, RestoresTrainingMode) {
  auto m = models::create("resnet");
  m->train();
  std::string dir = fresh_dir("mode");
  export_model(m, randn({1, 1, 28, 28}), dir + "/r.onnx");
  EXPECT_TRUE(m->is_training());
}

TEST(OnnxExport, Errors) {
  auto m = models::create("mlp");
  std::string dir = fresh_dir("errors");
  Tensor x = randn({1, 1, 28, 28});
  EXPECT_TRUE(throws_error([&] { export_model(m, x, dir + "/a.onnx", {.opset = 12}); }, {"opset 12"}));
  EXPECT_TRUE(throws_error([&] { export_model(m, x, dir + "/a.onnx", {.opset = 18}); }, {"13..17"}));
  EXPECT_TRUE(throws_error(
      [&] { export_model(m, x, dir + "/a.onnx", {.input_names = {"a", "b"}}); }, {"2 input names"}));
  // An op without an ONNX mapping: named, with the reason its OpDef gives; no file is left.
  exptest::Fn fn = [](const std::vector<Tensor>& xs) { return std::vector<Tensor>{cumprod(xs[0], 1)}; };
  EXPECT_TRUE(throws_error([&] { export_model(fn, {randn({2, 3})}, dir + "/b.onnx"); },
                           {"op 'cumprod'", "not exportable", "cumulative product"}));
  EXPECT_FALSE(std::filesystem::exists(dir + "/b.onnx"));
  // scatter_add needs ScatterElements' reduction: opset 16 and later.
  exptest::Fn sa = [](const std::vector<Tensor>& xs) {
    return std::vector<Tensor>{scatter_add(xs[0], 0, zeros({1, 3}, {.dtype = DType::Int64}), xs[0])};
  };
  EXPECT_TRUE(throws_error([&] { export_model(sa, {randn({2, 3})}, dir + "/c.onnx", {.opset = 15}); },
                           {"scatter_add", "opset 16"}));
}

TEST(OnnxExport, SupportedOpsAreRegisteredTandemOps) {
  auto ops = supported_ops();
  EXPECT_GT(ops.size(), 50u);
  for (const auto& name : ops) EXPECT_NE(find_op(name), nullptr) << name;
}

}  // namespace
}  // namespace tandem::onnx
