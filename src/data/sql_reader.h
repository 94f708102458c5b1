// SqlReader: how the columns of one open query become example tensors (internal to
// src/data/sql_*.cpp). SqlDataset streams through it row by row, SqlTable decodes a batch's
// rows straight into the batch tensors, read_sql into two growing buffers.
#pragma once
#include <fmt/ranges.h>

#include <cstring>
#include <map>
#include <optional>

#include "data/sql_source.h"
#include "tandem/data/sql.h"
#include "tandem/error.h"
#include "tandem/summary/writer.h"

namespace tandem::data {
namespace sql {

const char* kind_name(SqlKind k);
SqlKind default_kind(Type t);
bool accepts(SqlKind k, Type t);
// The statement of `o` (its query, or SELECT * FROM its table) without a trailing semicolon.
std::string base_query(const SqlOptions& o);
Connect connect_of(const SqlOptions& o);
// Vocabularies of the text label columns (features in order, then the target) that have none
// given: SELECT DISTINCT, sorted. `feature_names` gets the feature columns' names.
std::vector<std::vector<std::string>> vocabularies(const std::string& url, const SqlOptions& o,
                                                   const std::string& query,
                                                   std::vector<std::string>* feature_names);

}  // namespace sql

// How each chosen column becomes part of an example: resolved once per open query against
// the result's columns (and, for types SQLite leaves open, the first row).
class SqlReader {
 public:
  struct Col {
    int index = -1;
    SqlColumn spec;
    SqlKind kind = SqlKind::Auto;
    std::map<std::string, int64_t, std::less<>> vocab;
    int64_t numel = 1;  // elements this column contributes (arrays, bytes: set by row 0)
  };

  SqlReader(const std::string& url, const SqlOptions& o, const std::string& query,
            const std::vector<std::vector<std::string>>& vocabularies)
      : SqlReader(sql::open(url, query, sql::connect_of(o)), url, o, query, vocabularies) {}
  // `src` runs `query` (a Session's query, for instance).
  SqlReader(std::unique_ptr<sql::Source> src, const std::string& url, const SqlOptions& o,
            const std::string& query, const std::vector<std::vector<std::string>>& vocabularies)
      : src_(std::move(src)), query_(query), url_(redact_url(url)),
        column_typed_(src_->column_typed()) {
    const auto& cols = src_->columns();
    auto find = [&](const std::string& name) {
      for (size_t i = 0; i < cols.size(); ++i)
        if (cols[i].name == name) return static_cast<int>(i);
      std::vector<std::string> names;
      for (const auto& c : cols) names.push_back(c.name);
      TANDEM_FAIL("{}: no column '{}' in the result (it has {})", what(), name,
                  fmt::join(names, ", "));
    };
    auto make = [&](const std::string& name, size_t vocab_slot) {
      Col c;
      c.index = find(name);
      c.spec.name = name;
      for (const auto& s : o.columns)
        if (s.name == name) c.spec = s;
      c.kind = c.spec.kind;
      if (vocab_slot < vocabularies.size())
        for (size_t i = 0; i < vocabularies[vocab_slot].size(); ++i)
          c.vocab.emplace(vocabularies[vocab_slot][i], static_cast<int64_t>(i));
      return c;
    };
    std::vector<std::string> names = o.features;
    if (names.empty())
      for (const auto& c : cols)
        if (c.name != o.target) names.push_back(c.name);
    for (size_t i = 0; i < names.size(); ++i) features_.push_back(make(names[i], i));
    TANDEM_CHECK(!features_.empty(), "{}: no feature columns", what());
    if (!o.target.empty()) target_ = make(o.target, names.size());
    for (Col* c : all()) resolve_declared(*c);
  }

  const std::string& query() const { return query_; }
  sql::Source& source() { return *src_; }
  std::string what() const { return fmt::format("query '{}' on {}", query_, url_); }
  int64_t row() const { return row_; }
  const std::vector<Col>& features() const { return features_; }

  bool step() {
    if (!src_->step()) return false;
    ++row_;
    if (row_ == 1) first_row();
    return true;
  }

  // Data of one example: one bytes/PNG/array column as its own tensor, else float32 [n].
  DType data_dtype() const { return single_ ? single_dtype_ : DType::Float32; }
  Shape data_shape() const { return data_shape_; }
  int64_t data_bytes() const { return data_bytes_; }
  bool has_target() const { return target_.has_value(); }
  DType target_dtype() const { return target_int_ ? DType::Int64 : DType::Float32; }

