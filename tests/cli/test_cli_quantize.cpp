// `tandem quantize` as a user runs it: an exported CNN and an .npy of calibration inputs give a
// QDQ file that `tandem run` runs; bad inputs (missing model or data, data that does not fit
// the model, an unknown method) end with a message and a non-zero status, never a crash.
#include <filesystem>

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

TEST_F(CliQuantize, BadInputsFailWithAMessage) {
  const std::string out = " --out " + quote(file("x.onnx"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("none.onnx")) + " --data " + quote(file("calib.npy")) + out),
                         "cannot open"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("none.npy")) + out),
                         "none.npy"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("wrong.npy")) + out),
                         "input"));
  EXPECT_TRUE(fails_with(tandem_cmd("quantize " + quote(file("cnn.onnx")) + " --data " + quote(file("calib.npy")) +
                                    " --method entropy" + out),
                         "entropy", 105));
  EXPECT_FALSE(fs::exists(file("x.onnx")));
}

}  // namespace
