// train::Trainer: the training loop for any model, data, loss and metrics, as Keras'
// model.fit and PyTorch Lightning's Trainer give. The loop is short; checkpoints, early
// stopping, logging, the progress bar and profiling are callbacks (train/callbacks.h).
//
//   #include <tandem/train.h>
//   using namespace tandem;
//
//   auto model = std::make_shared<MyNet>();
//   train::TrainModule m;
//   m.model = model;
//   m.loss = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
//   m.optimizer = [](std::vector<Tensor> p) {
//     return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions{.lr = 1e-3});
//   };
//   m.scheduler = [](optim::Optimizer& opt, int64_t total_steps) {   // stepped every batch
//     return std::make_unique<optim::CosineAnnealingLR>(opt, total_steps);
//   };
//   m.metrics = {train::accuracy(), train::f1_score(10)};
//
//   train::Trainer trainer({.max_epochs = 5, .checkpoint_dir = "runs/my/ckpt",
//                           .log_dir = "runs/my"});           // TensorBoard + metrics.jsonl
//   trainer.add_callback(std::make_shared<train::EarlyStopping>(
//       train::EarlyStoppingOptions{.monitor = "val_loss", .patience = 3}));
//   data::DataLoader train_loader(train_set, {.batch_size = 128, .shuffle = true});
//   data::DataLoader val_loader(val_set, {.batch_size = 500});
//   train::TrainResult r = trainer.fit(m, train_loader, &val_loader);
//   r.history.back().at("val_accuracy");
//   // later, exactly where it stopped (same losses as an uninterrupted run):
//   trainer.fit(m, train_loader, &val_loader, "runs/my/ckpt/last.safetensors");
//
// A custom step replaces `loss` (Lightning's training_step): it returns the loss, and
// optionally the output (for metrics) and values to log:
//   m.training_step = [&](nn::Module& net, const data::Batch& b) {
//     Tensor out = net(b.data);
//     Tensor loss = mse_loss(out, b.target) + 1e-4 * l1_penalty(net);
//     return train::StepOutput{loss, out, {{"penalty", ...}}};
//   };
//
// One training batch: zero_grad (first batch of an accumulation window), the step, the
// loss divided by accumulate_grad_batches, backward; at the window's end gradient clipping,
// optimizer.step() and a per-step scheduler.step(). global_step() counts optimizer steps.
//
// Exact resume: a checkpoint (io::save_checkpoint's file) holds the model, optimizer,
// scheduler, default generator, epoch, step, batch within the epoch, the epoch's running
// loss and metric state, and each stateful callback's state. fit(..., ckpt_path) restores
// all of it and skips the batches the epoch already ran: the DataLoader's order and
// augmentation depend only on (seed, epoch, index), so the run continues with the very
// batches and random numbers of the uninterrupted one (bit for bit single-threaded).
//
// Distributed (TrainerOptions::process_group): the train loader describes the global run
// (batch_size is the global batch B, shuffle, seed, drop_last, transform, workers). Each rank
// reads its share through its own loader over the same dataset, with DistributedSampler's
// semantics: the epoch's shuffled order (the loader's own permutation) padded to a multiple
// of R by repeating from the start, rank r taking positions r, r + R, ..., in batches of
// B / R (B must be a multiple of R); an IterableDataset is sharded the same way (examples
// r, r + R, ...). Step k therefore trains on positions [kB, (k+1)B) of one global order
// whatever R is, so a checkpoint resumes on any number of ranks (same count: bit for bit). The model's parameters and buffers are
// broadcast from rank 0 after setup and resume, buffers again before every step;
// gradients are averaged by a distributed::Reducer (buckets all-reduced during backward;
// accumulation windows use no_sync), or with `zero` reduce-scattered into a
// ZeroRedundancyOptimizer. The step's loss (logs "loss", the epoch's train_loss) and the
// training metrics are global: each step all-reduces the loss over every rank's rows (one
// small collective, which also tells every rank whether any rank's callbacks checkpoint
// after this batch), and each epoch's end sums the metrics' states over the ranks. Give rank
// 0 alone the printing, logging and checkpoint callbacks: before a checkpoint every rank
// gathers what it needs (ZeRO's optimizer shards, the metrics' global state).
//
// Ownership: the Trainer holds the model (shared), builds and owns the optimizer and
// scheduler for the duration of fit() (they stay readable afterwards until the next fit),
// and shares its callbacks. The loaders are borrowed for the duration of fit().
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tandem/data/dataloader.h"
#include "tandem/distributed/ddp.h"
#include "tandem/io/checkpoint.h"
#include "tandem/nn/module.h"
#include "tandem/optim/lr_scheduler.h"
#include "tandem/optim/optimizer.h"
#include "tandem/train/metrics.h"

