// ZeRO-1 against plain Adam on the whole batch, and its per-rank optimizer memory.
#include "dist_test_util.h"

using namespace tandem;
using namespace tandem::testing;

TEST(Zero, EqualsAdamOnTheWholeBatchWithAShareOfTheState) {
  auto pg = world();
  const int R = pg->size(), rank = pg->rank();
  const int64_t B = 4;
  auto ref = make_mlp(7, 33);  // 33: the flat size is not a multiple of R (padding)
  optim::Adam ref_opt(ref->parameters(), {.lr = 1e-2, .weight_decay = 1e-3});
  auto local = make_mlp(7, 33);
  distributed::ZeroRedundancyOptimizer opt(local->parameters(), pg, [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2, .weight_decay = 1e-3});
  });
  for (int s = 0; s < 5; ++s) {
    Generator g(300 + static_cast<uint64_t>(s));
    Tensor x = randn({B * R, 8}, {}, &g), y = randint(0, 4, {B * R}, {.dtype = kInt64}, &g);
    ref_opt.zero_grad();
    cross_entropy((*ref)(x), y).backward();
    ref_opt.step();
    opt.zero_grad();
    cross_entropy((*local)(x.narrow(0, rank * B, B)), y.narrow(0, rank * B, B)).backward();
    opt.step();
  }
  auto want = ref->named_parameters();
  auto got = local->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(max_abs_diff(got[i].second, want[i].second), 1e-6) << got[i].first << " rank " << rank;

  // Adam's state: exp_avg and exp_avg_sq, 8 bytes per element in all; each rank holds a
  // slice of ceil(n / R) elements.
  int64_t total = 0;
  for (const Tensor& p : ref->parameters())
    for (const auto& [name, t] : ref_opt.state(p)->tensors) total += static_cast<int64_t>(t.nbytes());
  const int64_t n = local->num_parameters();
  EXPECT_EQ(opt.shard_numel(), (n + R - 1) / R);
  EXPECT_EQ(opt.state_bytes(), opt.shard_numel() * 8);
  EXPECT_NEAR(static_cast<double>(opt.state_bytes()), static_cast<double>(total) / R, 8.0 * R);
  Tensor sum = full({1}, static_cast<double>(opt.state_bytes()), {.dtype = kInt64});
  pg->all_reduce(sum);
  EXPECT_GE(sum.item<int64_t>(), total);
  EXPECT_LE(sum.item<int64_t>(), total + 8 * R);
}
