// The `tandem` subcommands around a training run, as a user runs them: logs and plot of a
// run's event files, export, summary, graph, eval and train with bad input (missing, corrupt
// or mismatched files, out-of-range options), and exact resume at 2 threads and with data
// loader workers (the resumed run repeats the uninterrupted one bit for bit).
#include <map>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "tandem/summary/reader.h"

using namespace tandem::testing::cli;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class CliRuns : public ::testing::Test {
 protected:
  // One small trained run (MLP, 2 epochs) shared by the logs, plot, export and eval tests.
  static void SetUpTestSuite() {
    root_ = tandem::testing::fresh_temp_dir("cli_runs");
    data_ = root_ + "/data";
    tandem::testing::write_tiny_idx(data_, 256, 100);
    run_ = root_ + "/runs/mlp";
    CliResult r = tandem_cmd(train("mlp", "--epochs 2 --threads 1 --out " + quote(run_)));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static CliResult tandem_cmd(const std::string& args) { return run_tandem(root_, args); }
  static std::string train(const std::string& model, const std::string& more) {
    return "train --model " + model + " --data " + quote(data_) + " --batch-size 64 --no-progress " + more;
  }
  static std::string file(const std::string& name) { return root_ + "/" + name; }
  static std::string root_, data_, run_;
};
std::string CliRuns::root_, CliRuns::data_, CliRuns::run_;

TEST_F(CliRuns, LogsPrintsTheLastValueOfEachScalar) {
  CliResult r = tandem_cmd("logs " + quote(run_));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* tag : {"train/loss", "train/lr", "epoch/test_accuracy", "epoch/train_loss"})
    EXPECT_NE(r.out.find(tag), std::string::npos) << tag << " in\n" << r.out;
  EXPECT_NE(r.out.find("(2 values)"), std::string::npos) << r.out;  // one epoch/... value per epoch
  CliResult all = tandem_cmd("logs " + quote(run_) + " --tag epoch/test_loss --all");
  ASSERT_EQ(all.code, 0) << all.err;
  size_t values = 0;
  for (size_t p = all.out.find("epoch/test_loss"); p != std::string::npos; p = all.out.find("epoch/test_loss", p + 1))
    ++values;
  EXPECT_EQ(values, 2u) << all.out;  // one line per logged value, one value per epoch
  EXPECT_EQ(all.out.find("train/loss"), std::string::npos) << all.out;
  // A folder of runs: every run under it.
  CliResult many = tandem_cmd("logs " + quote(root_ + "/runs"));
  ASSERT_EQ(many.code, 0) << many.err;
  EXPECT_NE(many.out.find(run_), std::string::npos) << many.out;
}

