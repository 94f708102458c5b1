// ONNX inference latency through tandem's importer: Model::load once, then Model::run as a
// user calls it (fresh output tensors each call). bench/onnx_run.sh runs this next to ONNX
// Runtime (bench/onnx_ort.js) on the same files and prints the table.
//
//   tandem_bench_onnx --onnx-dir=DIR [--batches=1,64] [--threads=N] [Google Benchmark flags]
//
// Cases onnx/<model>_b<batch>, one per DIR/<model>.onnx and batch (models with a dynamic
// batch dimension, or with DIR/<model>_b<batch>.input.npy given). Before timing, each case's
// input and tandem's output are written once as DIR/<model>_b<batch>.input.npy and
// .tandem.npy (randn, seed 0; kept when present), so that
// ONNX Runtime runs on the same input and can report the largest difference of the outputs.
// --threads=N calls tandem::set_num_threads(N), as bench_main.cpp does. With
// TANDEM_BENCH_PROFILE set, each case prints one profiled run's op table to stderr.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tandem/io/npy.h"
#include "tandem/onnx.h"
#include "tandem/summary/profiler.h"
#include "tandem/tandem.h"

namespace tandem::bench {
namespace {

struct OnnxCase {
  std::string model_path, input_path;
};

// The model's only input (the zoo models take one image batch).
std::string input_name(const onnx::Model& m) {
  TANDEM_CHECK(m.info().inputs.size() == 1, "bench_onnx: {} inputs, expected 1", m.info().inputs.size());
  return m.info().inputs[0].name;
}

// Writes the case's input and tandem's output unless they are there already. An input given
// beforehand (a model of static input shape, e.g. a detector's one image) is kept.
void write_io(const std::string& model_path, const std::string& stem, int64_t batch) {
  std::string in = stem + ".input.npy", out = stem + ".tandem.npy";
  if (std::filesystem::exists(in) && std::filesystem::exists(out)) return;
  onnx::Model m = onnx::Model::load(model_path);
  Tensor x;
  if (std::filesystem::exists(in)) {
    x = io::load_npy(in);
  } else {
    graph::SymShape sym = m.info().inputs.at(0).shape;
    TANDEM_CHECK(!sym.empty() && !sym[0].is_static(),
                 "bench_onnx: {}: the input has no symbolic batch dimension ({}) and no {} is given", model_path,
                 graph::shape_str(sym), in);
    sym[0] = batch;
    manual_seed(0);
    x = randn(graph::static_shape(sym));
    io::save_npy(in, x);
  }
  io::save_npy(out, m.run({{input_name(m), x}})[0].contiguous());
}

// Whether an op of the compiled plan runs in oneDNN (convolution, matmul, pooling, layout
// reorders) rather than in tandem's own loops.
bool onednn_op(const std::string& op) {
  for (const char* p : {"conv", "matmul", "linear", "addmm", "bmm", "max_pool2d", "avg_pool2d", "from_blocked",
                        "to_blocked"})
    if (op.rfind(p, 0) == 0) return true;
  return false;
}

// One profiled run of the plan: the layout changes it makes and where its time goes.
//   reorders: explicit ones (from_blocked) plus blocked convolutions that read NCHW (they
//             reorder their input to blocks);
//   nchw_convs: convolutions left in NCHW (oneDNN reorders around those itself when its
//             kernel is blocked);
//   onednn_pct: percent of the op time spent in oneDNN's primitives.
void layout_counters(benchmark::State& state, const onnx::Model& m, const std::string& name, const Tensor& x,
                     const std::string& case_name) {
  profiler::Profiler prof;
  {
    profiler::ProfileGuard on(prof);
    m.run({{name, x}});
  }
  int64_t reorders = 0, nchw_convs = 0, total_ns = 0, onednn_ns = 0;
  for (const profiler::Event& e : prof.events()) {
    if (e.user) continue;
    total_ns += e.dur_ns;
    if (onednn_op(e.name)) onednn_ns += e.dur_ns;
    const bool blocked_in = !e.input_shapes.empty() && e.input_shapes[0].size() == 5;
    if (e.name == "from_blocked" || e.name == "to_blocked" || (e.name == "conv2d_blocked" && !blocked_in)) ++reorders;
    if (e.name == "conv2d" || e.name == "conv2d_act") ++nchw_convs;
  }
  state.counters["reorders"] = static_cast<double>(reorders);
  state.counters["nchw_convs"] = static_cast<double>(nchw_convs);
  state.counters["onednn_pct"] = total_ns > 0 ? 100.0 * static_cast<double>(onednn_ns) / total_ns : 0.0;
  if (std::getenv("TANDEM_BENCH_PROFILE") != nullptr)
    std::cerr << case_name << ": one run's ops by total time\n" << prof.key_averages(15) << "\n";
}

void run_case(benchmark::State& state, const OnnxCase& c) {
  std::unique_ptr<onnx::Model> m;
  Tensor x;
  std::string name;
  if (!try_once(state, [&] {
        m = std::make_unique<onnx::Model>(onnx::Model::load(c.model_path));
        x = io::load_npy(c.input_path);
        name = input_name(*m);
        m->run({{name, x}});  // first call traces and plans the graph
      }))
    return;
  for (auto _ : state) benchmark::DoNotOptimize(m->run({{name, x}})[0].impl());
  state.counters["compiled"] = m->runs_compiled() ? 1 : 0;  // 0: ran eagerly node by node
  layout_counters(state, *m, name, x, c.input_path);
}

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  using namespace tandem;
  std::vector<char*> args;
  int threads = 0;
  std::string dir;
  std::vector<int64_t> batches = {1, 64};
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--onnx-dir=", 11) == 0) {
      dir = argv[i] + 11;
    } else if (std::strncmp(argv[i], "--batches=", 10) == 0) {
      batches.clear();
      for (char* p = argv[i] + 10; *p;) {
        batches.push_back(std::strtoll(p, &p, 10));
        if (*p == ',') ++p;
      }
    } else {
      args.push_back(argv[i]);
    }
  }
  if (dir.empty() || !std::filesystem::is_directory(dir)) {
    std::cerr << "tandem_bench_onnx: give --onnx-dir=DIR, a folder of <model>.onnx files (bench/onnx_run.sh makes one)\n";
    return 1;
  }
  if (threads > 0) set_num_threads(threads);
  benchmark::AddCustomContext("tandem_threads", std::to_string(get_num_threads()));

  std::vector<std::filesystem::path> models;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".onnx") models.push_back(e.path());
  std::sort(models.begin(), models.end());
  for (const auto& p : models) {
    for (int64_t b : batches) {
      std::string case_name = p.stem().string() + "_b" + std::to_string(b);
      std::string stem = (p.parent_path() / case_name).string();
      try {
        bench::write_io(p.string(), stem, b);
      } catch (const std::exception& e) {
        std::cerr << "tandem_bench_onnx: " << case_name << ": " << e.what() << "\n";
        continue;
      }
      bench::OnnxCase c{p.string(), stem + ".input.npy"};
      benchmark::RegisterBenchmark(("onnx/" + case_name).c_str(),
                                   [c](benchmark::State& s) { bench::run_case(s, c); })
          ->UseRealTime()
          ->MeasureProcessCPUTime()  // the CPU column: every thread's time, not the caller's alone
          ->Unit(benchmark::kMicrosecond);
    }
  }

  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
