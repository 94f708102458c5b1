// SQLite rows for SqlDataset: one read-only connection and one prepared statement, stepped.
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "data/sql_source.h"
#include "tandem/error.h"

namespace tandem::data::sql {
namespace {

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// SQLite's type affinity rules (https://sqlite.org/datatype3.html, section 3.1), plus BOOL.
Type from_declared(const char* decl) {
  if (decl == nullptr || *decl == 0) return Type::Unknown;
  std::string d = upper(decl);
  if (d.find("BOOL") != std::string::npos) return Type::Bool;
  if (d.find("INT") != std::string::npos) return Type::Integer;
  if (d.find("CHAR") != std::string::npos || d.find("CLOB") != std::string::npos ||
      d.find("TEXT") != std::string::npos)
    return Type::Text;
  if (d.find("BLOB") != std::string::npos) return Type::Blob;
  if (d.find("REAL") != std::string::npos || d.find("FLOA") != std::string::npos ||
      d.find("DOUB") != std::string::npos)
    return Type::Real;
  return Type::Numeric;
}

// A read-only connection, shared by the statements of a session.
// NOTE: read-only without SQLITE_OPEN_CREATE: a wrong path is an error, not a new empty
// database. Readers in WAL mode see a consistent snapshot per statement.
std::shared_ptr<sqlite3> open_db(const std::string& url, const Connect& c, const std::string& what) {
  std::string path = sqlite_path(url);
  TANDEM_CHECK(std::filesystem::exists(path), "{}: no database file '{}'", what, path);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  std::shared_ptr<sqlite3> db(raw, [](sqlite3* d) { sqlite3_close_v2(d); });
  if (rc != SQLITE_OK)
    TANDEM_FAIL("{}: cannot open the database: {}", what, raw ? sqlite3_errmsg(raw) : "out of memory");
  sqlite3_busy_timeout(raw, c.read_timeout_s * 1000);
  return db;
}

class SqliteSource : public Source {
 public:
  SqliteSource(std::shared_ptr<sqlite3> db, const std::string& query, std::string what)
      : what_(std::move(what)), db_(std::move(db)) {
    int rc = sqlite3_prepare_v2(db_.get(), query.c_str(), static_cast<int>(query.size()), &stmt_,
                                nullptr);
    if (rc != SQLITE_OK) fail("cannot prepare the statement");
    TANDEM_CHECK(stmt_ != nullptr, "{}: the query is empty", what_);
    int n = sqlite3_column_count(stmt_);
    TANDEM_CHECK(n > 0, "{}: the statement returns no columns", what_);
    for (int i = 0; i < n; ++i) {
      const char* decl = sqlite3_column_decltype(stmt_, i);
      columns_.push_back({sqlite3_column_name(stmt_, i), from_declared(decl),
                          decl ? decl : "(expression)"});
    }
  }
  ~SqliteSource() override { sqlite3_finalize(stmt_); }

  const std::vector<ColumnInfo>& columns() const override { return columns_; }
  bool step() override {
    // NOTE: stepping a finished statement would start it over (SQLite resets it): the end
    // stays the end.
    if (done_) return false;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      done_ = true;
      return false;
    }
    fail("reading a row failed");
  }
  bool is_null(int c) override { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  Type value_type(int c) override {
    switch (sqlite3_column_type(stmt_, c)) {
      case SQLITE_INTEGER: return columns_[c].type == Type::Bool ? Type::Bool : Type::Integer;
      case SQLITE_FLOAT: return Type::Real;
      case SQLITE_TEXT: return Type::Text;
      case SQLITE_BLOB: return Type::Blob;
      default: return Type::Unknown;
    }
  }
  double as_double(int c) override { return sqlite3_column_double(stmt_, c); }
  std::string_view as_bytes(int c) override {
    const void* p = sqlite3_column_blob(stmt_, c);  // text too: its UTF-8 bytes
    int n = sqlite3_column_bytes(stmt_, c);
    return {static_cast<const char*>(p), static_cast<size_t>(n)};
  }
  void as_array(int c, std::vector<float>&) override {
    TANDEM_FAIL("{}: SQLite has no array columns (column '{}')", what_, columns_[c].name);
  }

 private:
  [[noreturn]] void fail(const char* doing) {
    TANDEM_FAIL("{}: {}: {}", what_, doing, sqlite3_errmsg(db_.get()));
  }

  std::string what_;
  std::shared_ptr<sqlite3> db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool done_ = false;
  std::vector<ColumnInfo> columns_;
};

bool plain_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
}

}  // namespace

