// DistributedSampler against torch.utils.data.DistributedSampler's indices
// (tests/reference/gen_distributed.py), and IterableDataset sharding.
#include <fstream>

#include <nlohmann/json.hpp>

#include "dist_test_util.h"

using namespace tandem;
using namespace tandem::testing;

TEST(DistributedSampler, IndicesEqualPyTorchs) {
  std::ifstream f(std::string(TANDEM_TEST_DATA_DIR) + "/distributed/sampler.json");
  ASSERT_TRUE(f) << "missing tests/data/distributed/sampler.json";
  auto j = nlohmann::json::parse(f);
  ASSERT_GE(j["cases"].size(), 30u);
  for (const auto& c : j["cases"]) {
    distributed::DistributedSampler s(c["n"].get<int64_t>(),
                                      {.num_replicas = c["num_replicas"].get<int64_t>(),
                                       .rank = c["rank"].get<int64_t>(),
                                       .shuffle = c["shuffle"].get<bool>(),
                                       .seed = c["seed"].get<uint64_t>(),
                                       .drop_last = c["drop_last"].get<bool>()});
    s.set_epoch(c["epoch"].get<int64_t>());
    auto want = c["indices"].get<std::vector<int64_t>>();
    EXPECT_EQ(s.indices(), want) << c.dump().substr(0, 160);
    EXPECT_EQ(s.num_samples(), static_cast<int64_t>(want.size()));
  }
}

TEST(DistributedSampler, RanksPartitionTheEpochAndEpochsDiffer) {
  const int64_t n = 103, r = 4;
  std::vector<int> seen(n, 0);
  for (int64_t rank = 0; rank < r; ++rank) {
    distributed::DistributedSampler s(n, {.num_replicas = r, .rank = rank, .seed = 9, .drop_last = true});
    s.set_epoch(2);
    for (int64_t i : s.indices()) seen[static_cast<size_t>(i)]++;
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 100);  // drop_last: 3 left out, none twice
  distributed::DistributedSampler a(n, {.num_replicas = r, .rank = 0}), b(n, {.num_replicas = r, .rank = 0});
  b.set_epoch(1);
  EXPECT_NE(a.indices(), b.indices());
}

TEST(DistributedSampler, BadOptionsAreErrors) {
  EXPECT_TRUE(throws_error([] { distributed::DistributedSampler(10, {.num_replicas = 2, .rank = 2}); },
                           {"rank 2", "[0, 1]"}));
  EXPECT_TRUE(throws_error([] { distributed::DistributedSampler(10, {.num_replicas = 0}); },
                           {"num_replicas"}));
}

namespace {
struct Counting : data::IterableDataset {
  int64_t i = 0, n;
  explicit Counting(int64_t n) : n(n) {}
  std::optional<data::Example> next() override {
    if (i >= n) return std::nullopt;
    return data::Example{full({1}, static_cast<double>(i++)), Tensor()};
  }
  void reset() override { i = 0; }
};
}  // namespace

TEST(DistributedSampler, IterableDatasetShardsTakeEveryRthExample) {
  auto inner = std::make_shared<Counting>(10);
  distributed::ShardedIterableDataset shard(inner, 3, 1);
  for (int pass = 0; pass < 2; ++pass) {
    shard.reset();
    std::vector<double> got;
    while (auto ex = shard.next()) got.push_back(ex->data.item<double>());
    EXPECT_EQ(got, (std::vector<double>{1, 4, 7}));
  }
}
