// `tandem data import` and `tandem train --data URL`: the main job from SQLite and from a real
// PostgreSQL server, interrupted and resumed, gives the same run as from the IDX files; a
// database failing mid-epoch leaves the last finished epoch's checkpoint usable.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <regex>
#include <thread>

#include "../dataio/temp_dir.h"
#include "../sql/sql_test_util.h"
#include "cli_test_util.h"

namespace tandem::testing::cli {
namespace {

// The last value of `name` in the --json line: the final epoch's (the per-epoch history,
// which a resumed run holds only in part, comes first).
std::string field(const std::string& json, const std::string& name) {
  std::regex re("\"" + name + "\":([-0-9.eE+]+)");
  std::string last = "(missing " + name + ")";
  for (std::sregex_iterator it(json.begin(), json.end(), re), end; it != end; ++it)
    last = (*it)[1].str();
  return last;
}

void expect_same_run_as_idx(const std::string& dir, const std::string& url) {
  CliResult imp = run_tandem(dir, "data import fashion-mnist " + quote(url) + " --no-progress");
  ASSERT_EQ(imp.code, 0) << imp.all();
  EXPECT_NE(imp.out.find("60000 rows (28x28 image bytes, label) into table train"), std::string::npos)
      << imp.out;
  EXPECT_NE(imp.out.find("10000 rows"), std::string::npos) << imp.out;
  const std::string common = " --model mlp --epochs 2 --batch-size 64 --train-limit 640 "
                             "--test-limit 300 --no-progress --no-tensorboard --json --out ";
  // From the database: interrupted after epoch 1 and resumed (rows read batch by batch).
  CliResult first = run_tandem(dir, "train --data " + quote(url) + " --table train" + common +
                                        quote(dir + "/run_db") + " --stop-after 1");
  ASSERT_EQ(first.code, 0) << first.all();
  CliResult db = run_tandem(dir, "train --resume " + quote(dir + "/run_db/checkpoint.safetensors") +
                                     " --epochs 2 --test-limit 300 --no-progress --no-tensorboard --json");
  ASSERT_EQ(db.code, 0) << db.all();
  EXPECT_NE(db.out.find("resuming after epoch 1"), std::string::npos) << db.out;
  CliResult idx = run_tandem(dir, "train --data fashion-mnist" + common + quote(dir + "/run_idx"));
  ASSERT_EQ(idx.code, 0) << idx.all();
  for (const char* f : {"train_loss", "test_loss", "test_accuracy"})
    EXPECT_EQ(field(db.out, f), field(idx.out, f)) << f;
}

TEST(CliSql, ImportAndTrainFromSqliteEqualsIdx) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "dataset-fashion-mnist missing";
  TempDir dir;
  const std::string url = "sqlite:///" + dir.path() + "/fmnist.db";
  expect_same_run_as_idx(dir.path(), url);
  // `tandem quantize` calibrates on the table's images as on the IDX files': the same file.
  CliResult r = run_tandem(dir.path(), "export --model mlp --random-weights --dynamic-batch -o " + quote(dir.path() + "/mlp.onnx"));
  ASSERT_EQ(r.code, 0) << r.all();
  for (const std::string& data : {quote(url) + " --table train", std::string("fashion-mnist")}) {
    r = run_tandem(dir.path(), "quantize " + quote(dir.path() + "/mlp.onnx") + " --data " + data + " --samples 30 --out " +
                                   quote(dir.path() + "/" + (data == "fashion-mnist" ? "idx" : "db") + ".onnx"));
    ASSERT_EQ(r.code, 0) << r.all();
  }
  EXPECT_EQ(slurp(dir.path() + "/db.onnx"), slurp(dir.path() + "/idx.onnx"));
}

TEST(CliSql, ImportAndTrainFromPostgresEqualsIdx) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "dataset-fashion-mnist missing";
  PgServer& server = pg_server();  // the program's one cluster
  if (server.url().empty()) GTEST_SKIP() << "PostgreSQL (initdb) is not installed";
  TempDir dir;
  expect_same_run_as_idx(dir.path(), server.url());
}

