// Callbacks of train::Trainer: everything around the loop (checkpoints, early stopping,
// logging, the progress bar, profiling, your own code).
//
//   trainer.add_callback(std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
//       .dirpath = "runs/a/ckpt", .monitor = "val_accuracy", .mode = "max", .save_top_k = 3}));
//   trainer.add_callback(std::make_shared<train::LambdaCallback>(train::LambdaCallback::Hooks{
//       .on_epoch_end = [](train::Trainer& t, train::Logs& logs) { ... }}));
//
// Order of hooks in Trainer::fit:
//   on_fit_start
//   for each epoch:
//     on_epoch_start
//     for each batch:   on_train_batch_start, (the step), on_train_batch_end(step logs)
//                       [every val_every_n_steps steps: validation, on_validation_end(val logs)]
//     [every val_every_n_epochs epochs: validation, on_validation_end(val logs)]
//     on_epoch_end(epoch logs: train_loss, train_<metric>, val_*, lr, samples_per_second, ...)
//   on_fit_end
//   on_exception(error) instead, when the loop throws (then the error propagates).
// Step logs hold "loss" (this batch), "lr" and the step's own values. Within one hook,
// callbacks run by order(): producers of values (0: LearningRateMonitor, your callbacks)
// first, then ModelCheckpoint and EarlyStopping (50), ProgressCallback (90), loggers (100),
// so that what one adds to the logs is seen by the ones after it. A callback that throws
// stops fit() with a tandem::Error naming it and the hook; checkpoints already written stay.
//
// Stateful callbacks (ModelCheckpoint, EarlyStopping) save state() into every checkpoint
// under state_key() and get it back through load_state() on resume.
#pragma once
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tandem/data/dataset.h"
#include "tandem/train/trainer.h"

namespace tandem::summary {
class Writer;
}
namespace tandem::profiler {
class Profiler;
class Span;
}

namespace tandem::train {

class Callback {
 public:
  virtual ~Callback();
  virtual std::string name() const = 0;
  virtual int order() const { return 0; }
  virtual void on_fit_start(Trainer&) {}
  virtual void on_epoch_start(Trainer&) {}
  virtual void on_train_batch_start(Trainer&, const data::Batch&) {}
  virtual void on_train_batch_end(Trainer&, Logs&) {}
  virtual void on_validation_end(Trainer&, Logs&) {}
  virtual void on_epoch_end(Trainer&, Logs&) {}
  virtual void on_fit_end(Trainer&) {}
  virtual void on_exception(Trainer&, const std::exception&) {}
  // Whether this callback's on_train_batch_end will save a checkpoint at this step. In a
  // distributed fit every rank then gathers what the checkpoint needs first (a collective),
  // even when only rank 0 has the callback.
  virtual bool checkpoints_after_batch(const Trainer&) const { return false; }
  // "" for a stateless callback.
  virtual std::string state_key() const { return ""; }
  virtual std::string state() const { return ""; }
  virtual void load_state(const std::string&) {}
};

// Your own hooks as lambdas (any left empty does nothing).
class LambdaCallback : public Callback {
 public:
  struct Hooks {
    std::function<void(Trainer&)> on_fit_start, on_epoch_start, on_fit_end;
    std::function<void(Trainer&, const data::Batch&)> on_train_batch_start;
    std::function<void(Trainer&, Logs&)> on_train_batch_end, on_validation_end, on_epoch_end;
    std::function<void(Trainer&, const std::exception&)> on_exception;
  };
  explicit LambdaCallback(Hooks hooks, std::string name = "LambdaCallback", int order = 0)
      : h_(std::move(hooks)), name_(std::move(name)), order_(order) {}
  std::string name() const override { return name_; }
  int order() const override { return order_; }
  void on_fit_start(Trainer& t) override { if (h_.on_fit_start) h_.on_fit_start(t); }
  void on_epoch_start(Trainer& t) override { if (h_.on_epoch_start) h_.on_epoch_start(t); }
  void on_train_batch_start(Trainer& t, const data::Batch& b) override {
    if (h_.on_train_batch_start) h_.on_train_batch_start(t, b);
  }
  void on_train_batch_end(Trainer& t, Logs& l) override { if (h_.on_train_batch_end) h_.on_train_batch_end(t, l); }
  void on_validation_end(Trainer& t, Logs& l) override { if (h_.on_validation_end) h_.on_validation_end(t, l); }
  void on_epoch_end(Trainer& t, Logs& l) override { if (h_.on_epoch_end) h_.on_epoch_end(t, l); }
  void on_fit_end(Trainer& t) override { if (h_.on_fit_end) h_.on_fit_end(t); }
  void on_exception(Trainer& t, const std::exception& e) override { if (h_.on_exception) h_.on_exception(t, e); }

