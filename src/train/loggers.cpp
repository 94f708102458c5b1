// TensorBoardLogger, JsonlLogger, CsvLogger (include/tandem/train/callbacks.h).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tandem/autograd.h"
#include "tandem/error.h"
#include "tandem/io/atomic_file.h"
#include "tandem/ops.h"
#include "tandem/summary/writer.h"
#include "tandem/train/callbacks.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tandem::train {
namespace {

// Global 2-norm of all gradients: one pass over each float32 gradient (no dispatched ops,
// so a profile of the step shows only the training itself).
double grad_norm(const std::vector<Tensor>& params) {
  double sq = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.dtype() == DType::Float32 && g.is_contiguous()) {
      const float* d = g.data<float>();
      double s = 0;
      for (int64_t i = 0; i < g.numel(); ++i) s += double(d[i]) * d[i];
      sq += s;
    } else {
      NoGradGuard ng;
      Tensor g64 = g.to(DType::Float64);
      sq += (g64 * g64).sum().item();
    }
  }
  return std::sqrt(sq);
}

// The lines of a per-epoch log that a resumed run keeps: those of epochs <= last_kept.
// `is_kept(line)` decides; the file is rewritten atomically enough for a log (truncate).
template <class Keep>
void keep_lines(const std::string& path, Keep&& is_kept) {
  std::vector<std::string> kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && is_kept(line)) kept.push_back(line);
  }
  // Rewritten atomically: a run killed here keeps the previous log whole.
  io::write_file_atomic(path, [&](std::ostream& out) {
    for (const auto& l : kept) out << l << '\n';
  });
}

void make_parent(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
}

json logs_json(const Logs& logs) {
  json j = json::object();
  for (const auto& [k, v] : logs) {
    if (k == "epoch" || k == "step") j[k] = static_cast<int64_t>(v);
    else j[k] = v;
  }
  return j;
}

}  // namespace

// ---- TensorBoardLogger

TensorBoardLogger::TensorBoardLogger(TensorBoardOptions options) : o_(std::move(options)) {
  TANDEM_CHECK(!o_.log_dir.empty(), "TensorBoardLogger: log_dir is empty");
}
TensorBoardLogger::~TensorBoardLogger() = default;

void TensorBoardLogger::on_fit_start(Trainer&) {
  writer_ = std::make_unique<summary::Writer>(o_.log_dir);
  path_ = writer_->path();
  last_epoch_.clear();
  window_samples_ = 0;
  last_window_step_ = -1;
  window_start_ = std::chrono::steady_clock::now();
}

void TensorBoardLogger::on_train_batch_end(Trainer& t, Logs& logs) {
  if (!writer_) return;
  int64_t step = t.global_step();
  for (const auto& [k, v] : logs) writer_->add_scalar("train/" + k, v, step);
  window_samples_ += t.last_batch_size();
  if (step % 10 == 0 && step != last_window_step_) {
    last_window_step_ = step;
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - window_start_).count();
    if (secs > 0) writer_->add_scalar("train/samples_per_second", window_samples_ / secs, step);
    window_samples_ = 0;
    window_start_ = now;
    writer_->add_scalar("train/grad_norm", grad_norm(t.model().parameters()), step);
  }
  if (o_.histogram_every > 0 && step % o_.histogram_every == 0) histograms(t, step);
}

void TensorBoardLogger::histograms(Trainer& t, int64_t step) {
  for (const auto& [name, p] : t.model().named_parameters()) {
    writer_->add_histogram("params/" + name, p, step);
    if (p.grad().defined()) writer_->add_histogram("grads/" + name, p.grad(), step);
  }
}

void TensorBoardLogger::on_epoch_end(Trainer& t, Logs& logs) {
  if (!writer_) return;
  int64_t step = t.global_step();
  if (o_.epoch_keys.empty()) {
    for (const auto& [k, v] : logs)
      if (k != "epoch" && k != "step") writer_->add_scalar("epoch/" + k, v, step);
  } else {
    for (const auto& k : o_.epoch_keys)
      if (auto it = logs.find(k); it != logs.end()) writer_->add_scalar("epoch/" + k, it->second, step);
  }
  if (o_.histogram_every <= 0) histograms(t, step);
  last_epoch_ = logs;
  writer_->flush();
}

