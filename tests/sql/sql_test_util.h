// Databases for the SqlDataset tests: a SQLite file in a temporary directory, or a throwaway
// PostgreSQL cluster (Debian's postgresql package: initdb + pg_ctl on a free loopback port,
// run as the `postgres` user when we are root, since initdb refuses root). The cluster is
// stopped and removed when the test program ends, and a watchdog process stops it too if the
// program dies first.
#pragma once
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tandem::testing {

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline std::string pg_bindir() {
  for (int v = 20; v >= 11; --v) {
    std::string d = fmt::format("/usr/lib/postgresql/{}/bin", v);
    if (std::filesystem::exists(d + "/initdb")) return d;
  }
  return "";
}

class PgServer {
 public:
  // Empty url() when PostgreSQL is not installed.
  PgServer() {
    std::string bin = pg_bindir();
    if (bin.empty()) return;
    char tmpl[] = "/tmp/tandem_pg_XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = free_port();
    as_ = getuid() == 0 ? "runuser -u postgres -- " : "";
    if (getuid() == 0) run("chown postgres " + dir_);
    // A watchdog stops the cluster if this process dies without running the destructor;
    // setsid: its own session, so that a timeout killing this process group spares it.
    run(fmt::format("setsid sh -c 'while kill -0 {} 2>/dev/null; do sleep 1; done; {}{}/pg_ctl "
                    "-D {}/data -m immediate stop; rm -rf {}' >/dev/null 2>&1 </dev/null &",
                    getpid(), as_, bin, dir_, dir_));
    run(fmt::format("{}{}/initdb -D {}/data -A trust -U postgres --no-sync >{}/initdb.log 2>&1",
                    as_, bin, dir_, dir_));
    start();
    url_ = fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", port_);
  }
  ~PgServer() {
    if (dir_.empty()) return;
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  void start() {
    run(fmt::format("{}{}/pg_ctl -D {}/data -l {}/server.log -w -t 30 -o \"-p {} -k {} -c "
                    "listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null",
                    as_, pg_bindir(), dir_, dir_, port_, dir_));
  }
  void stop() {
    std::system(fmt::format("{}{}/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1", as_,
                            pg_bindir(), dir_)
                    .c_str());
  }

 private:
  static void run(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  std::string dir_, as_, url_;
  int port_ = 0;
};

// Runs SQL statements on a SQLite file or a PostgreSQL URL (for building test tables).
inline void sql_exec(const std::string& url, const std::string& sql) {
  if (url.rfind("sqlite:///", 0) == 0) {
    sqlite3* db = nullptr;
    std::string path = url.substr(10);
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + msg + " in " + sql);
    return;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, ("SET client_min_messages TO warning; " + sql).c_str());
  ExecStatusType st = PQresultStatus(r);
  std::string msg = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    throw std::runtime_error("postgres: " + msg + " in " + sql);
}

// The first column of the first row, as text.
inline std::string sql_value(const std::string& url, const std::string& sql) {
  if (url.rfind("sqlite:///", 0) == 0) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(url.substr(10).c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    std::string v;
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  PQfinish(c);
  return v;
}

}  // namespace tandem::testing