 private:
  Hooks h_;
  std::string name_;
  int order_;
};

struct ModelCheckpointOptions {
  std::string dirpath;           // created if missing
  std::string filename = "epoch={epoch}-step={step}";  // + ".safetensors"; {epoch} 1-based
  std::string monitor;           // "": no ranking (save_top_k keeps the newest)
  std::string mode = "min";      // "min" | "max"
  int64_t save_top_k = 1;        // keep the best k (-1: all; 0: none besides last)
  bool save_last = true;         // also <last_name>.safetensors, rewritten each time
  std::string last_name = "last";
  int64_t every_n_epochs = 1;    // save at the end of every N-th epoch (0: not per epoch)
  int64_t every_n_steps = 0;     // > 0: save every N optimizer steps instead (step logs)
};

// Saves Trainer::make_checkpoint() atomically; keeps exactly the best save_top_k by
// `monitor` (ties keep the older), deleting the others it wrote; any of them resumes
// exactly. A monitored value that was never logged is an Error naming what was.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  std::string name() const override { return "ModelCheckpoint"; }
  int order() const override { return 50; }
  void on_fit_start(Trainer& t) override;
  void on_train_batch_end(Trainer& t, Logs& logs) override;
  bool checkpoints_after_batch(const Trainer& t) const override;
  void on_epoch_end(Trainer& t, Logs& logs) override;
  void on_fit_end(Trainer& t) override;
  std::string state_key() const override { return "ModelCheckpoint"; }
  std::string state() const override;
  void load_state(const std::string& s) override;
  // (score, path) of the kept checkpoints, best first.
  std::vector<std::pair<double, std::string>> best() const;
  std::string last_path() const;

 private:
  void save(Trainer& t, const Logs& logs);
  bool better(double a, double b) const;
  ModelCheckpointOptions o_;
  std::vector<std::pair<double, std::string>> kept_;  // in the order written
  int64_t last_saved_step_ = -1;
};

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  std::string mode = "min";  // "min" | "max"
  int64_t patience = 3;      // validations without improvement before stopping
  double min_delta = 0;      // an improvement must beat the best by more than this
};

// Stops fit() once `monitor` has not improved for `patience` epochs (checked at each
// epoch end whose logs hold it), as Keras' EarlyStopping.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options);
  std::string name() const override { return "EarlyStopping"; }
  int order() const override { return 50; }
  void on_fit_start(Trainer& t) override;
  void on_epoch_end(Trainer& t, Logs& logs) override;
  void on_fit_end(Trainer& t) override;
  std::string state_key() const override { return "EarlyStopping"; }
  std::string state() const override;
  void load_state(const std::string& s) override;
  int64_t stopped_epoch() const { return stopped_epoch_; }  // 1-based; 0: did not stop
  double best() const { return best_; }

 private:
  EarlyStoppingOptions o_;
  double best_;
  int64_t wait_ = 0, stopped_epoch_ = 0;
};

// Adds each parameter group's learning rate to the step logs ("lr-<Optimizer>" for one
// group, "lr-<Optimizer>/pg<i>" for several) and the momentum where the optimizer has one.
class LearningRateMonitor : public Callback {
 public:
  explicit LearningRateMonitor(bool log_momentum = false) : momentum_(log_momentum) {}
  std::string name() const override { return "LearningRateMonitor"; }
  void on_train_batch_end(Trainer& t, Logs& logs) override;

 private:
  bool momentum_;
};

struct ProgressOptions {
  std::optional<bool> interactive;  // redraw in place; default: stdout is a terminal
  // The line printed after each epoch; default: "epoch 2/5  train_loss 0.3120  val_loss ...".
  std::function<std::string(const Trainer&, const Logs&)> summary;
  bool print_summary = true;
  bool show_bar = true;  // false: only the summary lines
};

