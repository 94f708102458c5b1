// SQL databases as training data: SQLite (embedded) and PostgreSQL (streamed), out of core.
//
//   data::SqlOptions o{.query = "SELECT image, label FROM train", .target = "label",
//                      .columns = {{.name = "image", .kind = data::SqlKind::Bytes,
//                                   .shape = {1, 28, 28}}},
//                      .shuffle_buffer = 8192, .seed = 1};
//   auto ds = std::make_shared<data::SqlDataset>("sqlite:///fmnist.db", o);
//   data::DataLoader loader(ds, {.batch_size = 128, .num_workers = 1});
//   for (int64_t epoch = 0; epoch < 3; ++epoch) {
//     ds->set_epoch(epoch);                       // reseeds the shuffle
//     for (data::Batch& b : loader) { /* b.data [128,1,28,28] uint8, b.target [128] int64 */ }
//   }
//
// URLs: `sqlite:///relative/file.db`, `sqlite:////absolute/file.db` (SQLAlchemy's form; opened
// read-only, so WAL writers may keep writing), and `postgresql://user@host:port/db?opts`
// (libpq: PG* environment variables and ~/.pgpass fill what the URL leaves out).
//
// Streaming: SQLite steps one prepared statement; PostgreSQL streams
// `COPY (query) TO STDOUT (FORMAT binary)` and parses each row straight into its tensors
// (SqlOptions::postgres selects a server-side cursor, the fallback for statements COPY cannot
// run, or text COPY). Memory is bounded by the shuffle buffer and the DataLoader's prefetch,
// not by the table. The connection is opened on the thread that reads (the DataLoader's
// worker), one per dataset object.
//
// Columns: the result's types give the defaults — integer, real/double, boolean and numeric
// columns become numbers, text becomes a class index (the vocabulary is given, or built with
// SELECT DISTINCT, sorted), bytea/BLOB holds raw bytes (or a PNG with kind Png) and a
// PostgreSQL real[]/float8[]/int[] array becomes one tensor. With one bytes/PNG/array feature
// column the example's data is that tensor; otherwise the features are concatenated into a
// float32 vector. A NULL is an error naming the row and column unless the column has a fill.
//
// Order: the stream order, or shuffled through a buffer of `shuffle_buffer` rows seeded by
// (seed, epoch); with `key` (an integer column) the key range is cut into blocks of
// `key_block` keys read in a permuted order and shuffled whole, so every row can land
// anywhere in the epoch. Sharding: rank r of world_size w keeps the rows r, r+w, r+2w, ...
// of the query's stream (with `key`: the blocks r, r+w, ... of the epoch's block order), then
// shuffles its own share — disjoint, and together the whole table. The order depends only on
// (seed, epoch, rank, world_size), never on DataLoader workers.
//
// Resume: position() counts the examples handed out this pass; seek(n) before a pass makes it
// skip the first n (replaying the same shuffle), so a checkpoint that records
// batches_consumed * batch_size continues from exactly that row.
//
// Errors are tandem::Error naming the query (and the URL without its password) and the cause:
// bad URL, refused connection (connect_timeout_s), missing table, a column of the wrong type,
// a connection lost or silent for read_timeout_s mid-stream.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/data/batch_stream.h"
#include "tandem/data/dataloader.h"
#include "tandem/data/dataset.h"

namespace tandem::data {

enum class SqlKind { Auto, Integer, Real, Bool, Label, Bytes, Png, Array };

struct SqlColumn {
  std::string name{};
  SqlKind kind = SqlKind::Auto;            // Auto: from the result's column type
  std::optional<double> fill{};            // a NULL becomes this; none: a NULL is an error
  std::vector<std::string> vocabulary{};   // Label: class names by index; empty: built
  std::vector<int64_t> shape{};            // Bytes/Png/Array: per-row shape (empty: [n])
  DType dtype = DType::UInt8;              // Bytes: element type of the raw bytes (LE)
};

enum class PostgresRead { CopyBinary, Cursor, CopyText };

struct SqlOptions {
  std::string query{};                // or...
  std::string table{};                // ... a table name: SELECT * FROM table
  std::string target{};               // the target column; empty: no target
  std::vector<std::string> features{};  // feature columns in order; empty: all but the target
  std::vector<SqlColumn> columns{};     // per-column settings (by name) overriding the defaults
  int64_t shuffle_buffer = 0;         // 0: stream order
  uint64_t seed = 0;
  std::string key{};                  // integer key column: shuffle by key blocks
  int64_t key_block = 4096;
  int64_t rank = 0, world_size = 1;
  PostgresRead postgres = PostgresRead::CopyBinary;
  int64_t fetch_rows = 4096;          // rows per FETCH (PostgresRead::Cursor)
  int connect_timeout_s = 10;
  int read_timeout_s = 60;
};

// The URL with any password replaced by "***" (for messages and logs).
std::string redact_url(const std::string& url);
// True for sqlite:// and postgresql:// (or postgres://) URLs.
bool is_sql_url(const std::string& url);

class SqlReader;  // one open query (internal)

// A query's rows as a stream of examples. Not thread-safe (an IterableDataset is read by one
// thread at a time); the DataLoader reads it on its worker thread.
class SqlDataset : public IterableDataset, public BatchStream {
 public:
  SqlDataset(std::string url, SqlOptions options);
  ~SqlDataset() override;

