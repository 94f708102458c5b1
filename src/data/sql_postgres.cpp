// PostgreSQL rows for SqlDataset through libpq: binary COPY (the default), a server-side
// cursor (for statements COPY cannot run, or by choice), or text COPY. Everything waits with
// poll() on the connection's socket, so a silent server is a read timeout, not a hang.
#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "data/sql_source.h"
#include "tandem/error.h"

namespace tandem::data::sql {
namespace {

// pg_type OIDs (src/include/catalog/pg_type.dat; stable across server versions).
Type type_of(Oid oid) {
  switch (oid) {
    case 16: return Type::Bool;
    case 20: case 21: case 23: case 26: return Type::Integer;
    case 700: case 701: return Type::Real;
    case 1700: return Type::Numeric;
    case 19: case 25: case 1042: case 1043: return Type::Text;
    case 17: return Type::Blob;
    case 1005: case 1007: case 1016: case 1021: case 1022: return Type::Array;
    default: return Type::Unknown;
  }
}

uint16_t be16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] << 8 | u[1]);
}
uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | u[3];
}
uint64_t be64(const char* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }

// A binary value of type `oid` as a double.
double binary_number(Oid oid, const char* p, int len) {
  switch (oid) {
    case 16: return p[0] ? 1.0 : 0.0;
    case 21: return static_cast<int16_t>(be16(p));
    case 23: return static_cast<int32_t>(be32(p));
    case 26: return be32(p);
    case 20: return static_cast<double>(static_cast<int64_t>(be64(p)));
    case 700: { uint32_t u = be32(p); float f; std::memcpy(&f, &u, 4); return f; }
    case 701: { uint64_t u = be64(p); double d; std::memcpy(&d, &u, 8); return d; }
    case 1700: {
      // numeric: ndigits, weight, sign, dscale, then base-10000 digits (numeric.c).
      int nd = static_cast<int16_t>(be16(p)), weight = static_cast<int16_t>(be16(p + 2));
      uint16_t sign = be16(p + 4);
      if (sign == 0xC000) return std::nan("");
      double v = 0;
      for (int i = 0; i < nd; ++i) v += be16(p + 8 + 2 * i) * std::pow(10000.0, weight - i);
      return sign == 0x4000 ? -v : v;
    }
    default: TANDEM_FAIL("a value of PostgreSQL type oid {} is not a number", oid);
  }
}

// Text COPY's escapes (COPY docs, "Text Format"): \b \f \n \r \t \v \\, \ooo, \xhh.
void unescape(const char* p, const char* end, std::string& out) {
  out.clear();
  while (p < end) {
    if (*p != '\\' || p + 1 >= end) { out.push_back(*p++); continue; }
    char c = *++p;
    ++p;
    switch (c) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': {
        int v = 0, k = 0;
        for (; k < 2 && p < end && std::isxdigit(static_cast<unsigned char>(*p)); ++k, ++p)
          v = v * 16 + (std::isdigit(static_cast<unsigned char>(*p)) ? *p - '0' : (*p | 32) - 'a' + 10);
        out.push_back(static_cast<char>(v));
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; ++k) v = v * 8 + (*p++ - '0');
          out.push_back(static_cast<char>(v));
        } else {
          out.push_back(c);
        }
    }
  }
}

// Passwords never reach a message: libpq's own errors may echo parts of the URL.
std::string scrub(std::string msg, const std::string& url) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  auto hide = [&](const std::string& secret) {
    if (secret.size() < 2) return;
    for (size_t p = msg.find(secret); p != std::string::npos; p = msg.find(secret, p + 3))
      msg.replace(p, secret.size(), "***");
  };
  size_t s = url.find("://");
  if (s != std::string::npos) {
    size_t at = url.find('@', s + 3), colon = url.find(':', s + 3);
    if (at != std::string::npos && colon < at) hide(url.substr(colon + 1, at - colon - 1));
  }
  if (const char* env = std::getenv("PGPASSWORD")) hide(env);
  return msg;
}

