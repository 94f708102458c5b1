// `tandem quantize` as a user runs it: an exported CNN and an .npy of calibration inputs give a
// QDQ file that `tandem run` runs; a data set named as `tandem train` names it calibrates on
// its normalized images; the sensitivity report, --keep-float-worst and --dynamic; bad inputs
// (missing model or data, data that does not fit the model, an unknown method, flags that do
// not go together) end with a message and a non-zero status, never a crash.
#include <filesystem>
#include <fstream>

#include "cli_test_util.h"
#include "tandem/io/npy.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing::cli;
namespace fs = std::filesystem;

namespace {

class CliQuantize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = tandem::testing::fresh_temp_dir("cli_quantize");
    CliResult r = run_tandem(root_, "export --model cnn --random-weights --dynamic-batch -o " + quote(file("cnn.onnx")));
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_tandem(root_, "export --model mlp --random-weights --dynamic-batch -o " + quote(file("mlp.onnx")));
    ASSERT_EQ(r.code, 0) << r.err;
    io::save_npy(file("calib.npy"), randn({20, 1, 28, 28}));
    io::save_npy(file("wrong.npy"), randn({20, 3, 28, 28}));
  }
  static CliResult tandem_cmd(const std::string& args) { return run_tandem(root_, args); }
  static std::string file(const std::string& name) { return root_ + "/" + name; }
  static std::string root_;
};
std::string CliQuantize::root_;

TEST_F(CliQuantize, WritesAQdqModelThatRuns) {
  CliResult r = tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("calib.npy")) +
                           " --samples 16 --batch 8 --method percentile --out " + quote(file("cnn.int8.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("quantized 4 of 4 Conv/Gemm/MatMul nodes (2 calibration batches)"), std::string::npos) << r.out;
  EXPECT_GT(fs::file_size(file("cnn.onnx")), 3 * fs::file_size(file("cnn.int8.onnx")));
  r = tandem_cmd("run " + quote(file("cnn.int8.onnx")) + " " + quote(file("calib.npy")) + " --output-dir " + quote(file("out")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("float32 [20, 10]"), std::string::npos) << r.out;
}

TEST_F(CliQuantize, CalibratesOnADataSetAsTrainNamesIt) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist missing";
  CliResult r = tandem_cmd("quantize " + quote(file("mlp.onnx")) + " --data fashion-mnist --samples 20 --batch 10 "
                           "--method entropy --out " + quote(file("mlp.fm.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("quantized 3 of 3 Conv/Gemm/MatMul nodes (2 calibration batches)"), std::string::npos) << r.out;
  // Min-max of the input over 20 training images: black and white pixels, normalized as
  // training normalizes them ((0 - 0.2860) / 0.3530 and (1 - 0.2860) / 0.3530).
  r = tandem_cmd("quantize " + quote(file("mlp.onnx")) + " --data fashion-mnist --samples 20 --out " +
                 quote(file("mlp.fm.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[-0.8102, 2.0227]"), std::string::npos) << r.out;
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("mlp.onnx")) + " --data " + quote(file("no_such_dir")) +
                                    " --out " + quote(file("x.onnx"))),
                         "no_such_dir"));
}

TEST_F(CliQuantize, CalibratesOnACsvFileAsOnTheSameNpy) {
  // 12 samples of 784 values plus a label column, written with 9 significant digits (exact
  // float32 round trips): the same quantized file as the .npy of the same values.
  Tensor x = randn({12, 1, 28, 28}).contiguous();
  io::save_npy(file("csv_same.npy"), x);
  std::ofstream f(file("calib.csv"));
  for (int c = 0; c < 784; ++c) f << "p" << c << ",";
  f << "label\n";
  const float* v = x.data<float>();
  for (int r = 0; r < 12; ++r) {
    for (int c = 0; c < 784; ++c) f << fmt::format("{:.9g},", v[r * 784 + c]);
    f << r % 10 << "\n";
  }
  f.close();
  const std::string base = "quantize " + quote(file("mlp.onnx")) + " --samples 12 --batch 6 --data ";
  CliResult r = tandem_cmd(base + quote(file("calib.csv")) + " --csv-target label --out " + quote(file("mlp.csv.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  r = tandem_cmd(base + quote(file("csv_same.npy")) + " --out " + quote(file("mlp.npy.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(file("mlp.csv.onnx")), slurp(file("mlp.npy.onnx")));
  // Without --csv-target the label is a 785th feature: the message says what to do.
  EXPECT_TRUE(fails_with(tandem_cmd(base + quote(file("calib.csv")) + " --out " + quote(file("x.onnx"))), "--csv-target"));
}

TEST_F(CliQuantize, SensitivityReportAndKeepFloatWorst) {
  const std::string base = "quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("calib.npy")) + " --samples 16 --batch 8";
  CliResult r = tandem_cmd(base + " --sensitivity");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("rel L2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cosine"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(file("x.onnx")));
  r = tandem_cmd(base + " --keep-float-worst 1 --out " + quote(file("cnn.keep.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("quantized 3 of 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kept float"), std::string::npos) << r.out;
  EXPECT_TRUE(fails_with(tandem_cmd(base), "--out"));
}

TEST_F(CliQuantize, DynamicNeedsNoDataAndRuns) {
  CliResult r = tandem_cmd("quantize --dynamic " + quote(file("mlp.onnx")) + " --out " + quote(file("mlp.dyn.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("quantized 3 of 3 Conv/Gemm/MatMul nodes (dynamic"), std::string::npos) << r.out;
  EXPECT_GT(fs::file_size(file("mlp.onnx")), 3 * fs::file_size(file("mlp.dyn.onnx")));
  r = tandem_cmd("run " + quote(file("mlp.dyn.onnx")) + " " + quote(file("calib.npy")) + " --output-dir " + quote(file("dyn_out")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("float32 [20, 10]"), std::string::npos) << r.out;
  EXPECT_TRUE(fails_with(tandem_cmd("quantize --dynamic " + quote(file("mlp.onnx")) + " --data " + quote(file("calib.npy")) +
                                    " --out " + quote(file("x.onnx"))),
                         "takes no calibration data"));
}

TEST_F(CliQuantize, BadInputsFailWithAMessage) {
  const std::string out = " --out " + quote(file("x.onnx"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("none.onnx")) + " --data " + quote(file("calib.npy")) + out),
                         "cannot open"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("none.npy")) + out),
                         "none.npy"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("wrong.npy")) + out),
                         "input"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("calib.npy")) +
                                    " --method kmeans" + out),
                         "kmeans", 105));
  EXPECT_FALSE(fs::exists(file("x.onnx")));
}

}  // namespace
