// tandem data import: an MNIST-like data set (IDX files) into a database, one table per split
// (id, image bytes, label), so that `tandem train --data URL` can read it.
//
//   tandem data import fashion-mnist sqlite:///fmnist.db
//   tandem data import fashion-mnist postgresql://me@localhost/ml
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <tandem/data.h>
#include <tandem/data/sql.h>
#include <tandem/train/progress.h>

#include "commands.h"

namespace tandem::cli {
namespace {

struct ImportArgs {
  std::string source, url, train_table = "train", test_table = "test";
  bool progress = true;
};

void import_split(const ImportArgs& a, const std::string& dir, const std::string& prefix,
                  const std::string& table) {
  auto find = [&](const std::string& stem) {
    for (const auto& name : {stem + ".gz", stem}) {
      std::string p = dir + "/" + name;
      if (std::ifstream(p).good()) return p;
    }
    TANDEM_FAIL("data import: '{}' has no {}[.gz] (give fashion-mnist or a directory of IDX "
                "files)",
                dir, stem);
  };
  Tensor images = data::read_idx(find(prefix + "-images-idx3-ubyte"));
  Tensor labels = data::read_idx(find(prefix + "-labels-idx1-ubyte"));
  TANDEM_CHECK(images.dtype() == DType::UInt8 && images.dim() == 3,
               "data import: {} images must be uint8 [N, H, W], got {} {}", prefix,
               images.dtype(), images.shape());
  const int64_t n = images.size(0);
  train::ProgressBar bar(std::cout, "import " + table, n,
                         a.progress ? train::progress_mode(std::nullopt, train::stdout_is_terminal())
                                    : train::ProgressMode::Off);
  auto t0 = std::chrono::steady_clock::now();
  data::write_sql_images(a.url, table, images, labels, [&](int64_t done) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(done, 0.0, s > 0 ? static_cast<double>(done) / s : 0.0);
  });
  bar.finish();
  std::cout << fmt::format("{}: {} rows ({}x{} image bytes, label) into table {}\n",
                           data::redact_url(a.url), n, images.size(1), images.size(2), table);
}

}  // namespace

Run add_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Data sets in databases");
  cmd->require_subcommand(1);
  auto* imp = cmd->add_subcommand(
      "import", "Write an MNIST-like data set into a database: tables (id, image, label)");
  auto a = std::make_shared<ImportArgs>();
  imp->add_option("source", a->source, "fashion-mnist, or a directory of IDX files")->required();
  imp->add_option("url", a->url, "sqlite:///file.db or postgresql://user@host:port/db")
      ->required();
  imp->add_option("--train-table", a->train_table, "Table for the training split")
      ->capture_default_str();
  imp->add_option("--test-table", a->test_table, "Table for the test split")
      ->capture_default_str();
  imp->add_flag("--no-progress", [a](int64_t) { a->progress = false; }, "No progress bar");
  return [a] {
    std::string dir = a->source == "fashion-mnist" ? data::kFashionMnistDir : a->source;
    import_split(*a, dir, "train", a->train_table);
    import_split(*a, dir, "t10k", a->test_table);
    return 0;
  };
}

}  // namespace tandem::cli
