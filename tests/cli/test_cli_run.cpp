// The `tandem` executable as a new user meets it: `train --no-progress` is silent, flags that
// would do nothing are errors, `train --resume CKPT` needs no other flag, `run model.onnx x.npy`
// binds inputs by position (or an .npz by name) and summarizes each output, and `plot --smooth`
// draws TensorBoard's smoothed curves.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <tandem/io/npy.h>
#include <tandem/onnx.h>
#include <tandem/summary.h>

#include "cli_test_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace tandem;

namespace cli = tandem::testing::cli;
using cli::slurp;

namespace {

struct Result : cli::CliResult {
  std::string last_line() const {
    std::istringstream is(out);
    std::string l, last;
    while (std::getline(is, l))
      if (!l.empty()) last = l;
    return last;
  }
};

class CliUse : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = tandem::testing::fresh_temp_dir("cli_use");
    data_ = root_ + "/data";
    tandem::testing::write_tiny_idx(data_, 256, 100);
  }
  // `tandem ARGS` with stdout and stderr captured: stdout is a file, not a terminal.
  static Result tandem_cmd(const std::string& args) {
    Result r;
    static_cast<cli::CliResult&>(r) = cli::run_tandem(root_, args);
    return r;
  }
  static std::string q(const std::string& path) { return "'" + path + "'"; }
  static std::string train_base() {
    return "train --model mlp --data " + q(data_) + " --batch-size 64 --threads 1";
  }
  static void expect_error(const std::string& args, const std::vector<std::string>& needles) {
    Result r = tandem_cmd(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_LT(r.code, 128) << args << ": killed by a signal";
    for (const auto& n : needles)
      EXPECT_NE((r.out + r.err).find(n), std::string::npos) << args << ": no '" << n << "' in\n" << r.err;
  }
  static std::string root_, data_;
};
std::string CliUse::root_, CliUse::data_;

// The bar's lines look like "epoch 1/1 [=======>   ]  25% loss ...".
bool has_bar(const std::string& out) { return out.find("% loss") != std::string::npos; }

