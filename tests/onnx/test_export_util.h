// Helpers for the ONNX export tests: write an export case (model + inputs + eager outputs) to a
// directory, and run tests/reference/check_onnx_export.py (onnx checker + shape inference + an
// independent PyTorch evaluator of the ONNX graph) over a directory of cases.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tandem/autograd.h"
#include "tandem/io/npy.h"
#include "tandem/nn/module.h"
#include "tandem/onnx.h"
#include "tandem/onnx/export.h"
#include "test_util.h"

namespace tandem::onnx::exptest {

inline std::string fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / fmt::format("tandem_onnx_{}_{}", name, ::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

inline std::string checker_script() {
  return std::string(TANDEM_TEST_DATA_DIR) + "/../reference/check_onnx_export.py";
}

// Empty when python3 with onnx and torch is usable, else why not.
inline std::string python_unavailable() {
  static const std::string why = [] {
    int rc = std::system("/usr/bin/python3 -c 'import onnx, torch, numpy' > /dev/null 2>&1");
    return rc == 0 ? std::string() : std::string("/usr/bin/python3 with onnx, torch and numpy is not available");
  }();
  return why;
}

// Runs the checker over `dir`; returns its exit code and puts its output in `log`.
inline int run_checker(const std::string& dir, std::string& log) {
  std::string out = dir + "/checker.log";
  std::string cmd = fmt::format("/usr/bin/python3 {} {} > {} 2>&1", checker_script(), dir, out);
  int rc = std::system(cmd.c_str());
  std::ifstream f(out);
  log.assign(std::istreambuf_iterator<char>(f), {});
  return rc;
}

// ONNX Runtime through node: onnxruntime-node installed (npm install --ignore-scripts
// onnxruntime-node; its install script only fetches GPU extras) under
// $TANDEM_ONNXRUNTIME_NODE or <repo>/build/onnxruntime-node (node_modules/ inside).
// Returns the runner's exit code (2: not installed), or -1 when node itself is missing.
inline int run_ort(const std::string& dir, std::string& log) {
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    log = "node is not installed (apt-get install nodejs npm)";
    return -1;
  }
  const char* env = std::getenv("TANDEM_ONNXRUNTIME_NODE");
  std::string root = env && *env ? std::string(env)
                                 : std::string(TANDEM_TEST_DATA_DIR) + "/../../build/onnxruntime-node";
  std::string script = std::string(TANDEM_TEST_DATA_DIR) + "/../reference/check_onnx_export_ort.js";
  std::string out = dir + "/ort.log";
  std::string cmd = fmt::format("NODE_PATH={}/node_modules node {} {} > {} 2>&1", root, script, dir, out);
  int rc = std::system(cmd.c_str());
  std::ifstream f(out);
  log.assign(std::istreambuf_iterator<char>(f), {});
  if (rc != -1 && WIFEXITED(rc)) return WEXITSTATUS(rc);
  return rc;
}

// Whether missing checkers must fail the tests instead of skipping them (CI=true: CI installs
// them with scripts/setup.sh).
inline bool ci() {
  const char* v = std::getenv("CI");
  return v && std::string(v) == "true";
}

// Runs ONNX Runtime over the cases; skips the calling test with the reason when it is missing
// (fails under CI=true).
#define TANDEM_EXPECT_ORT_PASSES(dir, n)                                                              \
  do {                                                                                              \
    std::string ort_log;                                                                            \
    int ort_rc = ::tandem::onnx::exptest::run_ort(dir, ort_log);                                    \
    if ((ort_rc == -1 || ort_rc == 2) && ::tandem::onnx::exptest::ci())                             \
      FAIL() << "ONNX Runtime is required under CI=true (scripts/setup.sh installs it): " << ort_log; \
    if (ort_rc == -1 || ort_rc == 2)                                                                \
      GTEST_SKIP() << "ONNX Runtime check skipped: " << ort_log                                      \
                   << " (install: mkdir -p build/onnxruntime-node && npm install --prefix "          \
                      "build/onnxruntime-node --ignore-scripts onnxruntime-node)";                  \
    EXPECT_EQ(ort_rc, 0) << ort_log;                                                                \
    EXPECT_NE(ort_log.find(fmt::format("{0}/{0} exported models pass", n)), std::string::npos) << ort_log; \
  } while (0)

// Re-imports every case under `dir` with tandem's ONNX importer (tandem::onnx::Model) and
// compares its outputs with the eager ones (floats within rtol 1e-4 / atol 1e-5, others exactly).
// Returns one line per case that does not match or cannot be imported; empty when all pass.
inline std::string roundtrip_failures(const std::string& dir, int* cases = nullptr) {
  std::string failures;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string d = e.path().string();
    if (!std::filesystem::exists(d + "/model.onnx")) continue;
    ++n;
    std::string name = e.path().filename().string();
    try {
      Model m = Model::load(d + "/model.onnx");
      std::map<std::string, Tensor> feeds;
      for (size_t i = 0; i < m.info().inputs.size(); ++i)
        feeds[m.info().inputs[i].name] = io::load_npy(fmt::format("{}/input_{}.npy", d, i));
      std::vector<Tensor> outs = m.run(feeds);
      for (size_t i = 0;; ++i) {
        std::string f = fmt::format("{}/expected_{}.npy", d, i);
        if (!std::filesystem::exists(f)) {
          if (i != outs.size()) failures += fmt::format("{}: {} outputs, {} expected\n", name, outs.size(), i);
          break;
        }
        Tensor want = io::load_npy(f);
        if (i >= outs.size()) break;
        Tensor got = outs[i];
        if (got.dtype() != want.dtype() || got.shape() != want.shape()) {
          failures += fmt::format("{}: output {} is {}{}, expected {}{}\n", name, i, dtype_name(got.dtype()),
                                  shape_str(got.shape()), dtype_name(want.dtype()), shape_str(want.shape()));
          continue;
        }
        bool fl = is_floating(want.dtype());
        auto r = ::tandem::testing::all_close(got, want, fl ? 1e-5 : 0.0, fl ? 1e-4 : 0.0);
        if (!r) failures += fmt::format("{}: output {}: {}\n", name, i, r.message());
      }
    } catch (const Error& err) {
      failures += fmt::format("{}: {}\n", name, err.what());
    }
  }
  if (cases) *cases = n;
  return failures;
}

