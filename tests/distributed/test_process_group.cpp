// Collectives of the MPI process group, checked against values every rank can compute.
// Runs under mpirun with any number of ranks (CTest runs 2 and 3).
#include <iostream>
#include <thread>

#include "dist_test_util.h"

using namespace tandem;
using namespace tandem::testing;
using distributed::ReduceOp;

TEST(ProcessGroup, RankSizeAndLocalRankComeFromMpi) {
  auto pg = world();
  EXPECT_EQ(std::to_string(pg->size()), std::getenv("OMPI_COMM_WORLD_SIZE"));
  EXPECT_EQ(std::to_string(pg->rank()), std::getenv("OMPI_COMM_WORLD_RANK"));
  EXPECT_EQ(std::to_string(pg->local_rank()), std::getenv("OMPI_COMM_WORLD_LOCAL_RANK"));
  EXPECT_EQ(pg->backend(), "mpi");
  EXPECT_EQ(distributed::ProcessGroup::find(pg->id()), pg);
}

TEST(ProcessGroup, AllReduceSumAvgMax) {
  auto pg = world();
  const int r = pg->rank(), n = pg->size();
  // rank r holds [r+1, 2(r+1), 3(r+1)]
  auto local = [&](DType dt) {
    const double k = r + 1.0;
    return tensor({k, 2 * k, 3 * k}, {.dtype = kFloat64}).to(dt);
  };
  const double s = n * (n + 1) / 2.0;
  Tensor a = local(kFloat32);
  pg->all_reduce(a, ReduceOp::kSum);
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{s, 2 * s, 3 * s}));
  Tensor b = local(kFloat64);
  pg->all_reduce(b, ReduceOp::kAvg);
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{s / n, 2 * s / n, 3 * s / n}));
  Tensor c = local(kInt64);
  pg->all_reduce(c, ReduceOp::kMax);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{n, 2 * n, 3 * n}));
}

TEST(ProcessGroup, BroadcastFromEveryRoot) {
  auto pg = world();
  for (int root = 0; root < pg->size(); ++root) {
    Tensor t = full({5}, static_cast<double>(pg->rank() * 10 + 7));
    pg->broadcast(t, root);
    EXPECT_EQ(t.to_vector<double>(), std::vector<double>(5, root * 10 + 7)) << "root " << root;
  }
}

TEST(ProcessGroup, AllGatherConcatenatesInRankOrder) {
  auto pg = world();
  Tensor in = full({2}, static_cast<double>(pg->rank()), {.dtype = kFloat64});
  Tensor out = zeros({2 * pg->size()}, {.dtype = kFloat64});
  pg->all_gather(out, in);
  std::vector<double> want;
  for (int r = 0; r < pg->size(); ++r) want.insert(want.end(), {double(r), double(r)});
  EXPECT_EQ(out.to_vector<double>(), want);
}

TEST(ProcessGroup, ReduceScatterGivesEachRankItsSlice) {
  auto pg = world();
  const int n = pg->size();
  // in[i] = i + rank: slice r of the sum is sum over ranks of (i + rank) for i in slice r.
  Tensor in = arange(0, 3 * n).to(kFloat32).add_(static_cast<double>(pg->rank()));
  Tensor out = zeros({3});
  pg->reduce_scatter(out, in, ReduceOp::kSum);
  std::vector<double> want;
  for (int i = 3 * pg->rank(); i < 3 * pg->rank() + 3; ++i) want.push_back(n * i + n * (n - 1) / 2.0);
  EXPECT_EQ(out.to_vector<double>(), want);
  Tensor avg = zeros({3});
  pg->reduce_scatter(avg, in, ReduceOp::kAvg);
  for (double& w : want) w /= n;
  EXPECT_EQ(avg.to_vector<double>(), want);
}

TEST(ProcessGroup, AsyncCollectivesCompleteInAnyWaitOrder) {
  auto pg = world();
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<distributed::Work>> works;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(full({1000}, 1.0 + i));
    works.push_back(pg->all_reduce_async(ts.back(), ReduceOp::kSum));
  }
  works.push_back(pg->barrier_async());
  for (size_t i = works.size(); i-- > 0;) works[i]->wait();
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(works[static_cast<size_t>(i)]->is_completed());
    EXPECT_EQ(ts[static_cast<size_t>(i)].to_vector<double>()[999], (1.0 + i) * pg->size());
    EXPECT_GT(works[static_cast<size_t>(i)]->finished_at(), 0.0);
    EXPECT_GE(works[static_cast<size_t>(i)]->finished_at(), works[static_cast<size_t>(i)]->started_at());
  }
}

TEST(ProcessGroup, LargeAllReduce) {
  auto pg = world();
  Tensor t = full({3 << 20}, 0.5);  // 12 MB
  pg->all_reduce(t, ReduceOp::kSum);
  auto v = t.to_vector<float>();
  EXPECT_EQ(v.front(), 0.5f * pg->size());
  EXPECT_EQ(v.back(), 0.5f * pg->size());
  EXPECT_GE(pg->stats().bytes, int64_t{12} << 20);
}

TEST(ProcessGroup, BadTensorsAreErrorsBeforeAnyCommunication) {
  auto pg = world();
  EXPECT_TRUE(throws_error([&] { pg->all_reduce(randn({3, 4}).t()); }, {"all_reduce", "contiguous"}));
  EXPECT_TRUE(throws_error([&] { pg->all_reduce(Tensor()); }, {"undefined"}));
  EXPECT_TRUE(throws_error([&] { pg->all_reduce(zeros({2}, {.dtype = kInt64}), ReduceOp::kAvg); },
                           {"kAvg", "floating"}));
  EXPECT_TRUE(throws_error([&] { pg->broadcast(zeros({2}), pg->size()); }, {"root"}));
  EXPECT_TRUE(throws_error([&] { pg->all_gather(zeros({3}), zeros({2})); }, {"all_gather"}));
  // The group still works afterwards.
  Tensor t = ones({1});
  pg->all_reduce(t);
  EXPECT_EQ(t.item<double>(), pg->size());
}

// Run alone (tests/distributed/run_failure.sh): the last rank stalls; the others must fail
// within the timeout with an error naming it, instead of hanging.
TEST(Failure, StalledRankIsNamedWithinTheTimeout) {
  auto pg = world();
  pg->set_timeout(std::chrono::milliseconds(1500));
  const int last = pg->size() - 1;
  Tensor t = ones({4});
  if (pg->rank() == last) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    return;
  }
  const double t0 = distributed::seconds_since_start();
  std::string message;
  try {
    pg->all_reduce(t);
  } catch (const Error& e) {
    message = e.what();
  }
  std::cout << "rank " << pg->rank() << " got: " << message << std::endl;  // run_stall.sh reads it
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("rank {} has not joined", last)), std::string::npos) << message;
  EXPECT_LT(distributed::seconds_since_start() - t0, 5.0);
  // Broken for good: later collectives fail at once, with the first error.
  EXPECT_TRUE(throws_error([&] { pg->barrier(); }, {"failed earlier", fmt::format("rank {}", last)}));
}