TEST_F(CliRuns, LogsRejectsMissingEmptyAndCorruptRuns) {
  EXPECT_TRUE(fails_with(tandem_cmd("logs " + quote(file("absent"))), file("absent"), 105));  // ValidationError
  fs::create_directories(file("empty_run"));
  EXPECT_TRUE(error_naming(tandem_cmd("logs " + quote(file("empty_run"))), "no event files"));
  fs::create_directories(file("corrupt_run"));
  std::ofstream(file("corrupt_run/events.out.tfevents.1.host"), std::ios::binary) << std::string(64, 'x');
  EXPECT_TRUE(error_naming(tandem_cmd("logs " + quote(file("corrupt_run"))), "the file is corrupt"));
  // A truncated tail (a writer killed mid-record) is a note, not an error.
  fs::create_directories(file("cut_run"));
  std::string events = tandem::summary::event_files(run_).at(0);
  std::string bytes = slurp(events);
  std::ofstream(file("cut_run/events.out.tfevents.2.host"), std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  CliResult cut = tandem_cmd("logs " + quote(file("cut_run")));
  EXPECT_EQ(cut.code, 0) << cut.err;
  EXPECT_NE(cut.out.find("note: "), std::string::npos) << cut.out;
  EXPECT_NE(cut.out.find("truncated record"), std::string::npos) << cut.out;
}

TEST_F(CliRuns, PlotWritesAPng) {
  CliResult r = tandem_cmd("plot " + quote(run_) + " --tag train/loss --tag epoch/test_accuracy --out " +
                           quote(file("curves.png")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 panels"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(file("curves.png")).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(CliRuns, PlotRejectsBadInput) {
  std::string out = " --out " + quote(file("never.png"));
  EXPECT_TRUE(error_naming(tandem_cmd("plot " + quote(run_) + " --tag no/such/tag" + out),
                           "tag 'no/such/tag' is in none of the runs"));
  EXPECT_TRUE(fails_with(tandem_cmd("plot " + quote(file("absent")) + out), file("absent"), 105));
  EXPECT_TRUE(fails_with(tandem_cmd("plot " + quote(run_) + " --width 10" + out), "--width", 105));
  fs::create_directories(file("empty_plot_dir"));
  EXPECT_TRUE(error_naming(tandem_cmd("plot " + quote(file("empty_plot_dir")) + out), "no scalar summaries"));
  EXPECT_TRUE(error_naming(tandem_cmd("plot " + quote(run_) + " --tag train/loss --out " +
                                      quote(file("no/such/dir/p.png"))),
                           "cannot create a temporary file"));
  EXPECT_FALSE(fs::exists(file("never.png")));
}

TEST_F(CliRuns, ExportThenInspectAndBadExports) {
  std::string onnx = file("mlp.onnx");
  CliResult r = tandem_cmd("export --model mlp --weights " + quote(run_ + "/model.safetensors") + " --out " + quote(onnx));
  ASSERT_EQ(r.code, 0) << r.err;
  CliResult i = tandem_cmd("inspect " + quote(onnx));
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("Gemm"), std::string::npos) << i.out;

  std::string w = " --weights " + quote(run_ + "/model.safetensors");
  EXPECT_TRUE(fails_with(tandem_cmd("export --model mlp --opset 12 --out x.onnx" + w), "--opset", 105));
  EXPECT_TRUE(fails_with(tandem_cmd("export --model mlp" + w), "--out", 106));
  EXPECT_TRUE(fails_with(tandem_cmd("export --model vgg --out x.onnx" + w), "vgg", 105));
  EXPECT_TRUE(error_naming(tandem_cmd("export --model mlp --out " + quote(file("a.onnx"))), "weights"));
  // Weights of another model: a key the CNN does not have is named.
  EXPECT_TRUE(error_naming(tandem_cmd("export --model cnn --out " + quote(file("b.onnx")) + w), "fc3"));
  std::ofstream(file("corrupt.safetensors")) << "not a safetensors file";
  EXPECT_TRUE(error_naming(tandem_cmd("export --model mlp --out " + quote(file("c.onnx")) + " --weights " +
                                      quote(file("corrupt.safetensors"))),
                           "corrupt.safetensors"));
  for (const char* f : {"a.onnx", "b.onnx", "c.onnx"}) EXPECT_FALSE(fs::exists(file(f))) << f;
}

TEST_F(CliRuns, SummaryGraphEvalAndTrainRejectBadInput) {
  EXPECT_TRUE(fails_with(tandem_cmd("summary --model vgg"), "vgg", 105));
  EXPECT_TRUE(fails_with(tandem_cmd("summary"), "--model", 106));
  EXPECT_TRUE(fails_with(tandem_cmd("graph --model vgg"), "vgg", 105));
  EXPECT_TRUE(error_naming(tandem_cmd("eval --model mlp --data " + quote(file("nodata")) + " --weights " +
                                      quote(run_ + "/model.safetensors")),
                           file("nodata")));
  EXPECT_TRUE(fails_with(tandem_cmd(train("mlp", "--resume " + quote(file("absent.safetensors")))),
                         file("absent.safetensors"), 105));
  std::ofstream(file("bad_ckpt.safetensors")) << "not a checkpoint";
  EXPECT_TRUE(error_naming(tandem_cmd(train("mlp", "--resume " + quote(file("bad_ckpt.safetensors")))),
                           "bad_ckpt.safetensors"));
  // Model weights are not a training checkpoint.
  EXPECT_TRUE(error_naming(tandem_cmd(train("mlp", "--resume " + quote(run_ + "/model.safetensors"))), "checkpoint"));
  // A truncated IDX file in the data folder is named.
  std::string idx = file("bad_idx");
  tandem::testing::write_tiny_idx(idx, 64, 32, /*gzip=*/false);
  std::string images = idx + "/train-images-idx3-ubyte";
  fs::resize_file(images, fs::file_size(images) - 100);
  EXPECT_TRUE(error_naming(tandem_cmd("train --model mlp --data " + quote(idx) + " --out " + quote(file("never"))),
                           "train-images-idx3-ubyte"));
  EXPECT_FALSE(fs::exists(file("never")));
  EXPECT_TRUE(fails_with(tandem_cmd(train("mlp", "--threads 0")), "--threads", 105));
  EXPECT_TRUE(fails_with(tandem_cmd(train("mlp", "--workers -1")), "--workers", 105));
  EXPECT_TRUE(fails_with(tandem_cmd(train("mlp", "--augment rotate")), "rotate", 105));
}

// ---- exact resume at 2 threads and with workers

struct RunRecord {
  json result;                                // --json output
  std::map<int64_t, double> step_loss;        // train/loss from the event files
  std::string weights;                        // model.safetensors bytes
};

RunRecord record(const CliResult& r, const std::string& run_dir) {
  RunRecord rec;
  std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  rec.result = json::parse(last);
  for (const auto& e : tandem::summary::read(run_dir))
    if (e.kind == tandem::summary::Kind::Scalar && e.tag == "train/loss") rec.step_loss[e.step] = e.value;
  rec.weights = slurp(run_dir + "/model.safetensors");
  return rec;
}

// The resumed run's flags: the optimizer settings come from the checkpoint, so --lr goes.
std::string without_lr(std::string args) {
  size_t p = args.find("--lr ");
  if (p == std::string::npos) return args;
  size_t e = args.find(' ', p + 5);
  args.erase(p, e == std::string::npos ? std::string::npos : e - p + 1);
  return args;
}

// 4 epochs straight vs 2 (stopped) + 2 (resumed), every option the same: same per-step
// losses, epoch metrics and final weights, bit for bit.
void expect_exact_resume(const std::string& scratch, const std::string& train_args, const std::string& name) {
  std::string full = scratch + "/" + name + "_full", split = scratch + "/" + name + "_split";
  CliResult a = run_tandem(scratch, train_args + " --epochs 4 --json --out " + quote(full));
  ASSERT_EQ(a.code, 0) << a.err;
  CliResult b = run_tandem(scratch, train_args + " --epochs 4 --stop-after 2 --out " + quote(split));
  ASSERT_EQ(b.code, 0) << b.err;
  CliResult c = run_tandem(scratch, without_lr(train_args) + " --epochs 4 --json --resume " + quote(split + "/checkpoint.safetensors"));
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("resuming after epoch 2"), std::string::npos) << c.out;
  RunRecord want = record(a, full), got = record(c, split);
  ASSERT_GT(want.step_loss.size(), 8u);
  EXPECT_EQ(got.step_loss, want.step_loss);  // steps of both halves, values bit for bit
  for (const char* key : {"train_loss", "test_loss", "test_accuracy"})
    EXPECT_EQ(got.result[key].get<double>(), want.result[key].get<double>()) << key;
  ASSERT_EQ(got.result["history"].size(), 2u);
  for (size_t e = 0; e < 2; ++e)
    for (const char* key : {"epoch", "step", "train_loss", "test_loss", "test_accuracy", "lr"})
      EXPECT_EQ(got.result["history"][e][key], want.result["history"][e + 2][key]) << key << " epoch " << e + 3;
  EXPECT_TRUE(got.weights == want.weights) << "the final weights differ";
}

TEST_F(CliRuns, ExactResumeAtTwoThreads) {
  expect_exact_resume(root_, train("cnn", "--threads 2 --optimizer sgd --lr 0.05 --schedule cosine "
                                          "--train-limit 192 --test-limit 64 --seed 5"),
                      "cnn2t");
}

TEST_F(CliRuns, ExactResumeWithWorkersAugmentationAndTwoThreads) {
  expect_exact_resume(root_, train("mlp", "--threads 2 --workers 2 --augment crop+flip --optimizer adamw "
                                          "--schedule onecycle --seed 9"),
                      "mlp_workers");
}

}  // namespace