TEST_F(CliUse, NoProgressPrintsNoBarOnAPipe) {
  Result plain = tandem_cmd(train_base() + " --epochs 1 --out " + q(root_ + "/bar"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_TRUE(has_bar(plain.out)) << plain.out;  // the quarter lines a log file gets
  Result quiet = tandem_cmd(train_base() + " --epochs 1 --no-progress --out " + q(root_ + "/nobar"));
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_FALSE(has_bar(quiet.out)) << quiet.out;
  EXPECT_NE(quiet.out.find("epoch 1/1  train loss"), std::string::npos) << quiet.out;  // summary stays
}

TEST_F(CliUse, FlagsThatWouldDoNothingAreErrors) {
  expect_error(train_base() + " --optimizer adam --momentum 0.5", {"--momentum", "sgd", "adam"});
  expect_error(train_base() + " --no-tensorboard --histogram-every 5", {"--histogram-every", "--no-tensorboard"});
  std::string w = root_ + "/w.safetensors";
  std::ofstream(w) << "x";
  expect_error("export --model mlp --weights " + q(w) + " --random-weights --out " + q(root_ + "/m.onnx"),
               {"--random-weights", "--weights"});
  expect_error("onnx-test --root /tmp " + q(root_), {"--root"});
  expect_error("onnx-test --min-pass-rate 150 " + q(root_), {"--min-pass-rate"});
  expect_error("plot " + q(root_) + " --smooth 1", {"--smooth", "[0, 1)"});
  expect_error("plot " + q(root_) + " --smooth -0.5", {"--smooth"});
}

TEST_F(CliUse, ResumeNeedsOnlyTheCheckpoint) {
  // A recipe far from the defaults (model, optimizer, batch size, seed, schedule, data).
  std::string recipe = "train --model mlp --data " + q(data_) +
                       " --optimizer sgd --batch-size 32 --seed 7 --schedule onecycle --epochs 2 --threads 1";
  Result full = tandem_cmd(recipe + " --out " + q(root_ + "/full") + " --json");
  ASSERT_EQ(full.code, 0) << full.err;
  Result first = tandem_cmd(recipe + " --out " + q(root_ + "/cut") + " --stop-after 1");
  ASSERT_EQ(first.code, 0) << first.err;

  // A copy after epoch 1 for the checks below (the resumed run rewrites the original).
  std::string ckpt = root_ + "/cut/checkpoint.safetensors", epoch1 = root_ + "/epoch1.safetensors";
  fs::copy_file(ckpt, epoch1, fs::copy_options::overwrite_existing);
  Result resumed = tandem_cmd("train --resume " + q(ckpt) + " --threads 1 --json");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resuming after epoch 1"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("2 epochs, batch 32, sgd"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("schedule onecycle"), std::string::npos) << resumed.out;
  // The same run as the uninterrupted one (single-threaded: bit for bit).
  json a = json::parse(full.last_line()), b = json::parse(resumed.last_line());
  EXPECT_EQ(b["epochs"], 2);
  EXPECT_EQ(b["test_loss"].get<double>(), a["test_loss"].get<double>());
  EXPECT_EQ(b["test_accuracy"].get<double>(), a["test_accuracy"].get<double>());

  // Flags that agree with the checkpoint are fine; one that contradicts it names both values.
  Result agree = tandem_cmd(recipe + " --resume " + q(epoch1) + " --out " + q(root_ + "/agree"));
  EXPECT_EQ(agree.code, 0) << agree.err;
  expect_error("train --resume " + q(epoch1) + " --model cnn", {"--model cnn", "mlp"});
  expect_error("train --resume " + q(epoch1) + " --batch-size 64", {"--batch-size 64", "32"});
  expect_error("train --resume " + q(epoch1) + " --seed 1", {"--seed 1", "7"});
  // The optimizer state in the checkpoint sets these: a flag would be silently overridden.
  expect_error("train --resume " + q(epoch1) + " --lr 0.5", {"--lr", "no effect"});
}

// y = x * 3 (one input) and {a * 2 + b, a - b} (two inputs) as ONNX files.
void write_models(const std::string& dir) {
  onnx::export_model([](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * 3.0}; },
                     {zeros({4})}, dir + "/one.onnx", {.input_names = {"x"}, .output_names = {"y"}});
  onnx::export_model(
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{in[0] * 2.0 + in[1], in[0] - in[1]};
      },
      {zeros({2, 2}), zeros({2, 2})}, dir + "/two.onnx",
      {.input_names = {"a", "b"}, .output_names = {"sum", "diff"}});
}

TEST_F(CliUse, RunTakesInputsByPositionAndSummarizesOutputs) {
  std::string dir = root_ + "/run";
  fs::create_directories(dir);
  write_models(dir);
  io::save_npy(dir + "/x.npy", tensor({0.5, -1, 2, 0.25}));
  Result r = tandem_cmd("run " + q(dir + "/one.onnx") + " " + q(dir + "/x.npy") + " -o " + q(dir + "/out1"));
  ASSERT_EQ(r.code, 0) << r.err;
  // y = [1.5, -3, 6, 0.75]
  EXPECT_NE(r.out.find("y: float32 [4]  min -3  max 6  argmax 2 -> "), std::string::npos) << r.out;
  EXPECT_EQ(io::load_npy(dir + "/out1/y.npy").to_vector<double>(), (std::vector<double>{1.5, -3, 6, 0.75}));

  Tensor a = tensor({1, 2, 3, 4}).reshape({2, 2}), b = tensor({10, 20, 30, 40}).reshape({2, 2});
  io::save_npz(dir + "/in.npz", {{"a", a}, {"b", b}});
  io::save_npy(dir + "/a.npy", a);
  io::save_npy(dir + "/b.npy", b);
  for (const std::string& inputs : {q(dir + "/in.npz"), q(dir + "/a.npy") + " " + q(dir + "/b.npy"),
                                    q(dir + "/a.npy") + " --input b=" + q(dir + "/b.npy")}) {
    Result t = tandem_cmd("run " + q(dir + "/two.onnx") + " " + inputs + " -o " + q(dir + "/out2"));
    ASSERT_EQ(t.code, 0) << inputs << ": " << t.err;
    // sum = [12, 24, 36, 48], diff = [-9, -18, -27, -36]: 2-D, so no argmax
    EXPECT_NE(t.out.find("sum: float32 [2, 2]  min 12  max 48 -> "), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("diff: float32 [2, 2]  min -36  max -9 -> "), std::string::npos) << t.out;
    EXPECT_EQ(io::load_npy(dir + "/out2/sum.npy").to_vector<double>(), (std::vector<double>{12, 24, 36, 48}));
  }

  io::save_npz(dir + "/wrong.npz", {{"c", a}});
  expect_error("run " + q(dir + "/two.onnx") + " " + q(dir + "/wrong.npz"), {"'c'", "a, b"});
  expect_error("run " + q(dir + "/two.onnx") + " " + q(dir + "/a.npy"), {"'b'", "a, b"});
  expect_error("run " + q(dir + "/one.onnx") + " " + q(dir + "/x.npy") + " " + q(dir + "/x.npy"),
               {"left over"});
  expect_error("run " + q(dir + "/one.onnx") + " " + q(dir + "/one.onnx"), {".npy or .npz"});
}

