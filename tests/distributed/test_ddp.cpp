// DistributedDataParallel against one process: R ranks, each on its slice of a batch, must
// end with the parameters one process gets from the whole batch (within 1e-6).
#include "dist_test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

enum class Opt { kSgd, kAdam };
enum class Model { kMlp, kCnn };

std::unique_ptr<optim::Optimizer> make_opt(Opt o, std::vector<Tensor> params) {
  if (o == Opt::kSgd)
    return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  return std::make_unique<optim::Adam>(std::move(params), optim::AdamOptions{.lr = 1e-2});
}

// Step s's global batch (the same on every rank): R * per_rank rows.
std::pair<Tensor, Tensor> global_batch(Model m, int64_t rows, int step) {
  Generator g(1000 + static_cast<uint64_t>(step));
  Tensor x = m == Model::kMlp ? randn({rows, 8}, {}, &g) : randn({rows, 1, 8, 8}, {}, &g);
  Tensor y = randint(0, 4, {rows}, {.dtype = kInt64}, &g);
  return {x, y};
}

struct Case {
  Opt opt;
  Model model;
  bool compiled;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(info.param.model == Model::kMlp ? "Mlp" : "CnnBatchNorm") +
         (info.param.opt == Opt::kSgd ? "Sgd" : "Adam") + (info.param.compiled ? "Compiled" : "Eager");
}

class DdpMatchesOneProcess : public ::testing::TestWithParam<Case> {};

TEST_P(DdpMatchesOneProcess, FiveSteps) {
  const Case c = GetParam();
  auto pg = world();
  const int R = pg->size(), rank = pg->rank();
  const int64_t B = 4;
  auto make = [&](uint64_t seed) { return c.model == Model::kMlp ? make_mlp(seed) : make_cnn(seed); };

  // One process on the whole batch. With BatchNorm, each rank normalizes its own slice (as
  // PyTorch's DDP without SyncBatchNorm), so the reference runs the slices as micro-batches
  // of one step: the same gradient, sum over slices of loss / R.
  auto ref = make(1);
  auto ref_opt = make_opt(c.opt, ref->parameters());
  // Every rank starts from different weights: DDP must broadcast rank 0's (seed 1).
  auto local = make(1 + static_cast<uint64_t>(rank));
  auto ddp = std::make_shared<distributed::DistributedDataParallel>(local, pg);
  auto opt = make_opt(c.opt, ddp->parameters());
  auto eager_step = [&](const Tensor& x, const Tensor& y) {
    opt->zero_grad();
    Tensor loss = cross_entropy((*ddp)(x), y);
    loss.backward();
    opt->step();
    return loss;
  };
  auto compiled = compile(eager_step, {.modules = {ddp}});
  for (int s = 0; s < 5; ++s) {
    auto [x, y] = global_batch(c.model, B * R, s);
    ref_opt->zero_grad();
    if (c.model == Model::kMlp) {
      cross_entropy((*ref)(x), y).backward();
    } else {
      for (int r = 0; r < R; ++r)
        (cross_entropy((*ref)(x.narrow(0, r * B, B)), y.narrow(0, r * B, B)) / double(R)).backward();
    }
    ref_opt->step();
    Tensor xs = x.narrow(0, rank * B, B).contiguous(), ys = y.narrow(0, rank * B, B).contiguous();
    if (c.compiled) compiled(xs, ys);
    else eager_step(xs, ys);
  }
  auto want = ref->named_parameters();
  auto got = local->named_parameters();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_LE(max_abs_diff(got[i].second, want[i].second), 1e-6) << got[i].first << " on rank " << rank;
  if (c.compiled) EXPECT_GE(compiled.stats().cache_hits, 1) << "the graph did not run";
}

INSTANTIATE_TEST_SUITE_P(
    Ddp, DdpMatchesOneProcess,
    ::testing::Values(Case{Opt::kSgd, Model::kMlp, false}, Case{Opt::kAdam, Model::kMlp, false},
                      Case{Opt::kSgd, Model::kMlp, true}, Case{Opt::kAdam, Model::kMlp, true},
                      Case{Opt::kSgd, Model::kCnn, false}, Case{Opt::kAdam, Model::kCnn, false},
                      Case{Opt::kSgd, Model::kCnn, true}, Case{Opt::kAdam, Model::kCnn, true}),
    case_name);

}  // namespace