  void write_data(uint8_t* dst) {
    if (single_) return write_single(features_[0], dst);
    auto* out = reinterpret_cast<float*>(dst);
    for (Col& c : features_) {
      if (c.kind == SqlKind::Array) {
        array_value(c);
        std::copy(scratch_.begin(), scratch_.end(), out);
        out += c.numel;
      } else {
        *out++ = static_cast<float>(scalar(c));
      }
    }
  }
  void write_target(uint8_t* dst) {
    double v = scalar(*target_);
    if (target_int_) {
      auto t = static_cast<int64_t>(v);
      std::memcpy(dst, &t, 8);
    } else {
      auto f = static_cast<float>(v);
      std::memcpy(dst, &f, 4);
    }
  }

 private:
  std::vector<Col*> all() {
    std::vector<Col*> v;
    for (Col& c : features_) v.push_back(&c);
    if (target_) v.push_back(&*target_);
    return v;
  }
  const sql::ColumnInfo& info(const Col& c) const { return src_->columns()[c.index]; }

  void resolve_declared(Col& c) {
    sql::Type t = info(c).type;
    if (c.kind == SqlKind::Auto) c.kind = sql::default_kind(t);
    if (t != sql::Type::Unknown && c.kind != SqlKind::Auto)
      TANDEM_CHECK(sql::accepts(c.kind, t), "{}: column '{}' is {} ({}), which cannot be read as {}",
                   what(), c.spec.name, sql::type_name(t), info(c).declared, sql::kind_name(c.kind));
  }

  // Types SQLite leaves to the values, and the sizes of bytes/array columns, come from row 1.
  void first_row() {
    for (Col* c : all()) {
      if (c->kind == SqlKind::Auto) {
        if (src_->is_null(c->index))
          TANDEM_FAIL("{}: column '{}' has no declared type and is NULL in row 1: give its "
                      "kind in SqlOptions::columns",
                      what(), c->spec.name);
        c->kind = sql::default_kind(src_->value_type(c->index));
      }
    }
    TANDEM_CHECK(!target_ || (target_->kind != SqlKind::Bytes && target_->kind != SqlKind::Png &&
                                  target_->kind != SqlKind::Array),
                 "{}: the target column '{}' must hold numbers or labels, not {}", what(),
                 target_ ? target_->spec.name : "", target_ ? sql::kind_name(target_->kind) : "");
    if (target_) target_int_ = target_->kind != SqlKind::Real;
    single_ = features_.size() == 1 &&
              (features_[0].kind == SqlKind::Bytes || features_[0].kind == SqlKind::Png ||
               features_[0].kind == SqlKind::Array);
    if (single_) {
      Col& c = features_[0];
      Shape natural;
      if (c.kind == SqlKind::Png) {
        auto img = summary::decode_png(std::string(bytes(c)));
        natural = {img.channels, img.height, img.width};
        single_dtype_ = DType::UInt8;
      } else if (c.kind == SqlKind::Array) {
        array_value(c);
        natural = {static_cast<int64_t>(scratch_.size())};
        single_dtype_ = DType::Float32;
      } else {
        single_dtype_ = c.spec.dtype;
        int64_t item = static_cast<int64_t>(itemsize(single_dtype_));
        natural = {static_cast<int64_t>(bytes(c).size()) / item};
      }
      int64_t n = 1;
      for (int64_t d : c.spec.shape.empty() ? natural : c.spec.shape) n *= d;
      int64_t have = 1;
      for (int64_t d : natural) have *= d;
      TANDEM_CHECK(n == have, "{}: column '{}' holds {} elements in row 1, but its shape {} "
                   "has {}", what(), c.spec.name, have, c.spec.shape, n);
      c.numel = n;
      data_shape_ = c.spec.shape.empty() ? natural : c.spec.shape;
      data_bytes_ = n * static_cast<int64_t>(itemsize(single_dtype_));
    } else {
      int64_t n = 0;
      for (Col& c : features_) {
        TANDEM_CHECK(c.kind != SqlKind::Bytes && c.kind != SqlKind::Png,
                     "{}: column '{}' holds bytes; a bytes or PNG column must be the only "
                     "feature (choose it alone in SqlOptions::features)",
                     what(), c.spec.name);
        if (c.kind == SqlKind::Array) {
          array_value(c);
          c.numel = static_cast<int64_t>(scratch_.size());
        }
        n += c.numel;
      }
      data_shape_ = {n};
      data_bytes_ = n * 4;
    }
  }

