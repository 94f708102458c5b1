// `tandem data import` and `tandem train --data URL`: the main job from SQLite and from a real
// PostgreSQL server, interrupted and resumed, gives the same run as from the IDX files.
#include <gtest/gtest.h>

#include <regex>

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
  expect_same_run_as_idx(dir.path(), "sqlite:///" + dir.path() + "/fmnist.db");
}

TEST(CliSql, ImportAndTrainFromPostgresEqualsIdx) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "dataset-fashion-mnist missing";
  PgServer& server = pg_server();  // the program's one cluster
  if (server.url().empty()) GTEST_SKIP() << "PostgreSQL (initdb) is not installed";
  TempDir dir;
  expect_same_run_as_idx(dir.path(), server.url());
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
