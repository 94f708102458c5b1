// ModelCheckpoint, EarlyStopping, LearningRateMonitor, ProgressCallback, StepProfiler
// (include/tandem/train/callbacks.h). The loggers are in loggers.cpp.
#include "tandem/train/callbacks.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tandem/error.h"
#include "tandem/io/checkpoint.h"
#include "tandem/summary/profiler.h"
#include "tandem/train/progress.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tandem::train {

Callback::~Callback() = default;

namespace {

// A monitored value missing from `logs`: fine while it may still come (it was logged
// before, or validation has not run yet); an Error when nothing will ever log it.
void check_monitor_can_appear(const Trainer& t, const std::string& who, const std::string& key) {
  bool may_come = t.was_logged(key) || (t.validation_configured() && t.validations() == 0);
  TANDEM_CHECK(may_come,
               "{} monitors '{}', which was never logged; logged values: {} (validation "
               "values are prefixed with val_, training epoch values with train_)",
               who, key, t.logged_keys());
}

std::string fill(std::string pattern, const std::string& key, int64_t value) {
  std::string tag = "{" + key + "}";
  for (size_t p; (p = pattern.find(tag)) != std::string::npos;)
    pattern.replace(p, tag.size(), std::to_string(value));
  return pattern;
}

}  // namespace

// ---- ModelCheckpoint

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : o_(std::move(options)) {
  TANDEM_CHECK(!o_.dirpath.empty(), "ModelCheckpoint: dirpath is empty");
  TANDEM_CHECK(o_.mode == "min" || o_.mode == "max",
               "ModelCheckpoint: mode must be \"min\" or \"max\", got '{}'", o_.mode);
  TANDEM_CHECK(o_.save_top_k >= -1, "ModelCheckpoint: save_top_k must be >= -1, got {}", o_.save_top_k);
  TANDEM_CHECK(o_.every_n_epochs >= 0 && o_.every_n_steps >= 0,
               "ModelCheckpoint: every_n_epochs and every_n_steps must be >= 0");
}

bool ModelCheckpoint::better(double a, double b) const { return o_.mode == "min" ? a < b : a > b; }

void ModelCheckpoint::on_fit_start(Trainer& t) {
  std::error_code ec;
  fs::create_directories(o_.dirpath, ec);
  TANDEM_CHECK(fs::is_directory(o_.dirpath), "ModelCheckpoint: cannot create '{}': {}",
               o_.dirpath, ec.message());
  if (!t.resumed()) kept_.clear();
  last_saved_step_ = -1;
}

bool ModelCheckpoint::checkpoints_after_batch(const Trainer& t) const {
  return o_.every_n_steps > 0 && t.global_step() % o_.every_n_steps == 0 &&
         t.global_step() != last_saved_step_;
}

void ModelCheckpoint::on_train_batch_end(Trainer& t, Logs& logs) {
  if (checkpoints_after_batch(t)) save(t, logs);
}

void ModelCheckpoint::on_epoch_end(Trainer& t, Logs& logs) {
  if (o_.every_n_steps == 0 && o_.every_n_epochs > 0 && (t.epoch() + 1) % o_.every_n_epochs == 0)
    save(t, logs);
}

void ModelCheckpoint::on_fit_end(Trainer& t) {
  if (!o_.monitor.empty() && !t.was_logged(o_.monitor))
    check_monitor_can_appear(t, "ModelCheckpoint", o_.monitor);
}

