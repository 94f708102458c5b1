// data::SqlDataset against SQLite and a real PostgreSQL server (the same cases for both):
// column types, NULL policies, bad inputs, sharding, shuffling, resume and DataLoader workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "sql_test_util.h"
#include "tandem/data.h"
#include "tandem/data/sql.h"
#include "tandem/summary/writer.h"

namespace tandem::data {
namespace {

using testing::sql_exec;

std::vector<Example> read_all(SqlDataset& ds) {
  std::vector<Example> out;
  ds.reset();
  while (auto e = ds.next()) out.push_back(std::move(*e));
  return out;
}

std::vector<float> row(const Example& e) { return e.data.to_vector<float>(); }

class SqlBackend : public testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    // items: id, x real, n integer, flag boolean, price numeric, kind text (100 rows).
    std::string real = pg() ? "DOUBLE PRECISION" : "REAL";
    sql_exec(url_, fmt::format("CREATE TABLE items (id INTEGER PRIMARY KEY, x {}, n INTEGER, "
                               "flag BOOLEAN, price NUMERIC(10,2), kind TEXT)",
                               real));
    sql_exec(url_, "INSERT INTO items SELECT i, i * 0.5, i * 3, (i % 2 = 1), i + 0.25, CASE i % "
                   "3 WHEN 0 THEN 'cat' WHEN 1 THEN 'ant' ELSE 'bee' END FROM (" +
                       series(100) + ") AS s");
  }
  std::string blob(const std::string& bytes) const {
    std::string hex;
    for (unsigned char c : bytes) hex += fmt::format("{:02x}", c);
    return pg() ? "'\\x" + hex + "'::bytea" : "X'" + hex + "'";
  }
  std::string blob_type() const { return pg() ? "BYTEA" : "BLOB"; }
};

SqlOptions items(std::vector<std::string> features = {"x", "n", "flag", "price"}) {
  return {.query = "SELECT * FROM items ORDER BY id", .target = "kind", .features = features};
}

TEST_P(SqlBackend, ColumnTypesBecomeFeaturesAndTextBecomesSortedLabels) {
  SqlDataset ds(url_, items());
  EXPECT_EQ(ds.target_vocabulary(), (std::vector<std::string>{"ant", "bee", "cat"}));
  auto rows = read_all(ds);
  ASSERT_EQ(rows.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(row(rows[i]), (std::vector<float>{i * 0.5f, i * 3.0f, float(i % 2), i + 0.25f}));
    EXPECT_EQ(rows[i].target.dtype(), DType::Int64);
    EXPECT_EQ(rows[i].target.item<int64_t>(), (std::vector<int64_t>{2, 0, 1})[i % 3]) << i;
  }
}

TEST_P(SqlBackend, GivenVocabularyAndRealTarget) {
  SqlOptions o = items({"n"});
  o.columns = {{.name = "kind", .vocabulary = {"cat", "ant", "bee"}}};
  SqlDataset ds(url_, o);
  auto rows = read_all(ds);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rows[i].target.item<int64_t>(), i % 3);
  SqlDataset reg(url_, {.query = "SELECT n, price FROM items ORDER BY id", .target = "price"});
  auto r = read_all(reg);
  EXPECT_EQ(r[7].target.dtype(), DType::Float32);
  EXPECT_FLOAT_EQ(r[7].target.item<float>(), 7.25f);
}

TEST_P(SqlBackend, NullIsAnErrorNamingRowAndColumnUnlessFilled) {
  sql_exec(url_, "UPDATE items SET x = NULL WHERE id = 7");
  SqlDataset ds(url_, items());
  try {
    read_all(ds);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 8, column 'x' is NULL"), std::string::npos)
        << e.what();
  }
  SqlOptions o = items();
  o.columns = {{.name = "x", .fill = -1.0}};
  SqlDataset filled(url_, o);
  auto rows = read_all(filled);
  EXPECT_EQ(row(rows[7])[0], -1.0f);
  EXPECT_EQ(row(rows[8])[0], 4.0f);
}