// The progress bar (train/progress.h) over each epoch's batches, and an epoch summary line.
class ProgressCallback : public Callback {
 public:
  explicit ProgressCallback(ProgressOptions options = {});
  ~ProgressCallback() override;
  std::string name() const override { return "ProgressCallback"; }
  int order() const override { return 90; }
  void on_epoch_start(Trainer& t) override;
  void on_train_batch_end(Trainer& t, Logs& logs) override;
  void on_epoch_end(Trainer& t, Logs& logs) override;
  void on_exception(Trainer& t, const std::exception&) override;

 private:
  struct State;
  ProgressOptions o_;
  std::unique_ptr<State> s_;
};

struct TensorBoardOptions {
  std::string log_dir;
  // Each step: "train/<key>" for every step log. Every 10 steps also train/grad_norm and
  // train/samples_per_second.
  int64_t histogram_every = 0;            // params/<name>, grads/<name>; 0: each epoch
  std::vector<std::string> epoch_keys;    // epoch logs written as "epoch/<key>"; empty: all
  std::map<std::string, std::string> hparams_text;  // the HPARAMS tab and a config table
  std::map<std::string, double> hparams_numbers;
  std::vector<std::string> hparam_metrics;  // final epoch logs shown as "hparam/<key>"
};

// TensorBoard event files for any model: what `tandem train` logs.
class TensorBoardLogger : public Callback {
 public:
  explicit TensorBoardLogger(TensorBoardOptions options);
  ~TensorBoardLogger() override;
  std::string name() const override { return "TensorBoardLogger"; }
  int order() const override { return 100; }
  void on_fit_start(Trainer& t) override;
  void on_train_batch_end(Trainer& t, Logs& logs) override;
  void on_epoch_end(Trainer& t, Logs& logs) override;
  void on_fit_end(Trainer& t) override;
  void on_exception(Trainer& t, const std::exception&) override;
  summary::Writer* writer() const { return writer_.get(); }  // null outside fit
  TensorBoardOptions& options() { return o_; }  // e.g. hparams known only once fit starts
  std::string path() const { return path_; }                 // the event file

 private:
  void histograms(Trainer& t, int64_t step);
  TensorBoardOptions o_;
  std::unique_ptr<summary::Writer> writer_;
  std::string path_;
  Logs last_epoch_;
  int64_t window_samples_ = 0, last_window_step_ = -1;
  std::chrono::steady_clock::time_point window_start_;
};

// One line per epoch to a file: JSON objects (.jsonl) or CSV with a header. A resumed run
// keeps the lines of the epochs before the checkpoint and drops the rest.
class JsonlLogger : public Callback {
 public:
  explicit JsonlLogger(std::string path) : path_(std::move(path)) {}
  std::string name() const override { return "JsonlLogger"; }
  int order() const override { return 100; }
  void on_fit_start(Trainer& t) override;
  void on_epoch_end(Trainer& t, Logs& logs) override;

 private:
  std::string path_;
};

class CsvLogger : public Callback {
 public:
  explicit CsvLogger(std::string path) : path_(std::move(path)) {}
  std::string name() const override { return "CsvLogger"; }
  int order() const override { return 100; }
  void on_fit_start(Trainer& t) override;
  void on_epoch_end(Trainer& t, Logs& logs) override;

 private:
  std::string path_;
  std::vector<std::string> columns_;
};

// A Chrome trace (Perfetto) of the first `steps` training steps, each inside a
// "train_step" span, and a table of op times printed when it is written.
class StepProfiler : public Callback {
 public:
  StepProfiler(std::string trace_path, int64_t steps, bool print_table = true);
  ~StepProfiler() override;
  std::string name() const override { return "StepProfiler"; }
  void on_train_batch_start(Trainer& t, const data::Batch&) override;
  void on_train_batch_end(Trainer& t, Logs& logs) override;
  void on_fit_end(Trainer& t) override;
  void on_exception(Trainer& t, const std::exception&) override;

 private:
  void write(Trainer& t);
  std::string path_;
  int64_t steps_, done_ = 0;
  bool print_;
  std::unique_ptr<profiler::Profiler> prof_;
  std::unique_ptr<profiler::Span> span_;
};

}  // namespace tandem::train
