// SqlDataset and read_sql: the shuffle buffer, key blocks, sharding and resume. Columns become
// tensors in sql_reader.h; the databases themselves are in sql_sqlite.cpp / sql_postgres.cpp.
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <map>
#include <random>

#include "data/sql_reader.h"
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

std::unique_ptr<Session> open_session(const std::string& url, const Connect& c) {
  if (url.rfind("sqlite:", 0) == 0) return open_sqlite_session(url, c);
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return open_postgres_session(url, c);
  TANDEM_FAIL("'{}' is not a database URL: use sqlite:///file.db or "
              "postgresql://user@host:port/dbname",
              redact_url(url));
}

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

Connect connect_of(const SqlOptions& o) {
  return {o.connect_timeout_s, o.read_timeout_s, o.postgres, o.fetch_rows};
}

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

}  // namespace sql

// Rows are kept as bytes, never as tensors: the example's data, then its target in 8 bytes
// (int64, or float32 in the first 4). next_batch copies them straight into the batch tensors.
struct SqlDataset::State {
  std::string query;
  std::vector<std::string> feature_names;
  std::vector<std::vector<std::string>> vocab;
  std::unique_ptr<SqlReader> reader;
  std::mt19937_64 rng;
  // The example's layout, from the first row (data_bytes < 0: no row yet).
  int64_t data_bytes = -1;
  Shape data_shape;
  DType data_dtype = DType::Float32, target_dtype = DType::Int64;
  bool has_target = false;
  std::vector<uint8_t> row;                // the row just read
  std::vector<uint8_t> buffer;             // the shuffle buffer: `buffered` rows
  int64_t buffered = 0;
  std::vector<uint8_t> picked;             // the row the shuffle buffer hands out
  std::vector<uint8_t> block;              // a key block, read whole...
  std::vector<int64_t> block_order;        // ... and handed out in this shuffled order
  size_t block_next = 0;
  int64_t source_row = 0;        // rows read from the source this pass (for sharding)
  bool exhausted = false;
  bool started = false;
  // key blocks: the [lo, hi) ranges this rank reads, in order
  std::vector<std::pair<int64_t, int64_t>> blocks;
  size_t next_block = 0;

  size_t row_bytes() const { return static_cast<size_t>(data_bytes) + 8; }
  // After the reader stepped onto a row: the layout (first row) or its check (later readers).
  void note_layout() {
    SqlReader& r = *reader;
    if (data_bytes < 0) {
      data_bytes = r.data_bytes();
      data_shape = r.data_shape();
      data_dtype = r.data_dtype();
      has_target = r.has_target();
      target_dtype = has_target ? r.target_dtype() : DType::Int64;
      row.resize(row_bytes());
      picked.resize(row_bytes());
      return;
    }
    TANDEM_CHECK(r.data_bytes() == data_bytes && r.data_shape() == data_shape,
                 "{}: the rows have shape {} here, earlier ones had {}", r.what(),
                 r.data_shape(), data_shape);
  }
  void decode(uint8_t* dst) {
    reader->write_data(dst);
    if (has_target) reader->write_target(dst + data_bytes);
  }
};

SqlDataset::SqlDataset(std::string url, SqlOptions options)
    : url_(std::move(url)), options_(std::move(options)), state_(std::make_unique<State>()) {
  TANDEM_CHECK(options_.world_size >= 1 && options_.rank >= 0 &&
                   options_.rank < options_.world_size,
               "SqlDataset: rank {} is not in [0, world_size {})", options_.rank,
               options_.world_size);
  TANDEM_CHECK(options_.shuffle_buffer >= 0 && options_.key_block >= 1,
               "SqlDataset: shuffle_buffer must be >= 0 and key_block >= 1");
  state_->query = sql::base_query(options_);
  // Check the URL, the query and the columns now rather than on the first batch.
  state_->vocab = sql::vocabularies(url_, options_, state_->query, &state_->feature_names);
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
  s.buffered = 0;
  s.block_order.clear();
  s.block_next = 0;
  s.source_row = 0;
  s.exhausted = false;
  s.started = false;
  position_ = 0;
}