std::string sqlite_path(const std::string& url) {
  const std::string prefix = "sqlite:///";
  TANDEM_CHECK(url.rfind(prefix, 0) == 0,
               "'{}' is not a SQLite URL: write sqlite:///relative/file.db or "
               "sqlite:////absolute/file.db",
               url);
  std::string path = url.substr(prefix.size());
  TANDEM_CHECK(!path.empty(), "'{}' names no database file (sqlite:///file.db)", url);
  return path;
}

std::unique_ptr<Source> open_sqlite(const std::string& url, const std::string& query,
                                    const Connect& c, const std::string& what) {
  return std::make_unique<SqliteSource>(open_db(url, c, what), query, what);
}

std::unique_ptr<Session> open_sqlite_session(const std::string& url, const Connect& c) {
  class SqliteSession : public Session {
   public:
    SqliteSession(std::string url, std::shared_ptr<sqlite3> db)
        : url_(std::move(url)), db_(std::move(db)) {}
    std::unique_ptr<Source> run(const std::string& query) override {
      return std::make_unique<SqliteSource>(db_, query,
                                            fmt::format("query '{}' on {}", query, url_));
    }

   private:
    std::string url_;
    std::shared_ptr<sqlite3> db_;
  };
  std::shared_ptr<sqlite3> db = open_db(url, c, "database " + url);
  // A session reads rows by key in a random order: through SQLite's small page cache every row
  // was a pread() of its page (12 us/row, most of it in the kernel). Mapped, the pages are
  // the OS's file cache (clean, reclaimable, shared by the workers); capped at 1 GiB of
  // address space, beyond which SQLite reads as before.
  sqlite3_exec(db.get(), "PRAGMA mmap_size = 1073741824", nullptr, nullptr, nullptr);
  return std::make_unique<SqliteSession>(url, std::move(db));
}

void write_images_sqlite(const std::string& url, const std::string& table, const Tensor& images,
                         const Tensor& labels, const std::function<void(int64_t)>& progress) {
  TANDEM_CHECK(plain_identifier(table), "write_sql_images: '{}' is not a plain table name",
               table);
  std::string path = sqlite_path(url);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  auto check = [&](int code, const char* doing) {
    if (code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW) return;
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    TANDEM_FAIL("write_sql_images: {} {}: {}", doing, url, msg);
  };
  check(rc, "cannot open");
  sqlite3_busy_timeout(db, 10000);
  // One transaction: readers see the old table or the whole new one, never a part.
  check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "cannot write to");
  std::string ddl = "DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table +
                    " (id INTEGER PRIMARY KEY, image BLOB NOT NULL, label INTEGER NOT NULL)";
  check(sqlite3_exec(db, ddl.c_str(), nullptr, nullptr, nullptr), "cannot create the table in");
  sqlite3_stmt* ins = nullptr;
  std::string sql = "INSERT INTO " + table + " (id, image, label) VALUES (?, ?, ?)";
  check(sqlite3_prepare_v2(db, sql.c_str(), -1, &ins, nullptr), "cannot insert into");
  const int64_t n = images.size(0);
  const size_t row_bytes = images.nbytes() / static_cast<size_t>(std::max<int64_t>(n, 1));
  const auto* px = images.data<uint8_t>();
  const auto* lab = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    sqlite3_bind_int64(ins, 1, i);
    sqlite3_bind_blob(ins, 2, px + i * row_bytes, static_cast<int>(row_bytes), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, lab[i]);
    int s = sqlite3_step(ins);
    if (s != SQLITE_DONE) sqlite3_finalize(ins);
    check(s, "cannot insert a row into");
    sqlite3_reset(ins);
    if (progress && ((i + 1) % 1000 == 0 || i + 1 == n)) progress(i + 1);
  }
  sqlite3_finalize(ins);
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "cannot commit to");
  sqlite3_close_v2(db);
}

}  // namespace tandem::data::sql