  std::optional<Example> next() override;
  void reset() override;
  // The DataLoader's path: rows decoded into bytes and copied straight into the batch tensors.
  Batch next_batch(int64_t max) override;

  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }
  void seek(int64_t examples) { seek_ = examples; }

  // The features' names in data order and the target's vocabulary (for a text target).
  const std::vector<std::string>& feature_names() const;
  const std::vector<std::string>& target_vocabulary() const;

 private:
  struct State;
  bool open_next();
  const uint8_t* pull();
  const uint8_t* produce();
  void start();

  std::string url_;
  SqlOptions options_;
  std::unique_ptr<State> state_;
  int64_t epoch_ = 0, position_ = 0, seek_ = 0;
};

// Random access to a table (or query) whose integer key column runs over min..min+N-1 with no
// gaps (what `tandem data import` writes: id 0..N-1): example i is the row with key min + i.
// gather() reads a batch's rows with one query (WHERE key IN (...)) and decodes them straight
// into the batch tensors, so a DataLoader over it (data::gather_plan) holds only the
// batches in flight whatever the table's size, in the DataLoader's own shuffled order — the
// same batches as from the table loaded in memory. Connections are opened as needed and kept,
// one per thread reading at a time. Thread-safe.
//
//   auto table = std::make_shared<data::SqlTable>("sqlite:///fmnist.db",
//       data::SqlOptions{.table = "train", .target = "label",
//                        .columns = {{.name = "image", .shape = {1, 28, 28}}}, .key = "id"});
//   data::Batch b = table->gather({5, 0, 17});   // b.data [3,1,28,28] uint8, b.target [3]
class SqlTable : public Dataset {
 public:
  // options.key: the key column ("id" when empty); features default to all columns but the
  // key and the target. `limit` > 0 keeps the first `limit` keys.
  SqlTable(std::string url, SqlOptions options, int64_t limit = 0);
  ~SqlTable() override;
  int64_t size() const override;
  Example get(int64_t index) const override;  // one row, one query
  Batch gather(const std::vector<int64_t>& indices) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// DataLoader options that build each batch with one SqlTable::gather; give the DataLoader
// `indices` and `options`. Without a transform, `indices` gathers whole batches through
// Dataset::get_batch (no tensor, Example or Generator per row). With one, its examples are the
// indices themselves and the seed of the sample's generator, and the collate fetches the rows
// and hands each to `transform` with that generator, as the DataLoader would have. `finish`
// (optional) runs on the gathered batch before the transform (e.g. scaling bytes to floats).
struct GatherPlan {
  std::shared_ptr<Dataset> indices;
  DataLoaderOptions options;
};
GatherPlan gather_plan(std::shared_ptr<const SqlTable> table, DataLoaderOptions options,
                                 std::function<Batch(Batch)> finish = nullptr);

// The whole result in memory as (data [N, ...], target [N]), parsed straight into the two
// tensors (no per-row objects); for data sets that fit, e.g. Fashion-MNIST. `limit` > 0 reads
// at most that many rows.
std::shared_ptr<TensorDataset> read_sql(const std::string& url, const SqlOptions& options,
                                        int64_t limit = 0);

// Writes images [N, ...] uint8 and labels [N] int64 as a new table
// (id integer primary key, image bytes, label integer), replacing one of that name in a single
// transaction. `progress(rows_done)` is called now and then.
void write_sql_images(const std::string& url, const std::string& table, const Tensor& images,
                      const Tensor& labels,
                      const std::function<void(int64_t)>& progress = nullptr);

}  // namespace tandem::data
