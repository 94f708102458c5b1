// CSV parsing (RFC 4180 quoting) into feature/target tensors with categorical mappings.
#include "tandem/data/csv.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace tandem::data {

namespace {

struct Record {
  std::vector<std::string> fields;
  int64_t line = 0;  // 1-based line where the record starts
};

// Splits the text into records; quoted fields may hold delimiters, quotes ("") and newlines.
std::vector<Record> split_records(const std::string& text, char delim, const std::string& name) {
  std::vector<Record> records;
  Record rec;
  std::string field;
  int64_t line = 1;
  rec.line = 1;
  bool in_quotes = false, field_started = false, quoted = false;
  size_t i = 0;
  const size_t n = text.size();
  auto end_field = [&] {
    rec.fields.push_back(std::move(field));
    field.clear();
    field_started = quoted = false;
  };
  auto end_record = [&] {
    // A line with nothing (or only spaces) on it is not a record.
    const bool blank = rec.fields.empty() && !quoted &&
                       field.find_first_not_of(" \t") == std::string::npos;
    if (!blank) {
      end_field();
      records.push_back(std::move(rec));
    }
    rec = Record{};
    rec.line = line + 1;
  };
  while (i < n) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < n && text[i + 1] == '"') {
          field.push_back('"');
          i += 2;
          continue;
        }
        in_quotes = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      ++i;
      continue;
    }
    if (c == '"') {
      bool blank = std::all_of(field.begin(), field.end(), [](char ch) { return ch == ' '; });
      TANDEM_CHECK(blank && !quoted,
                   "read_csv: {}:{}: a quote inside an unquoted field (field {}); quote the "
                   "whole field and double the quote (\"\")",
                   name, line, rec.fields.size() + 1);
      field.clear();
      in_quotes = quoted = field_started = true;
    } else if (c == delim) {
      end_field();
      field_started = true;  // a delimiter implies a (possibly empty) next field
    } else if (c == '\r' && i + 1 < n && text[i + 1] == '\n') {
      // CRLF: the \n ends the record.
    } else if (c == '\n') {
      end_record();
      ++line;
    } else {
      TANDEM_CHECK(!quoted || c == ' ',
                   "read_csv: {}:{}: text after a closing quote in field {}", name, line,
                   rec.fields.size() + 1);
      if (!quoted) field.push_back(c);
      field_started = true;
    }
    ++i;
  }
  TANDEM_CHECK(!in_quotes, "read_csv: {}:{}: a quoted field is never closed", name, rec.line);
  end_record();
  return records;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

double parse_number(const std::string& raw, const std::string& name, int64_t line,
                    const std::string& column) {
  const std::string s = trim(raw);
  TANDEM_CHECK(!s.empty(),
               "read_csv: {}:{}: column '{}' is empty; fill in the value or drop the column "
               "(CsvOptions::drop)",
               name, line, column);
  double v = 0;
  const char* first = s.data() + (s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
  TANDEM_CHECK(ec == std::errc() && ptr == s.data() + s.size(),
               "read_csv: {}:{}: column '{}' has '{}', which is not a number; list the column "
               "in CsvOptions::categorical to map its strings to indices",
               name, line, column, s);
  return v;
}

size_t column_index(const std::vector<std::string>& columns, const std::string& col,
                    const char* what, const std::string& name) {
  auto it = std::find(columns.begin(), columns.end(), col);
  TANDEM_CHECK(it != columns.end(), "read_csv: {}: {} column '{}' is not in the header (columns: {})",
               name, what, col, fmt::join(columns, ", "));
  return static_cast<size_t>(it - columns.begin());
}

template <typename T>
void store(Tensor& t, int64_t i, double v) {
  t.data<T>()[i] = static_cast<T>(v);
}

void store_any(Tensor& t, int64_t i, double v) {
  TANDEM_DISPATCH_NUMERIC(t.dtype(), "read_csv", [&] { store<scalar_t>(t, i, v); });
}

}  // namespace