TEST_P(SqlBackend, BytesAsRawArraysAndPngImages) {
  // A 3x2 gray-and-alpha PNG: CHW [2, 2, 3] after decoding.
  std::vector<uint8_t> px(12);
  for (int i = 0; i < 12; ++i) px[i] = static_cast<uint8_t>(10 * i);
  std::string png = summary::encode_png(px.data(), 3, 2, 2);
  float f[2] = {1.5f, -2.0f};
  std::string fl(reinterpret_cast<const char*>(f), 8);
  sql_exec(url_, fmt::format("CREATE TABLE blobs (id INTEGER, raw {0}, fl {0}, img {0})",
                             blob_type()));
  sql_exec(url_, fmt::format("INSERT INTO blobs VALUES (0, {}, {}, {})", blob("\x01\x02\x03\x04"),
                             blob(fl), blob(png)));
  SqlDataset raw(url_, {.query = "SELECT raw FROM blobs",
                        .columns = {{.name = "raw", .shape = {2, 2}}}});
  auto r = read_all(raw);
  EXPECT_EQ(r[0].data.dtype(), DType::UInt8);
  EXPECT_EQ(r[0].data.shape(), (Shape{2, 2}));
  EXPECT_EQ(r[0].data.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4}));
  SqlDataset floats(url_, {.query = "SELECT fl FROM blobs",
                           .columns = {{.name = "fl", .dtype = DType::Float32}}});
  EXPECT_EQ(row(read_all(floats)[0]), (std::vector<float>{1.5f, -2.0f}));
  SqlDataset img(url_, {.query = "SELECT img FROM blobs",
                        .columns = {{.name = "img", .kind = SqlKind::Png}}});
  Tensor t = read_all(img)[0].data;
  ASSERT_EQ(t.shape(), (Shape{2, 2, 3}));
  auto v = t.to_vector<int64_t>();
  for (int c = 0; c < 2; ++c)
    for (int p = 0; p < 6; ++p) EXPECT_EQ(v[c * 6 + p], px[p * 2 + c]);
  // A wrong size from the declared shape is an error naming the column.
  SqlDataset bad(url_, {.query = "SELECT raw FROM blobs",
                        .columns = {{.name = "raw", .shape = {3}}}});
  EXPECT_THROW(read_all(bad), Error);
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

TEST_P(SqlBackend, BadInputsAreErrorsNamingTheQueryAndCause) {
  expect_error([&] { SqlDataset(url_, {.query = "SELECT * FROM no_such_table"}); },
               {"SELECT * FROM no_such_table", "no_such_table"});
  expect_error([&] { SqlDataset ds(url_, {.table = "items", .features = {"nope"}}); read_all(ds); },
               {"no column 'nope'", "SELECT * FROM items"});
  expect_error([&] {
    SqlDataset ds(url_, {.table = "items", .features = {"kind"},
                         .columns = {{.name = "kind", .kind = SqlKind::Integer}}});
    read_all(ds);
  }, {"column 'kind' is text", "cannot be read as integer"});
  expect_error([&] { SqlDataset(url_, {.table = "items", .rank = 3, .world_size = 2}); },
               {"rank 3"});
  expect_error([&] { SqlDataset("mysql://h/db", {.table = "items"}); }, {"not a database URL"});
  expect_error([&] { SqlDataset(url_, {}); }, {"either a query or a table"});
}

TEST_P(SqlBackend, ShardsAreDisjointAndCoverTheTable) {
  std::multiset<float> all;
  for (int64_t rank = 0; rank < 3; ++rank) {
    SqlOptions o = items({"n"});
    o.rank = rank;
    o.world_size = 3;
    o.shuffle_buffer = 10;
    SqlDataset ds(url_, o);
    for (auto& e : read_all(ds)) all.insert(row(e)[0]);
  }
  ASSERT_EQ(all.size(), 100u);
  int i = 0;
  for (float v : all) EXPECT_EQ(v, 3.0f * i++);
}