void ModelCheckpoint::save(Trainer& t, const Logs& logs) {
  last_saved_step_ = t.global_step();
  std::string name = fill(fill(o_.filename, "epoch", t.epoch() + 1), "step", t.global_step());
  std::string path = (fs::path(o_.dirpath) / (name + ".safetensors")).string();
  std::erase_if(kept_, [&](const auto& k) { return k.second == path; });  // saved again

  std::vector<std::string> evicted;
  bool keep = false;
  double score = 0;
  if (o_.save_top_k != 0) {
    if (o_.monitor.empty()) {
      keep = true;  // the newest k
      if (o_.save_top_k > 0 && int64_t(kept_.size()) >= o_.save_top_k) {
        evicted.push_back(kept_.front().second);
        kept_.erase(kept_.begin());
      }
    } else if (auto it = logs.find(o_.monitor); it != logs.end() && !std::isnan(it->second)) {
      score = it->second;
      if (o_.save_top_k < 0 || int64_t(kept_.size()) < o_.save_top_k) {
        keep = true;
      } else {
        // The worst kept one (the newest among equals: ties keep the older).
        auto worst = kept_.begin();
        for (auto k = kept_.begin(); k != kept_.end(); ++k)
          if (!better(k->first, worst->first)) worst = k;
        if (better(score, worst->first)) {
          keep = true;
          evicted.push_back(worst->second);
          kept_.erase(worst);
        }
      }
    } else if (it == logs.end()) {
      check_monitor_can_appear(t, "ModelCheckpoint", o_.monitor);
    }
  }
  if (!keep && !o_.save_last) return;
  if (keep) kept_.emplace_back(score, path);
  // State first (it lists this file), then the files, then the evictions: a crash in
  // between leaves an extra file, never a missing one.
  io::Checkpoint ck = t.make_checkpoint();
  if (keep) {
    io::save_checkpoint(path, ck);
    t.last_ckpt_ = path;
  }
  if (o_.save_last) {
    io::save_checkpoint(last_path(), ck);
    t.last_ckpt_ = last_path();
  }
  for (const auto& p : evicted) {
    std::error_code ec;
    if (p != path) fs::remove(p, ec);
  }
}

std::string ModelCheckpoint::last_path() const {
  return (fs::path(o_.dirpath) / (o_.last_name + ".safetensors")).string();
}

std::vector<std::pair<double, std::string>> ModelCheckpoint::best() const {
  auto v = kept_;
  if (!o_.monitor.empty())
    std::stable_sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return better(a.first, b.first); });
  return v;
}

std::string ModelCheckpoint::state() const {
  json kept = json::array();
  for (const auto& [score, path] : kept_) kept.push_back({{"score", fmt::format("{:a}", score)}, {"path", path}});
  return json{{"kept", kept}}.dump();
}

void ModelCheckpoint::load_state(const std::string& s) {
  json j = json::parse(s);
  kept_.clear();
  for (const auto& k : j.at("kept"))
    kept_.emplace_back(std::strtod(k.at("score").get<std::string>().c_str(), nullptr),
                       k.at("path").get<std::string>());
}

// ---- EarlyStopping

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : o_(std::move(options)) {
  TANDEM_CHECK(!o_.monitor.empty(), "EarlyStopping: monitor is empty");
  TANDEM_CHECK(o_.mode == "min" || o_.mode == "max",
               "EarlyStopping: mode must be \"min\" or \"max\", got '{}'", o_.mode);
  TANDEM_CHECK(o_.patience >= 0, "EarlyStopping: patience must be >= 0, got {}", o_.patience);
  TANDEM_CHECK(o_.min_delta >= 0, "EarlyStopping: min_delta must be >= 0, got {}", o_.min_delta);
  best_ = o_.mode == "min" ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
}

void EarlyStopping::on_fit_start(Trainer& t) {
  if (t.resumed()) return;  // best and wait came from the checkpoint
  best_ = o_.mode == "min" ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
  wait_ = stopped_epoch_ = 0;
}

void EarlyStopping::on_epoch_end(Trainer& t, Logs& logs) {
  auto it = logs.find(o_.monitor);
  if (it == logs.end()) {
    check_monitor_can_appear(t, "EarlyStopping", o_.monitor);
    return;
  }
  double v = it->second;
  bool improved = o_.mode == "min" ? v < best_ - o_.min_delta : v > best_ + o_.min_delta;
  if (improved) {
    best_ = v;
    wait_ = 0;
    return;
  }
  if (++wait_ >= o_.patience) {
    stopped_epoch_ = t.epoch() + 1;
    t.request_stop(fmt::format("EarlyStopping: {} did not improve on {:g} for {} epochs",
                               o_.monitor, best_, wait_));
  }
}

void EarlyStopping::on_fit_end(Trainer& t) {
  if (!t.was_logged(o_.monitor)) check_monitor_can_appear(t, "EarlyStopping", o_.monitor);
}

std::string EarlyStopping::state() const {
  return json{{"best", fmt::format("{:a}", best_)}, {"wait", wait_}}.dump();
}

void EarlyStopping::load_state(const std::string& s) {
  json j = json::parse(s);
  best_ = std::strtod(j.at("best").get<std::string>().c_str(), nullptr);
  wait_ = j.at("wait").get<int64_t>();
}

// ---- LearningRateMonitor

