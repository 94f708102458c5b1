// The training loop behind `tandem train` / `tandem eval`, callable in-process.
//
//   train::TrainOptions o;
//   o.model = "cnn"; o.epochs = 5; o.out_dir = "runs/my-cnn";
//   train::FitResult r = train::fit(o);          // prints progress and epoch summaries
//   r.test_accuracy;                             // 0.91...
//   // later: continue from the last checkpoint (bit-exact single-threaded, same seed)
//   o.resume = "runs/my-cnn/checkpoint.safetensors"; o.epochs = 8; train::fit(o);
//
// A run directory gets model.safetensors (final weights), checkpoint.safetensors (model,
// optimizer, scheduler, RNG state, epoch and step after the last finished epoch, rewritten
// atomically each epoch), metrics.jsonl (one JSON object per epoch) and TensorBoard event
// files (`tensorboard --logdir runs`): train/loss and train/lr every step, train/grad_norm and
// train/samples_per_second every 10 steps, epoch/{train_loss,test_loss,test_accuracy,
// samples_per_second}, weight and gradient histograms, a grid of test images with predicted
// labels, and the hyper-parameters.
//
// fit is a client of train::Trainer (train/trainer.h): the zoo model, cross-entropy, the
// test set as validation, and callbacks for the checkpoint, the logs and the progress bar.
//
// Determinism: the model is initialized after manual_seed(seed); the batch order of epoch
// e comes from (seed, e) and augmentation from (seed, e, sample index) (DataLoader), and
// dropout draws from the default generator, whose state the checkpoint keeps. So a resumed
// run repeats the uninterrupted run's losses exactly when both run single-threaded
// (multi-threaded kernels may sum in a different order).
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/data/dataset.h"
#include "tandem/nn/module.h"

namespace tandem::distributed {
class ProcessGroup;
}

