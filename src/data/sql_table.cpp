// SqlTable: random access to a keyed table, a batch per query, and the DataLoader plan that
// reads through it (the DataLoader's order and per-sample generators, rows gathered per batch).
#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "data/sql_reader.h"
#include "data/sql_source.h"
#include "tandem/data/sql.h"
#include "tandem/error.h"
#include "tandem/generator_scope.h"

namespace tandem::data {

struct SqlTable::State {
  std::string url, query, key;
  SqlOptions options;  // features resolved (the key left out)
  std::vector<std::vector<std::string>> vocab;
  int64_t first_key = 0, size = 0;
  std::mutex mu;
  std::vector<std::unique_ptr<sql::Session>> idle;  // open connections not in use (guarded by mu)
};

SqlTable::SqlTable(std::string url, SqlOptions options, int64_t limit)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.url = std::move(url);
  s.key = options.key.empty() ? "id" : options.key;
  s.query = sql::base_query(options);
  s.options = std::move(options);
  std::vector<std::string> names;
  s.vocab = sql::vocabularies(s.url, s.options, s.query, &names);
  if (s.options.features.empty()) {
    // All but the target and the key: the vocabularies are per feature slot, so again.
    names.erase(std::remove(names.begin(), names.end(), s.key), names.end());
    s.options.features = names;
    s.vocab = sql::vocabularies(s.url, s.options, s.query, nullptr);
  }
  const std::string what = fmt::format("SqlTable on {}", redact_url(s.url));
  auto range = sql::open(s.url,
                         fmt::format("SELECT min(\"{0}\"), max(\"{0}\"), count(*) FROM ({1}) AS "
                                     "tandem_q",
                                     s.key, s.query),
                         sql::connect_of(s.options));
  TANDEM_CHECK(range->step(), "{}: the key range query returned nothing", what);
  const auto rows = static_cast<int64_t>(range->as_double(2));
  TANDEM_CHECK(rows > 0, "{}: query '{}' returned no rows", what, s.query);
  TANDEM_CHECK(!range->is_null(0), "{}: key column '{}' is NULL in every row", what, s.key);
  s.first_key = static_cast<int64_t>(range->as_double(0));
  const auto last = static_cast<int64_t>(range->as_double(1));
  TANDEM_CHECK(last - s.first_key + 1 == rows,
               "{}: key column '{}' of query '{}' must run over min..min+N-1 without gaps (N "
               "rows), but it has {} rows with keys {}..{}; number the rows (e.g. row_number())",
               what, s.key, s.query, rows, s.first_key, last);
  s.size = limit > 0 ? std::min(limit, rows) : rows;
}

SqlTable::~SqlTable() = default;

int64_t SqlTable::size() const { return state_->size; }

Example SqlTable::get(int64_t index) const {
  Batch b = gather({index});
  return {b.data[0], b.target.defined() ? b.target[0] : Tensor()};
}

Batch SqlTable::gather(const std::vector<int64_t>& indices) const {
  State& s = *state_;
  TANDEM_CHECK(!indices.empty(), "SqlTable::gather: no indices");
  // Where each key goes in the batch (a key asked for twice fills both places).
  std::unordered_map<int64_t, std::vector<int64_t>> where;
  std::string list;
  for (size_t p = 0; p < indices.size(); ++p) {
    const int64_t i = indices[p];
    TANDEM_CHECK(i >= 0 && i < s.size, "SqlTable: index {} is out of range [0, {})", i, s.size);
    auto& places = where[s.first_key + i];
    if (places.empty()) list += fmt::format("{}{}", list.empty() ? "" : ",", s.first_key + i);
    places.push_back(static_cast<int64_t>(p));
  }
  const std::string query = fmt::format("SELECT * FROM ({}) AS tandem_q WHERE \"{}\" IN ({})",
                                        s.query, s.key, list);
  std::unique_ptr<sql::Session> session;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (!s.idle.empty()) {
      session = std::move(s.idle.back());
      s.idle.pop_back();
    }
  }
  if (!session) session = sql::open_session(s.url, sql::connect_of(s.options));
  // NOTE: a failure leaves the session mid-query; it is dropped (closed), not given back.
  SqlReader r(session->run(query), s.url, s.options, query, s.vocab);
  int key_col = -1;
  for (size_t c = 0; c < r.source().columns().size(); ++c)
    if (r.source().columns()[c].name == s.key) key_col = static_cast<int>(c);
  TANDEM_CHECK(key_col >= 0, "{}: no key column '{}' in the result", r.what(), s.key);
  const auto n = static_cast<int64_t>(indices.size());
  Batch b;
  uint8_t *data = nullptr, *target = nullptr;
  size_t target_item = 0;
  int64_t found = 0;
  while (r.step()) {
    if (!data) {  // the first row fixes the example's shape and types
      Shape shape = r.data_shape();
      shape.insert(shape.begin(), n);
      b.data = empty(shape, {r.data_dtype()});
      data = static_cast<uint8_t*>(b.data.data_ptr());
      if (r.has_target()) {
        b.target = empty({n}, {r.target_dtype()});
        target = static_cast<uint8_t*>(b.target.data_ptr());
        target_item = r.target_dtype() == DType::Int64 ? 8 : 4;
      }
    }
    auto it = where.find(static_cast<int64_t>(r.source().as_double(key_col)));
    TANDEM_CHECK(it != where.end(), "{}: a row with a key that was not asked for", r.what());
    const auto bytes = static_cast<size_t>(r.data_bytes());
    const std::vector<int64_t>& places = it->second;
    r.write_data(data + places[0] * bytes);
    uint8_t t[8];
    if (target) r.write_target(t);
    for (int64_t p : places) {
      if (p != places[0]) std::memcpy(data + p * bytes, data + places[0] * bytes, bytes);
      if (target) std::memcpy(target + p * target_item, t, target_item);
    }
    ++found;
  }
  TANDEM_CHECK(found == static_cast<int64_t>(where.size()),
               "{}: {} of the {} keys have no row (or a key has several)", r.what(),
               static_cast<int64_t>(where.size()) - found, where.size());
  std::lock_guard<std::mutex> lk(s.mu);
  s.idle.push_back(std::move(session));
  return b;
}

