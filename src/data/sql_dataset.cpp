// SqlDataset and read_sql: result columns → tensors, the shuffle buffer, key blocks,
// sharding and resume. The databases themselves are in sql_sqlite.cpp / sql_postgres.cpp.
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <map>
#include <random>

#include "data/sql_source.h"
#include "tandem/data/dataloader.h"
#include "tandem/data/sql.h"
#include "tandem/error.h"
#include "tandem/summary/writer.h"

namespace tandem::data {

std::string redact_url(const std::string& url) {
  // scheme://user:password@host → scheme://user:***@host; also a password=... parameter.
  std::string out = url;
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t at = out.find('@', scheme + 3);
    size_t slash = out.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      size_t colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    size_t end = out.find_first_of("&; ", p);
    out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
  }
  return out;
}

bool is_sql_url(const std::string& url) {
  return url.rfind("sqlite://", 0) == 0 || url.rfind("postgresql://", 0) == 0 ||
         url.rfind("postgres://", 0) == 0;
}

namespace sql {

const char* type_name(Type t) {
  switch (t) {
    case Type::Integer: return "integer";
    case Type::Real: return "real";
    case Type::Bool: return "boolean";
    case Type::Numeric: return "numeric";
    case Type::Text: return "text";
    case Type::Blob: return "bytes";
    case Type::Array: return "array";
    default: return "unknown";
  }
}

std::unique_ptr<Source> open(const std::string& url, const std::string& query, const Connect& c) {
  std::string what = fmt::format("query '{}' on {}", query, redact_url(url));
  if (url.rfind("sqlite:", 0) == 0) return open_sqlite(url, query, c, what);
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return open_postgres(url, query, c, what);
  TANDEM_FAIL("'{}' is not a database URL: use sqlite:///file.db or "
              "postgresql://user@host:port/dbname",
              redact_url(url));
}

}  // namespace sql