// The database fails in epoch 2 of `tandem train --data postgresql://...` (`fail` runs once
// epoch 1's checkpoint exists, and again every 50 ms until the run ends): the run exits with an
// error naming the query and the cause, and resuming from that checkpoint gives the run an
// uninterrupted one gives.
void expect_checkpoint_survives_failure(PgServer& server, const std::function<void()>& fail,
                                        const std::function<void()>& recover) {
  const std::string& url = server.url();
  // 320 synthetic 28x28 images (no data set needed); the view reads each label through a
  // function that sleeps 3 ms, so that an epoch lasts about a second and the failure lands in
  // epoch 2, whatever the machine's load.
  sql_exec(url, R"(
    DROP SCHEMA IF EXISTS ckfail CASCADE; CREATE SCHEMA ckfail;
    CREATE TABLE ckfail.rows (id integer PRIMARY KEY, image bytea NOT NULL, label integer NOT NULL);
    INSERT INTO ckfail.rows SELECT i, decode(repeat(lpad(to_hex((i * 37) % 256), 2, '0'), 784), 'hex'), i % 10
      FROM generate_series(0, 319) AS g(i);
    CREATE TABLE ckfail.test AS SELECT * FROM ckfail.rows WHERE id < 100;
    CREATE FUNCTION ckfail.label(l integer) RETURNS integer LANGUAGE plpgsql VOLATILE
      AS $$ BEGIN PERFORM pg_sleep(0.003); RETURN l; END $$;
    CREATE VIEW ckfail.train AS SELECT id, image, ckfail.label(label) AS label FROM ckfail.rows;)");
  TempDir dir;
  const std::string run = dir.path() + "/run";
  const std::string ckpt = run + "/checkpoint.safetensors";
  const std::string common = " --model mlp --epochs 2 --batch-size 32 --no-progress "
                             "--no-tensorboard --json --table ckfail.train --test-table ckfail.test";
  auto training = std::async(std::launch::async, [&] {
    return run_tandem(dir.path(), "train --data " + quote(url) + common + " --out " + quote(run), 60);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(ckpt) && std::chrono::steady_clock::now() < deadline &&
         training.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
  }
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << "no checkpoint after epoch 1";
  while (training.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    fail();
    training.wait_for(std::chrono::milliseconds(50));
  }
  CliResult failed = training.get();
  recover();
  EXPECT_TRUE(error_naming(failed, "SELECT * FROM ckfail.train")) << failed.all();
  EXPECT_TRUE(failed.err.find("connection") != std::string::npos ||
              failed.err.find("terminat") != std::string::npos)
      << "the cause is missing: " << failed.err;
  // The database is back and fast again: resuming epoch 1's checkpoint finishes the run, with
  // the losses of a run that never failed.
  sql_exec(url, "CREATE OR REPLACE FUNCTION ckfail.label(l integer) RETURNS integer LANGUAGE "
                "sql IMMUTABLE AS 'SELECT l'");
  CliResult resumed = run_tandem(dir.path(), "train --resume " + quote(ckpt) +
                                                 " --epochs 2 --no-progress --no-tensorboard --json");
  ASSERT_EQ(resumed.code, 0) << resumed.all();
  EXPECT_NE(resumed.out.find("resuming after epoch 1"), std::string::npos) << resumed.out;
  CliResult whole = run_tandem(dir.path(), "train --data " + quote(url) + common + " --out " +
                                               quote(dir.path() + "/whole"));
  ASSERT_EQ(whole.code, 0) << whole.all();
  for (const char* f : {"train_loss", "test_loss", "test_accuracy"})
    EXPECT_EQ(field(resumed.out, f), field(whole.out, f)) << f;
}

TEST(CliSql, BackendTerminatedMidEpochKeepsTheLastCheckpointUsable) {
  PgServer& server = pg_server();
  if (server.url().empty()) GTEST_SKIP() << "PostgreSQL (initdb) is not installed";
  expect_checkpoint_survives_failure(
      server,
      [&] {
        sql_exec(server.url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                               "pid <> pg_backend_pid() AND backend_type = 'client backend'");
      },
      [] {});
}

TEST(CliSql, ServerStoppedMidEpochKeepsTheLastCheckpointUsable) {
  PgServer& server = pg_server();
  if (server.url().empty()) GTEST_SKIP() << "PostgreSQL (initdb) is not installed";
  bool stopped = false;
  expect_checkpoint_survives_failure(
      server,
      [&] {
        if (!stopped) server.stop();
        stopped = true;
      },
      [&] { server.start(); });
}

TEST(CliSql, BadDatabaseInputsAreErrors) {
  TempDir dir;
  EXPECT_TRUE(error_naming(run_tandem(dir.path(), "train --model mlp --data " +
                                                      quote("sqlite:///" + dir.path() + "/none.db")),
                           "no database file"));
  EXPECT_TRUE(error_naming(run_tandem(dir.path(), "data import fashion-mnist mysql://h/db"),
                           "not a database URL"));
  EXPECT_TRUE(error_naming(
      run_tandem(dir.path(), "train --model mlp --data " +
                                 quote("postgresql://me:hunter22@127.0.0.1:" +
                                       std::to_string(free_port()) + "/db")),
      "cannot connect"));
  EXPECT_EQ(run_tandem(dir.path(), "train --model mlp --data " +
                                       quote("postgresql://me:hunter22@127.0.0.1:" +
                                             std::to_string(free_port()) + "/db"))
                .all()
                .find("hunter22"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::testing::cli