// --precision bf16: training under autocast records the precision in the checkpoint's recipe,
// and `run` computes a model's matmul in bfloat16 (outputs close to float32's, not equal).
TEST_F(CliUse, Bf16PrecisionTrainsAndRuns) {
  Result f32 = tandem_cmd(train_base() + " --epochs 1 --out " + q(root_ + "/fp32") + " --json");
  Result bf16 = tandem_cmd(train_base() + " --epochs 1 --precision bf16 --out " + q(root_ + "/bf16") + " --json");
  ASSERT_EQ(f32.code, 0) << f32.err;
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  double lf = json::parse(f32.last_line())["test_loss"].get<double>();
  double lb = json::parse(bf16.last_line())["test_loss"].get<double>();
  EXPECT_NE(lb, lf);  // the bf16 run really ran in bf16
  EXPECT_NEAR(lb, lf, 0.05 * lf);
  expect_error("train --resume " + q(root_ + "/bf16/checkpoint.safetensors") + " --precision fp32",
               {"--precision fp32", "bf16"});
  expect_error(train_base() + " --precision fp16", {"--precision"});

  std::string dir = root_ + "/run_bf16";
  fs::create_directories(dir);
  manual_seed(0);
  Tensor w = randn({16, 64}), x = randn({8, 64});
  onnx::export_model([w](const std::vector<Tensor>& in) { return std::vector<Tensor>{linear(in[0], w)}; },
                     {x}, dir + "/lin.onnx", {.input_names = {"x"}, .output_names = {"y"}});
  io::save_npy(dir + "/x.npy", x);
  Result a = tandem_cmd("run " + q(dir + "/lin.onnx") + " " + q(dir + "/x.npy") + " -o " + q(dir + "/f32"));
  Result b = tandem_cmd("run " + q(dir + "/lin.onnx") + " " + q(dir + "/x.npy") + " --precision bf16 -o " +
                        q(dir + "/bf16"));
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("y: float32 [8, 16]"), std::string::npos) << b.out;  // written as float32
  Tensor ya = io::load_npy(dir + "/f32/y.npy"), yb = io::load_npy(dir + "/bf16/y.npy");
  EXPECT_TRUE(tandem::testing::all_close(yb, ya, 0.1, 2e-2));
  EXPECT_GT((yb - ya).abs().max().item<float>(), 0.0f);
}

TEST_F(CliUse, PlotSmoothDrawsTheSmoothedCurve) {
  std::string run = root_ + "/events";
  {
    summary::Writer w(run);
    for (int s = 0; s < 50; ++s) w.add_scalar("loss", 1.0 / (s + 1) + (s % 2 ? 0.3 : 0.0), s);
  }
  Result raw = tandem_cmd("plot " + q(run) + " --tag loss --out " + q(root_ + "/raw.png"));
  ASSERT_EQ(raw.code, 0) << raw.err;
  Result smooth = tandem_cmd("plot " + q(run) + " --tag loss --smooth 0.6 --out " + q(root_ + "/smooth.png"));
  ASSERT_EQ(smooth.code, 0) << smooth.err;
  EXPECT_NE(smooth.out.find("smoothed 0.6"), std::string::npos) << smooth.out;
  // The drawing itself is checked in tests/summary/test_plot.cpp; here: a different picture.
  EXPECT_NE(slurp(root_ + "/raw.png"), slurp(root_ + "/smooth.png"));
}

}  // namespace