class Connection {
 public:
  Connection(const std::string& url, const Connect& c, std::string what)
      : url_(url), what_(std::move(what)), read_timeout_ms_(c.read_timeout_s * 1000) {
    std::string timeout = std::to_string(c.connect_timeout_s);
    // The URL's own settings (expanded from dbname) override the default timeout.
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), url.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr) TANDEM_FAIL("{}: cannot connect: out of memory", what_);
    if (PQstatus(conn_) != CONNECTION_OK) fail("cannot connect");
    // Server notices ("table ... does not exist, skipping") are not for the user's terminal.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~Connection() { PQfinish(conn_); }
  PGconn* get() const { return conn_; }
  const std::string& what() const { return what_; }
  void set_what(std::string what) { what_ = std::move(what); }

  [[noreturn]] void fail(const char* doing, const PGresult* r = nullptr) const {
    const char* m = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    TANDEM_FAIL("{}: {}: {}", what_, doing, scrub(m && *m ? m : PQerrorMessage(conn_), url_));
  }
  void wait_readable() const {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    int r = 0;
    do r = poll(&p, 1, read_timeout_ms_); while (r < 0 && errno == EINTR);
    if (r == 0)
      TANDEM_FAIL("{}: no data from the server for {} s (read timeout)", what_,
                  read_timeout_ms_ / 1000);
    if (r < 0) TANDEM_FAIL("{}: waiting for the server failed: {}", what_, std::strerror(errno));
  }
  // The next result of an async command; nullptr when there are no more.
  PGresult* result() const {
    while (PQisBusy(conn_)) {
      wait_readable();
      if (!PQconsumeInput(conn_)) fail("the connection was lost");
    }
    return PQgetResult(conn_);
  }
  // Sends `sql` and waits for its last result, which must have `want` status.
  void exec(const std::string& sql, ExecStatusType want, const char* doing) const {
    if (!PQsendQuery(conn_, sql.c_str())) fail(doing);
    finish(want, doing);
  }
  void finish(ExecStatusType want, const char* doing) const {
    PGresult* bad = nullptr;
    while (PGresult* r = result()) {
      if (PQresultStatus(r) != want && !bad) bad = r; else PQclear(r);
    }
    if (bad) {
      std::string msg = scrub(PQresultErrorMessage(bad), url_);
      PQclear(bad);
      TANDEM_FAIL("{}: {}: {}", what_, doing, msg);
    }
  }

 private:
  PGconn* conn_ = nullptr;
  std::string url_, what_;
  int read_timeout_ms_;
};

