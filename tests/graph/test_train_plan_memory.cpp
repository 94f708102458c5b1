// A compiled training step (the zoo CNN, cross-entropy, Adam) runs as a Plan: activations,
// gradients and temporaries in one arena with planned lifetimes, parameters and Adam's state
// updated in place. Its results equal the same compiled step run by the interpreter (every
// intermediate a fresh tensor) bit for bit, and the arena is smaller than the step's eager
// peak (each intermediate freed after its last use).
#include "compile_train_util.h"
#include "tandem/compile.h"
#include "tandem/graph/plan.h"
#include "tandem/memory.h"
#include "tandem/models.h"
#include "test_util.h"

namespace tandem {
namespace {

using testing::batches;
using testing::train_step;

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

TEST(TrainPlanMemory, CnnAdamPlannedStepEqualsInterpretedStepBitForBit) {
  manual_seed(3);
  auto planned_model = models::create("cnn");
  manual_seed(3);
  auto interp_model = models::create("cnn");
  optim::Adam planned_opt(planned_model->parameters(), {.lr = 1e-3});
  optim::Adam interp_opt(interp_model->parameters(), {.lr = 1e-3});
  CompileOptions planned_options{.modules = {planned_model}};
  CompileOptions interp_options{.modules = {interp_model}};
  interp_options.use_plan = false;
  auto planned = compile(train_step(*planned_model, planned_opt), planned_options);
  auto interp = compile(train_step(*interp_model, interp_opt), interp_options);
  auto data = batches(4, 16, 9);
  int64_t planned_allocs = 0, interp_allocs = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    int64_t a0 = memory_stats().num_allocs;
    Tensor lp = planned(data[i].x, data[i].y);
    int64_t a1 = memory_stats().num_allocs;
    Tensor li = interp(data[i].x, data[i].y);
    int64_t a2 = memory_stats().num_allocs;
    if (i > 0) {  // the first call traces both
      planned_allocs += a1 - a0;
      interp_allocs += a2 - a1;
    }
    EXPECT_EQ(values(lp), values(li)) << "loss, step " << i;
  }
  EXPECT_EQ(planned.stats().traces, 1);
  // The plan ran: its intermediates come from the arena, the interpreter's from the allocator.
  EXPECT_LT(planned_allocs * 2, interp_allocs) << planned_allocs << " vs " << interp_allocs;
  auto pp = planned_model->named_parameters(), pi = interp_model->named_parameters();
  ASSERT_EQ(pp.size(), pi.size());
  for (size_t k = 0; k < pp.size(); ++k) {
    EXPECT_EQ(values(pp[k].second), values(pi[k].second)) << pp[k].first;
    EXPECT_EQ(values(pp[k].second.grad()), values(pi[k].second.grad())) << "grad of " << pp[k].first;
  }
  auto sp = planned_opt.state_dict(), si = interp_opt.state_dict();
  ASSERT_EQ(sp.tensors.size(), si.tensors.size());
  for (auto& [name, t] : sp.tensors) EXPECT_EQ(values(t), values(si.tensors.at(name))) << name;

  graph::LowerOptions lo;
  lo.input_shapes = {data[0].x.shape(), data[0].y.shape()};
  lo.allocate = false;
  graph::MemoryStats m = graph::lower(planned.graph(), lo).memory();
  EXPECT_GT(m.num_buffers, 0);
  EXPECT_LT(m.arena_bytes, m.eager_peak_bytes) << "arena " << m.arena_bytes << " eager " << m.eager_peak_bytes;
}

}  // namespace
}  // namespace tandem