namespace tandem::train {

class Callback;

// Named numbers of one step, one validation pass or one epoch.
using Logs = std::map<std::string, double>;

// What a training or validation step returns: a scalar loss (required for training),
// the model output (optional: metrics are updated with it and the batch's target), and
// extra values to log under their names.
struct StepOutput {
  Tensor loss;
  Tensor output;
  Logs logs;
};
using StepFn = std::function<StepOutput(nn::Module& model, const data::Batch& batch)>;
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;
using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor> params)>;
// total_steps: optimizer steps of the whole run (-1 when the loader's length is unknown
// and max_steps is not set).
using SchedulerFactory =
    std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer& opt, int64_t total_steps)>;

// What to train and how: Lightning's LightningModule, Keras' model.compile(...).
struct TrainModule {
  std::shared_ptr<nn::Module> model;
  LossFn loss;                // default step: loss(model(batch.data), batch.target)
  StepFn training_step;       // instead of the default step
  StepFn validation_step;     // default: the default step's loss and output under no_grad
  // A whole validation pass of your own instead (keys logged as returned, no "val_"
  // prefix); runs in eval mode without gradients.
  std::function<Logs(nn::Module& model)> validate;
  OptimizerFactory optimizer;  // required
  SchedulerFactory scheduler;  // optional
  enum class Interval { Step, Epoch };
  Interval scheduler_interval = Interval::Step;
  // With Interval::Epoch and a ReduceLROnPlateau: the epoch log it steps on.
  std::string scheduler_monitor = "val_loss";
  std::vector<std::shared_ptr<Metric>> metrics;  // on training and validation batches
};

struct TrainerOptions {
  int64_t max_epochs = 1;
  int64_t max_steps = 0;                // > 0: stop after this many optimizer steps
  int64_t accumulate_grad_batches = 1;  // batches per optimizer step
  double gradient_clip_norm = 0;        // > 0: nn::utils::clip_grad_norm_ before each step
  double gradient_clip_value = 0;       // > 0: nn::utils::clip_grad_value_ before each step
  std::string precision = "fp32";       // "bf16": forward, loss and validation under autocast
                                        // (tandem/autocast.h); float32 master weights
  bool compile = false;                 // the default step through tandem::compile
  int threads = 0;                      // kernel threads; 0 leaves the current setting
  std::optional<uint64_t> seed;         // manual_seed at the start of a fresh fit
  int64_t val_every_n_epochs = 1;       // validation at the end of every N-th epoch (0: never)
  int64_t val_every_n_steps = 0;        // > 0: also every N optimizer steps
  int64_t batch_size = 32;              // fit() from Datasets: the loader's batch size
  // Conveniences that add callbacks (add your own for more control):
  std::string checkpoint_dir;   // ModelCheckpoint: last.safetensors after every epoch
  std::string log_dir;          // TensorBoardLogger and JsonlLogger (metrics.jsonl) there
  std::optional<bool> progress_bar;  // ProgressBar; default: when `out` is a terminal
  int64_t profile_steps = 0;    // > 0 (with log_dir): log_dir/trace.json of the first N steps
  std::map<std::string, std::string> checkpoint_extra;  // stored in every checkpoint
  std::ostream* out = nullptr;  // where callbacks print (default std::cout)
  // Data-parallel training over this process group (see "Distributed" above). Every rank
  // runs fit() with the same (global) loader; each reads its DistributedSampler share.
  std::shared_ptr<distributed::ProcessGroup> process_group;
  bool zero = false;            // with process_group: ZeRO-1 (distributed::ZeroRedundancyOptimizer)
  double bucket_cap_mb = 25.0;  // DistributedDataParallel's gradient buckets
};

struct TrainResult {
  std::vector<Logs> history;  // the epoch logs of the epochs this fit() finished
  int64_t epochs = 0;         // epochs finished in total (resumed ones included)
  int64_t global_step = 0;
  bool stopped_early = false;
  std::string stop_reason;
};

