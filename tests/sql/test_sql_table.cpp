// SqlTable: random access to a keyed table a batch per query, and a DataLoader reading through
// it (gather_plan) — the same batches as over the table loaded in memory, for SQLite and
// PostgreSQL.
#include <gtest/gtest.h>

#include "sql_test_util.h"
#include "tandem/data.h"
#include "tandem/data/sql.h"

namespace tandem::data {
namespace {

using SqlTableTest = testing::SqlBackendTest;

// n images [1, 4, 4] with distinct bytes, and labels 0..9, as `tandem data import` writes them.
std::pair<Tensor, Tensor> write_images(const std::string& url, const std::string& table,
                                       int64_t n) {
  Tensor x = empty({n, 1, 4, 4}, {DType::UInt8});
  Tensor y = empty({n}, {DType::Int64});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7 + i / 13);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = (i * 3) % 10;
  write_sql_images(url, table, x, y);
  return {x, y};
}

SqlOptions images(const std::string& table) {
  return {.table = table, .target = "label", .columns = {{.name = "image", .shape = {1, 4, 4}}}};
}

TEST_P(SqlTableTest, GatherReturnsTheRowsInTheOrderAsked) {
  auto [x, y] = write_images(url_, "imgs", 50);
  SqlTable table(url_, images("imgs"));
  EXPECT_EQ(table.size(), 50);
  Batch b = table.gather({7, 0, 49, 7});
  ASSERT_EQ(b.data.shape(), (Shape{4, 1, 4, 4}));
  std::vector<int64_t> want = {7, 0, 49, 7};
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_EQ(b.data[k].to_vector<uint8_t>(), x[want[k]].to_vector<uint8_t>()) << k;
    EXPECT_EQ(b.target[k].item<int64_t>(), y[want[k]].item<int64_t>()) << k;
  }
  Example e = table.get(13);
  EXPECT_EQ(e.data.to_vector<uint8_t>(), x[13].to_vector<uint8_t>());
  EXPECT_EQ(SqlTable(url_, images("imgs"), 20).size(), 20);
  EXPECT_THROW(table.gather({50}), Error);
}

TEST_P(SqlTableTest, LoaderBatchesEqualTheInMemoryLoadersForAnyWorkerCount) {
  auto [x, y] = write_images(url_, "imgs", 103);
  auto table = std::make_shared<SqlTable>(url_, images("imgs"));
  auto memory = std::make_shared<TensorDataset>(x, y);
  // With a transform (a generator per row) and without (whole batches through get_batch).
  for (bool flip : {true, false}) {
    DataLoaderOptions o{.batch_size = 16, .shuffle = true, .seed = 5};
    if (flip) o.transform = random_horizontal_flip(0.5);
    DataLoader expected(memory, o);
    expected.set_epoch(2);
    std::vector<Batch> want;
    for (Batch& b : expected) want.push_back(b);
    ASSERT_EQ(want.size(), 7u);
    for (int workers : {0, 3}) {
      DataLoaderOptions ow = o;
      ow.num_workers = workers;
      GatherPlan plan = gather_plan(table, ow);
      DataLoader loader(plan.indices, plan.options);
      loader.set_epoch(2);
      size_t i = 0;
      for (Batch& b : loader) {
        ASSERT_LT(i, want.size());
        EXPECT_EQ(b.data.to_vector<uint8_t>(), want[i].data.to_vector<uint8_t>())
            << flip << " " << workers << " " << i;
        EXPECT_EQ(b.target.to_vector<int64_t>(), want[i].target.to_vector<int64_t>());
        ++i;
      }
      EXPECT_EQ(i, want.size());
    }
  }
}

TEST_P(SqlTableTest, KeysWithGapsAreAnErrorNamingTheQuery) {
  testing::sql_exec(url_, "CREATE TABLE g (id INTEGER, v REAL)");
  testing::sql_exec(url_, "INSERT INTO g VALUES (0, 1.0), (1, 2.0), (5, 3.0)");
  try {
    SqlTable t(url_, {.table = "g"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("without gaps"), std::string::npos) << m;
    EXPECT_NE(m.find("SELECT * FROM g"), std::string::npos) << m;
  }
  // Numbered by the query itself, the same rows are fine; the key is not a feature.
  SqlTable t(url_, {.query = "SELECT row_number() OVER (ORDER BY id) - 1 AS n, v FROM g",
                    .key = "n"});
  EXPECT_EQ(t.size(), 3);
  EXPECT_EQ(t.get(2).data.to_vector<float>(), (std::vector<float>{3.0f}));
}

INSTANTIATE_SQL_BACKENDS(SqlTableTest);

}  // namespace
}  // namespace tandem::data
