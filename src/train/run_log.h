// What `tandem train` records for TensorBoard and the profiler (internal to fit.cpp):
// RUN_DIR/events.out.tfevents.* with
//   train/loss, train/lr                        every step
//   train/grad_norm, train/samples_per_second   every 10 steps
//   params/<name>, grads/<name> histograms      every `histogram_every` steps, else each epoch
//   epoch/{train_loss,test_loss,test_accuracy,samples_per_second}, samples (test images
//   with predicted labels: green right, red wrong)   each epoch
//   hparams (the run's settings, final metrics), config text   at the end
// and, with profile_steps > 0, RUN_DIR/trace.json over the first profile_steps steps.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "tandem/data.h"
#include "tandem/nn.h"
#include "tandem/summary.h"
#include "tandem/train/fit.h"

namespace tandem::train {

class RunLog {
 public:
  // Inactive (every call a no-op) unless the run writes files; tensorboard / profile_steps
  // choose the parts.
  RunLog(const TrainOptions& o, const std::string& run_dir, const std::string& model_name,
         nn::Module& model, const data::Dataset& test_set, double initial_lr);
  ~RunLog();

  void begin_step(int64_t step);  // before the forward pass of step `step` (1-based)
  // After optimizer.step(): gradients are still there.
  void end_step(int64_t step, double loss, double lr, int64_t batch_size);
  void end_epoch(const EpochMetrics& m);
  void finish(const FitResult& r);  // hparams; trace.json when the profile was short of steps

 private:
  void write_trace();
  void histograms(int64_t step);
  const TrainOptions& o_;
  std::string run_dir_;
  nn::Module& model_;
  const data::Dataset& test_set_;
  std::map<std::string, summary::HParamValue> hparams_;
  std::unique_ptr<summary::Writer> writer_;
  std::unique_ptr<profiler::Profiler> prof_;
  std::unique_ptr<profiler::Span> step_span_;
  int64_t profiled_ = 0;
  int64_t window_samples_ = 0;
  std::chrono::steady_clock::time_point window_start_;
  std::ostream& out_;
};

}  // namespace tandem::train