class Trainer {
 public:
  explicit Trainer(TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Callbacks run in the order of their Callback::order(), then of adding.
  Trainer& add_callback(std::shared_ptr<Callback> cb);

  // Trains until max_epochs, max_steps or a callback's request_stop. `val` may be null.
  // `ckpt_path`: resume from that checkpoint.
  TrainResult fit(TrainModule& module, data::DataLoader& train, data::DataLoader* val = nullptr,
                  const std::string& ckpt_path = "");
  // The same from Datasets: loaders with options().batch_size, the training one shuffled
  // with seed options().seed (0 if unset).
  TrainResult fit(TrainModule& module, std::shared_ptr<data::Dataset> train,
                  std::shared_ptr<data::Dataset> val = nullptr, const std::string& ckpt_path = "");

  // ---- what callbacks read (valid during fit)
  const TrainerOptions& options() const { return options_; }
  nn::Module& model() const;
  optim::Optimizer& optimizer() const;
  optim::LRScheduler* scheduler() const { return sched_.get(); }
  int64_t epoch() const { return epoch_; }            // 0-based, the epoch running
  int64_t global_step() const { return step_; }       // optimizer steps so far
  int64_t batch_in_epoch() const { return batch_; }   // batches of this epoch done
  int64_t steps_per_epoch() const { return batches_per_epoch_; }  // batches; -1 unknown
  int64_t start_epoch() const { return start_epoch_; }
  double running_loss() const { return samples_ > 0 ? loss_sum_ / samples_ : 0.0; }  // this epoch
  int64_t epoch_samples() const { return samples_; }      // training samples this epoch
  int64_t last_batch_size() const { return last_batch_size_; }
  int64_t validations() const { return validations_; }   // validation passes in this fit
  bool resumed() const { return resumed_; }
  std::ostream& out() const;
  // Every log key seen so far in this fit (step, validation and epoch logs).
  bool was_logged(const std::string& key) const { return logged_.count(key) > 0; }
  std::string logged_keys() const;  // "loss, lr, val_loss" for error messages
  bool validation_configured() const;
  bool validated_this_epoch() const { return validated_; }  // in on_epoch_end

  // A callback asks the loop to stop at the end of the current batch.
  void request_stop(const std::string& reason);
  bool should_stop() const { return stop_; }

  // Everything exact resume needs, with options().checkpoint_extra; save atomically.
  io::Checkpoint make_checkpoint() const;
  void save_checkpoint(const std::string& path) const;
  // The last checkpoint any callback saved in this fit ("" if none).
  const std::string& last_checkpoint() const { return last_ckpt_; }
  // The gradient reducer of a distributed fit (null otherwise, and with `zero`).
  const distributed::Reducer* reducer() const { return reducer_.get(); }

 private:
  void setup(TrainModule& module, data::DataLoader& train, const std::string& ckpt_path);
  void restore(const std::string& path);
  Logs run_epoch(data::DataLoader& train);
  Logs train_batch(const data::Batch& batch);
  Logs validate();
  void optimizer_step();
  // Distributed: the global loss of this batch, and the collectives a checkpoint needs.
  double reduce_batch(double loss, int64_t& rows, bool& checkpoint);
  void gather_for_checkpoint();
  void note(const Logs& logs);
  template <class F>
  void each_callback(const char* hook, F&& f);

  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> user_callbacks_, callbacks_;
  TrainModule* module_ = nullptr;
  data::DataLoader* val_ = nullptr;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LRScheduler> sched_;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> compiled_step_;
  std::shared_ptr<distributed::Reducer> reducer_;
  std::unique_ptr<data::DataLoader> rank_loader_;  // distributed: this rank's share of `train`
  int64_t epoch_ = 0, step_ = 0, batch_ = 0, batches_per_epoch_ = -1, start_epoch_ = 0;
  int64_t skip_batches_ = 0, pending_window_ = 0;  // batches to skip; micro-batches not stepped
  std::vector<std::vector<double>> pending_metrics_;  // metric state of a resumed epoch
  // Distributed: the metrics' state summed over the ranks at (step, batch) ckpt_metrics_at_.
  std::vector<std::vector<double>> ckpt_metrics_;
  std::pair<int64_t, int64_t> ckpt_metrics_at_{-1, -1};
  double loss_sum_ = 0;
  int64_t samples_ = 0, last_batch_size_ = 0, validations_ = 0;
  double train_seconds_ = 0;
  bool resumed_ = false, stop_ = false, epoch_done_ = false, validated_ = false;
  std::string stop_reason_, last_ckpt_;
  std::map<std::string, int> logged_;
  friend class ModelCheckpoint;  // records last_ckpt_
};

}  // namespace tandem::train