class PgSource : public Source {
 public:
  // `in_session`: the connection runs more queries after this one, so no cursor (its
  // transaction would stay open): binary COPY, or text COPY when chosen.
  PgSource(std::shared_ptr<Connection> conn, const std::string& url, const std::string& query,
           const Connect& c, bool in_session = false)
      : conn_(std::move(conn)), fetch_rows_(c.fetch_rows) {
    PGconn* pc = conn_->get();
    // Column names and types without running the query: describe it.
    if (!PQsendPrepare(pc, "", query.c_str(), 0, nullptr)) conn_->fail("cannot prepare the query");
    conn_->finish(PGRES_COMMAND_OK, "cannot prepare the query");
    if (!PQsendDescribePrepared(pc, "")) conn_->fail("cannot describe the query");
    PGresult* d = conn_->result();
    if (PQresultStatus(d) != PGRES_COMMAND_OK) {
      std::string msg = scrub(PQresultErrorMessage(d), url);
      PQclear(d);
      TANDEM_FAIL("{}: cannot describe the query: {}", conn_->what(), msg);
    }
    for (int i = 0; i < PQnfields(d); ++i) {
      oids_.push_back(PQftype(d, i));
      columns_.push_back({PQfname(d, i), type_of(PQftype(d, i)),
                          fmt::format("type oid {}", PQftype(d, i))});
    }
    PQclear(d);
    while (PGresult* r = conn_->result()) PQclear(r);
    TANDEM_CHECK(!columns_.empty(), "{}: the statement returns no columns", conn_->what());
    ptr_.resize(columns_.size());
    len_.resize(columns_.size());
    text_.resize(columns_.size());
    mode_ = in_session && c.postgres == PostgresRead::Cursor ? PostgresRead::CopyBinary : c.postgres;
    if (mode_ != PostgresRead::Cursor) {
      std::string copy = fmt::format("COPY ({}) TO STDOUT{}", query,
                                     mode_ == PostgresRead::CopyBinary ? " (FORMAT binary)" : "");
      if (!PQsendQuery(pc, copy.c_str())) conn_->fail("cannot start COPY");
      PGresult* r = conn_->result();
      bool ok = r && PQresultStatus(r) == PGRES_COPY_OUT;
      std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pc);
      PQclear(r);
      if (!ok) {
        while (PGresult* rest = conn_->result()) PQclear(rest);
        if (in_session) TANDEM_FAIL("{}: COPY failed: {}", conn_->what(), scrub(msg, url));
        mode_ = PostgresRead::Cursor;  // the fallback: a cursor runs what COPY cannot
      }
    }
    if (mode_ == PostgresRead::Cursor) {
      conn_->exec("BEGIN READ ONLY", PGRES_COMMAND_OK, "cannot begin a transaction");
      conn_->exec("DECLARE tandem_cursor NO SCROLL CURSOR FOR " + query, PGRES_COMMAND_OK,
                 "cannot declare a cursor");
    }
  }
  ~PgSource() override {
    if (copybuf_) PQfreemem(copybuf_);
    if (res_) PQclear(res_);
  }

  const std::vector<ColumnInfo>& columns() const override { return columns_; }
  bool step() override {
    if (done_) return false;  // the end stays the end (COPY is over, the cursor drained)
    done_ = !(mode_ == PostgresRead::Cursor ? step_cursor() : step_copy());
    return !done_;
  }
  bool is_null(int c) override { return len_[c] < 0; }
  Type value_type(int c) override { return columns_[c].type; }

  double as_double(int c) override {
    if (mode_ != PostgresRead::CopyText) return binary_number(oids_[c], ptr_[c], len_[c]);
    const std::string& s = text_[c];
    if (oids_[c] == 16) return s == "t" ? 1.0 : 0.0;
    return std::strtod(s.c_str(), nullptr);
  }
  std::string_view as_bytes(int c) override {
    if (mode_ != PostgresRead::CopyText || columns_[c].type != Type::Blob)
      return mode_ == PostgresRead::CopyText ? std::string_view(text_[c])
                                             : std::string_view(ptr_[c], static_cast<size_t>(len_[c]));
    // bytea in text: \x followed by hex digits.
    const std::string& s = text_[c];
    TANDEM_CHECK(s.rfind("\\x", 0) == 0, "{}: bytea column '{}' is not in hex format",
                 conn_->what(), columns_[c].name);
    bytes_.resize((s.size() - 2) / 2);
    auto hex = [](char h) { return h <= '9' ? h - '0' : (h | 32) - 'a' + 10; };
    for (size_t i = 0; i < bytes_.size(); ++i)
      bytes_[i] = static_cast<char>(hex(s[2 + 2 * i]) << 4 | hex(s[3 + 2 * i]));
    return bytes_;
  }
  void as_array(int c, std::vector<float>& out) override {
    out.clear();
    if (mode_ == PostgresRead::CopyText) {
      const char* p = text_[c].c_str();
      while (*p) {
        if (*p == '{' || *p == '}' || *p == ',' || *p == ' ') { ++p; continue; }
        TANDEM_CHECK(std::strncmp(p, "NULL", 4) != 0, "{}: array column '{}' holds a NULL element",
                     conn_->what(), columns_[c].name);
        char* end = nullptr;
        out.push_back(std::strtof(p, &end));
        TANDEM_CHECK(end != p, "{}: array column '{}': cannot read '{}'", conn_->what(),
                     columns_[c].name, text_[c]);
        p = end;
      }
      return;
    }
    // Binary array: ndim, has-null flag, element oid, (size, lower bound) per dim, elements.
    const char* p = ptr_[c];
    int ndim = static_cast<int32_t>(be32(p));
    Oid elem = be32(p + 8);
    int64_t n = ndim == 0 ? 0 : 1;
    for (int d = 0; d < ndim; ++d) n *= static_cast<int32_t>(be32(p + 12 + 8 * d));
    p += 12 + 8 * ndim;
    out.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      int len = static_cast<int32_t>(be32(p));
      TANDEM_CHECK(len >= 0, "{}: array column '{}' holds a NULL element", conn_->what(),
                   columns_[c].name);
      out.push_back(static_cast<float>(binary_number(elem, p + 4, len)));
      p += 4 + len;
    }
  }

 private:
  bool step_copy() {
    for (;;) {
      if (copybuf_) {
        PQfreemem(copybuf_);
        copybuf_ = nullptr;
      }
      int n = PQgetCopyData(conn_->get(), &copybuf_, 1);
      if (n == 0) {
        conn_->wait_readable();
        if (!PQconsumeInput(conn_->get())) conn_->fail("the connection was lost");
        continue;
      }
      if (n == -1) {  // COPY finished: its result says whether it finished well
        conn_->finish(PGRES_COMMAND_OK, "COPY failed");
        return false;
      }
      if (n < -1) conn_->fail("the connection was lost");
      if (mode_ == PostgresRead::CopyText) {
        parse_text(copybuf_, n);
        return true;
      }
      if (parse_binary(copybuf_, n)) return true;
    }
  }

  // One binary COPY row (the first one carries the file header); false for the trailer.
  bool parse_binary(const char* p, int n) {
    const char* end = p + n;
    if (!header_seen_) {
      static const char sig[] = "PGCOPY\n\377\r\n";
      TANDEM_CHECK(n >= 19 && std::memcmp(p, sig, 11) == 0, "{}: not a binary COPY stream",
                   conn_->what());
      uint32_t ext = be32(p + 15);
      p += 19 + ext;
      header_seen_ = true;
    }
    auto fields = static_cast<int16_t>(be16(p));
    if (fields == -1) return false;
    TANDEM_CHECK(fields == static_cast<int>(columns_.size()),
                 "{}: a COPY row has {} fields, expected {}", conn_->what(), fields,
                 columns_.size());
    p += 2;
    for (int i = 0; i < fields; ++i) {
      TANDEM_CHECK(p + 4 <= end, "{}: a truncated COPY row", conn_->what());
      len_[i] = static_cast<int32_t>(be32(p));
      ptr_[i] = p + 4;
      p += 4 + std::max(len_[i], 0);
    }
    TANDEM_CHECK(p <= end, "{}: a truncated COPY row", conn_->what());
    return true;
  }

  void parse_text(const char* p, int n) {
    const char* end = p + n;
    if (end > p && end[-1] == '\n') --end;
    for (size_t i = 0; i < columns_.size(); ++i) {
      const char* f = p;
      while (p < end && *p != '\t') ++p;
      TANDEM_CHECK(i + 1 == columns_.size() || p < end, "{}: a COPY row has too few fields",
                   conn_->what());
      if (p - f == 2 && f[0] == '\\' && f[1] == 'N') {
        len_[i] = -1;
      } else {
        unescape(f, p, text_[i]);
        len_[i] = static_cast<int>(text_[i].size());
      }
      ++p;
    }
  }

  bool step_cursor() {
    if (res_ && ++res_row_ < PQntuples(res_)) return load_cursor_row();
    if (res_) {
      bool last = PQntuples(res_) < fetch_rows_;
      PQclear(res_);
      res_ = nullptr;
      if (last) return false;
    }
    std::string fetch = fmt::format("FETCH {} FROM tandem_cursor", fetch_rows_);
    if (!PQsendQueryParams(conn_->get(), fetch.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1))
      conn_->fail("FETCH failed");
    res_ = conn_->result();
    if (!res_ || PQresultStatus(res_) != PGRES_TUPLES_OK) {
      std::string msg = res_ ? PQresultErrorMessage(res_) : PQerrorMessage(conn_->get());
      if (res_) PQclear(res_);
      res_ = nullptr;
      TANDEM_FAIL("{}: FETCH failed: {}", conn_->what(), msg);
    }
    while (PGresult* r = conn_->result()) PQclear(r);
    res_row_ = 0;
    if (PQntuples(res_) == 0) return false;
    return load_cursor_row();
  }
  bool load_cursor_row() {
    for (size_t i = 0; i < columns_.size(); ++i) {
      int c = static_cast<int>(i);
      len_[i] = PQgetisnull(res_, res_row_, c) ? -1 : PQgetlength(res_, res_row_, c);
      ptr_[i] = PQgetvalue(res_, res_row_, c);
    }
    return true;
  }

  std::shared_ptr<Connection> conn_;
  int64_t fetch_rows_;
  PostgresRead mode_;
  std::vector<ColumnInfo> columns_;
  std::vector<Oid> oids_;
  std::vector<const char*> ptr_;
  std::vector<int> len_;
  std::vector<std::string> text_;
  std::string bytes_;
  char* copybuf_ = nullptr;
  bool header_seen_ = false;
  PGresult* res_ = nullptr;
  int res_row_ = 0;
  bool done_ = false;
};

