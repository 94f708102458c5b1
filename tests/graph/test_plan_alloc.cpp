// Plan::run_into allocates nothing in steady state (counted through a replaced global
// operator new, active only while a test asks for it on its own thread). Tensor handles,
// storages and vectors are all heap objects, so a hidden dispatch or a fresh output would
// show up here; the caching allocator's blocks for tensor data would come with a Storage.
#include <atomic>
#include <cstdlib>
#include <new>

#include "plan_recorder.h"
#include "tandem/graph/plan.h"
#include "test_util.h"

namespace {
thread_local bool t_counting = false;
thread_local long t_allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (t_counting) ++t_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (t_counting) ++t_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace tandem::graph {
namespace {

using testing::PlanRecorder;

long count_allocations(const std::function<void()>& fn) {
  t_allocations = 0;
  t_counting = true;
  fn();
  t_counting = false;
  return t_allocations;
}

// Elementwise ops and views: their kernels allocate nothing, so neither may the plan.
TEST(PlanAlloc, SteadyStateRunIntoAllocatesNothing) {
  int threads = get_num_threads();
  set_num_threads(1);  // the counter is per thread: keep kernels on this one
  Tensor x = randn({8, 32}), b = randn({8, 32});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("b", b);
  rec.record([&] {
    Tensor h = relu(x + b);
    Tensor v = h.t().t();  // views cost nothing at run time
    Tensor s = tanh(v) * 2.0;
    return std::vector<Tensor>{s - x, sigmoid(v)};
  });
  Plan plan = lower(rec.graph);
  std::vector<Tensor> out = {empty({8, 32}), empty({8, 32})};
  std::vector<Tensor> in = {x};
  plan.run_into(in, out);  // warm-up
  long n = count_allocations([&] { plan.run_into(in, out); });
  EXPECT_EQ(n, 0) << plan.str();
  // The eager path allocates (the counter does see allocations).
  long eager = count_allocations([&] { (void)relu(x + b); });
  EXPECT_GT(eager, 0);
  set_num_threads(threads);
}

// linear's kernel allocates small vectors itself (strided matrix views for gemm); the plan adds
// nothing on top of the kernels it calls.
TEST(PlanAlloc, PlanAddsNoAllocationToItsKernels) {
  int threads = get_num_threads();
  set_num_threads(1);
  Tensor x = randn({8, 32}), w1 = randn({64, 32}), b1 = randn({64}), w2 = randn({10, 64});
  PlanRecorder rec;
  rec.input("x", x);
  rec.variable("w1", w1);
  rec.variable("b1", b1);
  rec.variable("w2", w2);
  rec.record([&] { return std::vector<Tensor>{relu(linear(relu(linear(x, w1, b1)), w2))}; });
  Plan plan = lower(rec.graph);
  std::vector<Tensor> out = {empty({8, 10})};
  std::vector<Tensor> in = {x};
  plan.run_into(in, out);
  long n = count_allocations([&] { plan.run_into(in, out); });
  // The same kernels called directly on preallocated tensors.
  Tensor h = empty({8, 64});
  std::vector<Tensor> i1 = {x, w1, b1}, o1 = {h}, i2 = {h, w2, Tensor()}, o2 = {out[0]};
  std::vector<Tensor> r1 = {h}, r2 = {out[0]};
  Attrs none;
  const OpDef& lin = op("linear");
  const OpDef& rel = op("relu");
  long kernels = count_allocations([&] {
    lin.cpu(KernelArgs{i1, o1, none});
    rel.cpu(KernelArgs{r1, r1, none});
    lin.cpu(KernelArgs{i2, o2, none});
    rel.cpu(KernelArgs{r2, r2, none});
  });
  EXPECT_EQ(n, kernels) << plan.str();
  set_num_threads(threads);
}

}  // namespace
}  // namespace tandem::graph

#include <chrono>
#include <thread>

namespace tandem::graph {
namespace {

std::atomic<int> g_block_state{0};  // 0 idle, 1 kernel entered, 2 released

// A plan running on one thread refuses a second concurrent run (Error), then runs again.
TEST(PlanThreads, ConcurrentRunOfOnePlanIsAnError) {
  static const OpDef& block = [] {
    OpDef d;
    d.name = "plan_test_block";
    d.infer = infer_same_as_input;
    d.non_differentiable = true;
    d.doc = "test only: copies its input after waiting to be released";
    d.cpu = [](const KernelArgs& k) {
      if (g_block_state.load() == 0) {
        g_block_state.store(1);
        while (g_block_state.load() != 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      k.outputs[0].copy_(k.inputs[0]);
    };
    return std::cref(register_op(std::move(d)));
  }();
  Graph g;
  Value* x = g.add_input("x", DType::Float32, {4});
  g.set_outputs({g.add_node(block, {x})->output()});
  Plan plan = lower(g);
  Tensor xin = randn({4});
  g_block_state.store(0);
  std::vector<Tensor> first;
  std::thread t([&] { first = plan.run({xin}); });
  while (g_block_state.load() != 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(testing::throws_error([&] { plan.run({xin}); }, {"already running", "one call at a time"}));
  g_block_state.store(2);
  t.join();
  EXPECT_ALL_CLOSE(first.at(0), xin, 0.0, 0.0);
  EXPECT_ALL_CLOSE(plan.run({xin})[0], xin, 0.0, 0.0);
}

}  // namespace
}  // namespace tandem::graph
