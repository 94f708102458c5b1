// One open query on one connection, row by row (internal to src/data/sql_*.cpp).
// sql_sqlite.cpp and sql_postgres.cpp implement it; sql_dataset.cpp maps its values to
// tensors. A Source belongs to the thread that opened it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/data/sql.h"
#include "tandem/tensor.h"

namespace tandem::data::sql {

// What a value holds. Unknown: SQLite expression columns without a declared type (the first
// non-NULL value decides).
enum class Type { Unknown, Integer, Real, Bool, Numeric, Text, Blob, Array };
const char* type_name(Type t);

struct ColumnInfo {
  std::string name;
  Type type = Type::Unknown;
  std::string declared;  // the database's own type name, for messages
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const std::vector<ColumnInfo>& columns() const = 0;
  // The next row; false at the end. Throws Error (connection lost, timeout, ...).
  virtual bool step() = 0;
  virtual bool is_null(int c) = 0;
  // The type of this value (SQLite: its storage class; PostgreSQL: the column's type).
  virtual Type value_type(int c) = 0;
  // True when every value has its column's type (PostgreSQL): checked on the first row only.
  virtual bool column_typed() const { return false; }
  virtual double as_double(int c) = 0;  // Integer, Real, Bool, Numeric
  virtual std::string_view as_bytes(int c) = 0;  // Text, Blob
  virtual void as_array(int c, std::vector<float>& out) = 0;  // Array
};

struct Connect {
  int connect_timeout_s = 10;
  int read_timeout_s = 60;
  PostgresRead postgres = PostgresRead::CopyBinary;
  int64_t fetch_rows = 4096;
};

// One connection that runs one query after another (SqlTable: a query per batch, without a
// new connection each time). A Source it returns must be read to its end (or destroyed)
// before the next query. Belongs to one thread at a time.
class Session {
 public:
  virtual ~Session() = default;
  virtual std::unique_ptr<Source> run(const std::string& query) = 0;
};
std::unique_ptr<Session> open_session(const std::string& url, const Connect& c);
std::unique_ptr<Session> open_sqlite_session(const std::string& url, const Connect& c);
std::unique_ptr<Session> open_postgres_session(const std::string& url, const Connect& c);

// `url` as given; `what` ("query '...' on URL") prefixes every message.
std::unique_ptr<Source> open_sqlite(const std::string& url, const std::string& query,
                                    const Connect& c, const std::string& what);
std::unique_ptr<Source> open_postgres(const std::string& url, const std::string& query,
                                      const Connect& c, const std::string& what);
std::unique_ptr<Source> open(const std::string& url, const std::string& query, const Connect& c);

// sqlite:///path → path (Error for an empty path).
std::string sqlite_path(const std::string& url);

void write_images_sqlite(const std::string& url, const std::string& table, const Tensor& images,
                         const Tensor& labels, const std::function<void(int64_t)>& progress);
void write_images_postgres(const std::string& url, const std::string& table,
                           const Tensor& images, const Tensor& labels,
                           const std::function<void(int64_t)>& progress);

}  // namespace tandem::data::sql