namespace {

// Example i of a gathered pass: the index, and the seed of the generator the DataLoader gave
// the sample (its GeneratorScope is current while get() runs).
class GatherIndices : public Dataset {
 public:
  explicit GatherIndices(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Example get(int64_t index) const override {
    Tensor i = empty({}, {DType::Int64}), seed = empty({}, {DType::Int64});
    *i.data<int64_t>() = index;
    *seed.data<int64_t>() = static_cast<int64_t>(default_generator().initial_seed());
    return {i, seed};
  }

 private:
  int64_t n_;
};

// Without a transform the DataLoader hands a batch's indices to get_batch: one gather decoded
// straight into the batch tensors, with no Example, tensor or Generator per row.
class GatheredRows : public Dataset {
 public:
  GatheredRows(std::shared_ptr<const SqlTable> table, std::function<Batch(Batch)> finish)
      : table_(std::move(table)), finish_(std::move(finish)) {}
  int64_t size() const override { return table_->size(); }
  Example get(int64_t index) const override {
    Batch b = gather(&index, 1);
    return {b.data[0], b.target.defined() ? b.target[0] : Tensor()};
  }
  std::optional<Batch> get_batch(const int64_t* indices, int64_t n) const override {
    return gather(indices, n);
  }

 private:
  Batch gather(const int64_t* indices, int64_t n) const {
    Batch b = table_->gather(std::vector<int64_t>(indices, indices + n));
    return finish_ ? finish_(std::move(b)) : b;
  }
  std::shared_ptr<const SqlTable> table_;
  std::function<Batch(Batch)> finish_;
};

}  // namespace

GatherPlan gather_plan(std::shared_ptr<const SqlTable> table, DataLoaderOptions options,
                       std::function<Batch(Batch)> finish) {
  TANDEM_CHECK(table != nullptr, "gather_plan: the table is null");
  TANDEM_CHECK(!options.collate, "gather_plan: the collate is the gather itself; give none");
  if (!options.transform)
    return {std::make_shared<GatheredRows>(std::move(table), std::move(finish)), std::move(options)};
  Transform transform = std::move(options.transform);
  options.transform = nullptr;
  options.collate = [table, transform, finish](std::vector<Example>&& examples) {
    std::vector<int64_t> idx;
    idx.reserve(examples.size());
    for (const Example& e : examples) idx.push_back(*e.data.data<int64_t>());
    Batch b = table->gather(idx);
    if (finish) b = finish(std::move(b));
    if (!transform) return b;
    std::vector<Example> rows;
    rows.reserve(examples.size());
    for (size_t k = 0; k < examples.size(); ++k) {
      Generator gen(static_cast<uint64_t>(*examples[k].target.data<int64_t>()));
      GeneratorScope scope(gen);
      const auto row = static_cast<int64_t>(k);
      rows.push_back(transform({b.data[row], b.target.defined() ? b.target[row] : Tensor()}, gen));
    }
    return default_collate(std::move(rows));
  };
  return {std::make_shared<GatherIndices>(table->size()), std::move(options)};
}

}  // namespace tandem::data
