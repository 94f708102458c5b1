// The `tandem` executable, run as a user runs it, on a tiny IDX dataset written here:
// --json output, the run directory, eval of the saved weights, resume, summary, and the
// errors for bad arguments and missing data (a message and a non-zero exit, never a crash).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using tandem::testing::fresh_temp_dir;

namespace cli = tandem::testing::cli;
using cli::slurp;

namespace {

struct Result : cli::CliResult {
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream is(out);
    for (std::string l; std::getline(is, l);) v.push_back(l);
    return v;
  }
};

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fresh_temp_dir("cli");
    data_ = root_ + "/data";
    tandem::testing::write_tiny_idx(data_, 256, 100);
  }
  // Runs `tandem ARGS` with stdout and stderr captured (stdout is not a terminal here).
  static Result tandem_cmd(const std::string& args) {
    Result r;
    static_cast<cli::CliResult&>(r) = cli::run_tandem(root_, args);
    return r;
  }
  static std::string train_args(const std::string& run) {
    return "train --model mlp --data '" + data_ + "' --epochs 2 --batch-size 64 --threads 1 --out '" +
           root_ + "/" + run + "'";
  }
  static std::string root_, data_;
};
std::string Cli::root_, Cli::data_;

TEST_F(Cli, TrainJsonRunDirectoryAndEvalAgree) {
  Result r = tandem_cmd(train_args("run") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = r.lines();
  ASSERT_FALSE(lines.empty());
  json j = json::parse(lines.back());  // the last line is one JSON object
  for (const char* key : {"test_accuracy", "test_loss", "epochs", "seconds", "samples_per_second"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["epochs"], 2);
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.5);  // the tiny set is easy
  EXPECT_GT(j["samples_per_second"].get<double>(), 0.0);
  EXPECT_EQ(r.out.find('\r'), std::string::npos);   // not a terminal: no bar redraws
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos);
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos);  // the paths it wrote

  std::string run = root_ + "/run";
  EXPECT_TRUE(fs::exists(run + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(run + "/checkpoint.safetensors"));
  std::ifstream metrics(run + "/metrics.jsonl");
  int n = 0;
  for (std::string l; std::getline(metrics, l); ++n) {
    json m = json::parse(l);
    EXPECT_EQ(m["epoch"], n + 1);
    EXPECT_TRUE(m.contains("train_loss") && m.contains("test_accuracy"));
  }
  EXPECT_EQ(n, 2);

  // eval of the saved weights reports the same accuracy and loss as the last epoch.
  for (const char* file : {"model.safetensors", "checkpoint.safetensors"}) {
    Result e = tandem_cmd("eval --model mlp --data '" + data_ + "' --weights '" + run + "/" + file + "' --json");
    ASSERT_EQ(e.code, 0) << e.err;
    json ej = json::parse(e.lines().back());
    EXPECT_EQ(ej["test_accuracy"].get<double>(), j["test_accuracy"].get<double>()) << file;
    EXPECT_EQ(ej["test_loss"].get<double>(), j["test_loss"].get<double>()) << file;
  }
}

TEST_F(Cli, ResumeContinuesTheRun) {
  Result a = tandem_cmd(train_args("resumed") + " --stop-after 1");
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = tandem_cmd("train --model mlp --data '" + data_ + "' --epochs 2 --batch-size 64 --threads 1 --resume '" +
                        root_ + "/resumed/checkpoint.safetensors' --json");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("resuming after epoch 1"), std::string::npos);
  EXPECT_EQ(json::parse(b.lines().back())["epochs"], 2);
  std::string metrics = slurp(root_ + "/resumed/metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 2);
}

TEST_F(Cli, DefaultRunDirectoryIsTimestampedAndLinkedFromLatest) {
  std::string cwd = root_ + "/cwd";
  fs::create_directories(cwd);
  std::string cmd = "cd '" + cwd + "' && '" + TANDEM_CLI_PATH + "' train --model mlp --data '" + data_ +
                    "' --epochs 1 --batch-size 64 --threads 1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(fs::is_symlink(cwd + "/runs/latest"));
  EXPECT_TRUE(fs::exists(cwd + "/runs/latest/model.safetensors"));
  EXPECT_EQ(fs::read_symlink(cwd + "/runs/latest").string().rfind("mlp-", 0), 0u);
}

