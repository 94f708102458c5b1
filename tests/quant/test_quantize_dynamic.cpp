// onnx::quantize_dynamic (`tandem quantize --dynamic`): linear-heavy models (the zoo MLP and a
// Transformer encoder layer, both exported by tandem) get int8 MatMul/Gemm weights and
// run-time activation quantization; tandem's outputs stay within a few quantization steps of
// the float model, and ONNX Runtime (onnxruntime-node) running the same file agrees with
// tandem within one step.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tandem/io/npy.h"
#include "tandem/models.h"
#include "tandem/nn/transformer.h"
#include "tandem/onnx.h"
#include "tandem/onnx/export.h"
#include "tandem/onnx/quantize.h"
#include "test_util.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

struct DynCase {
  fs::path dir;  // dir/fp.onnx; dir/ort/case/model.onnx (+ input_0.npy, expected_0.npy)
  onnx::QuantizeReport report;
};

DynCase dyn_case(const std::string& tag, const std::function<void(const std::string&)>& export_fp,
                 const onnx::DynamicQuantizeOptions& o = {}) {
  DynCase c;
  c.dir = fs::temp_directory_path() / fmt::format("tandem_quant_dynamic_{}_{}", tag, ::getpid());
  fs::remove_all(c.dir);
  fs::create_directories(c.dir / "ort" / "case");
  export_fp((c.dir / "fp.onnx").string());
  c.report = onnx::quantize_dynamic((c.dir / "fp.onnx").string(), (c.dir / "ort" / "case" / "model.onnx").string(), o);
  return c;
}

// One quantization step of the float output: its range over 255.
double output_step(const Tensor& y) {
  auto v = y.to_vector<double>();
  auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  return (std::max(*mx, 0.0) - std::min(*mn, 0.0)) / 255.0;
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

// tandem's int8 output against float (within `steps` output steps) and ONNX Runtime against
// tandem (within one step).
void check_dynamic(const DynCase& c, const Tensor& x, double steps) {
  auto fp = onnx::Model::load((c.dir / "fp.onnx").string());
  auto q = onnx::Model::load((c.dir / "ort" / "case" / "model.onnx").string());
  EXPECT_GE(q.info().op_histogram.at("DynamicQuantizeLinear"), 1);
  int quantized = 0;
  for (const auto& n : c.report.nodes) quantized += n.quantized;
  EXPECT_EQ(q.info().op_histogram.at("MatMulInteger"), quantized);
  const std::string in = fp.info().inputs[0].name;
  Tensor want = fp.run({{in, x}})[0];
  q.run({{in, x}});
  Tensor got = q.run({{in, x}})[0];
  const double step = output_step(want);
  EXPECT_LE(max_abs_diff(got, want), steps * step) << "step " << step;

  io::save_npy((c.dir / "ort" / "case" / "input_0.npy").string(), x);
  io::save_npy((c.dir / "ort" / "case" / "expected_0.npy").string(), got);
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    if (std::getenv("CI") && std::string(std::getenv("CI")) == "true") FAIL() << "node is required under CI=true";
    GTEST_SKIP() << "node is not installed";
  }
  const char* env = std::getenv("TANDEM_ONNXRUNTIME_NODE");
  std::string root = env && *env ? env : std::string(TANDEM_TEST_DATA_DIR) + "/../../build/onnxruntime-node";
  std::string log = (c.dir / "ort.log").string();
  std::string cmd = fmt::format("NODE_PATH={}/node_modules node {}/../reference/check_onnx_export_ort.js {} 0 {} > {} 2>&1",
                                root, TANDEM_TEST_DATA_DIR, (c.dir / "ort").string(), step, log);
  int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::string out((std::istreambuf_iterator<char>(f)), {});
  rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
  if (rc == 2) {
    if (std::getenv("CI") && std::string(std::getenv("CI")) == "true") FAIL() << "onnxruntime-node is required under CI=true: " << out;
    GTEST_SKIP() << "onnxruntime-node is not installed: " << out;
  }
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("1/1 exported models pass"), std::string::npos) << out;
}

