// CSV tables: numeric and categorical columns, a chosen target column.
//
//   // sepal_length,sepal_width,petal_length,petal_width,species
//   data::CsvOptions o{.target = "species", .categorical = {"species"}};
//   auto iris = std::make_shared<data::CsvDataset>("iris.csv", o);
//   iris->get(0);                      // data float32 [4], target int64 (index into species)
//   iris->table().categories.at("species");   // {"setosa", "versicolor", "virginica"}
//
// Format: RFC 4180 (fields may be "quoted", with "" for a quote and line breaks inside
// quotes), LF or CRLF line ends, blank lines skipped, spaces around numbers ignored.
// Categorical columns map each distinct string to 0, 1, ... in order of first appearance
// (the mapping is kept in CsvTable::categories). Every error names the file, the line and
// the column.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/data/dataset.h"

namespace tandem::data {

struct CsvOptions {
  char delimiter = ',';
  bool header = true;                    // without one, columns are named "0", "1", ...
  std::string target;                    // the target column; empty: no target
  std::vector<std::string> categorical;  // columns whose values are category strings
  std::vector<std::string> drop;         // columns to ignore
  DType dtype = DType::Float32;          // features (float32 or float64)
  // Default: int64 for a categorical target (class indices), else the feature dtype.
  std::optional<DType> target_dtype;
};

struct CsvTable {
  std::vector<std::string> feature_names;  // column order of `features`
  std::string target_name;
  Tensor features;  // [rows, features]; a categorical value is its category index
  Tensor target;    // [rows], undefined without a target column
  std::map<std::string, std::vector<std::string>> categories;  // column → strings by index
};

CsvTable read_csv(const std::string& path, const CsvOptions& options = {});
// The same from text in memory; `name` stands for the file in errors.
CsvTable parse_csv(const std::string& text, const CsvOptions& options = {},
                   const std::string& name = "<csv>");

// A CSV file as a dataset: get(i) is (features[i], target[i]) as views.
class CsvDataset : public TensorDataset {
 public:
  CsvDataset(const std::string& path, const CsvOptions& options = {});
  explicit CsvDataset(CsvTable table);
  const CsvTable& table() const { return table_; }

 private:
  CsvTable table_;
};

}  // namespace tandem::data