  [[noreturn]] void null_error(const Col& c) {
    TANDEM_FAIL("{}: row {}, column '{}' is NULL (give the column a fill value in "
                "SqlOptions::columns, or filter the NULLs in the query)",
                what(), row_, c.spec.name);
  }

  // The value's type, checked against the column's kind (returned: one type look-up a value).
  sql::Type check_type(const Col& c) {
    sql::Type t = src_->value_type(c.index);
    if (!sql::accepts(c.kind, t))
      TANDEM_FAIL("{}: row {}, column '{}' holds {}, expected {}", what(), row_, c.spec.name,
                  sql::type_name(t), sql::kind_name(c.kind));
    return t;
  }

  double scalar(Col& c) {
    if (src_->is_null(c.index)) {
      if (!c.spec.fill) null_error(c);
      return *c.spec.fill;
    }
    const sql::Type t = column_typed_ && row_ > 1 ? info(c).type : check_type(c);
    if (c.kind != SqlKind::Label || t == sql::Type::Integer)
      return src_->as_double(c.index);
    std::string_view s = src_->as_bytes(c.index);
    auto it = c.vocab.find(s);
    if (it == c.vocab.end())
      TANDEM_FAIL("{}: row {}, column '{}': label '{}' is not in the vocabulary ({} labels)",
                  what(), row_, c.spec.name, s, c.vocab.size());
    return static_cast<double>(it->second);
  }

  std::string_view bytes(Col& c) {
    if (src_->is_null(c.index)) null_error(c);
    check_type(c);
    return src_->as_bytes(c.index);
  }

  void array_value(Col& c) {
    if (src_->is_null(c.index)) {
      if (!c.spec.fill || row_ == 1) null_error(c);
      scratch_.assign(static_cast<size_t>(c.numel), static_cast<float>(*c.spec.fill));
      return;
    }
    check_type(c);
    src_->as_array(c.index, scratch_);
    if (row_ > 1 && static_cast<int64_t>(scratch_.size()) != c.numel)
      TANDEM_FAIL("{}: row {}, column '{}' holds {} elements, row 1 held {}", what(), row_,
                  c.spec.name, scratch_.size(), c.numel);
  }

  void write_single(Col& c, uint8_t* dst) {
    if (c.kind == SqlKind::Array) {
      array_value(c);
      std::memcpy(dst, scratch_.data(), scratch_.size() * 4);
      return;
    }
    if (src_->is_null(c.index) && c.spec.fill) {
      Tensor t = from_blob(dst, {c.numel}, single_dtype_);
      t.fill_(*c.spec.fill);
      return;
    }
    std::string_view b = bytes(c);
    if (c.kind == SqlKind::Png) {
      auto img = summary::decode_png(std::string(b));
      const int64_t hw = static_cast<int64_t>(img.width) * img.height;
      TANDEM_CHECK(hw * img.channels == c.numel,
                   "{}: row {}, column '{}': a {}x{} PNG with {} channels, row 1 had {} pixels",
                   what(), row_, c.spec.name, img.width, img.height, img.channels, c.numel);
      // HWC (PNG) → CHW (tensor).
      for (int64_t ch = 0; ch < img.channels; ++ch)
        for (int64_t p = 0; p < hw; ++p) dst[ch * hw + p] = img.pixels[p * img.channels + ch];
      return;
    }
    TANDEM_CHECK(static_cast<int64_t>(b.size()) == data_bytes_,
                 "{}: row {}, column '{}' holds {} bytes, expected {} (shape {})", what(), row_,
                 c.spec.name, b.size(), data_bytes_, data_shape_);
    std::memcpy(dst, b.data(), b.size());
  }

  std::unique_ptr<sql::Source> src_;
  std::string query_, url_;
  bool column_typed_ = false;
  std::vector<Col> features_;
  std::optional<Col> target_;
  int64_t row_ = 0;
  bool single_ = false, target_int_ = true;
  DType single_dtype_ = DType::Float32;
  Shape data_shape_;
  int64_t data_bytes_ = 0;
  std::vector<float> scratch_;
};

}  // namespace tandem::data