TEST(QuantizeDynamic, ZooMlpWithinQuantizationStepsAndOnnxRuntimeAgrees) {
  manual_seed(3);
  DynCase c = dyn_case("mlp", [](const std::string& path) {
    onnx::export_model(models::create("mlp"), randn({1, 1, 28, 28}), path, {.dynamic_batch = true});
  });
  ASSERT_EQ(c.report.nodes.size(), 3u);
  for (const auto& n : c.report.nodes) EXPECT_TRUE(n.quantized) << n.name;
  EXPECT_EQ(c.report.float_weight_bytes, 4 * c.report.int8_weight_bytes);
  double ratio = static_cast<double>(fs::file_size(c.dir / "fp.onnx")) / fs::file_size(c.dir / "ort" / "case" / "model.onnx");
  EXPECT_GT(ratio, 3.5);
  check_dynamic(c, randn({8, 1, 28, 28}), 3);
  fs::remove_all(c.dir);
}

TEST(QuantizeDynamic, TransformerEncoderLayerWithinQuantizationStepsAndOnnxRuntimeAgrees) {
  manual_seed(4);
  auto enc = std::make_shared<nn::TransformerEncoderLayer>(
      32, 4, nn::TransformerEncoderLayerOptions{.dim_feedforward = 64, .batch_first = true});
  DynCase c = dyn_case("transformer", [&](const std::string& path) {
    onnx::export_model(enc, randn({2, 6, 32}), path, {.dynamic_batch = true});
  });
  // The attention's input and output projections and the feed-forward pair (MatMul of a
  // transposed weight); the attention's own products of activations stay float.
  ASSERT_EQ(c.report.nodes.size(), 4u) << c.report.str();
  for (const auto& n : c.report.nodes) EXPECT_TRUE(n.quantized) << n.name;
  // The float weights (and their Transposes) leave the file: it shrinks by about 3/4 of them.
  EXPECT_EQ(c.report.float_weight_bytes, 4 * 8192);
  EXPECT_EQ(c.report.float_weight_bytes, 4 * c.report.int8_weight_bytes);
  const double saved = static_cast<double>(fs::file_size(c.dir / "fp.onnx")) - fs::file_size(c.dir / "ort" / "case" / "model.onnx");
  EXPECT_GT(saved, 0.6 * (c.report.float_weight_bytes - c.report.int8_weight_bytes));
  check_dynamic(c, randn({3, 6, 32}), 3);
  fs::remove_all(c.dir);
}

TEST(QuantizeDynamic, PerTensorKeepFloatAndBadInputs) {
  manual_seed(3);
  DynCase c = dyn_case("keep", [](const std::string& path) {
    onnx::export_model(models::create("mlp"), randn({1, 1, 28, 28}), path, {.dynamic_batch = true});
  }, {.per_channel = false});
  ASSERT_EQ(c.report.nodes.size(), 3u);
  std::string last = c.report.nodes[2].name;
  auto k = onnx::quantize_dynamic((c.dir / "fp.onnx").string(), (c.dir / "keep.onnx").string(), {.keep_float = {last}});
  EXPECT_TRUE(k.nodes[0].quantized);
  EXPECT_FALSE(k.nodes[2].quantized);
  auto q = onnx::Model::load((c.dir / "keep.onnx").string());
  EXPECT_EQ(q.info().op_histogram.at("MatMulInteger"), 2);
  check_dynamic(c, randn({4, 1, 28, 28}), 3);  // per tensor: one scale per weight
  EXPECT_TRUE(tandem::testing::throws_error(
      [] { onnx::quantize_dynamic("/nonexistent.onnx", "/tmp/x.onnx"); }, {"cannot open"}));
  fs::remove_all(c.dir);
}

}  // namespace