TEST_F(Cli, SummaryPrintsTheLayersAndParameterCount) {
  Result r = tandem_cmd("summary --model cnn");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Conv2d"), std::string::npos);
  EXPECT_NE(r.out.find("421,642"), std::string::npos);
  // The training-memory estimate (its values: tests/train/test_memory_estimate.cpp): the
  // 421,642 float parameters are 1.61 MB.
  r = tandem_cmd("summary --model cnn --batch-size 32 --optimizer adam");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Training memory at input [32, 1, 28, 28] with adam"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters            1.61 MB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("optimizer state"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activations"), std::string::npos) << r.out;
}

TEST_F(Cli, GraphShowsThePassesAndPlannedMemory) {
  Result r = tandem_cmd("graph --model cnn --batch-size 8 --dot '" + root_ + "/cnn.dot'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("== captured graph (10 nodes)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conv2d("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fuse_matmul_act"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("planned memory: arena"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(root_ + "/cnn.dot").rfind("digraph", 0), 0u);
  Result t = tandem_cmd("graph --model mlp --train --passes cse,dce");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("sgd_step"), std::string::npos) << t.out;  // the optimizer is in the graph
  EXPECT_NE(t.out.find("planned memory (training step)"), std::string::npos) << t.out;
  Result bad = tandem_cmd("graph --model mlp --passes nosuchpass");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("nosuchpass"), std::string::npos) << bad.err;
}

TEST_F(Cli, TrainCompileMatchesEager) {
  Result e = tandem_cmd(train_args("eager") + " --json");
  Result c = tandem_cmd(train_args("compiled") + " --compile --json");
  ASSERT_EQ(e.code, 0) << e.err;
  ASSERT_EQ(c.code, 0) << c.err;
  auto acc = [](const std::string& out) {
    auto p = out.rfind("\"test_accuracy\":");
    return out.substr(p, out.find(',', p) - p);
  };
  EXPECT_EQ(acc(c.out), acc(e.out));
}

TEST_F(Cli, BadArgumentsGiveAMessageAndNonZeroExit) {
  struct Case {
    std::string args, needle;
  };
  for (const auto& c : std::vector<Case>{{"train --model vgg", "vgg"},
                                          {"train --epochs -3", "positive integer"},
                                          {"train --batch-size 0", "positive integer"},
                                          {"train --lr -1", "lr"},
                                          {"train --optimizer lbfgs", "lbfgs"},
                                          {"train --frobnicate", "frobnicate"},
                                          {"frobnicate", "frobnicate"},
                                          {"", "subcommand"},
                                          {"eval --model mlp", "weights"},
                                          {"eval --model mlp --weights /no/such/file", "/no/such/file"}}) {
    Result r = tandem_cmd(c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_LT(r.code, 128) << c.args << ": killed by a signal";
    EXPECT_NE((r.out + r.err).find(c.needle), std::string::npos) << c.args << ":\n" << r.err;
  }
}

TEST_F(Cli, MissingDataDirectoryIsAClearError) {
  Result r = tandem_cmd("train --model mlp --data /no/such/dir --out '" + root_ + "/never'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("/no/such/dir"), std::string::npos);
  EXPECT_NE(r.err.find("train-images-idx3-ubyte"), std::string::npos);
  EXPECT_FALSE(fs::exists(root_ + "/never"));  // nothing written
}

TEST_F(Cli, CorruptWeightsAreAnErrorNotACrash) {
  std::string bad = root_ + "/bad.safetensors";
  std::ofstream(bad) << "this is not a safetensors file";
  Result r = tandem_cmd("eval --model mlp --data '" + data_ + "' --weights '" + bad + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  // Weights of another model: the key mismatch is named.
  Result m = tandem_cmd(train_args("for_cnn"));
  ASSERT_EQ(m.code, 0) << m.err;
  Result e = tandem_cmd("eval --model cnn --data '" + data_ + "' --weights '" + root_ + "/for_cnn/model.safetensors'");
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.err.find("fc3"), std::string::npos) << e.err;  // an MLP key the CNN lacks
}

// libgomp reports the wait policy it read at load (OMP_DISPLAY_ENV): the CLI's own passive
// default (tests/cli/test_omp_wait.cpp checks its effect) never overrides the user's choice.
TEST_F(Cli, OpenMpWaitPolicyOfTheEnvironmentWins) {
  std::string err = root_ + "/omp_env_stderr";
  std::string cmd = "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=true timeout 60 " +
                    cli::quote(TANDEM_CLI_PATH) + " --version >/dev/null 2>" + cli::quote(err);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_NE(cli::slurp(err).find("OMP_WAIT_POLICY = 'ACTIVE'"), std::string::npos) << cli::slurp(err);
}

}  // namespace
