// PostgreSQL rows for SqlDataset through libpq: binary COPY (the default), a server-side
// cursor (for statements COPY cannot run, or by choice), or text COPY. Everything waits with
// poll() on the connection's socket, so a silent server is a read timeout, not a hang.
#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "data/sql_decode.h"
#include "data/sql_source.h"
#include "tandem/error.h"

namespace tandem::data::sql {
namespace {

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
  // transaction would stay open): the whole result in binary, or text COPY when chosen.
  PgSource(std::shared_ptr<Connection> conn, const std::string& url, const std::string& query,
           const Connect& c, bool in_session = false)
      : conn_(std::move(conn)), fetch_rows_(c.fetch_rows) {
    PGconn* pc = conn_->get();
    if (in_session && c.postgres != PostgresRead::CopyText) {
      // A batch's rows (SqlTable): one round trip, the whole result in binary, its columns
      // described by the result itself (prepare + describe + COPY took three, and parsed twice).
      if (!PQsendQueryParams(pc, query.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1))
        conn_->fail("cannot run the query");
      res_ = conn_->result();
      if (!res_ || PQresultStatus(res_) != PGRES_TUPLES_OK) {
        std::string msg = scrub(res_ ? PQresultErrorMessage(res_) : PQerrorMessage(pc), url);
        if (res_) PQclear(res_);
        res_ = nullptr;
        while (PGresult* rest = conn_->result()) PQclear(rest);
        TANDEM_FAIL("{}: the query failed: {}", conn_->what(), msg);
      }
      while (PGresult* rest = conn_->result()) PQclear(rest);
      for (int i = 0; i < PQnfields(res_); ++i) {
        oids_.push_back(PQftype(res_, i));
        columns_.push_back({PQfname(res_, i), pg_type_of(PQftype(res_, i)),
                            fmt::format("type oid {}", PQftype(res_, i))});
      }
      TANDEM_CHECK(!columns_.empty(), "{}: the statement returns no columns", conn_->what());
      ptr_.resize(columns_.size());
      len_.resize(columns_.size());
      mode_ = PostgresRead::Cursor;  // values are read from res_, as a cursor's are
      whole_result_ = true;
      res_row_ = -1;
      return;
    }
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
      columns_.push_back({PQfname(d, i), pg_type_of(PQftype(d, i)),
                          fmt::format("type oid {}", PQftype(d, i))});
    }
    PQclear(d);
    while (PGresult* r = conn_->result()) PQclear(r);
    TANDEM_CHECK(!columns_.empty(), "{}: the statement returns no columns", conn_->what());
    ptr_.resize(columns_.size());
    len_.resize(columns_.size());
    row_ = std::make_unique<CopyRow>(conn_->what(), columns_.size());
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
  bool is_null(int c) override { return length(c) < 0; }
  Type value_type(int c) override { return columns_[c].type; }
  bool column_typed() const override { return true; }

  double as_double(int c) override {
    if (mode_ != PostgresRead::CopyText) return binary_number(oids_[c], data(c), length(c), conn_->what());
    return text_number(oids_[c], row_->str(c), conn_->what(), columns_[c].name);
  }
  std::string_view as_bytes(int c) override {
    if (mode_ != PostgresRead::CopyText) return {data(c), static_cast<size_t>(length(c))};
    if (columns_[c].type != Type::Blob) return row_->str(c);
    bytea_hex(row_->str(c), bytes_, conn_->what(), columns_[c].name);
    return bytes_;
  }
  void as_array(int c, std::vector<float>& out) override {
    if (mode_ == PostgresRead::CopyText) text_array(row_->str(c), out, conn_->what(), columns_[c].name);
    else binary_array(data(c), length(c), out, conn_->what(), columns_[c].name);
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
        row_->text(copybuf_, n);
        return true;
      }
      if (row_->binary(copybuf_, n)) return true;
    }
  }

  // The value of column c in the current row (binary COPY or cursor).
  const char* data(int c) const { return mode_ == PostgresRead::Cursor ? ptr_[c] : row_->data(c); }
  int length(int c) const { return mode_ == PostgresRead::Cursor ? len_[c] : row_->length(c); }

  bool step_cursor() {
    if (res_ && ++res_row_ < PQntuples(res_)) return load_cursor_row();
    if (whole_result_) return false;
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
  std::unique_ptr<CopyRow> row_;  // COPY rows
  std::vector<const char*> ptr_;  // cursor rows
  std::vector<int> len_;
  std::string bytes_;
  char* copybuf_ = nullptr;
  PGresult* res_ = nullptr;
  int res_row_ = 0;
  bool whole_result_ = false;  // res_ holds every row (a session's query)
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
