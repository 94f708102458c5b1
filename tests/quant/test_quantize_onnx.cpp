// onnx::quantize_model (`tandem quantize`): a zoo CNN exported to ONNX, quantized to QDQ with
// calibration batches; the file is ~4x smaller, tandem's int8 path stays close to the float
// model, and ONNX Runtime (onnxruntime-node) running the same file agrees with tandem's int8
// outputs within one quantization step of the output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tandem/io/npy.h"
#include "tandem/onnx.h"
#include "tandem/onnx/export.h"
#include "tandem/onnx/quantize.h"
#include "test_util.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

struct QuantizedCnn {
  fs::path dir;
  onnx::QuantizeReport report;
  std::vector<std::map<std::string, Tensor>> calib;
};

QuantizedCnn make_quantized(const std::string& tag, const onnx::QuantizeOptions& o) {
  QuantizedCnn q;
  q.dir = fs::temp_directory_path() / fmt::format("tandem_quantize_{}_{}", tag, ::getpid());
  fs::remove_all(q.dir);
  fs::create_directories(q.dir / "case");
  manual_seed(11);
  auto model = models::create("cnn");
  onnx::export_model(model, randn({1, 1, 28, 28}), (q.dir / "cnn.onnx").string(), {.dynamic_batch = true});
  for (int b = 0; b < 3; ++b) q.calib.push_back({{"input", randn({16, 1, 28, 28})}});
  q.report = onnx::quantize_model((q.dir / "cnn.onnx").string(), (q.dir / "case" / "model.onnx").string(), q.calib, o);
  return q;
}

double cosine(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double xy = 0, xx = 0, yy = 0;
  for (size_t i = 0; i < x.size(); ++i) xy += x[i] * y[i], xx += x[i] * x[i], yy += y[i] * y[i];
  return xy / std::sqrt(xx * yy);
}

TEST(QuantizeOnnx, CnnIsSmallerAndCloseToFloatAndOnnxRuntimeAgrees) {
  QuantizedCnn q = make_quantized("cnn", {});
  ASSERT_EQ(q.report.nodes.size(), 4u);
  for (const auto& n : q.report.nodes) EXPECT_TRUE(n.quantized) << n.name;
  double ratio = static_cast<double>(fs::file_size(q.dir / "cnn.onnx")) / fs::file_size(q.dir / "case" / "model.onnx");
  EXPECT_GT(ratio, 3.5);
  EXPECT_LT(ratio, 4.1);

  auto fp = onnx::Model::load((q.dir / "cnn.onnx").string());
  auto i8 = onnx::Model::load((q.dir / "case" / "model.onnx").string());
  EXPECT_EQ(i8.info().op_histogram.at("QuantizeLinear"), 7);  // input, 6 activations
  Tensor x = randn({8, 1, 28, 28});
  i8.run({{"input", x}});                       // traces (eager QDQ in float)
  Tensor got = i8.run({{"input", x}})[0];       // the compiled graph: fused int8 layers
  ASSERT_TRUE(i8.runs_compiled());
  Tensor want = fp.run({{"input", x}})[0];
  EXPECT_GT(cosine(got, want), 0.99);

  // ONNX Runtime on the same file and input, within one step of the output's quantization.
  io::save_npy((q.dir / "case" / "input_0.npy").string(), x);
  io::save_npy((q.dir / "case" / "expected_0.npy").string(), got);
  auto [lo, hi] = q.report.ranges.at("output");
  double step = (std::max(hi, 0.0f) - std::min(lo, 0.0f)) / 255.0;
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    if (std::getenv("CI") && std::string(std::getenv("CI")) == "true") FAIL() << "node is required under CI=true";
    GTEST_SKIP() << "node is not installed";
  }
  const char* env = std::getenv("TANDEM_ONNXRUNTIME_NODE");
  std::string root = env && *env ? env : std::string(TANDEM_TEST_DATA_DIR) + "/../../build/onnxruntime-node";
  std::string log = (q.dir / "ort.log").string();
  std::string cmd = fmt::format("NODE_PATH={}/node_modules node {}/../reference/check_onnx_export_ort.js {} 0 {} > {} 2>&1",
                                root, TANDEM_TEST_DATA_DIR, q.dir.string(), step * 1.001, log);
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
  fs::remove_all(q.dir);
}

TEST(QuantizeOnnx, KeepFloatAndPercentile) {
  QuantizedCnn q = make_quantized("keep", {.method = onnx::Calibration::Percentile, .percentile = 99.9, .keep_float = {"Gemm"}});
  int quantized = 0;
  for (const auto& n : q.report.nodes) quantized += n.quantized;
  EXPECT_EQ(quantized, 2);  // the two Conv nodes; both Gemm kept float
  auto i8 = onnx::Model::load((q.dir / "case" / "model.onnx").string());
  EXPECT_EQ(i8.info().op_histogram.at("QuantizeLinear"), 4);  // in and out of each conv
  EXPECT_EQ(i8.info().op_histogram.at("DequantizeLinear"), 2 + 4);  // 2 weights, 4 activations
  fs::remove_all(q.dir);
}

TEST(QuantizeOnnx, EntropyRangesLieWithinMinMaxOnes) {
  QuantizedCnn mm = make_quantized("minmax", {});
  QuantizedCnn en = make_quantized("entropy", {.method = onnx::Calibration::Entropy});
  ASSERT_EQ(en.report.ranges.size(), mm.report.ranges.size());
  int narrower = 0;
  for (const auto& [name, r] : en.report.ranges) {
    auto m = mm.report.ranges.at(name);
    EXPECT_GE(r.first, m.first) << name;
    EXPECT_LE(r.second, m.second) << name;
    EXPECT_GT(r.second, 0.0f) << name;
    narrower += r.second < m.second;
  }
  EXPECT_GT(narrower, 0);  // the tails of random activations get clipped somewhere
  auto i8 = onnx::Model::load((en.dir / "case" / "model.onnx").string());
  auto fp = onnx::Model::load((en.dir / "cnn.onnx").string());
  Tensor x = en.calib[0].at("input");
  EXPECT_GT(cosine(i8.run({{"input", x}})[0], fp.run({{"input", x}})[0]), 0.99);
  fs::remove_all(mm.dir);
  fs::remove_all(en.dir);
}

TEST(QuantizeOnnx, BadInputsAreErrors) {
  EXPECT_TRUE(tandem::testing::throws_error([] { onnx::quantize_model("/nonexistent.onnx", "/tmp/x.onnx", {{}}); },
                                            {"cannot open"}));
  EXPECT_TRUE(tandem::testing::throws_error([] { onnx::quantize_model("/nonexistent.onnx", "/tmp/x.onnx", {}); },
                                            {"no calibration batches"}));
}

}  // namespace