void put32(std::string& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>(v >> s));
}

}  // namespace

std::unique_ptr<Source> open_postgres(const std::string& url, const std::string& query,
                                      const Connect& c, const std::string& what) {
  return std::make_unique<PgSource>(std::make_shared<Connection>(url, c, what), url, query, c);
}

std::unique_ptr<Session> open_postgres_session(const std::string& url, const Connect& c) {
  class PgSession : public Session {
   public:
    PgSession(std::string url, const Connect& c)
        : url_(std::move(url)), c_(c),
          conn_(std::make_shared<Connection>(url_, c, "connection to " + redact_url(url_))) {}
    std::unique_ptr<Source> run(const std::string& query) override {
      conn_->set_what(fmt::format("query '{}' on {}", query, redact_url(url_)));
      return std::make_unique<PgSource>(conn_, url_, query, c_, /*in_session=*/true);
    }

   private:
    std::string url_;
    Connect c_;
    std::shared_ptr<Connection> conn_;
  };
  return std::make_unique<PgSession>(url, c);
}

void write_images_postgres(const std::string& url, const std::string& table,
                           const Tensor& images, const Tensor& labels,
                           const std::function<void(int64_t)>& progress) {
  for (char ch : table)
    TANDEM_CHECK(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_',
                 "write_sql_images: '{}' is not a plain table name", table);
  Connect c;
  Connection conn(url, c, fmt::format("write_sql_images to table {} on {}", table,
                                      redact_url(url)));
  conn.exec("BEGIN", PGRES_COMMAND_OK, "cannot begin a transaction");
  conn.exec(fmt::format("DROP TABLE IF EXISTS {0}; CREATE TABLE {0} (id integer NOT NULL, "
                        "image bytea NOT NULL, label integer NOT NULL)",
                        table),
            PGRES_COMMAND_OK, "cannot create the table");
  if (!PQsendQuery(conn.get(), ("COPY " + table + " FROM STDIN (FORMAT binary)").c_str()))
    conn.fail("cannot start COPY");
  PGresult* r = conn.result();
  bool ok = r && PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!ok) conn.fail("cannot start COPY");
  const int64_t n = images.size(0);
  const size_t row_bytes = images.nbytes() / static_cast<size_t>(std::max<int64_t>(n, 1));
  const auto* px = images.data<uint8_t>();
  const auto* lab = labels.data<int64_t>();
  std::string buf("PGCOPY\n\377\r\n\0", 11);
  put32(buf, 0);
  put32(buf, 0);
  for (int64_t i = 0; i < n; ++i) {
    buf.push_back(0);
    buf.push_back(3);
    put32(buf, 4);
    put32(buf, static_cast<uint32_t>(i));
    put32(buf, static_cast<uint32_t>(row_bytes));
    buf.append(reinterpret_cast<const char*>(px + i * row_bytes), row_bytes);
    put32(buf, 4);
    put32(buf, static_cast<uint32_t>(lab[i]));
    if (buf.size() > (1 << 20) || i + 1 == n) {
      if (i + 1 == n) buf.append("\xff\xff", 2);
      if (PQputCopyData(conn.get(), buf.data(), static_cast<int>(buf.size())) != 1)
        conn.fail("COPY failed");
      buf.clear();
      if (progress) progress(i + 1);
    }
  }
  if (PQputCopyEnd(conn.get(), nullptr) != 1) conn.fail("COPY failed");
  conn.finish(PGRES_COMMAND_OK, "COPY failed");
  conn.exec(fmt::format("ALTER TABLE {} ADD PRIMARY KEY (id)", table), PGRES_COMMAND_OK,
            "cannot add the primary key");
  conn.exec("COMMIT", PGRES_COMMAND_OK, "cannot commit");
}

}  // namespace tandem::data::sql
