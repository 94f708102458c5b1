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

namespace {
// One Adam step of `model` on rows [lo, lo + n) of a seeded batch of `rows`.
void adam_step(nn::Module& model, optim::Optimizer& opt, uint64_t seed, int64_t rows, int64_t lo,
               int64_t n) {
  Generator g(seed);
  Tensor x = randn({rows, 8}, {}, &g), y = randint(0, 4, {rows}, {.dtype = kInt64}, &g);
  opt.zero_grad();
  cross_entropy(model(x.narrow(0, lo, n)), y.narrow(0, lo, n)).backward();
  opt.step();
}
}  // namespace

// The checkpoint of a sharded optimizer is Adam's own, whatever the world size: rank 0's
// consolidated state equals an unsharded Adam's, and that state loaded into a fresh sharded
// optimizer continues the same run.
TEST(Zero, StateDictIsTheUnshardedOptimizersAndLoadsOnAnyWorldSize) {
  auto pg = world();
  const int R = pg->size(), rank = pg->rank();
  const int64_t B = 4;
  auto adam = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2, .weight_decay = 1e-3});
  };
  auto ref = make_mlp(9, 33);
  auto ref_opt = adam(ref->parameters());
  auto local = make_mlp(9, 33);
  distributed::ZeroRedundancyOptimizer opt(local->parameters(), pg, adam);
  for (uint64_t s = 0; s < 3; ++s) {
    adam_step(*ref, *ref_opt, 500 + s, B * R, 0, B * R);
    adam_step(*local, opt, 500 + s, B * R, rank * B, B);
  }
  if (R > 1) EXPECT_THROW(opt.state_dict(), Error);  // not consolidated
  opt.consolidate_state_dict(0);
  if (rank == 0) {
    StateDict got = opt.state_dict(), want = ref_opt->state_dict();
    EXPECT_EQ(got.metadata, want.metadata);
    ASSERT_EQ(got.tensors.size(), want.tensors.size());
    for (const auto& [key, t] : want.tensors) {
      ASSERT_TRUE(got.tensors.count(key)) << key;
      EXPECT_EQ(got.tensors[key].shape(), t.shape()) << key;
      EXPECT_LE(max_abs_diff(got.tensors[key].to(kFloat64), t.to(kFloat64)), 1e-6) << key;
    }
  } else {
    EXPECT_THROW(opt.state_dict(), Error);
  }

  // Re-shard: the unsharded state into a fresh sharded optimizer, then two more steps each.
  auto resumed = make_mlp(1, 33);
  resumed->load_state_dict(ref->state_dict());
  distributed::ZeroRedundancyOptimizer opt2(resumed->parameters(), pg, adam);
  opt2.load_state_dict(ref_opt->state_dict());
  for (uint64_t s = 3; s < 5; ++s) {
    adam_step(*ref, *ref_opt, 500 + s, B * R, 0, B * R);
    adam_step(*resumed, opt2, 500 + s, B * R, rank * B, B);
  }
  auto want = ref->named_parameters();
  auto got = resumed->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(max_abs_diff(got[i].second, want[i].second), 1e-6) << got[i].first << " rank " << rank;
  // A state for other parameters is refused with a message, not a crash.
  StateDict wrong = ref_opt->state_dict();
  wrong.tensors.begin()->second = zeros({3});
  EXPECT_THROW(opt2.load_state_dict(wrong), Error);
}