void TensorBoardLogger::on_fit_end(Trainer& t) {
  if (!writer_) return;
  std::map<std::string, summary::HParamValue> hparams;
  for (const auto& [k, v] : o_.hparams_text) hparams[k] = v;
  for (const auto& [k, v] : o_.hparams_numbers) hparams[k] = v;
  if (!hparams.empty()) {
    std::map<std::string, double> metrics;
    for (const auto& k : o_.hparam_metrics)
      if (auto it = last_epoch_.find(k); it != last_epoch_.end()) metrics["hparam/" + k] = it->second;
    int64_t step = last_epoch_.count("step") ? static_cast<int64_t>(last_epoch_.at("step")) : 0;
    writer_->add_hparams(hparams, metrics, step);
    std::string cfg = "| setting | value |\n|---|---|\n";
    for (const auto& [k, v] : hparams) {
      std::string s;
      if (const double* d = std::get_if<double>(&v)) s = fmt::format("{:g}", *d);
      else if (const bool* b = std::get_if<bool>(&v)) s = *b ? "true" : "false";
      else s = std::get<std::string>(v);
      cfg += fmt::format("| {} | {} |\n", k, s);
    }
    writer_->add_text("config", cfg, 0);
  }
  writer_->close();
  writer_.reset();
}

void TensorBoardLogger::on_exception(Trainer&, const std::exception&) {
  if (writer_) writer_->close();  // what was logged so far reads back
  writer_.reset();
}

// ---- JsonlLogger

void JsonlLogger::on_fit_start(Trainer& t) {
  make_parent(path_);
  if (t.resumed() && fs::exists(path_)) {
    int64_t last = t.start_epoch();
    keep_lines(path_, [last](const std::string& line) {
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      return j.is_object() && j.contains("epoch") && j["epoch"].is_number() &&
             j["epoch"].get<int64_t>() <= last;
    });
  } else {
    std::ofstream(path_, std::ios::trunc);
  }
  TANDEM_CHECK(fs::exists(path_), "JsonlLogger: cannot write '{}'", path_);
}

void JsonlLogger::on_epoch_end(Trainer&, Logs& logs) {
  std::ofstream(path_, std::ios::app) << logs_json(logs).dump() << '\n';
}

// ---- CsvLogger

void CsvLogger::on_fit_start(Trainer& t) {
  make_parent(path_);
  columns_.clear();
  if (t.resumed() && fs::exists(path_)) {
    int64_t last = t.start_epoch();
    bool header = true;
    keep_lines(path_, [&](const std::string& line) {
      if (header) {  // the header names the columns this run continues
        header = false;
        for (size_t b = 0, e; b <= line.size(); b = e + 1) {
          e = std::min(line.find(',', b), line.size());
          columns_.push_back(line.substr(b, e - b));
        }
        return true;
      }
      return std::strtoll(line.c_str(), nullptr, 10) <= last;  // "epoch" is the first column
    });
  } else {
    std::ofstream(path_, std::ios::trunc);
  }
  TANDEM_CHECK(fs::exists(path_), "CsvLogger: cannot write '{}'", path_);
}

void CsvLogger::on_epoch_end(Trainer&, Logs& logs) {
  std::ofstream out(path_, std::ios::app);
  if (columns_.empty()) {
    columns_.push_back("epoch");
    for (const auto& [k, v] : logs)
      if (k != "epoch") columns_.push_back(k);
    for (size_t i = 0; i < columns_.size(); ++i) out << (i ? "," : "") << columns_[i];
    out << '\n';
  }
  for (size_t i = 0; i < columns_.size(); ++i) {
    out << (i ? "," : "");
    auto it = logs.find(columns_[i]);
    if (it == logs.end()) continue;  // not logged this epoch: an empty cell
    if (columns_[i] == "epoch" || columns_[i] == "step") out << static_cast<int64_t>(it->second);
    else out << fmt::format("{}", it->second);
  }
  out << '\n';
}

}  // namespace tandem::train