void LearningRateMonitor::on_train_batch_end(Trainer& t, Logs& logs) {
  const auto& groups = t.optimizer().param_groups();
  std::string base = "lr-" + t.optimizer().name();
  for (size_t i = 0; i < groups.size(); ++i) {
    std::string suffix = groups.size() > 1 ? fmt::format("/pg{}", i) : "";
    logs[base + suffix] = groups[i].options.at("lr");
    if (!momentum_) continue;
    for (const char* key : {"momentum", "beta1"}) {
      auto it = groups[i].options.find(key);
      if (it != groups[i].options.end()) logs["momentum-" + t.optimizer().name() + suffix] = it->second;
    }
  }
}

// ---- ProgressCallback

struct ProgressCallback::State {
  std::unique_ptr<ProgressBar> bar;
  std::chrono::steady_clock::time_point start;
  int64_t first_samples = 0;
};

ProgressCallback::ProgressCallback(ProgressOptions options)
    : o_(std::move(options)), s_(std::make_unique<State>()) {}
ProgressCallback::~ProgressCallback() = default;

void ProgressCallback::on_epoch_start(Trainer& t) {
  if (!o_.show_bar) return;
  bool interactive = o_.interactive.value_or(stdout_is_terminal() && &t.out() == &std::cout);
  s_->bar = std::make_unique<ProgressBar>(
      t.out(), fmt::format("epoch {}/{}", t.epoch() + 1, t.options().max_epochs),
      std::max<int64_t>(t.steps_per_epoch(), 0), interactive);
  s_->start = std::chrono::steady_clock::now();
  s_->first_samples = t.epoch_samples();  // a resumed epoch counts from here
}

void ProgressCallback::on_train_batch_end(Trainer& t, Logs&) {
  if (!s_->bar) return;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - s_->start).count();
  double speed = secs > 0 ? (t.epoch_samples() - s_->first_samples) / secs : 0.0;
  s_->bar->update(t.batch_in_epoch(), t.running_loss(), speed);
}

void ProgressCallback::on_epoch_end(Trainer& t, Logs& logs) {
  if (s_->bar) s_->bar->finish();
  s_->bar.reset();
  if (!o_.print_summary) return;
  std::string line;
  if (o_.summary) {
    line = o_.summary(t, logs);
  } else {
    line = fmt::format("epoch {}/{}", t.epoch() + 1, t.options().max_epochs);
    for (const auto& [k, v] : logs) {
      if (k == "epoch" || k == "step" || k == "train_seconds" || k == "samples_per_second") continue;
      line += fmt::format("  {} {:.4g}", k, v);
    }
    line += fmt::format("  {:.1f} s", logs.count("train_seconds") ? logs.at("train_seconds") : 0.0);
  }
  t.out() << line << '\n' << std::flush;
}

void ProgressCallback::on_exception(Trainer&, const std::exception&) {
  if (s_->bar) s_->bar->finish();
  s_->bar.reset();
}

// ---- StepProfiler

StepProfiler::StepProfiler(std::string trace_path, int64_t steps, bool print_table)
    : path_(std::move(trace_path)), steps_(steps), print_(print_table) {
  TANDEM_CHECK(steps_ > 0, "StepProfiler: steps must be positive, got {}", steps_);
}

StepProfiler::~StepProfiler() {
  try {
    span_.reset();
    if (prof_ && prof_->running()) prof_->stop();
  } catch (...) {
  }
}

void StepProfiler::on_train_batch_start(Trainer&, const data::Batch&) {
  if (done_ >= steps_) return;
  if (!prof_) prof_ = std::make_unique<profiler::Profiler>();
  if (!prof_->running()) prof_->start();
  span_ = std::make_unique<profiler::Span>("train_step");
}

void StepProfiler::on_train_batch_end(Trainer& t, Logs&) {
  if (!span_) return;
  span_.reset();
  if (++done_ == steps_) write(t);
}

void StepProfiler::on_fit_end(Trainer& t) {
  if (prof_ && prof_->running() && done_ > 0) write(t);  // the run was shorter
}

void StepProfiler::on_exception(Trainer&, const std::exception&) {
  span_.reset();
  if (prof_ && prof_->running()) prof_->stop();
}

void StepProfiler::write(Trainer& t) {
  prof_->stop();
  prof_->write_chrome_trace(path_);
  if (print_)
    t.out() << fmt::format("profile of {} steps: {} (open in https://ui.perfetto.dev)\n{}", done_,
                           path_, prof_->key_averages(15))
            << std::flush;
}

}  // namespace tandem::train
