// The sensitivity report of onnx::quantize_model: a zoo MLP whose first layer is made
// sensitive on purpose (one weight column 1000x the others, read by an input feature that is
// always 0: the float model ignores it, but the per-row int8 scale it forces rounds every
// other weight of that layer to 0) comes out worst, and keep_float_worst / keep_float_above
// leave it in float.
#include <gtest/gtest.h>

#include <filesystem>

#include "tandem/models.h"
#include "tandem/onnx.h"
#include "tandem/onnx/export.h"
#include "tandem/onnx/quantize.h"
#include "test_util.h"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

class QuantSensitivity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / fmt::format("tandem_quant_sensitivity_{}", ::getpid())).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    manual_seed(5);
    auto model = models::create("mlp");
    {
      NoGradGuard ng;
      for (auto& [name, p] : model->named_parameters())
        if (name == "fc1.weight") {
          float* w = p.data<float>();
          for (int64_t r = 0; r < p.size(0); ++r) w[r * p.size(1)] = 1000.0f;  // column 0
        }
    }
    onnx::export_model(model, randn({1, 1, 28, 28}), dir_ + "/mlp.onnx", {.dynamic_batch = true});
    for (int b = 0; b < 2; ++b) {
      Tensor x = randn({16, 1, 28, 28}).contiguous();
      float* v = x.data<float>();
      for (int64_t n = 0; n < 16; ++n) v[n * 784] = 0.0f;  // pixel (0, 0): always 0
      calib_.push_back({{"input", x}});
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string dir_;
  static std::vector<std::map<std::string, Tensor>> calib_;
};
std::string QuantSensitivity::dir_;
std::vector<std::map<std::string, Tensor>> QuantSensitivity::calib_;

TEST_F(QuantSensitivity, TheSensitiveLayerComesOutWorst) {
  auto rows = onnx::quantization_sensitivity(dir_ + "/mlp.onnx", calib_);
  ASSERT_EQ(rows.size(), 3u);
  // The first Gemm of the graph is fc1: its weight's other entries all round to 0.
  auto q = onnx::quantize_model(dir_ + "/mlp.onnx", dir_ + "/all.onnx", calib_);
  ASSERT_EQ(q.nodes.size(), 3u);
  EXPECT_EQ(rows[0].name, q.nodes[0].name) << onnx::sensitivity_table(rows);
  EXPECT_GT(rows[0].rel_l2, 0.5) << onnx::sensitivity_table(rows);
  EXPECT_LT(rows[0].cosine, 0.9);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(rows[i].rel_l2, 0.05) << onnx::sensitivity_table(rows);
    EXPECT_GT(rows[i].cosine, 0.99);
    EXPECT_GE(rows[i - 1].rel_l2, rows[i].rel_l2);  // worst first
  }
  std::string table = onnx::sensitivity_table(rows);
  EXPECT_NE(table.find("rel L2"), std::string::npos);
  EXPECT_NE(table.find(rows[0].name), std::string::npos);
}

TEST_F(QuantSensitivity, KeepFloatWorstAndAboveLeaveItInFloat) {
  for (onnx::QuantizeOptions o : {onnx::QuantizeOptions{.keep_float_worst = 1}, onnx::QuantizeOptions{.keep_float_above = 0.2}}) {
    auto r = onnx::quantize_model(dir_ + "/mlp.onnx", dir_ + "/kept.onnx", calib_, o);
    ASSERT_EQ(r.nodes.size(), 3u);
    EXPECT_FALSE(r.nodes[0].quantized);
    EXPECT_TRUE(r.nodes[1].quantized);
    EXPECT_TRUE(r.nodes[2].quantized);
    ASSERT_EQ(r.sensitivity.size(), 3u);
    EXPECT_TRUE(r.sensitivity[0].kept_float);
    EXPECT_FALSE(r.sensitivity[1].kept_float);
    EXPECT_NE(r.str().find("kept float"), std::string::npos) << r.str();
    // With the sensitive layer in float, the quantized model stays close to the float one.
    auto fp = onnx::Model::load(dir_ + "/mlp.onnx");
    auto i8 = onnx::Model::load(dir_ + "/kept.onnx");
    const Tensor& x = calib_[0].at("input");
    Tensor want = fp.run({{"input", x}})[0], got = i8.run({{"input", x}})[0];
    double err = (got - want).pow(2).sum().item<double>(), ref = want.pow(2).sum().item<double>();
    EXPECT_LT(std::sqrt(err / ref), 0.05);
  }
  EXPECT_TRUE(tandem::testing::throws_error(
      [&] { onnx::quantize_model(dir_ + "/mlp.onnx", dir_ + "/bad.onnx", calib_, {.keep_float_worst = -1}); },
      {"must not be negative"}));
}

}  // namespace
