// oneDNN primitives are cached process-wide, so kernels called from several threads at once
// (a server's workers, Python threads, DataLoader workers) run the same primitives at the
// same time. Each thread's results must equal the same computation run alone.
#include <thread>

#include "../../src/backend/cpu/onednn.h"
#include "grad_cases.h"

namespace tandem::testing {
namespace {

struct Results {
  Tensor mm_small, mm, lin, conv, conv_gx, conv_gw, pool;
};

// Matmuls of two sizes, linear with bias, a convolution with its gradients and a blocked
// max-pool: inputs depend on `seed`, so threads computing at once get different values.
Results compute(uint64_t seed) {
  Generator g(seed);
  Results r;
  Tensor s = randn({50, 50}, {}, &g);
  r.mm_small = matmul(s, s);
  Tensor a = randn({96, 160}, {}, &g), b = randn({160, 72}, {}, &g);
  r.mm = matmul(a, b);
  Tensor bias = randn({72}, {}, &g);
  r.lin = linear(a, b.t(), bias);
  Tensor x = randn({2, 16, 14, 14}, {}, &g).requires_grad_(true);
  Tensor w = randn({32, 16, 3, 3}, {}, &g).requires_grad_(true);
  r.conv = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  (r.conv * r.conv).sum().backward();
  r.conv = r.conv.detach();
  r.conv_gx = x.grad();
  r.conv_gw = w.grad();
  r.pool = max_pool2d(r.conv, {2, 2});
  return r;
}

void expect_same(const Results& got, const Results& want, int thread) {
  SCOPED_TRACE(fmt::format("thread {}", thread));
  EXPECT_ALL_CLOSE(got.mm_small, want.mm_small, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(got.mm, want.mm, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(got.lin, want.lin, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(got.conv, want.conv, 1e-4, 1e-5);
  EXPECT_ALL_CLOSE(got.conv_gx, want.conv_gx, 1e-4, 1e-5);
  EXPECT_ALL_CLOSE(got.conv_gw, want.conv_gw, 1e-4, 1e-5);
  EXPECT_ALL_CLOSE(got.pool, want.pool, 1e-4, 1e-5);
}

TEST(OneDnnThreads, CachedPrimitivesRunOnSeveralThreadsAtOnce) {
  constexpr int kThreads = 4, kRounds = 25;
  // Computed alone on this thread first: that also creates (and caches) every primitive here.
  std::vector<Results> want;
  for (int t = 0; t < kThreads; ++t) want.push_back(compute(100 + t));
  std::vector<std::vector<Results>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t, &got] {
      for (int i = 0; i < kRounds; ++i) got[t].push_back(compute(100 + t));
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(got[t].size(), static_cast<size_t>(kRounds));
    for (const Results& r : got[t]) expect_same(r, want[t], t);
  }
}

}  // namespace
}  // namespace tandem::testing