TEST(Ddp, BroadcastsParametersAndBuffersFromRankZero) {
  auto pg = world();
  auto m = make_cnn(10 + static_cast<uint64_t>(pg->rank()));
  for (auto& [name, b] : m->named_buffers())
    if (b.is_floating_point()) b.fill_(pg->rank() + 1.0);
  distributed::DistributedDataParallel ddp(m, pg);
  auto rank0 = make_cnn(10);
  auto want = rank0->named_parameters();
  auto got = m->named_parameters();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(max_abs_diff(got[i].second, want[i].second), 0.0);
  for (auto& [name, b] : m->named_buffers())
    if (b.is_floating_point()) EXPECT_EQ(b.to_vector<double>(), std::vector<double>(b.numel(), 1.0)) << name;
  EXPECT_EQ(ddp.named_parameters().front().first.rfind("module.", 0), 0u);
}

TEST(Ddp, NoSyncAccumulationEqualsOneStepOnTheCombinedBatch) {
  auto pg = world();
  const int R = pg->size(), rank = pg->rank();
  const int64_t B = 3, K = 3;  // K micro-steps of B rows per rank
  auto ref = make_mlp(5);
  optim::SGD ref_opt(ref->parameters(), {.lr = 0.5});
  auto local = make_mlp(5);
  auto ddp = std::make_shared<distributed::DistributedDataParallel>(local, pg);
  optim::SGD opt(ddp->parameters(), {.lr = 0.5});
  std::vector<std::pair<Tensor, Tensor>> micro;
  for (int k = 0; k < K; ++k) micro.push_back(global_batch(Model::kMlp, B * R, 50 + k));
  // Reference: the sum over micro-steps of the mean loss over all ranks' rows.
  for (auto& [x, y] : micro) cross_entropy((*ref)(x), y).backward();
  ref_opt.step();
  for (int k = 0; k < K; ++k) {
    Tensor x = micro[k].first.narrow(0, rank * B, B), y = micro[k].second.narrow(0, rank * B, B);
    if (k + 1 < K) {
      auto guard = ddp->no_sync();
      cross_entropy((*ddp)(x), y).backward();
    } else {
      cross_entropy((*ddp)(x), y).backward();
    }
  }
  opt.step();
  auto want = ref->named_parameters();
  auto got = local->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(max_abs_diff(got[i].second, want[i].second), 1e-6) << got[i].first;
}

TEST(Ddp, NoSyncStepsIssueNoCollectives) {
  auto pg = world();
  auto ddp = std::make_shared<distributed::DistributedDataParallel>(make_mlp(3), pg);
  const int64_t before = pg->stats().collectives;
  {
    auto guard = ddp->no_sync();
    cross_entropy((*ddp)(randn({4, 8})), randint(0, 4, {4}, {.dtype = kInt64})).backward();
  }
  EXPECT_EQ(pg->stats().collectives, before);
  cross_entropy((*ddp)(randn({4, 8})), randint(0, 4, {4}, {.dtype = kInt64})).backward();
  EXPECT_EQ(pg->stats().collectives, before + static_cast<int64_t>(ddp->reducer().buckets().size()));
}

namespace {
struct TwoHeads : nn::Module {
  std::shared_ptr<nn::Linear> used, unused;
  TwoHeads() : Module("TwoHeads") {
    manual_seed(0);
    used = register_module("used", std::make_shared<nn::Linear>(8, 4));
    unused = register_module("unused", std::make_shared<nn::Linear>(8, 4));
  }
  Tensor forward(const Tensor& x) override { return (*used)(x); }
};
}  // namespace

TEST(Ddp, ParameterWithoutGradientIsAnErrorNamingIt) {
  auto pg = world();
  auto ddp = std::make_shared<distributed::DistributedDataParallel>(std::make_shared<TwoHeads>(), pg);
  EXPECT_TRUE(throws_error([&] { (*ddp)(randn({2, 8})).sum().backward(); },
                           {"unused.weight", "unused.bias", "find_unused_parameters"}));
}

TEST(Ddp, FindUnusedParametersAllReducesZeros) {
  auto pg = world();
  auto net = std::make_shared<TwoHeads>();
  auto ddp = std::make_shared<distributed::DistributedDataParallel>(
      net, pg, distributed::DDPOptions{.find_unused_parameters = true});
  Generator g(static_cast<uint64_t>(pg->rank()));
  Tensor x = randn({2, 8}, {}, &g);
  (*ddp)(x).sum().backward();
  EXPECT_EQ(net->unused->weight.grad().abs().sum().item<double>(), 0.0);
  // The used head's gradient is the mean over ranks: sum over rows of x, averaged.
  Tensor local = x.sum({0});
  pg->all_reduce(local, distributed::ReduceOp::kAvg);
  EXPECT_LE(max_abs_diff(net->used->weight.grad()[0], local), 1e-6);
}