namespace tandem::train {

// Fashion-MNIST's pixel mean and standard deviation (of the [0, 1] training images); inputs
// are normalized with them for training and evaluation alike.
inline constexpr double kPixelMean = 0.2860;
inline constexpr double kPixelStd = 0.3530;

struct TrainOptions {
  std::string model = "cnn";           // a models::create name (ignored when fit gets a model)
  std::string data = "fashion-mnist";  // "fashion-mnist" (Debian's package), an IDX directory,
                                       // or a database URL (sqlite:///f.db, postgresql://...)
  std::string table = "train", test_table = "test";  // with a database URL: (image, label) tables
  int64_t epochs = 6;               // the CNN default recipe: 91.5% on Fashion-MNIST (measured)
  int64_t batch_size = 128;
  std::string optimizer = "adam";      // "sgd" | "adam" | "adamw"
  double lr = 0.0;                     // 0: the optimizer's default (sgd 0.01, adam/adamw 1e-3)
  double momentum = 0.9;               // sgd
  double weight_decay = -1.0;          // < 0: the default (0; adamw 1e-2)
  std::string schedule = "cosine";     // "none" | "cosine" (per step, to 0) | "onecycle"
  std::string augment = "none";        // "none" | "crop" (random 28×28 crop of the image padded by 2) | "crop+flip"
  int threads = 0;                     // kernel threads; 0 leaves the current setting
  int workers = -1;                    // DataLoader worker threads; < 0: 1 when augmenting, else 0
  uint64_t seed = 0;
  std::string out_dir;                 // "": runs/<model>-<YYYYmmdd-HHMMSS> (runs/latest links to it);
                                       // with resume: the checkpoint's directory
  bool write_files = true;             // false: no run directory (benchmarks, quick tests)
  std::string resume;                  // a checkpoint.safetensors to continue from
  int64_t train_limit = 0;             // > 0: only the first N training images
  int64_t test_limit = 0;              // > 0: only the first N test images
  int64_t stop_after_epoch = 0;        // > 0: stop after this epoch as if interrupted (the
                                       // schedule still spans `epochs`); for resume tests
  int64_t checkpoint_every = 0;        // > 0: RUN_DIR/checkpoint.safetensors every N optimizer
                                       // steps instead of at each epoch's end
  std::optional<bool> progress;        // the bar; default: when stdout is a terminal
  bool verbose = true;                 // epoch summaries and the paths written
  std::ostream* out = nullptr;         // where text goes (default std::cout)
  std::function<void(int64_t step, double loss)> on_step;  // after every optimizer step
  bool tensorboard = true;             // RUN_DIR/events.out.tfevents.* (when writing files)
  int64_t histogram_every = 0;         // steps between weight/gradient histograms; 0: each epoch
  int64_t profile_steps = 0;           // > 0: profile the first N steps -> RUN_DIR/trace.json
  bool compile = false;                // run the training step through tandem::compile (graph
                                       // mode: traced once per batch size, then a Plan)
  std::string precision = "fp32";      // "bf16": mixed precision (TrainerOptions::precision)
  // Data-parallel training (`mpirun -np R tandem train --distributed`): every rank calls fit
  // with its group; each trains on 1/R of every batch of batch_size (the global batch), and
  // rank 0 alone prints, logs and writes the run directory. Checkpoints resume on any R.
  std::shared_ptr<distributed::ProcessGroup> process_group;
  bool zero = false;                   // ZeRO-1: optimizer state sharded over the ranks
  double bucket_cap_mb = 25.0;         // gradient bucket size (the first bucket: 1 MB)
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far (all epochs)
  double train_loss = 0, test_loss = 0, test_accuracy = 0;
  double lr = 0;                  // at the end of the epoch
  double train_seconds = 0, eval_seconds = 0;
  double samples_per_second = 0;  // training samples / train_seconds
};

struct FitResult {
  std::vector<EpochMetrics> history;  // epochs run by this call
  int64_t epochs = 0;                 // the last finished epoch
  double test_accuracy = 0, test_loss = 0, train_loss = 0;
  double seconds = 0;                 // wall time of this call
  double samples_per_second = 0;      // training samples / training time, this call
  int64_t peak_rss_bytes = 0;         // the process's peak resident set size (getrusage)
  int64_t peak_allocated_bytes = 0;   // the most tensor data held at once (memory_stats)
  std::string run_dir, model_path, checkpoint_path, metrics_path;  // empty without files
  // Distributed runs: the world size, the training time, and how long gradient all-reduces
  // were in flight and how much of that backward did not hide (rank 0's view).
  int world_size = 1;
  double train_seconds = 0, allreduce_seconds = 0, allreduce_exposed_seconds = 0;
};

// One JSON object (no newline): test_accuracy, test_loss, train_loss, epochs, seconds,
// samples_per_second, peak_rss_bytes, peak_allocated_bytes, and the paths.
std::string to_json(const FitResult& r, const std::string& model_name);

struct EvalResult {
  double accuracy = 0, loss = 0;  // loss: mean cross-entropy
  int64_t samples = 0;
  double seconds = 0;
};

// Loads `data` ("fashion-mnist" or an IDX directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]),
// normalized with kPixelMean / kPixelStd; `limit` > 0 keeps the first `limit` images.
// Error naming the directory and the expected files when they are missing. A database URL
// reads `table` (image bytes [1,28,28] + label, as `tandem data import` writes it) ordered by
// id, once, into memory: the same tensors, and so the same training, as from the IDX files.
std::shared_ptr<data::Dataset> load_dataset(const std::string& data, bool train, int64_t limit = 0,
                                            const std::string& table = "");

// Accuracy and mean cross-entropy of `model` (eval mode, no grad; mode restored) on `ds`.
EvalResult evaluate(nn::Module& model, const data::Dataset& ds, int64_t batch_size = 500);

// Trains `model` (or models::create(options.model) when null) as `options` say.
FitResult fit(const TrainOptions& options, std::shared_ptr<nn::Module> model = nullptr);

}  // namespace tandem::train
