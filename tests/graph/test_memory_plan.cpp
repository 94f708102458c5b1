// Memory planning: no two buffers live at the same step overlap in the arena (every pair
// checked) on random lifetimes, random graphs and the zoo models; random graphs run through
// the plan give the eager results with and without in-place rewriting.
#include <random>

#include "plan_recorder.h"
#include "tandem/graph/plan.h"
#include "test_util.h"

namespace tandem::graph {
namespace {

using testing::PlanRecorder;

::testing::AssertionResult no_live_overlap(const std::vector<Plan::PlannedBuffer>& bufs, size_t arena) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto& a = bufs[i];
    if (a.offset % 64 != 0) return ::testing::AssertionFailure() << "buffer " << i << " offset " << a.offset;
    if (a.offset + a.bytes > arena) return ::testing::AssertionFailure() << "buffer " << i << " past the arena";
    for (size_t j = i + 1; j < bufs.size(); ++j) {
      const auto& b = bufs[j];
      bool live_together = a.first <= b.last && b.first <= a.last;
      bool overlap = a.bytes && b.bytes && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (live_together && overlap)
        return ::testing::AssertionFailure() << "buffers " << i << " [" << a.first << "," << a.last << "] @"
                                             << a.offset << "+" << a.bytes << " and " << j << " [" << b.first
                                             << "," << b.last << "] @" << b.offset << "+" << b.bytes;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(MemoryPlan, RandomLifetimesNeverOverlapWhileLive) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    int n = 1 + rng() % 40, steps = 1 + rng() % 30;
    std::vector<BufferLifetime> lt;
    std::vector<Plan::PlannedBuffer> as_planned;
    for (int i = 0; i < n; ++i) {
      int a = rng() % steps, b = rng() % steps;
      lt.push_back({static_cast<size_t>(rng() % 5000), std::min(a, b), std::max(a, b)});
    }
    ArenaLayout layout = plan_arena(lt);
    size_t naive = 0;
    for (int i = 0; i < n; ++i) {
      as_planned.push_back({layout.offsets[i], lt[i].bytes, lt[i].first, lt[i].last});
      naive += (lt[i].bytes + 63) / 64 * 64;
    }
    ASSERT_TRUE(no_live_overlap(as_planned, layout.arena_bytes)) << "trial " << trial;
    EXPECT_GE(layout.arena_bytes, layout.live_peak_bytes);
    EXPECT_LE(layout.arena_bytes, naive);
  }
}

TEST(MemoryPlan, DisjointLifetimesShareOneSlot) {
  ArenaLayout l = plan_arena({{100, 0, 1}, {64, 2, 3}, {128, 4, 4}, {10, 1, 2}});
  EXPECT_EQ(l.arena_bytes, 192u);  // 128 + 64: the chain reuses offset 0, the 10-byte one sits above
  EXPECT_EQ(l.live_peak_bytes, 192u);
}

// Random graphs over a few shapes: unary, binary (with broadcast), matmul, views (transpose,
// reshape, slice, expand), reductions, cat; a random subset of values are outputs.
struct RandomGraph {
  PlanRecorder rec;
  std::vector<Tensor> inputs, eager;
};

void build_random(RandomGraph& r, std::mt19937& rng) {
  Tensor a = randn({4, 6}), b = randn({4, 6}), c = randn({6, 4});
  r.inputs = {a, b, c};
  r.rec.input("a", a);
  r.rec.input("b", b);
  r.rec.input("c", c);
  r.eager = r.rec.record([&] {
    std::vector<Tensor> p46 = {a, b}, p64 = {c};
    auto pick = [&](std::vector<Tensor>& pool) { return pool[rng() % pool.size()]; };
    int n = 6 + rng() % 20;
    for (int i = 0; i < n; ++i) {
      bool tall = rng() % 3 == 0;
      std::vector<Tensor>& pool = tall ? p64 : p46;
      std::vector<Tensor>& other = tall ? p46 : p64;
      Tensor y;
      switch (rng() % 12) {
        case 0: y = relu(pick(pool)); break;
        case 1: y = tanh(pick(pool)); break;
        case 2: y = neg(pick(pool)); break;
        case 3: y = add(pick(pool), pick(pool)); break;
        case 4: y = mul(pick(pool), pick(pool)); break;
        case 5: y = sub(pick(pool), sum(pick(pool), {1}, true)); break;
        case 6: other.push_back(pick(pool).t()); continue;                       // view
        case 7: y = matmul(pick(pool), pick(other)).narrow(1, 0, 1).expand(pick(pool).shape()) * 0.5;
                break;                                                            // views + broadcast
        case 8: other.push_back(pick(pool).reshape(other[0].shape())); continue;  // view
        case 9: y = cat({pick(pool), pick(pool)}, 0).slice(0, 1, pool[0].size(0) * 2, 2); break;
        case 10: y = sigmoid(pick(pool)) * pick(pool); break;
        default: y = softmax(pick(pool), 1); break;
      }
      pool.push_back(y);
    }
    std::vector<Tensor> outs;
    std::vector<Tensor> all = p46;
    all.insert(all.end(), p64.begin(), p64.end());
    int k = 1 + rng() % 3;
    for (int i = 0; i < k; ++i) outs.push_back(all[all.size() - 1 - rng() % std::min<size_t>(all.size(), 6)]);
    return outs;
  });
}

TEST(MemoryPlan, RandomGraphsMatchEagerAndNeverOverlap) {
  std::mt19937 rng(11);
  manual_seed(11);
  for (int trial = 0; trial < 60; ++trial) {
    RandomGraph r;
    build_random(r, rng);
    for (bool inplace : {false, true}) {
      LowerOptions o;
      o.inplace = inplace;
      Plan plan = lower(r.rec.graph, o);
      ASSERT_TRUE(no_live_overlap(plan.arena_buffers(), plan.arena_bytes())) << plan.str();
      EXPECT_LE(plan.arena_bytes(), plan.memory().naive_bytes);
      for (int rep = 0; rep < 2; ++rep) {
        std::vector<Tensor> outs = plan.run(r.inputs);
        for (size_t k = 0; k < outs.size(); ++k)
          ASSERT_TRUE(testing::all_close(outs[k], r.eager[k], 0.0, 0.0))
              << "trial " << trial << " output " << k << " inplace " << inplace << "\n"
              << r.rec.graph.str() << plan.str();
      }
    }
  }
}

TEST(MemoryPlan, ZooModelsPackWithoutOverlap) {
  for (const char* name : {"mlp", "cnn", "resnet"}) {
    manual_seed(3);
    auto model = models::create(name);
    model->eval();
    NoGradGuard ng;
    Tensor x = randn({16, 1, 28, 28});
    PlanRecorder rec;
    rec.input("x", x);
    for (auto& [n, p] : model->named_parameters()) rec.variable(n, p);
    for (auto& [n, b] : model->named_buffers()) rec.variable(n, b);
    rec.record([&] { return std::vector<Tensor>{(*model)(x)}; });
    Plan plan = lower(rec.graph);
    EXPECT_TRUE(no_live_overlap(plan.arena_buffers(), plan.arena_bytes())) << name << "\n" << plan.str();
    const MemoryStats& m = plan.memory();
    EXPECT_GE(plan.arena_bytes(), m.live_peak_bytes) << name;
    EXPECT_LT(plan.arena_bytes(), m.naive_bytes) << name;
    RecordProperty(std::string(name) + "_arena_naive_eager",
                   fmt::format("{} {} {}", m.arena_bytes, m.naive_bytes, m.eager_peak_bytes));
    std::printf("%s batch 16: arena %zu B, naive %zu B, eager peak %zu B, %d in place\n", name, m.arena_bytes,
                m.naive_bytes, m.eager_peak_bytes, m.num_inplace);
  }
}

}  // namespace
}  // namespace tandem::graph
