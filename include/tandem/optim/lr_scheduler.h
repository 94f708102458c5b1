// Learning-rate schedulers, as torch.optim.lr_scheduler (PyTorch 1.13 values): StepLR,
// MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR,
// ReduceLROnPlateau.
//
//   optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
//   optim::CosineAnnealingLR sched(opt, /*T_max=*/epochs);
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     train_one_epoch(opt);       // opt.step() per batch
//     sched.step();               // after the optimizer steps, as in PyTorch >= 1.1
//   }
//
//   optim::ReduceLROnPlateau plateau(opt, {.mode = "min", .patience = 2});
//   plateau.step(validation_loss);
//
// A scheduler holds a reference to its optimizer (which must outlive it) and writes each
// group's "lr" option. Constructing one performs PyTorch's initial step (last_epoch 0), and
// records "initial_lr" in each group. state_dict() saves the counters (metadata "scheduler"
// and "state" as JSON); hyper-parameters come from the constructor, as when PyTorch code
// re-creates a scheduler before loading its state.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/optim/optimizer.h"
#include "tandem/state_dict.h"

namespace tandem::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch (or batch, for OneCycleLR) and sets each group's lr.
  virtual void step();
  std::vector<double> get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  const std::string& name() const { return name_; }

  virtual StateDict state_dict() const;
  virtual void load_state_dict(const StateDict& sd);

 protected:
  // record_initial_lr: set each group's "initial_lr" (if absent) and take base_lrs from it.
  LRScheduler(std::string name, Optimizer& opt, bool record_initial_lr = true);
  // The lrs at last_epoch_, in PyTorch's chainable form (from the groups' current lr).
  virtual std::vector<double> get_lr() = 0;
  // The lrs at last_epoch_ from base_lrs alone (PyTorch's _get_closed_form_lr; SequentialLR
  // uses it when it switches to a scheduler). Defaults to get_lr().
  virtual std::vector<double> closed_form_lr() { return get_lr(); }
  friend class SequentialLR;
  // PyTorch's _initial_step: the derived constructor calls it once its fields are set.
  void initial_step();
  // Extra counters a scheduler saves (all numbers; infinities allowed).
  virtual void save_extra(std::map<std::string, double>&) const {}
  virtual void load_extra(const std::map<std::string, double>&) {}

  std::string name_;
  Optimizer& opt_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
};

// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  int64_t step_size_;
  double gamma_;
};

// lr *= gamma at each milestone epoch (a milestone listed twice multiplies twice).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  std::map<int64_t, int> milestones_;
  double gamma_;
};

// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  double gamma_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (closed form; the
// same values as PyTorch's chainable recursion, without its rounding drift).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min = 0.0);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  int64_t T_max_;
  double eta_min_;
};

// Linear warmup: the lr factor goes from start_factor to end_factor over total_iters epochs.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

struct OneCycleLROptions {
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  // "cos" | "linear"
  bool cycle_momentum = true;           // cycles "momentum" (SGD, RMSprop) or "beta1" (Adam)
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25.0;             // initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;        // min_lr = initial_lr / final_div_factor
  bool three_phase = false;
};

// The 1cycle policy, stepped once per batch: warm up from initial_lr to max_lr over
// pct_start of total_steps, then anneal to min_lr (three_phase: back to initial_lr first).
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, OneCycleLROptions opts = {});
  OneCycleLR(Optimizer& opt, std::vector<double> max_lrs, int64_t total_steps,
             OneCycleLROptions opts = {});

 protected:
  std::vector<double> get_lr() override;
  struct Phase {
    double end_step;
    const char *start_lr, *end_lr, *start_momentum, *end_momentum;
  };
  int64_t total_steps_;
  OneCycleLROptions opts_;
  std::vector<Phase> phases_;
  std::string momentum_key_;  // "momentum", "beta1", or empty when not cycling
};

// Runs schedulers one after another: schedulers[i] from epoch milestones[i-1] on (restarted
// at its epoch 0 there). Warmup then cosine decay:
//   auto warm = std::make_shared<LinearLR>(opt, 0.1, 1.0, 5);
//   auto cos = std::make_shared<CosineAnnealingLR>(opt, epochs - 5);
//   SequentialLR sched(opt, {warm, cos}, {5});
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  void step() override;
  // Its own counters plus each scheduler's, under "<i>." prefixes.
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& sd) override;

 protected:
  std::vector<double> get_lr() override;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

struct ReduceLROnPlateauOptions {
  std::string mode = "min";            // "min": lower metric is better; "max": higher
  double factor = 0.1;                 // new_lr = lr * factor
  int64_t patience = 10;               // bad epochs tolerated before reducing
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // "rel" | "abs"
  int64_t cooldown = 0;                // epochs to wait after a reduction
  double min_lr = 0.0;
  std::vector<double> min_lrs;         // per group; overrides min_lr when given
  double eps = 1e-8;                   // reductions smaller than this are skipped
};

// Reduces the lr when a metric stops improving. Call step(metric) once per epoch; step()
// without a metric throws.
class ReduceLROnPlateau : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& opt, ReduceLROnPlateauOptions opts = {});
  void step() override;
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }

 protected:
  std::vector<double> get_lr() override;
  void save_extra(std::map<std::string, double>& m) const override;
  void load_extra(const std::map<std::string, double>& m) override;
  bool is_better(double a, double best) const;

  ReduceLROnPlateauOptions opts_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace tandem::optim