TEST_P(SqlBackend, ShuffleBufferIsASeededPermutationPerEpoch) {
  SqlOptions o = items({"n"});
  o.shuffle_buffer = 16;
  o.seed = 5;
  SqlDataset ds(url_, o);
  auto order = [&](int64_t epoch) {
    ds.set_epoch(epoch);
    std::vector<float> v;
    for (auto& e : read_all(ds)) v.push_back(row(e)[0]);
    return v;
  };
  auto e0 = order(0), e0b = order(0), e1 = order(1);
  EXPECT_EQ(e0, e0b);
  EXPECT_NE(e0, e1);
  std::sort(e1.begin(), e1.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(e1[i], 3.0f * i);
}

TEST_P(SqlBackend, KeyBlocksShuffleTheWholeTable) {
  SqlOptions o = items({"n"});
  o.key = "id";
  o.key_block = 7;
  SqlDataset ds(url_, o);
  std::vector<float> v;
  for (auto& e : read_all(ds)) v.push_back(row(e)[0] / 3);
  ASSERT_EQ(v.size(), 100u);
  // Not stream order, and rows from the end of the table reach the start of the epoch.
  EXPECT_NE(v, [] { std::vector<float> s(100); for (int i = 0; i < 100; ++i) s[i] = i; return s; }());
  std::sort(v.begin(), v.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(v[i], i);
  // Sharded by blocks: disjoint.
  std::set<float> seen;
  for (int64_t r = 0; r < 2; ++r) {
    o.rank = r;
    o.world_size = 2;
    SqlDataset shard(url_, o);
    for (auto& e : read_all(shard)) EXPECT_TRUE(seen.insert(row(e)[0]).second);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_P(SqlBackend, ResumeContinuesMidEpochFromTheSameRow) {
  SqlOptions o = items({"n"});
  o.shuffle_buffer = 32;
  o.seed = 9;
  SqlDataset full(url_, o);
  full.set_epoch(2);
  auto all = read_all(full);
  SqlDataset resumed(url_, o);
  resumed.set_epoch(2);
  resumed.seek(37);
  auto rest = read_all(resumed);
  ASSERT_EQ(rest.size(), 63u);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(row(rest[i]), row(all[37 + i]));
  EXPECT_EQ(resumed.position(), 100);
}

// 0, 1 and 3 workers read batches whole (next_batch); "-1" is one worker with an identity
// transform, which reads example by example (next): all the same batches.
TEST_P(SqlBackend, SameBatchesForZeroOneAndThreeWorkersAndPerExample) {
  for (bool keyed : {false, true}) {
    std::vector<std::vector<float>> ref;
    for (int workers : {0, 1, 3, -1}) {
      SqlOptions o = items();
      o.shuffle_buffer = 20;
      o.seed = 3;
      if (keyed) {
        o.key = "id";
        o.key_block = 25;
      }
      auto ds = std::make_shared<SqlDataset>(url_, o);
      DataLoaderOptions lo{.batch_size = 16, .num_workers = std::max(workers, 1), .prefetch = 2};
      if (workers == 0) lo.num_workers = 0;
      if (workers < 0) lo.transform = [](Example e, Generator&) { return e; };
      DataLoader loader(ds, lo);
      std::vector<std::vector<float>> got;
      for (int epoch = 0; epoch < 2; ++epoch) {
        ds->set_epoch(epoch);
        for (Batch& b : loader) {
          EXPECT_EQ(b.data.size(1), 4);
          auto v = b.data.to_vector<float>();
          auto t = b.target.to_vector<float>();
          v.insert(v.end(), t.begin(), t.end());
          got.push_back(v);
        }
      }
      ASSERT_EQ(got.size(), 14u);
      if (ref.empty()) ref = got; else EXPECT_EQ(got, ref) << workers << " workers, keyed " << keyed;
    }
  }
}

// Without a shuffle buffer the loader asks again after the short last batch; the stream must
// stay ended (a finished SQLite statement would otherwise start over).
TEST_P(SqlBackend, StreamEndsOnceInStreamOrder) {
  for (int workers : {0, 1}) {
    auto ds = std::make_shared<SqlDataset>(url_, items());
    DataLoader loader(ds, {.batch_size = 16, .num_workers = workers});
    int64_t rows = 0, batches = 0;
    for (Batch& b : loader) {
      rows += b.data.size(0);
      ASSERT_LE(++batches, 7) << "the stream started over";
    }
    EXPECT_EQ(rows, 100);
  }
}

TEST_P(SqlBackend, ReadSqlGivesTheStreamAsTwoTensors) {
  auto t = read_sql(url_, items());
  ASSERT_EQ(t->data().shape(), (Shape{100, 4}));
  SqlDataset ds(url_, items());
  auto rows = read_all(ds);
  for (int i = 0; i < 100; i += 11) {
    EXPECT_EQ(row_view(t->data(), i).to_vector<float>(), row(rows[i]));
    EXPECT_EQ(t->targets().to_vector<int64_t>()[i], rows[i].target.item<int64_t>());
  }
  EXPECT_EQ(read_sql(url_, items(), 10)->size(), 10);
}

INSTANTIATE_SQL_BACKENDS(SqlBackend);

}  // namespace
}  // namespace tandem::data