namespace {

using sql::Type;

const char* kind_name(SqlKind k) {
  switch (k) {
    case SqlKind::Integer: return "integer";
    case SqlKind::Real: return "real";
    case SqlKind::Bool: return "boolean";
    case SqlKind::Label: return "label";
    case SqlKind::Bytes: return "bytes";
    case SqlKind::Png: return "png";
    case SqlKind::Array: return "array";
    default: return "auto";
  }
}

SqlKind default_kind(Type t) {
  switch (t) {
    case Type::Integer: return SqlKind::Integer;
    case Type::Bool: return SqlKind::Bool;
    case Type::Real: case Type::Numeric: return SqlKind::Real;
    case Type::Text: return SqlKind::Label;
    case Type::Blob: return SqlKind::Bytes;
    case Type::Array: return SqlKind::Array;
    default: return SqlKind::Auto;
  }
}

bool accepts(SqlKind k, Type t) {
  switch (k) {
    case SqlKind::Integer: case SqlKind::Real: case SqlKind::Bool:
      return t == Type::Integer || t == Type::Real || t == Type::Bool || t == Type::Numeric;
    case SqlKind::Label: return t == Type::Text || t == Type::Integer;
    case SqlKind::Bytes: case SqlKind::Png: return t == Type::Blob;
    case SqlKind::Array: return t == Type::Array;
    default: return false;
  }
}

std::string base_query(const SqlOptions& o) {
  TANDEM_CHECK(o.query.empty() != o.table.empty(),
               "SqlDataset: give either a query or a table (got {})",
               o.query.empty() ? "neither" : "both");
  std::string q = o.query.empty() ? "SELECT * FROM " + o.table : o.query;
  // COPY (q) and sub-selects do not take a trailing semicolon.
  while (!q.empty() && (q.back() == ';' || std::isspace(static_cast<unsigned char>(q.back()))))
    q.pop_back();
  return q;
}

sql::Connect connect_of(const SqlOptions& o) {
  return {o.connect_timeout_s, o.read_timeout_s, o.postgres, o.fetch_rows};
}

}  // namespace

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
      : query_(query), url_(redact_url(url)) {
    src_ = sql::open(url, query, connect_of(o));
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
    Type t = info(c).type;
    if (c.kind == SqlKind::Auto) c.kind = default_kind(t);
    if (t != Type::Unknown && c.kind != SqlKind::Auto)
      TANDEM_CHECK(accepts(c.kind, t), "{}: column '{}' is {} ({}), which cannot be read as {}",
                   what(), c.spec.name, sql::type_name(t), info(c).declared, kind_name(c.kind));
  }

  // Types SQLite leaves to the values, and the sizes of bytes/array columns, come from row 1.
  void first_row() {
    for (Col* c : all()) {
      if (c->kind == SqlKind::Auto) {
        if (src_->is_null(c->index))
          TANDEM_FAIL("{}: column '{}' has no declared type and is NULL in row 1: give its "
                      "kind in SqlOptions::columns",
                      what(), c->spec.name);
        c->kind = default_kind(src_->value_type(c->index));
      }
    }
    TANDEM_CHECK(!target_ || (target_->kind != SqlKind::Bytes && target_->kind != SqlKind::Png &&
                                  target_->kind != SqlKind::Array),
                 "{}: the target column '{}' must hold numbers or labels, not {}", what(),
                 target_ ? target_->spec.name : "", target_ ? kind_name(target_->kind) : "");
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

  void check_type(const Col& c) {
    Type t = src_->value_type(c.index);
    if (!accepts(c.kind, t))
      TANDEM_FAIL("{}: row {}, column '{}' holds {}, expected {}", what(), row_, c.spec.name,
                  sql::type_name(t), kind_name(c.kind));
  }

  double scalar(Col& c) {
    if (src_->is_null(c.index)) {
      if (!c.spec.fill) null_error(c);
      return *c.spec.fill;
    }
    check_type(c);
    if (c.kind != SqlKind::Label || src_->value_type(c.index) == Type::Integer)
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
  std::vector<Col> features_;
  std::optional<Col> target_;
  int64_t row_ = 0;
  bool single_ = false, target_int_ = true;
  DType single_dtype_ = DType::Float32;
  Shape data_shape_;
  int64_t data_bytes_ = 0;
  std::vector<float> scratch_;
};

namespace {

// Vocabularies of the text label columns that have none given: SELECT DISTINCT, sorted, so
// that every worker, rank and run agrees on the indices.
std::vector<std::vector<std::string>> vocabularies(const std::string& url, const SqlOptions& o,
                                                   const std::string& query,
                                                   std::vector<std::string>* feature_names) {
  std::unique_ptr<sql::Source> probe = sql::open(url, "SELECT * FROM (" + query + ") AS tandem_q LIMIT 1", connect_of(o));
  const bool has_row = probe->step();
  std::vector<std::string> names = o.features;
  if (names.empty())
    for (const auto& c : probe->columns())
      if (c.name != o.target) names.push_back(c.name);
  if (feature_names) *feature_names = names;
  if (!o.target.empty()) names.push_back(o.target);
  std::vector<std::vector<std::string>> out(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const SqlColumn* spec = nullptr;
    for (const auto& s : o.columns)
      if (s.name == names[i]) spec = &s;
    if (spec && !spec->vocabulary.empty()) {
      out[i] = spec->vocabulary;
      continue;
    }
    Type t = Type::Unknown;
    const auto& cols = probe->columns();
    for (size_t k = 0; k < cols.size(); ++k)
      if (cols[k].name == names[i]) {
        t = cols[k].type;
        // SQLite expression columns: the first row's value decides, as it does when reading.
        if (t == Type::Unknown && has_row && !probe->is_null(static_cast<int>(k)))
          t = probe->value_type(static_cast<int>(k));
      }
    bool label = spec && spec->kind == SqlKind::Label ? true
                 : (!spec || spec->kind == SqlKind::Auto) && t == Type::Text;
    if (!label) continue;
    std::string q = fmt::format("SELECT DISTINCT \"{}\" FROM ({}) AS tandem_q WHERE \"{}\" IS "
                                "NOT NULL ORDER BY 1",
                                names[i], query, names[i]);
    auto src = sql::open(url, q, connect_of(o));
    while (src->step()) out[i].emplace_back(src->as_bytes(0));
    // Byte order, whatever the database's collation: the same indices from SQLite and PostgreSQL.
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

}  // namespace

struct SqlDataset::State {
  std::string query;
  std::vector<std::string> feature_names;
  std::vector<std::vector<std::string>> vocab;
  std::unique_ptr<SqlReader> reader;
  std::mt19937_64 rng;
  std::vector<Example> buffer;   // the shuffle buffer
  std::deque<Example> ready;     // drained in order (end of stream, key blocks)
  int64_t source_row = 0;        // rows read from the source this pass (for sharding)
  bool exhausted = false;
  bool started = false;
  // key blocks: the [lo, hi) ranges this rank reads, in order
  std::vector<std::pair<int64_t, int64_t>> blocks;
  size_t next_block = 0;
};

SqlDataset::SqlDataset(std::string url, SqlOptions options)
    : url_(std::move(url)), options_(std::move(options)), state_(std::make_unique<State>()) {
  TANDEM_CHECK(options_.world_size >= 1 && options_.rank >= 0 &&
                   options_.rank < options_.world_size,
               "SqlDataset: rank {} is not in [0, world_size {})", options_.rank,
               options_.world_size);
  TANDEM_CHECK(options_.shuffle_buffer >= 0 && options_.key_block >= 1,
               "SqlDataset: shuffle_buffer must be >= 0 and key_block >= 1");
  state_->query = base_query(options_);
  // Check the URL, the query and the columns now rather than on the first batch.
  state_->vocab = vocabularies(url_, options_, state_->query, &state_->feature_names);
}

SqlDataset::~SqlDataset() = default;

const std::vector<std::string>& SqlDataset::feature_names() const {
  return state_->feature_names;
}
const std::vector<std::string>& SqlDataset::target_vocabulary() const {
  static const std::vector<std::string> none;
  return options_.target.empty() ? none : state_->vocab.back();
}

void SqlDataset::reset() {
  State& s = *state_;
  s.reader.reset();
  s.buffer.clear();
  s.ready.clear();
  s.source_row = 0;
  s.exhausted = false;
  s.started = false;
  position_ = 0;
}

std::optional<Example> SqlDataset::next() {
  State& s = *state_;
  const SqlOptions& o = options_;
  const bool keyed = !o.key.empty();
  auto open_next = [&]() -> bool {
    if (!keyed) {
      if (s.reader) return false;
      s.reader = std::make_unique<SqlReader>(url_, o, s.query, s.vocab);
      return true;
    }
    if (s.next_block >= s.blocks.size()) return false;
    auto [lo, hi] = s.blocks[s.next_block++];
    std::string q = fmt::format("SELECT * FROM ({}) AS tandem_q WHERE \"{}\" >= {} AND \"{}\" < {}",
                                s.query, o.key, lo, o.key, hi);
    s.reader = std::make_unique<SqlReader>(url_, o, q, s.vocab);
    return true;
  };
  auto read_row = [&]() -> std::optional<Example> {
    SqlReader& r = *s.reader;
    Tensor data = empty(r.data_shape(), {r.data_dtype()});
    r.write_data(static_cast<uint8_t*>(data.data_ptr()));
    Tensor target;
    if (r.has_target()) {
      target = empty({}, {r.target_dtype()});
      r.write_target(static_cast<uint8_t*>(target.data_ptr()));
    }
    return Example{std::move(data), std::move(target)};
  };
  // The next example of this rank's stream before the shuffle buffer.
  auto pull = [&]() -> std::optional<Example> {
    for (;;) {
      if (!s.ready.empty()) {
        Example e = std::move(s.ready.front());
        s.ready.pop_front();
        return e;
      }
      if (!keyed) {
        if (!s.reader) open_next();
        for (;;) {
          if (!s.reader->step()) return std::nullopt;
          // Sharding: each rank keeps every world_size-th row, and converts only those.
          if (s.source_row++ % o.world_size == o.rank) return read_row();
        }
      }
      // Key blocks: a whole block read, shuffled, then handed out.
      if (!open_next()) return std::nullopt;
      std::vector<Example> block;
      while (s.reader->step()) block.push_back(*read_row());
      std::shuffle(block.begin(), block.end(), s.rng);
      for (auto& e : block) s.ready.push_back(std::move(e));
    }
  };
  auto produce = [&]() -> std::optional<Example> {
    if (o.shuffle_buffer <= 0) return pull();
    while (!s.exhausted && static_cast<int64_t>(s.buffer.size()) < o.shuffle_buffer) {
      std::optional<Example> e = pull();
      if (!e) {
        s.exhausted = true;
        break;
      }
      s.buffer.push_back(std::move(*e));
    }
    if (s.buffer.empty()) return std::nullopt;
    // Swap a random slot to the back and hand it out; the next pull refills the buffer.
    std::uniform_int_distribution<size_t> pick(0, s.buffer.size() - 1);
    std::swap(s.buffer[pick(s.rng)], s.buffer.back());
    Example e = std::move(s.buffer.back());
    s.buffer.pop_back();
    return e;
  };

  if (!s.started) {
    s.started = true;
    s.rng.seed(sample_seed(o.seed, epoch_, o.rank));
    if (keyed) {
      auto mm = sql::open(url_,
                          fmt::format("SELECT min(\"{}\"), max(\"{}\") FROM ({}) AS tandem_q",
                                      o.key, o.key, s.query),
                          connect_of(o));
      s.blocks.clear();
      s.next_block = 0;
      if (mm->step() && !mm->is_null(0)) {
        auto lo = static_cast<int64_t>(mm->as_double(0));
        auto hi = static_cast<int64_t>(mm->as_double(1)) + 1;
        int64_t n = (hi - lo + o.key_block - 1) / o.key_block;
        std::vector<int64_t> perm = epoch_permutation(n, o.seed, epoch_);
        for (int64_t i = o.rank; i < n; i += o.world_size)
          s.blocks.emplace_back(lo + perm[i] * o.key_block,
                                std::min(hi, lo + (perm[i] + 1) * o.key_block));
      }
    }
    // Resume: replay the same order up to the recorded position.
    for (; position_ < seek_; ++position_)
      if (!produce()) break;
    seek_ = 0;
  }
  std::optional<Example> e = produce();
  if (e) ++position_;
  return e;
}

std::shared_ptr<TensorDataset> read_sql(const std::string& url, const SqlOptions& options,
                                        int64_t limit) {
  std::string query = base_query(options);
  auto vocab = vocabularies(url, options, query, nullptr);
  SqlReader r(url, options, query, vocab);
  std::vector<uint8_t> data, target;
  int64_t n = 0;
  while ((limit <= 0 || n < limit) && r.step()) {
    // Rows land straight in the growing buffers that become the two tensors.
    size_t d = data.size(), t = target.size();
    data.resize(d + static_cast<size_t>(r.data_bytes()));
    r.write_data(data.data() + d);
    if (r.has_target()) {
      target.resize(t + 8);
      r.write_target(target.data() + t);
    }
    ++n;
  }
  TANDEM_CHECK(n > 0, "read_sql: {} returned no rows", r.what());
  Shape shape = r.data_shape();
  shape.insert(shape.begin(), n);
  Tensor x = empty(shape, {r.data_dtype()});
  std::memcpy(x.data_ptr(), data.data(), data.size());
  Tensor y;
  if (r.has_target()) {
    y = empty({n}, {r.target_dtype()});
    const size_t item = r.target_dtype() == DType::Int64 ? 8 : 4;
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<uint8_t*>(y.data_ptr()) + i * item, target.data() + i * 8, item);
  }
  return std::make_shared<TensorDataset>(x, y);
}

void write_sql_images(const std::string& url, const std::string& table, const Tensor& images,
                      const Tensor& labels, const std::function<void(int64_t)>& progress) {
  TANDEM_CHECK(images.dtype() == DType::UInt8 && images.dim() >= 2,
               "write_sql_images: images must be uint8 [N, ...], got {} {}",
               dtype_name(images.dtype()), images.shape());
  TANDEM_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0),
               "write_sql_images: labels must be [{}], got {}", images.size(0), labels.shape());
  TANDEM_CHECK(images.size(0) > 0, "write_sql_images: no images to write");
  Tensor x = images.contiguous();
  Tensor y = labels.to(DType::Int64).contiguous();
  if (url.rfind("sqlite:", 0) == 0) return sql::write_images_sqlite(url, table, x, y, progress);
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return sql::write_images_postgres(url, table, x, y, progress);
  TANDEM_FAIL("'{}' is not a database URL: use sqlite:///file.db or "
              "postgresql://user@host:port/dbname",
              redact_url(url));
}

}  // namespace tandem::data
