// `tandem run`, `tandem inspect` and `tandem onnx-test` as a user runs them: outputs written
// as .npy and equal to the references, and every kind of bad input (missing or corrupt model
// and .npy files, malformed --input specs, unknown or missing inputs, wrong dtype or shape)
// answered with exit status 1 and a message naming the problem.
#include <filesystem>

#include "cli_test_util.h"
#include "tandem/io/npy.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing::cli;
namespace fs = std::filesystem;

namespace {

const std::string kData = TANDEM_TEST_DATA_DIR;
const std::string kNode = "/usr/share/libonnx-testdata/data/node";

class CliOnnx : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = tandem::testing::fresh_temp_dir("cli_onnx"); }
  static CliResult tandem_cmd(const std::string& args) { return run_tandem(root_, args); }
  static std::string file(const std::string& name) { return root_ + "/" + name; }
  static std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(file(name), std::ios::binary) << bytes;
    return file(name);
  }
  static std::string root_;
};
std::string CliOnnx::root_;

const std::string kModel = kData + "/onnx/shape_fold.onnx";  // x: float32 [2, 3, 4] -> y: [2, 5]
const std::string kX = kData + "/onnx/shape_x.npy";

TEST_F(CliOnnx, RunWritesEachOutputAsNpy) {
  CliResult r = tandem_cmd("run " + quote(kModel) + " --input x=" + quote(kX) + " --output-dir " + quote(file("out")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("y: float32 [2, 5]  min "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" -> "), std::string::npos) << r.out;
  Tensor y = io::load_npy(file("out/y.npy"));
  EXPECT_ALL_CLOSE(y, tandem::testing::load_npy("onnx/shape_y.npy"), 1e-5, 1e-4);
}

TEST_F(CliOnnx, RunTakesSeveralInputsAndWritesSeveralOutputs) {
  std::string dir = kData + "/onnx_torch/";
  CliResult r = tandem_cmd("run " + quote(dir + "concat/model.onnx") + " -i x0=" + quote(dir + "concat/input_0.npy") +
                           " -i x1=" + quote(dir + "concat/input_1.npy") + " -o " + quote(file("cat")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_ALL_CLOSE(io::load_npy(file("cat/y0.npy")), tandem::testing::load_npy("onnx_torch/concat/output_0.npy"));
  CliResult s = tandem_cmd("run " + quote(dir + "split_sizes/model.onnx") + " --input x0=" +
                           quote(dir + "split_sizes/input_0.npy") + " --output-dir " + quote(file("split")));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_ALL_CLOSE(io::load_npy(file("split/y0.npy")), tandem::testing::load_npy("onnx_torch/split_sizes/output_0.npy"));
  EXPECT_ALL_CLOSE(io::load_npy(file("split/y1.npy")), tandem::testing::load_npy("onnx_torch/split_sizes/output_1.npy"));
}

// A sequence output is written element by element (<name>_<k>.npy).
TEST_F(CliOnnx, RunWritesSequenceOutputsElementByElement) {
  std::string dir = kData + "/onnx_flow/sequences/";
  CliResult r = tandem_cmd("run " + quote(dir + "model.onnx") + " " + quote(dir + "input_0.npy") + " -o " +
                           quote(file("seq")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("parts: a sequence of 3 tensors"), std::string::npos) << r.out;
  for (int k = 0; k < 3; ++k)
    EXPECT_ALL_CLOSE(io::load_npy(file("seq/parts_" + std::to_string(k) + ".npy")),
                     tandem::testing::load_npy("onnx_flow/sequences/output_0_" + std::to_string(k) + ".npy"));
  EXPECT_ALL_CLOSE(io::load_npy(file("seq/joined.npy")), tandem::testing::load_npy("onnx_flow/sequences/output_1.npy"));
}

TEST_F(CliOnnx, RunRejectsBadInputSpecs) {
  std::string run = "run " + quote(kModel) + " -o " + quote(file("bad")) + " ";
  EXPECT_TRUE(error_naming(tandem_cmd(run + "--input x"), "expected NAME=file.npy"));
  EXPECT_TRUE(error_naming(tandem_cmd(run + "--input =" + quote(kX)), "expected NAME=file.npy"));
  EXPECT_TRUE(error_naming(tandem_cmd(run + "--input x=" + quote(file("none.npy"))), file("none.npy")));
  EXPECT_TRUE(error_naming(tandem_cmd(run + "--input z=" + quote(kX)), "input 'z' is not an input of this model"));
  EXPECT_TRUE(error_naming(tandem_cmd(run), "no value for input 'x'"));  // no input: x is missing
  EXPECT_FALSE(fs::exists(file("bad")));  // nothing written on failure
}

TEST_F(CliOnnx, RunRejectsWrongDtypeAndShape) {
  std::string run = "run " + quote(kModel) + " -o " + quote(file("bad")) + " --input x=";
  CliResult dt = tandem_cmd(run + quote(kData + "/onnx_torch/index_tensor/input_1.npy"));  // int64 [4]
  EXPECT_TRUE(error_naming(dt, "input 'x': expected dtype float32, got int64"));
  CliResult sh = tandem_cmd(run + quote(kData + "/onnx/shape_x3.npy"));  // float32 [3, 3, 4]
  EXPECT_TRUE(error_naming(sh, "input 'x': expected shape [2,3,4], got [3, 3, 4] (dim 0)"));
}

TEST_F(CliOnnx, RunRejectsCorruptFiles) {
  std::string npy = write("corrupt.npy", "this is not a .npy file");
  EXPECT_TRUE(error_naming(tandem_cmd("run " + quote(kModel) + " --input x=" + quote(npy)), "corrupt.npy"));
  std::string bytes = slurp(kX);
  std::string cut = write("truncated.npy", bytes.substr(0, bytes.size() - 7));
  EXPECT_TRUE(error_naming(tandem_cmd("run " + quote(kModel) + " --input x=" + quote(cut)), "truncated.npy"));
  std::string model = slurp(kModel);
  std::string half = write("half.onnx", model.substr(0, model.size() / 2));
  EXPECT_TRUE(error_naming(tandem_cmd("run " + quote(half) + " --input x=" + quote(kX)), "half.onnx"));
  std::string junk = write("junk.onnx", std::string(300, '\xff'));
  EXPECT_TRUE(error_naming(tandem_cmd("run " + quote(junk) + " --input x=" + quote(kX)), "junk.onnx"));
  EXPECT_TRUE(error_naming(tandem_cmd("run " + quote(file("absent.onnx"))), "cannot open ONNX model"));
  EXPECT_TRUE(fails_with(tandem_cmd("run"), "model is required", 106));  // CLI11's RequiredError
}

TEST_F(CliOnnx, InspectDescribesTheModel) {
  CliResult r = tandem_cmd("inspect " + quote(kModel));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* needle : {"opset 13", "  x: float32 [2,3,4]", "  y: float32 [2,5]", "parameters: 63",
                             "4 folded at load", "Reshape", "MatMul"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << " in\n" << r.out;
  // A PyTorch export: its Constant nodes (the slice bounds) fold at load, the Slice stays.
  CliResult s = tandem_cmd("inspect " + quote(kData + "/onnx_torch/slice_open_end/model.onnx"));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("producer 'pytorch'"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("4 folded at load"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("Slice"), std::string::npos) << s.out;
}

TEST_F(CliOnnx, InspectRejectsMissingAndCorruptFiles) {
  EXPECT_TRUE(error_naming(tandem_cmd("inspect " + quote(file("absent.onnx"))), file("absent.onnx")));
  std::string empty = write("empty.onnx", "");
  EXPECT_TRUE(error_naming(tandem_cmd("inspect " + quote(empty)), "empty (0 bytes)"));
  std::string junk = write("junk_inspect.onnx", std::string(300, '\xff'));
  EXPECT_TRUE(error_naming(tandem_cmd("inspect " + quote(junk)), "does not parse"));
  EXPECT_TRUE(fails_with(tandem_cmd("inspect"), "model is required", 106));
}

// A valid model tandem cannot run is still described; what stops it is named.
TEST_F(CliOnnx, InspectDescribesModelsTandemCannotRun) {
  CliResult o = tandem_cmd("inspect " + quote(kData + "/onnx/opset99.onnx"));
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("opset 99"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tandem cannot run this model"), std::string::npos) << o.out;
  CliResult u = tandem_cmd("inspect " + quote(kData + "/onnx/unknown_op.onnx"));
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_NE(u.out.find("unsupported ops"), std::string::npos) << u.out;
  CliResult f = tandem_cmd("inspect " + quote(kData + "/onnx_flow/unsupported/model.onnx"));
  ASSERT_EQ(f.code, 0) << f.err;
  for (const char* needle : {"label: tensor(string)", "com.example::FancyOp", "MadeUpOp", "If"})
    EXPECT_NE(f.out.find(needle), std::string::npos) << needle << " in\n" << f.out;
}

// A copy of ONNX's test_abs case whose expected output is another case's (test_neg): it
// must be reported as failed.
std::string broken_case(const std::string& root) {
  std::string dir = root + "/cases/test_abs_broken";
  fs::create_directories(dir + "/test_data_set_0");
  fs::copy_file(kNode + "/test_abs/model.onnx", dir + "/model.onnx", fs::copy_options::overwrite_existing);
  fs::copy_file(kNode + "/test_abs/test_data_set_0/input_0.pb", dir + "/test_data_set_0/input_0.pb",
                fs::copy_options::overwrite_existing);
  fs::copy_file(kNode + "/test_neg/test_data_set_0/output_0.pb", dir + "/test_data_set_0/output_0.pb",
                fs::copy_options::overwrite_existing);
  return dir;
}

TEST_F(CliOnnx, OnnxTestReportsPassedAndFailedCases) {
  CliResult ok = tandem_cmd("onnx-test " + quote(kNode + "/test_abs") + " " + quote(kNode + "/test_neg") +
                            " --report " + quote(file("report.txt")) + " -v");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("PASS " + kNode + "/test_abs"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("2 passed"), std::string::npos) << ok.out;
  EXPECT_NE(slurp(file("report.txt")).find("Abs"), std::string::npos);

  std::string broken = broken_case(root_);
  CliResult bad = tandem_cmd("onnx-test " + quote(kNode + "/test_abs") + " " + quote(broken) + " -v");
  EXPECT_EQ(bad.code, 0) << "without --list or --min-pass-rate a failure is reported, not fatal";
  EXPECT_NE(bad.out.find("FAIL " + broken), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("1 failed"), std::string::npos) << bad.out;
  CliResult rate = tandem_cmd("onnx-test " + quote(kNode + "/test_abs") + " " + quote(broken) + " --min-pass-rate 100");
  EXPECT_TRUE(fails_with(rate, "pass rate below 100%"));
  // --list: every listed case must pass.
  write("list.txt", "# cases\nnode/test_abs\n");
  CliResult listed = tandem_cmd("onnx-test --list " + quote(file("list.txt")) + " --root /usr/share/libonnx-testdata/data");
  EXPECT_EQ(listed.code, 0) << listed.all();
  write("list_bad.txt", "test_abs_broken\n");
  CliResult listed_bad = tandem_cmd("onnx-test --list " + quote(file("list_bad.txt")) + " --root " + quote(root_ + "/cases"));
  EXPECT_TRUE(fails_with(listed_bad, "FAIL " + broken));
}

TEST_F(CliOnnx, OnnxTestRejectsBadArguments) {
  EXPECT_TRUE(error_naming(tandem_cmd("onnx-test"), "no test cases given"));
  EXPECT_TRUE(error_naming(tandem_cmd("onnx-test " + quote(file("nowhere"))), "is neither an ONNX test case nor a folder"));
  EXPECT_TRUE(error_naming(tandem_cmd("onnx-test --list " + quote(file("no_list.txt"))), "cannot open case list"));
  EXPECT_TRUE(error_naming(tandem_cmd("onnx-test " + quote(kNode + "/test_abs") + " --report " +
                                      quote(file("no/such/dir/report.txt"))),
                           "cannot create a temporary file"));
  EXPECT_TRUE(fails_with(tandem_cmd("onnx-test --min-pass-rate lots"), "lots", 105));  // ValidationError
}

}  // namespace