bool SqlDataset::open_next() {
  State& s = *state_;
  const SqlOptions& o = options_;
  if (o.key.empty()) {
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
}

// The next row of this rank's stream before the shuffle buffer; nullptr at the end.
const uint8_t* SqlDataset::pull() {
  State& s = *state_;
  const SqlOptions& o = options_;
  for (;;) {
    if (s.block_next < s.block_order.size())
      return s.block.data() + s.block_order[s.block_next++] * s.row_bytes();
    if (o.key.empty()) {
      if (!s.reader) open_next();
      for (;;) {
        if (!s.reader->step()) return nullptr;
        // Sharding: each rank keeps every world_size-th row, and converts only those.
        if (s.source_row++ % o.world_size == o.rank) {
          s.note_layout();
          s.decode(s.row.data());
          return s.row.data();
        }
      }
    }
    // Key blocks: a whole block read, shuffled, then handed out.
    if (!open_next()) return nullptr;
    int64_t n = 0;
    while (s.reader->step()) {
      s.note_layout();
      s.block.resize((n + 1) * s.row_bytes());
      s.decode(s.block.data() + n * s.row_bytes());
      ++n;
    }
    s.block_order.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) s.block_order[i] = i;
    std::shuffle(s.block_order.begin(), s.block_order.end(), s.rng);
    s.block_next = 0;
  }
}

// The next row after the shuffle buffer; nullptr at the end.
const uint8_t* SqlDataset::produce() {
  State& s = *state_;
  const SqlOptions& o = options_;
  if (o.shuffle_buffer <= 0) return pull();
  while (!s.exhausted && s.buffered < o.shuffle_buffer) {
    const uint8_t* r = pull();
    if (!r) {
      s.exhausted = true;
      break;
    }
    const size_t rb = s.row_bytes();
    if (s.buffer.size() < (s.buffered + 1) * rb) s.buffer.resize((s.buffered + 1) * rb);
    std::memcpy(s.buffer.data() + s.buffered * rb, r, rb);
    ++s.buffered;
  }
  if (s.buffered == 0) return nullptr;
  // A random slot is handed out and the last row moves into it; the next pull refills.
  const size_t rb = s.row_bytes();
  std::uniform_int_distribution<size_t> pick(0, static_cast<size_t>(s.buffered) - 1);
  const size_t j = pick(s.rng), last = static_cast<size_t>(s.buffered) - 1;
  std::memcpy(s.picked.data(), s.buffer.data() + j * rb, rb);
  if (j != last) std::memcpy(s.buffer.data() + j * rb, s.buffer.data() + last * rb, rb);
  --s.buffered;
  return s.picked.data();
}

void SqlDataset::start() {
  State& s = *state_;
  const SqlOptions& o = options_;
  s.started = true;
  s.rng.seed(sample_seed(o.seed, epoch_, o.rank));
  if (!o.key.empty()) {
    auto mm = sql::open(url_,
                        fmt::format("SELECT min(\"{}\"), max(\"{}\") FROM ({}) AS tandem_q",
                                    o.key, o.key, s.query),
                        sql::connect_of(o));
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

std::optional<Example> SqlDataset::next() {
  State& s = *state_;
  if (!s.started) start();
  const uint8_t* r = produce();
  if (!r) return std::nullopt;
  ++position_;
  Tensor data = empty(s.data_shape, {s.data_dtype});
  std::memcpy(data.data_ptr(), r, static_cast<size_t>(s.data_bytes));
  Tensor target;
  if (s.has_target) {
    target = empty({}, {s.target_dtype});
    std::memcpy(target.data_ptr(), r + s.data_bytes, itemsize(s.target_dtype));
  }
  return Example{std::move(data), std::move(target)};
}

Batch SqlDataset::next_batch(int64_t max) {
  State& s = *state_;
  TANDEM_CHECK(max >= 1, "SqlDataset::next_batch: max must be >= 1, got {}", max);
  if (!s.started) start();
  const uint8_t* r = produce();
  if (!r) return {};
  // The first row fixed the layout: rows are copied straight into the batch tensors.
  Shape shape = s.data_shape;
  shape.insert(shape.begin(), max);
  Batch b{empty(shape, {s.data_dtype}), s.has_target ? empty({max}, {s.target_dtype}) : Tensor()};
  auto* data = static_cast<uint8_t*>(b.data.data_ptr());
  auto* target = s.has_target ? static_cast<uint8_t*>(b.target.data_ptr()) : nullptr;
  const auto db = static_cast<size_t>(s.data_bytes);
  const size_t tb = itemsize(s.target_dtype);
  int64_t n = 0;
  for (; r; r = n < max ? produce() : nullptr) {
    std::memcpy(data + n * db, r, db);
    if (target) std::memcpy(target + n * tb, r + db, tb);
    ++n;
    ++position_;
  }
  if (n < max) {
    b.data = b.data.narrow(0, 0, n);
    if (target) b.target = b.target.narrow(0, 0, n);
  }
  return b;
}

std::shared_ptr<TensorDataset> read_sql(const std::string& url, const SqlOptions& options,
                                        int64_t limit) {
  std::string query = sql::base_query(options);
  auto vocab = sql::vocabularies(url, options, query, nullptr);
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
