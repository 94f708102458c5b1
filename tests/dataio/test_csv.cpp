// CSV parsing: numeric and categorical columns, targets, quoting, and errors with lines.
#include "tandem/data.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::data;
using tandem::testing::TempDir;
using tandem::testing::throws_error;
using tandem::testing::write_bytes;

TEST(Csv, NumericFeaturesAndCategoricalTarget) {
  const std::string text =
      "length,width,species\n"
      "5.1,3.5,setosa\n"
      "7.0, 3.2 ,versicolor\n"
      "\n"
      "6.3,-3.3e-1,virginica\n"
      "4.9,3.0,setosa\n";
  CsvTable t = parse_csv(text, {.target = "species", .categorical = {"species"}});
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"length", "width"}));
  EXPECT_EQ(t.target_name, "species");
  EXPECT_EQ(t.features.shape(), (Shape{4, 2}));
  EXPECT_EQ(t.features.dtype(), kFloat32);
  EXPECT_EQ(t.features.to_vector<float>(),
            (std::vector<float>{5.1f, 3.5f, 7.0f, 3.2f, 6.3f, -0.33f, 4.9f, 3.0f}));
  EXPECT_EQ(t.target.dtype(), kInt64);
  EXPECT_EQ(t.target.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(t.categories.at("species"),
            (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
}

TEST(Csv, CategoricalFeatureNumericTargetQuotingAndDrop) {
  const std::string text =
      "id,city,\"note, with comma\",price\r\n"
      "1,\"Paris\",\"say \"\"hi\"\"\",10.5\r\n"
      "2,Oslo,\"two\nlines\",-2\r\n"
      "3,Paris,x,0\r\n";
  CsvTable t = parse_csv(text, {.target = "price", .categorical = {"city", "note, with comma"},
                                .drop = {"id"}, .dtype = kFloat64});
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"city", "note, with comma"}));
  EXPECT_EQ(t.features.dtype(), kFloat64);
  EXPECT_EQ(t.features.to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 0, 2}));
  EXPECT_EQ(t.categories.at("note, with comma"),
            (std::vector<std::string>{"say \"hi\"", "two\nlines", "x"}));
  EXPECT_EQ(t.target.dtype(), kFloat64);
  EXPECT_EQ(t.target.to_vector<double>(), (std::vector<double>{10.5, -2, 0}));
}

TEST(Csv, NoHeaderAndIntegerTarget) {
  CsvTable t = parse_csv("1;2;0\n3;4;9\n", {.delimiter = ';', .header = false, .target = "2",
                                             .target_dtype = kInt64});
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(t.target.to_vector<int64_t>(), (std::vector<int64_t>{0, 9}));
  EXPECT_TRUE(throws_error(
      [] { parse_csv("a,y\n1,0.5\n", {.target = "y", .target_dtype = kInt64}, "t.csv"); },
      {"t.csv:2", "not an integer"}));
}

TEST(Csv, DatasetFromFileWorksWithTheLoader) {
  TempDir dir;
  write_bytes(dir / "d.csv", "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n");
  auto ds = std::make_shared<CsvDataset>(dir / "d.csv", CsvOptions{.target = "label", .categorical = {"label"}});
  ASSERT_EQ(ds->size(), 3);
  Example ex = ds->get(1);
  EXPECT_EQ(ex.data.to_vector<float>(), (std::vector<float>{3, 4}));
  EXPECT_EQ(ex.target.item<int64_t>(), 1);
  DataLoader loader(ds, {.batch_size = 3});
  Batch b = *loader.begin();
  EXPECT_EQ(b.data.shape(), (Shape{3, 2}));
  EXPECT_EQ(b.target.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(ds->table().categories.at("label"), (std::vector<std::string>{"cat", "dog"}));
}

TEST(Csv, ErrorsNameFileLineAndColumn) {
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,2\n3,x\n", {}, "f.csv"); },
                           {"f.csv:3", "column 'b'", "'x'", "not a number", "categorical"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,2\n3\n", {}, "f.csv"); },
                           {"f.csv:3", "expected 2 fields", "found 1"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,\n", {}, "f.csv"); },
                           {"f.csv:2", "column 'b'", "empty"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,2\n", {.target = "c"}, "f.csv"); },
                           {"target column 'c'", "a, b"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,\"2\n", {}, "f.csv"); },
                           {"f.csv:2", "never closed"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n1,2\"x\"\n", {}, "f.csv"); },
                           {"f.csv:2", "quote"}));
  EXPECT_TRUE(throws_error([] { parse_csv("a,a\n1,2\n", {}, "f.csv"); }, {"'a' appears twice"}));
  EXPECT_TRUE(throws_error([] { parse_csv("", {}, "f.csv"); }, {"f.csv is empty"}));
  EXPECT_TRUE(throws_error([] { read_csv("/nonexistent/x.csv"); }, {"/nonexistent/x.csv"}));
  // A quoted field spanning lines: the error line is the record's first line... and the
  // next record's lines are counted after it.
  EXPECT_TRUE(throws_error([] { parse_csv("a,b\n\"x\ny\",1\n2,z\n", {.categorical = {"a"}}, "f.csv"); },
                           {"f.csv:4", "column 'b'"}));
}
