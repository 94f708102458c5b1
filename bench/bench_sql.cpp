// SqlDataset throughput (bench/sql_run.sh runs it next to pandas.read_sql):
//   bench_sql read URL QUERY MODE [TARGET] [IMAGE]   rows/s and MB/s streamed through a
//                                                    DataLoader (batch 1024, one worker)
//   bench_sql gather URL                             rows/s of Fashion-MNIST's train table read
//                                                    as tandem train reads it (SqlTable, a query
//                                                    per shuffled batch of 128, one worker)
//   bench_sql train URL                              MLP SGD steps/s from the database (SqlTable:
//                                                    a query per shuffled batch, one worker, as
//                                                    tandem train reads) and from in-memory IDX
// Each prints one JSON line; each case runs REPS times (environment, default 1) and reports
// the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <tandem/data.h>
#include <tandem/data/sql.h>
#include <tandem/models.h>
#include <tandem/ops.h>
#include <tandem/optim.h>

using namespace tandem;
using Clock = std::chrono::steady_clock;

int reps() {
  const char* r = std::getenv("REPS");
  return r ? std::max(1, std::atoi(r)) : 1;
}

// Peak resident set of this process so far (VmHWM), in MB.
double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int read_case(int argc, char** argv) {
  std::string url = argv[2], query = argv[3], mode = argv[4];
  data::SqlOptions o{.query = query};
  if (argc > 5) o.target = argv[5];
  if (argc > 6) o.columns = {{.name = argv[6], .kind = data::SqlKind::Bytes}};
  o.postgres = mode == "cursor" ? data::PostgresRead::Cursor
               : mode == "text" ? data::PostgresRead::CopyText
                                : data::PostgresRead::CopyBinary;
  o.fetch_rows = 10000;
  std::vector<double> secs;
  int64_t rows = 0, bytes = 0;
  for (int rep = 0; rep < reps(); ++rep) {
    auto ds = std::make_shared<data::SqlDataset>(url, o);
    data::DataLoader loader(ds, {.batch_size = 1024, .num_workers = 1, .prefetch = 4});
    rows = bytes = 0;
    auto t0 = Clock::now();
    for (data::Batch& b : loader) {
      rows += b.data.size(0);
      bytes += static_cast<int64_t>(b.data.nbytes() + (b.target.defined() ? b.target.nbytes() : 0));
    }
    secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  double s = median(secs);
  std::printf("{\"rows\": %lld, \"bytes\": %lld, \"seconds\": %.4f, \"rows_per_s\": %.1f, "
              "\"mb_per_s\": %.2f, \"peak_rss_mb\": %.1f}\n",
              static_cast<long long>(rows), static_cast<long long>(bytes), s, rows / s,
              bytes / s / 1e6, peak_rss_mb());
  return 0;
}

// The train table's rows as `tandem train --data URL` reads them: SqlTable + gather_plan.
data::GatherPlan fmnist_plan(const std::string& url) {
  auto table = std::make_shared<data::SqlTable>(
      url, data::SqlOptions{.table = "train", .target = "label", .features = {"image"},
                            .columns = {{.name = "image", .shape = {1, 28, 28}}}, .key = "id"});
  return data::gather_plan(
      table, {.batch_size = 128, .shuffle = true, .seed = 1, .num_workers = 1, .prefetch = 4},
      [](data::Batch b) {
        Tensor x = empty(b.data.shape(), {DType::Float32});
        const uint8_t* s = b.data.data<uint8_t>();
        float* d = x.data<float>();
        for (int64_t i = 0; i < x.numel(); ++i) d[i] = s[i] / 255.0f;
        b.data = x;
        return b;
      });
}

int gather_case(char** argv) {
  std::vector<double> secs;
  int64_t rows = 0;
  for (int rep = 0; rep < reps(); ++rep) {
    data::GatherPlan plan = fmnist_plan(argv[2]);
    data::DataLoader loader(plan.indices, plan.options);
    rows = 0;
    auto t0 = Clock::now();
    for (data::Batch& b : loader) rows += b.data.size(0);
    secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  double s = median(secs);
  std::printf("{\"rows\": %lld, \"seconds\": %.4f, \"rows_per_s\": %.1f, \"us_per_row\": %.2f}\n",
              static_cast<long long>(rows), s, rows / s, 1e6 * s / rows);
  return 0;
}

double train_steps_per_s(data::DataLoader& loader, int64_t steps) {
  manual_seed(0);
  auto model = models::create("mlp");
  optim::SGD opt(model->parameters(), {.lr = 0.05});
  int64_t done = 0;
  Clock::time_point t0;
  for (data::Batch& b : loader) {
    if (done == 10) t0 = Clock::now();  // warm-up steps excluded
    Tensor loss = cross_entropy((*model)(b.data), b.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (++done == steps + 10) break;
  }
  return steps / std::chrono::duration<double>(Clock::now() - t0).count();
}

int train_case(char** argv) {
  std::string url = argv[2];
  const int64_t steps = 100;
  std::vector<double> db, mem;
  auto idx = data::fashion_mnist();
  for (int rep = 0; rep < reps(); ++rep) {
    // In-memory IDX before and after the database (both count: load on a shared machine
    // drifts, and the first run also warms oneDNN's primitive cache).
    data::DataLoader from_idx(idx, {.batch_size = 128, .shuffle = true, .seed = 1});
    mem.push_back(train_steps_per_s(from_idx, steps));
    // As `tandem train --data URL` reads: one query per shuffled batch (SqlTable), one worker.
    data::GatherPlan plan = fmnist_plan(url);
    data::DataLoader from_db(plan.indices, plan.options);
    db.push_back(train_steps_per_s(from_db, steps));
    mem.push_back(train_steps_per_s(from_idx, steps));
  }
  std::printf("{\"db_steps_per_s\": %.2f, \"idx_steps_per_s\": %.2f, \"ratio\": %.3f}\n",
              median(db), median(mem), median(db) / median(mem));
  return 0;
}

int main(int argc, char** argv) {
  try {
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "read" && argc >= 5) return read_case(argc, argv);
    if (cmd == "train" && argc >= 3) return train_case(argv);
    if (cmd == "gather" && argc >= 3) return gather_case(argv);
    std::fprintf(stderr, "usage: bench_sql read URL QUERY MODE [TARGET] [IMAGE] | gather URL | train URL\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