using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Exports fn traced on `trace_inputs` into <dir>/<name>/model.onnx and writes the eager outputs
// on `run_inputs` (default: the same) as expected_<i>.npy.
inline void write_case(const std::string& dir, const std::string& name, const Fn& fn,
                       const std::vector<Tensor>& trace_inputs, const ExportOptions& opts = {},
                       const std::vector<std::shared_ptr<nn::Module>>& modules = {},
                       std::vector<Tensor> run_inputs = {}) {
  std::string d = dir + "/" + name;
  std::filesystem::create_directories(d);
  export_model(fn, trace_inputs, d + "/model.onnx", opts, modules);
  if (run_inputs.empty()) run_inputs = trace_inputs;
  std::vector<Tensor> outs;
  {
    NoGradGuard ng;
    for (const auto& m : modules) m->eval();
    outs = fn(run_inputs);
  }
  for (size_t i = 0; i < run_inputs.size(); ++i)
    io::save_npy(fmt::format("{}/input_{}.npy", d, i), run_inputs[i].contiguous());
  for (size_t i = 0; i < outs.size(); ++i)
    io::save_npy(fmt::format("{}/expected_{}.npy", d, i), outs[i].contiguous());
}

inline Fn module_fn(const std::shared_ptr<nn::Module>& m) {
  return [m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{m->forward(xs.at(0))}; };
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace tandem::onnx::exptest