namespace {
// The last layers (small) fill the 1 MB first bucket while backward still has the first
// layer's large matmuls ahead of it (~1 GFLOP, tens of ms even with more ranks than cores),
// so the communication thread issues that bucket well before backward ends.
std::shared_ptr<distributed::DistributedDataParallel> overlap_net(
    std::shared_ptr<distributed::ProcessGroup> pg) {
  manual_seed(0);
  auto net = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(1024, 512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(512, 512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(512, 10));
  return std::make_shared<distributed::DistributedDataParallel>(net, pg);
}
}  // namespace

TEST(Ddp, FirstAllReduceStartsBeforeBackwardEnds) {
  auto pg = world();
  auto ddp = overlap_net(pg);
  ASSERT_GE(ddp->reducer().buckets().size(), 2u);
  Tensor x = randn({1024, 1024});
  for (int i = 0; i < 2; ++i) cross_entropy((*ddp)(x), randint(0, 10, {1024}, {.dtype = kInt64})).backward();
  const auto& t = ddp->reducer().last_timing();
  EXPECT_GT(t.first_allreduce_start, t.first_hook);
  EXPECT_LT(t.first_allreduce_start, t.backward_end)
      << "first all-reduce issued " << (t.first_allreduce_start - t.backward_end) * 1e3
      << " ms after backward ended";
  EXPECT_GE(t.all_done, t.backward_end);
}

// The compiled step: one start op per bucket, placed in the graph right after the backward op
// that completes the bucket, so the first bucket's all-reduce runs while the plan executes
// the rest of backward; the waits come after backward, before the optimizer update.
TEST(Ddp, CompiledStepStartsFirstAllReduceBeforeBackwardEnds) {
  auto pg = world();
  if (pg->size() == 1) GTEST_SKIP() << "one rank: no all-reduce";
  auto ddp = overlap_net(pg);
  const size_t nb = ddp->reducer().buckets().size();
  ASSERT_GE(nb, 2u);
  optim::SGD opt(ddp->parameters(), {.lr = 1e-3});
  auto step = compile(
      [&](const Tensor& x, const Tensor& y) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*ddp)(x), y);
        loss.backward();
        opt.step();
        return loss;
      },
      {.modules = {ddp}});
  Tensor x = randn({1024, 1024}), y = randint(0, 10, {1024}, {.dtype = kInt64});
  for (int i = 0; i < 3; ++i) step(x, y);
  EXPECT_GE(step.stats().cache_hits, 2) << "the graph did not run";
  // Graph order: start of bucket 0, then backward ops (the first layer's gradient), then the waits.
  std::vector<std::string> order;
  for (const graph::Node* n : step.graph().nodes()) order.push_back(n->op->name);
  auto first = [&](const std::string& name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  EXPECT_EQ(std::count(order.begin(), order.end(), "distributed_bucket_start"), static_cast<long>(nb));
  EXPECT_EQ(std::count(order.begin(), order.end(), "distributed_bucket_wait"), static_cast<long>(nb));
  const auto start0 = first("distributed_bucket_start"), wait0 = first("distributed_bucket_wait");
  ASSERT_LT(start0, wait0);
  long compute_between = 0;
  for (auto i = start0 + 1; i < wait0; ++i)
    compute_between += order[static_cast<size_t>(i)].rfind("distributed_", 0) != 0;
  EXPECT_GT(compute_between, 0) << "nothing of backward left after the first bucket's start";
  for (auto i = wait0; i < static_cast<long>(order.size()); ++i)
    EXPECT_NE(order[static_cast<size_t>(i)], "distributed_bucket_start") << "a start after a wait";
  const auto& t = ddp->reducer().last_timing();
  EXPECT_GT(t.first_allreduce_start, t.first_hook);
  EXPECT_LT(t.first_allreduce_start, t.backward_end)
      << "first all-reduce issued " << (t.first_allreduce_start - t.backward_end) * 1e3
      << " ms after the compiled backward ended";
  EXPECT_GE(t.all_done, t.backward_end);
}

TEST(Ddp, BucketsFollowReverseRegistrationOrderAndCaps) {
  auto pg = world();
  manual_seed(0);
  // Three 1 MB weights (+ biases), caps 1 MB first, 2 MB after.
  auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(512, 512),
                                              std::make_shared<nn::Linear>(512, 512),
                                              std::make_shared<nn::Linear>(512, 512));
  auto r = distributed::Reducer::make(net->named_parameters(), pg,
                                      {.bucket_cap_mb = 2.5, .first_bucket_cap_mb = 1.0});
  const auto& b = r->buckets();
  ASSERT_EQ(b.size(), 3u);
  // First bucket: the last bias, then the last weight would pass 1 MB: alone.
  EXPECT_EQ(b[0].params, (std::vector<size_t>{5}));
  EXPECT_EQ(b[1].params, (std::vector<size_t>{4, 3, 2, 1}));
  EXPECT_EQ(b[2].params, (std::vector<size_t>{0}));
}
