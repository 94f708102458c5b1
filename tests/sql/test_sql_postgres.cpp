// PostgreSQL only: the three ways to read (binary COPY, cursor, text COPY) agree, arrays,
// and failures — refused connection, credentials kept out of messages, read timeout, the
// backend killed mid-stream, the server stopped mid-epoch.
#include <gtest/gtest.h>

#include <thread>

#include "sql_test_util.h"
#include "tandem/data.h"
#include "tandem/data/sql.h"

namespace tandem::data {
namespace {

using testing::pg_server;

class Postgres : public testing::SqlTest {
 protected:
  void SetUp() override { use("postgres"); }
};

std::vector<std::vector<float>> rows_of(SqlDataset& ds) {
  std::vector<std::vector<float>> out;
  ds.reset();
  while (auto e = ds.next()) {
    auto v = e->data.to_vector<float>();
    if (e->target.defined()) v.push_back(e->target.to_vector<float>()[0]);
    out.push_back(v);
  }
  return out;
}

TEST_F(Postgres, BinaryCopyCursorAndTextCopyReadTheSameValues) {
  testing::sql_exec(url_,
                    "CREATE TABLE t AS SELECT i AS id, i::smallint AS s, (i::bigint * 1000000000) "
                    "AS b, (i * -1.5)::real AS r, (i / 3.0)::numeric(12,4) AS num, "
                    "(-123456.789 * i)::numeric AS big_num, i % 2 = 0 AS flag, "
                    "ARRAY[i, i + 0.5, -i]::real[] AS arr, "
                    "CASE WHEN i % 4 = 0 THEN NULL ELSE i * 2.0 END::float8 AS maybe, "
                    "E'lab\\t' || (i % 3) AS tag FROM generate_series(0, 2999) AS g(i)");
  std::vector<std::vector<std::vector<float>>> results;
  for (auto mode : {PostgresRead::CopyBinary, PostgresRead::Cursor, PostgresRead::CopyText}) {
    SqlDataset ds(url_, {.query = "SELECT * FROM t ORDER BY id", .target = "tag",
                         .columns = {{.name = "maybe", .fill = -7.0}},
                         .postgres = mode, .fetch_rows = 500});
    EXPECT_EQ(ds.target_vocabulary(), (std::vector<std::string>{"lab\t0", "lab\t1", "lab\t2"}));
    results.push_back(rows_of(ds));
  }
  ASSERT_EQ(results[0].size(), 3000u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
  // id s b r num big_num flag arr[3] maybe | tag
  const auto& r = results[0][7];
  std::vector<float> want = {7, 7, 7e9f, -10.5f, static_cast<float>(2.3333), static_cast<float>(-864197.523),
                             0, 7, 7.5f, -7, 14, 1};
  EXPECT_EQ(r, want);
  EXPECT_EQ(results[0][8][10], -7.0f);  // NULL filled
}

TEST_F(Postgres, OneArrayColumnIsTheExampleTensor) {
  testing::sql_exec(url_, "CREATE TABLE v AS SELECT i, ARRAY[i, 2 * i, 3 * i, 4 * i]::real[] "
                          "AS x FROM generate_series(1, 5) AS g(i)");
  SqlDataset ds(url_, {.query = "SELECT x, i FROM v ORDER BY i", .target = "i",
                       .columns = {{.name = "x", .shape = {2, 2}}}});
  ds.reset();
  auto e = ds.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data.shape(), (Shape{2, 2}));
  EXPECT_EQ(e->data.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(Postgres, RefusedConnectionIsAnErrorWithoutThePassword) {
  int closed = testing::free_port();
  std::string url = fmt::format("postgresql://postgres:s3cret-pw@127.0.0.1:{}/postgres", closed);
  try {
    SqlDataset ds(url, {.table = "t", .connect_timeout_s = 5});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cannot connect"), std::string::npos) << m;
    EXPECT_NE(m.find("refused"), std::string::npos) << m;
    EXPECT_NE(m.find("SELECT * FROM t"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret-pw"), std::string::npos) << m;
  }
  EXPECT_EQ(redact_url("postgresql://u:pw@h:5432/db?sslmode=require&password=x"),
            "postgresql://u:***@h:5432/db?sslmode=require&password=***");
}

TEST_F(Postgres, MissingTableNamesTheQueryAndTheServersMessage) {
  try {
    SqlDataset ds(url_, {.table = "nowhere"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("SELECT * FROM nowhere"), std::string::npos) << m;
    EXPECT_NE(m.find("relation \"nowhere\" does not exist"), std::string::npos) << m;
  }
}

TEST_F(Postgres, ASilentServerIsAReadTimeout) {
  SqlDataset ds(url_, {.query = "SELECT g.i FROM generate_series(1, 5) AS g(i), LATERAL "
                                "pg_sleep(CASE WHEN g.i = 3 THEN 30 ELSE 0 END) AS z",
                       .features = {"i"}, .read_timeout_s = 1});
  auto t0 = std::chrono::steady_clock::now();
  try {
    rows_of(ds);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("read timeout"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// Reads an endless stream (generate_series in the select list streams; in FROM it would be
// materialized first) until `interrupt` has run; the read must then fail, not hang.
void expect_mid_stream_failure(const std::string& url, const std::function<void()>& interrupt,
                               PostgresRead mode) {
  auto ds = std::make_shared<SqlDataset>(
      url, SqlOptions{.query = "SELECT i, i % 10 AS label FROM (SELECT generate_series(1, 1000000000) "
                               "AS i) AS s",
                      .target = "label", .postgres = mode, .read_timeout_s = 20});
  DataLoader loader(ds, {.batch_size = 256, .num_workers = 1});
  int64_t batches = 0;
  auto t0 = std::chrono::steady_clock::now();
  try {
    for (Batch& b : loader) {
      (void)b;
      if (++batches == 20) interrupt();
    }
    FAIL() << "the stream ended without an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("generate_series(1, 1000000000)"), std::string::npos) << m;
    EXPECT_GE(batches, 20);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
}

TEST_F(Postgres, BackendKilledMidStreamIsAnError) {
  for (auto mode : {PostgresRead::CopyBinary, PostgresRead::Cursor}) {
    expect_mid_stream_failure(url_, [&] {
      // Every other client backend: with a cursor, the stream's shows "FETCH ...".
      testing::sql_exec(url_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                              "pid <> pg_backend_pid() AND backend_type = 'client backend'");
    }, mode);
  }
}

TEST_F(Postgres, ServerStoppedMidEpochIsAnError) {
  expect_mid_stream_failure(url_, [&] { pg_server().stop(); }, PostgresRead::CopyBinary);
  pg_server().start();
  // The same dataset object works again once the server is back (a new pass reconnects).
  SqlDataset ds(url_, {.query = "SELECT 1 AS one"});
  EXPECT_EQ(rows_of(ds).size(), 1u);
}

}  // namespace
}  // namespace tandem::data