CsvTable parse_csv(const std::string& text, const CsvOptions& o, const std::string& name) {
  TANDEM_CHECK(o.dtype == DType::Float32 || o.dtype == DType::Float64,
               "read_csv: features must be float32 or float64, got {}", o.dtype);
  std::vector<Record> records = split_records(text, o.delimiter, name);
  TANDEM_CHECK(!records.empty(), "read_csv: {} is empty", name);
  std::vector<std::string> columns;
  size_t first_row = 0;
  if (o.header) {
    for (const std::string& c : records[0].fields) columns.push_back(trim(c));
    first_row = 1;
    for (size_t a = 0; a < columns.size(); ++a)
      for (size_t b = a + 1; b < columns.size(); ++b)
        TANDEM_CHECK(columns[a] != columns[b], "read_csv: {}:1: column '{}' appears twice", name,
                     columns[a]);
  } else {
    for (size_t c = 0; c < records[0].fields.size(); ++c) columns.push_back(std::to_string(c));
  }
  const size_t ncol = columns.size();
  std::vector<bool> categorical(ncol, false), dropped(ncol, false);
  for (const std::string& c : o.categorical) categorical[column_index(columns, c, "categorical", name)] = true;
  for (const std::string& c : o.drop) dropped[column_index(columns, c, "dropped", name)] = true;
  std::optional<size_t> target;
  if (!o.target.empty()) {
    target = column_index(columns, o.target, "target", name);
    TANDEM_CHECK(!dropped[*target], "read_csv: {}: the target column '{}' is also dropped", name,
                 o.target);
  }

  CsvTable table;
  std::vector<size_t> feature_cols;
  for (size_t c = 0; c < ncol; ++c)
    if (!dropped[c] && (!target || c != *target)) {
      feature_cols.push_back(c);
      table.feature_names.push_back(columns[c]);
    }
  const int64_t rows = static_cast<int64_t>(records.size() - first_row);
  const int64_t nf = static_cast<int64_t>(feature_cols.size());
  table.features = empty({rows, nf}, {.dtype = o.dtype});
  if (target) {
    table.target_name = columns[*target];
    DType tdt = o.target_dtype.value_or(categorical[*target] ? DType::Int64 : o.dtype);
    TANDEM_CHECK(tdt != DType::Bool && tdt != DType::Float16 && tdt != DType::BFloat16,
                 "read_csv: target dtype {} is not supported", tdt);
    table.target = empty({rows}, {.dtype = tdt});
  }
  std::vector<std::unordered_map<std::string, int64_t>> codes(ncol);
  auto value = [&](const Record& r, size_t c) -> double {
    if (!categorical[c]) return parse_number(r.fields[c], name, r.line, columns[c]);
    std::string s = trim(r.fields[c]);
    auto [it, inserted] = codes[c].emplace(s, static_cast<int64_t>(codes[c].size()));
    if (inserted) table.categories[columns[c]].push_back(s);
    return static_cast<double>(it->second);
  };
  for (int64_t r = 0; r < rows; ++r) {
    const Record& rec = records[first_row + static_cast<size_t>(r)];
    TANDEM_CHECK(rec.fields.size() == ncol,
                 "read_csv: {}:{}: expected {} fields ({} {}), found {}", name, rec.line, ncol,
                 o.header ? "as in the header:" : "as in the first line", fmt::join(columns, ","),
                 rec.fields.size());
    for (int64_t f = 0; f < nf; ++f) store_any(table.features, r * nf + f, value(rec, feature_cols[f]));
    if (target) {
      const double v = value(rec, *target);
      if (is_integral(table.target.dtype()))
        TANDEM_CHECK(v == static_cast<double>(static_cast<int64_t>(v)),
                     "read_csv: {}:{}: target '{}' is {}, not an integer (target dtype {})", name,
                     rec.line, columns[*target], v, table.target.dtype());
      store_any(table.target, r, v);
    }
  }
  for (size_t c = 0; c < ncol; ++c)
    if (categorical[c] && !table.categories.count(columns[c])) table.categories[columns[c]] = {};
  return table;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "read_csv: cannot open {}: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_csv(ss.str(), options, path);
}

CsvDataset::CsvDataset(const std::string& path, const CsvOptions& options)
    : CsvDataset(read_csv(path, options)) {}

CsvDataset::CsvDataset(CsvTable table)
    : TensorDataset(table.features, table.target), table_(std::move(table)) {}

}  // namespace tandem::data
