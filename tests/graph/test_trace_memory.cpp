// Memory of compiling: the trace frees each intermediate the function drops (its peak is
// eager's, not the sum of every activation), and the reporting passes plan without
// allocating an arena. Measured with the caching allocator's counters (tandem/memory.h).
#include <fstream>
#include <string>

#include "plan_recorder.h"
#include "tandem/graph/compile.h"
#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"
#include "tandem/memory.h"
#include "test_util.h"

namespace tandem::graph {
namespace {

using testing::all_close;
using testing::PlanRecorder;

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.to_vector<double>() == b.to_vector<double>();
}

constexpr int64_t kElems = 1 << 18;  // 1 MiB of float32 per intermediate
constexpr int kLayers = 20;          // 60 intermediates: 60 MiB if all were held

Tensor chain(const Tensor& x) {
  Tensor y = x;
  for (int i = 0; i < kLayers; ++i) y = relu(y * 1.01 + 0.5);
  return y;
}

TEST(TraceMemory, FirstCallFreesDroppedIntermediatesAsEagerDoes) {
  Tensor x = randn({kElems});
  Tensor eager = chain(x);
  auto f = compile([](const Tensor& t) { return chain(t); });
  tandem::MemoryStats before = memory_stats();
  reset_peak_memory_stats();
  Tensor traced = f(x);  // the first call traces (runs eagerly under the tracer)
  tandem::MemoryStats after = memory_stats();
  EXPECT_EQ(f.stats().traces, 1);
  int64_t peak = after.peak_allocated_bytes - before.allocated_bytes;
  // Eager holds the input, the result and about two intermediates at once; the old tracer
  // held all 60 (60 MiB).
  EXPECT_LT(peak, 8 * kElems * 4) << "the trace kept intermediates alive: peak " << (peak >> 20) << " MiB";
  EXPECT_TRUE(bit_equal(traced, eager));  // the traced call returns its eager results
  EXPECT_TRUE(all_close(f(x), eager, 1e-5, 1e-5));  // the graph is complete: the planned run agrees
}

TEST(TraceMemory, ReleasedIntermediatesDoNotConfuseLaterAliases) {
  // Views and detached aliases of live values are still found after other values were
  // released (and their addresses possibly reused by new tensors).
  auto f = compile([](const Tensor& x) {
    Tensor acc = x * 2.0;
    for (int i = 0; i < 10; ++i) {
      Tensor tmp = exp(x * double(i) * 0.01);
      Tensor d = acc.detach();
      acc = d.view({-1}).view(x.shape()) + tmp;
    }
    return acc;
  });
  Tensor x = randn({64, 32});
  Tensor eager = x * 2.0;
  for (int i = 0; i < 10; ++i) eager = eager + exp(x * double(i) * 0.01);
  EXPECT_TRUE(bit_equal(f(x), eager));
  Tensor y = randn({64, 32});
  Tensor eager_y = y * 2.0;
  for (int i = 0; i < 10; ++i) eager_y = eager_y + exp(y * double(i) * 0.01);
  EXPECT_TRUE(all_close(f(y), eager_y, 1e-5, 1e-5));
  EXPECT_EQ(f.stats().traces, 1);
}

TEST(TraceMemory, StatsOnlyLoweringAllocatesNoArenaAndRefusesToRun) {
  Tensor x = randn({256, 256});
  PlanRecorder rec;
  rec.input("x", x);
  auto fn = [](const Tensor& t) {
    Tensor a = exp(t * 0.5), b = tanh(t);  // live together: arena buffers
    return a * b + a;
  };
  rec.record([&] { return std::vector<Tensor>{fn(x)}; });
  Plan full = lower(rec.graph);
  LowerOptions stats_only;
  stats_only.allocate = false;
  reset_peak_memory_stats();
  int64_t before = memory_stats().allocated_bytes;
  Plan planned = lower(rec.graph, stats_only);
  EXPECT_LT(memory_stats().peak_allocated_bytes - before, int64_t{4096});  // no arena
  EXPECT_GT(full.memory().arena_bytes, size_t{0});
  EXPECT_EQ(planned.memory().arena_bytes, full.memory().arena_bytes);
  EXPECT_EQ(planned.memory().num_inplace, full.memory().num_inplace);
  EXPECT_THROW(planned.run({x}), Error);
  EXPECT_TRUE(bit_equal(full.run({x})[0], fn(x)));
}

TEST(TraceMemory, ReportingPassesDoNotAllocateTheArena) {
  Tensor x = randn({512, 512});  // 1 MiB per intermediate
  PlanRecorder rec;
  rec.input("x", x);
  rec.record([&] {
    Tensor a = exp(x * 0.5), b = tanh(x);
    return std::vector<Tensor>{a * b + a};
  });
  reset_peak_memory_stats();
  int64_t before = memory_stats().allocated_bytes;
  PipelineOptions po;
  po.passes = "inplace,memory_plan";
  PipelineReport report = run_pipeline(rec.graph, po);
  EXPECT_GT(report.passes.at(1).result.counts.at("arena_bytes"), 0);
  EXPECT_LT(memory_stats().peak_allocated_bytes - before, int64_t{1} << 16);
}

// Peak resident bytes of this process since the last reset (VmHWM; /proc/self/clear_refs
// "5" restarts it from the current RSS).
int64_t trace_memory_hwm_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

TEST(TraceMemory, FrozenNoGradFirstCallTracesShapesOnlyAndRunsThePlan) {
  // Eager holds x*2 and (x*2)+1 at once (2 x 16 MiB); the plan fuses the chain into one
  // kernel writing one buffer. The shapes-only trace never touches its outputs' pages, so
  // the first call peaks like the plan, and returns the plan's results.
  constexpr int64_t kBig = int64_t{1} << 22;  // 16 MiB of float32
  Tensor x = randn({kBig});
  auto fn = [](const Tensor& t) { return relu((t * 2.0 + 1.0) * 0.5); };
  Tensor eager = fn(x);
  eager = Tensor();
  empty_cache();
  auto f = compile([&](const Tensor& t) { return fn(t); }, {.freeze = true});
  NoGradGuard ng;
  ASSERT_TRUE(std::ofstream("/proc/self/clear_refs") << "5") << "cannot reset the peak RSS";
  const int64_t before = trace_memory_hwm_bytes();
  Tensor first = f(x);
  const int64_t peak = trace_memory_hwm_bytes() - before;
  EXPECT_LT(peak, 3 * kBig * 4 / 2) << "the first call ran eagerly: peak +" << (peak >> 20) << " MiB";
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_TRUE(bit_equal(first, f(x)));  // the plan's results, as on later calls
  EXPECT_TRUE(all_close(first, fn(x), 1e-6, 1e-6));
}

TEST(TraceMemory, ShapesOnlyTraceFallsBackWhenFnWritesOutsideState) {
  // An in-place write into a tensor from outside fn must happen once per call, on real
  // values: the shapes-only trace refuses before writing and traces eagerly instead.
  Tensor total = zeros({4});
  auto f = compile(
      [&](const Tensor& t) {
        total.add_(t);
        return t * 3.0;
      },
      {.freeze = true});
  NoGradGuard ng;
  Tensor x = full({4}, 2.0);
  EXPECT_TRUE(bit_equal(f(x), full({4}, 6.0)));
  EXPECT_TRUE(bit_equal(total, full({4}, 2.0)));
  EXPECT_TRUE(bit_equal(f(x), full({4}, 6.0)));
  EXPECT_TRUE(bit_equal(total, full({4}, 4.0)));
  ASSERT_FALSE(f.stats().notes.empty());
  EXPECT_NE(f.stats().notes[0].find("traced eagerly"), std::string::npos) << f.stats().notes[0];
}

}  // namespace
}  // namespace tandem::graph
