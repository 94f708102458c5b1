// SqlDataset at scale and in training, for SQLite and PostgreSQL: a 1M-row table streamed with
// bounded memory, and an MLP trained from a database step for step like from the IDX files.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "sql_test_util.h"
#include "tandem/data.h"
#include "tandem/data/sql.h"
#include "tandem/models.h"
#include "tandem/ops.h"
#include "tandem/optim.h"
#include "tandem/train/fit.h"

namespace tandem::data {
namespace {

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

using SqlScale = testing::SqlBackendTest;

TEST_P(SqlScale, MillionRowsStreamWithBoundedMemoryAndExactSums) {
  const int64_t n = 1000000;
  std::string cols, defs;
  for (int k = 0; k < 16; ++k) {
    // Multiples of 1/8 below 2^20: exact in float32 and in double sums.
    cols += fmt::format(", ((i * {} + {}) % 1000) / 8.0", 7 + 2 * k, k);
    defs += fmt::format(", f{} REAL", k);
  }
  testing::sql_exec(url_, "CREATE TABLE big (id INTEGER" + defs + ", label INTEGER)");
  testing::sql_exec(url_, "INSERT INTO big SELECT i" + cols + ", i % 10 FROM (" + series(n) +
                              ") AS s");
  // The database's own sums (one scan; concatenated as text, split here).
  std::string sum_list;
  for (int k = 0; k < 16; ++k)
    sum_list += fmt::format("{}CAST(sum(CAST(f{} AS DOUBLE PRECISION)) AS TEXT)", k ? " || ',' || " : "", k);
  std::string joined = testing::sql_value(url_, "SELECT " + sum_list + " FROM big");
  std::vector<double> expect;
  for (size_t p = 0; p < joined.size();) {
    size_t q = joined.find(',', p);
    expect.push_back(std::stod(joined.substr(p, q - p)));
    p = q == std::string::npos ? joined.size() : q + 1;
  }
  ASSERT_EQ(expect.size(), 16u) << joined;

  const int64_t base = peak_rss_bytes();
  const int64_t batch = 1024, prefetch = 2;
  auto ds = std::make_shared<SqlDataset>(
      url_, SqlOptions{.table = "big", .target = "label", .shuffle_buffer = batch});
  DataLoader loader(ds, {.batch_size = batch, .num_workers = 1, .prefetch = prefetch});
  std::vector<double> got(16, 0.0);
  int64_t rows = 0, label_sum = 0;
  for (Batch& b : loader) {
    ASSERT_EQ(b.data.size(1), 17);  // id + 16 floats
    const float* p = b.data.data<float>();
    for (int64_t r = 0; r < b.data.size(0); ++r)
      for (int k = 0; k < 16; ++k) got[k] += p[r * 17 + 1 + k];
    label_sum += b.target.sum().item<int64_t>();
    rows += b.data.size(0);
  }
  EXPECT_EQ(rows, n);
  EXPECT_EQ(label_sum, 4500000);
  for (int k = 0; k < 16; ++k) EXPECT_EQ(got[k], expect[k]) << "f" << k;
  // Batch, prefetch and shuffle-buffer rows (17 floats + a label each), twice, plus a fixed
  // allowance for the libraries' own caches (SQLite's page cache, libpq's buffer, a thread
  // stack); the table itself is 76 MB.
  const int64_t buffers = (batch * (prefetch + 1) + batch) * (17 * 4 + 8);
  const int64_t grew = peak_rss_bytes() - base;
  EXPECT_LT(grew, 2 * buffers + (24 << 20)) << "peak RSS grew by " << grew << " bytes";
}

// Loss of each step of a plain SGD loop over `loader` (MLP, fixed init).
std::vector<double> mlp_losses(DataLoader& loader, int64_t steps) {
  manual_seed(0);
  auto model = models::create("mlp");
  optim::SGD opt(model->parameters(), {.lr = 0.1});
  std::vector<double> losses;
  for (Batch& b : loader) {
    Tensor loss = cross_entropy((*model)(b.data), b.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
    if (static_cast<int64_t>(losses.size()) == steps) break;
  }
  return losses;
}

TEST_P(SqlScale, MlpTrainsStepForStepLikeFromIdxFiles) {
  if (!std::filesystem::exists(kFashionMnistDir)) GTEST_SKIP() << "dataset-fashion-mnist missing";
  const int64_t n = 600;
  Tensor images = read_idx(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz").narrow(0, 0, n);
  Tensor labels = read_idx(std::string(kFashionMnistDir) + "/train-labels-idx1-ubyte.gz").narrow(0, 0, n);
  write_sql_images(url_, "train", images, labels);

  auto idx = fashion_mnist();
  auto idx_first = std::make_shared<TensorDataset>(idx->data().narrow(0, 0, n),
                                                   idx->targets().narrow(0, 0, n));
  DataLoader from_idx(idx_first, {.batch_size = 50});
  // Streamed rows scaled as idx_dataset scales them (byte / 255.0f).
  auto sql = std::make_shared<SqlDataset>(
      url_, SqlOptions{.query = "SELECT image, label FROM train ORDER BY id", .target = "label",
                       .columns = {{.name = "image", .shape = {1, 28, 28}}}});
  DataLoader from_sql(sql, {.batch_size = 50, .num_workers = 1,
                            .transform = [](Example e, Generator&) {
                              Tensor x = empty(e.data.shape(), {DType::Float32});
                              const uint8_t* s = e.data.data<uint8_t>();
                              float* d = x.data<float>();
                              for (int64_t i = 0; i < x.numel(); ++i) d[i] = s[i] / 255.0f;
                              return Example{x, e.target};
                            }});
  auto a = mlp_losses(from_idx, 12), b = mlp_losses(from_sql, 12);
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  // tandem train's loader: the same tensors from the database as from the IDX files.
  auto t_sql = train::load_dataset(url_, true, n);
  auto t_idx = train::load_dataset("fashion-mnist", true, n);
  auto* x1 = dynamic_cast<ImageDataset*>(t_sql.get());
  auto* x2 = dynamic_cast<ImageDataset*>(t_idx.get());
  ASSERT_TRUE(x1 != nullptr && x2 != nullptr);
  EXPECT_EQ(x1->images().to_vector<int64_t>(), x2->images().to_vector<int64_t>());
  EXPECT_EQ(x1->targets().to_vector<int64_t>(), x2->targets().to_vector<int64_t>());
}

INSTANTIATE_SQL_BACKENDS(SqlScale);

}  // namespace
}  // namespace tandem::data
