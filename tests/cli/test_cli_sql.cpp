// `tandem data import` and `tandem train --data URL`: the main job from SQLite and from a real
// PostgreSQL server gives the same run as from the IDX files.
#include <gtest/gtest.h>

#include <regex>

#include "../dataio/temp_dir.h"
#include "../sql/sql_test_util.h"
#include "cli_test_util.h"

namespace tandem::testing::cli {
namespace {

std::string field(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":([-0-9.eE+]+)");
  return std::regex_search(json, m, re) ? m[1].str() : "(missing " + name + ")";
}

void expect_same_run_as_idx(const std::string& dir, const std::string& url) {
  CliResult imp = run_tandem(dir, "data import fashion-mnist " + quote(url) + " --no-progress");
  ASSERT_EQ(imp.code, 0) << imp.all();
  EXPECT_NE(imp.out.find("60000 rows (28x28 image bytes, label) into table train"), std::string::npos)
      << imp.out;
  EXPECT_NE(imp.out.find("10000 rows"), std::string::npos) << imp.out;
  const std::string common = " --model mlp --epochs 1 --batch-size 64 --train-limit 640 "
                             "--test-limit 300 --no-progress --no-tensorboard --json --out ";
  CliResult db = run_tandem(dir, "train --data " + quote(url) + " --table train" + common +
                                     quote(dir + "/run_db"));
  ASSERT_EQ(db.code, 0) << db.all();
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
