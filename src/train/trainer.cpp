// train::Trainer: the loop (include/tandem/train/trainer.h). Everything that is not the
// loop itself lives in callbacks (callbacks.cpp, loggers.cpp).
#include "tandem/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tandem/autocast.h"
#include "tandem/autograd.h"
#include "tandem/compile.h"
#include "tandem/distributed/sampler.h"
#include "tandem/distributed/zero.h"
#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/io.h"
#include "tandem/ops.h"
#include "tandem/optim/clip.h"
#include "tandem/train/callbacks.h"
#include "tandem/train/progress.h"

namespace tandem::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Doubles kept in checkpoint metadata as hexadecimal floats: exact round trip.
std::string exact(double v) { return fmt::format("{:a}", v); }
double parse_exact(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

void check_scalar_loss(const Tensor& loss, int64_t step, int64_t epoch) {
  TANDEM_CHECK(loss.defined(), "train: the training step returned no loss (step {}, epoch {})",
               step, epoch);
  TANDEM_CHECK(loss.numel() == 1,
               "train: the training step returned a loss of shape {} at step {} (epoch {}); it "
               "must be a scalar: reduce it (e.g. .mean()) before returning it",
               loss.shape(), step, epoch);
}

}  // namespace

Trainer::Trainer(TrainerOptions options) : options_(std::move(options)) {}
Trainer::~Trainer() = default;

Trainer& Trainer::add_callback(std::shared_ptr<Callback> cb) {
  TANDEM_CHECK(cb != nullptr, "Trainer::add_callback: the callback is null");
  user_callbacks_.push_back(std::move(cb));
  return *this;
}

nn::Module& Trainer::model() const {
  TANDEM_CHECK(module_ && module_->model, "Trainer: there is no model before fit()");
  return *module_->model;
}

optim::Optimizer& Trainer::optimizer() const {
  TANDEM_CHECK(opt_ != nullptr, "Trainer: there is no optimizer before fit()");
  return *opt_;
}

std::ostream& Trainer::out() const { return options_.out ? *options_.out : std::cout; }

std::string Trainer::logged_keys() const {
  std::string s;
  for (const auto& [k, n] : logged_) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "(nothing yet)" : s;
}

bool Trainer::validation_configured() const {
  return module_ && (val_ != nullptr || module_->validate) &&
         (options_.val_every_n_epochs > 0 || options_.val_every_n_steps > 0);
}

void Trainer::request_stop(const std::string& reason) {
  if (!stop_) stop_reason_ = reason;
  stop_ = true;
}

template <class F>
void Trainer::each_callback(const char* hook, F&& f) {
  for (auto& cb : callbacks_) {
    try {
      f(*cb);
    } catch (const std::exception& e) {
      TANDEM_FAIL("train: callback {} failed in {} (epoch {}, step {}): {}", cb->name(), hook,
                  epoch_ + 1, step_, e.what());
    }
  }
}

void Trainer::note(const Logs& logs) {
  for (const auto& [k, v] : logs) ++logged_[k];
}

TrainResult Trainer::fit(TrainModule& module, std::shared_ptr<data::Dataset> train,
                         std::shared_ptr<data::Dataset> val, const std::string& ckpt_path) {
  TANDEM_CHECK(train != nullptr, "Trainer::fit: the training dataset is null");
  data::DataLoaderOptions lo;
  lo.batch_size = options_.batch_size;
  lo.shuffle = true;
  lo.seed = options_.seed.value_or(0);
  data::DataLoader train_loader(train, lo);
  if (!val) return fit(module, train_loader, nullptr, ckpt_path);
  data::DataLoaderOptions vo;
  vo.batch_size = options_.batch_size;
  data::DataLoader val_loader(val, vo);
  return fit(module, train_loader, &val_loader, ckpt_path);
}

TrainResult Trainer::fit(TrainModule& module, data::DataLoader& train, data::DataLoader* val,
                         const std::string& ckpt_path) {
  val_ = val;
  setup(module, train, ckpt_path);
  TrainResult r;
  try {
    each_callback("on_fit_start", [&](Callback& c) { c.on_fit_start(*this); });
    for (epoch_ = start_epoch_; epoch_ < options_.max_epochs && !stop_; ++epoch_) {
      r.history.push_back(run_epoch(train));
    }
    each_callback("on_fit_end", [&](Callback& c) { c.on_fit_end(*this); });
  } catch (const std::exception& e) {
    // Every callback hears of the failure (a logger flushes, the bar clears its line); what
    // they throw now would hide the original error.
    for (auto& cb : callbacks_) {
      try {
        cb->on_exception(*this, e);
      } catch (...) {
      }
    }
    throw;
  }
  r.epochs = epoch_;
  r.global_step = step_;
  r.stopped_early = stop_;
  r.stop_reason = stop_reason_;
  return r;
}

namespace {
// This rank's loader: DistributedSampler's share of the global loader's order, in batches of
// batch_size / R (see "Distributed" in trainer.h).
std::unique_ptr<data::DataLoader> rank_share(const data::DataLoader& global,
                                             const distributed::ProcessGroup& pg) {
  const int64_t R = pg.size(), B = global.options().batch_size;
  TANDEM_CHECK(B % R == 0, "Trainer: the global batch size {} must be a multiple of the world "
               "size {} (each rank trains on batch_size / world size rows per step)", B, R);
  data::DataLoaderOptions lo = global.options();
  lo.batch_size = B / R;
  if (const auto& stream = global.iterable_dataset())
    return std::make_unique<data::DataLoader>(
        std::make_shared<distributed::ShardedIterableDataset>(stream, R, pg.rank()), lo);
  TANDEM_CHECK(!lo.sampler, "Trainer: a distributed fit shards the train loader's order itself; "
               "give a loader without a sampler (shuffle, seed and drop_last are kept)");
  distributed::DistributedSamplerOptions so;
  so.num_replicas = R;
  so.rank = pg.rank();
  so.shuffle = lo.shuffle;
  so.seed = lo.seed;
  // NOTE: the loader's own permutation, so that R = 1 reads exactly what the plain loader does.
  so.permutation = [](int64_t n, uint64_t seed, int64_t epoch) {
    return data::epoch_permutation(n, seed, epoch);
  };
  lo.sampler = std::make_shared<distributed::DistributedSampler>(global.dataset()->size(), so);
  lo.shuffle = false;
  return std::make_unique<data::DataLoader>(global.dataset(), lo);
}
}  // namespace

namespace {
// Every metric's state, summed over the ranks (states are counts and sums).
std::vector<std::vector<double>> trainer_global_metric_states(
    const std::vector<std::shared_ptr<Metric>>& metrics, distributed::ProcessGroup* pg) {
  std::vector<std::vector<double>> states;
  std::vector<double> flat;
  for (const auto& m : metrics) {
    states.push_back(m->state());
    flat.insert(flat.end(), states.back().begin(), states.back().end());
  }
  if (!pg || pg->size() == 1 || flat.empty()) return states;
  Tensor t = tensor(flat);
  pg->all_reduce(t);
  flat = t.to_vector<double>();
  size_t at = 0;
  for (auto& s : states)
    for (double& x : s) x = flat[at++];
  return states;
}
}  // namespace

void Trainer::setup(TrainModule& m, data::DataLoader& train, const std::string& ckpt_path) {
  const TrainerOptions& o = options_;
  TANDEM_CHECK(m.model != nullptr, "Trainer: TrainModule.model is not set");
  TANDEM_CHECK(m.optimizer != nullptr,
               "Trainer: TrainModule.optimizer is not set (a function that builds the optimizer "
               "from the model's parameters)");
  TANDEM_CHECK(m.loss || m.training_step,
               "Trainer: give TrainModule.loss (the default step: loss(model(x), y)) or "
               "TrainModule.training_step");
  TANDEM_CHECK(o.max_epochs > 0, "Trainer: max_epochs must be positive, got {}", o.max_epochs);
  TANDEM_CHECK(o.max_steps >= 0, "Trainer: max_steps must be >= 0, got {}", o.max_steps);
  TANDEM_CHECK(o.accumulate_grad_batches >= 1,
               "Trainer: accumulate_grad_batches must be >= 1, got {}", o.accumulate_grad_batches);
  TANDEM_CHECK(o.gradient_clip_norm >= 0 && std::isfinite(o.gradient_clip_norm) &&
                   o.gradient_clip_value >= 0 && std::isfinite(o.gradient_clip_value),
               "Trainer: gradient clipping thresholds must be finite and >= 0");
  TANDEM_CHECK(o.precision == "fp32" || o.precision == "bf16" || o.precision == "bf16-mixed",
               "Trainer: precision '{}' is not available; choose \"fp32\" or \"bf16\" (\"bf16-mixed\", "
               "Lightning's name, is the same)", o.precision);
  TANDEM_CHECK(o.val_every_n_epochs >= 0 && o.val_every_n_steps >= 0,
               "Trainer: val_every_n_epochs / val_every_n_steps must be >= 0");
  TANDEM_CHECK(!o.compile || (!m.training_step && o.accumulate_grad_batches == 1 &&
                              o.gradient_clip_norm == 0 && o.gradient_clip_value == 0),
               "Trainer: compile = true captures the default step (zero_grad, loss(model(x), y), "
               "backward, optimizer step) whole; it does not take a training_step, gradient "
               "accumulation or clipping");
  if (o.threads > 0) set_num_threads(o.threads);

  module_ = &m;
  epoch_ = step_ = batch_ = start_epoch_ = skip_batches_ = 0;
  pending_window_ = 0;
  loss_sum_ = 0;
  ckpt_metrics_.clear();
  ckpt_metrics_at_ = {-1, -1};
  samples_ = last_batch_size_ = validations_ = 0;
  train_seconds_ = 0;
  resumed_ = stop_ = epoch_done_ = false;
  stop_reason_.clear();
  last_ckpt_.clear();
  logged_.clear();
  pending_metrics_.clear();
  if (ckpt_path.empty() && o.seed) manual_seed(*o.seed);

  rank_loader_.reset();
  if (o.process_group) rank_loader_ = rank_share(train, *o.process_group);
  try {
    batches_per_epoch_ = (rank_loader_ ? *rank_loader_ : train).num_batches();
  } catch (const Error&) {
    batches_per_epoch_ = -1;  // an IterableDataset: unknown
  }
  reducer_.reset();
  if (o.process_group && o.zero) {
    TANDEM_CHECK(!o.compile, "Trainer: zero = true runs its collectives outside the graph; it "
                 "does not combine with compile = true");
    opt_ = std::make_unique<distributed::ZeroRedundancyOptimizer>(m.model->parameters(),
                                                                  o.process_group, m.optimizer);
  } else {
    opt_ = m.optimizer(m.model->parameters());
  }
  TANDEM_CHECK(opt_ != nullptr, "Trainer: the optimizer factory returned null");
  if (o.process_group && !o.zero)
    reducer_ = distributed::Reducer::make(m.model->named_parameters(), o.process_group,
                                          {.bucket_cap_mb = o.bucket_cap_mb});
  sched_.reset();
  if (m.scheduler) {
    int64_t per_epoch = batches_per_epoch_ < 0 ? -1
                        : (batches_per_epoch_ + o.accumulate_grad_batches - 1) / o.accumulate_grad_batches;
    int64_t total = per_epoch < 0 ? -1 : o.max_epochs * per_epoch;
    if (o.max_steps > 0) total = total < 0 ? o.max_steps : std::min(total, o.max_steps);
    sched_ = m.scheduler(*opt_, total);
  }

  compiled_step_ = nullptr;
  if (o.compile) {
    // One graph per batch shape (the loss's 1/N depends on it); later steps run its Plan.
    std::shared_ptr<nn::Module> model = m.model;
    optim::Optimizer* opt = opt_.get();
    LossFn loss_fn = m.loss;
    bool want_output = !m.metrics.empty();
    bool bf16 = o.precision != "fp32";
    auto step = [model, opt, loss_fn, want_output, bf16](const std::vector<Tensor>& xy) {
      opt->zero_grad();
      Tensor out, loss;
      {
        AutocastGuard autocast(bf16);  // traced: the graph holds the casts and bf16 ops
        out = (*model)(xy.at(0));
        loss = loss_fn(out, xy.at(1));
      }
      loss.backward();
      opt->step();
      return want_output ? std::vector<Tensor>{loss, out.detach()} : std::vector<Tensor>{loss};
    };
    CompileOptions co;
    co.modules = {model};
    compiled_step_ = compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(step), co);
  }

  // The conveniences of TrainerOptions become callbacks; all are ordered by order().
  callbacks_.clear();
  if (!o.checkpoint_dir.empty()) {
    ModelCheckpointOptions co;
    co.dirpath = o.checkpoint_dir;
    co.save_top_k = 0;  // last.safetensors only
    callbacks_.push_back(std::make_shared<ModelCheckpoint>(co));
  }
  if (!o.log_dir.empty()) {
    TensorBoardOptions to;
    to.log_dir = o.log_dir;
    callbacks_.push_back(std::make_shared<TensorBoardLogger>(to));
    callbacks_.push_back(std::make_shared<JsonlLogger>(
        (std::filesystem::path(o.log_dir) / "metrics.jsonl").string()));
  }
  if (o.profile_steps > 0) {
    std::string dir = o.log_dir.empty() ? "." : o.log_dir;
    callbacks_.push_back(std::make_shared<StepProfiler>(
        (std::filesystem::path(dir) / "trace.json").string(), o.profile_steps));
  }
  bool terminal = stdout_is_terminal() && &out() == &std::cout;
  if (o.progress_bar.value_or(terminal)) {
    ProgressOptions po;
    po.interactive = terminal;
    callbacks_.push_back(std::make_shared<ProgressCallback>(po));
  }
  callbacks_.insert(callbacks_.end(), user_callbacks_.begin(), user_callbacks_.end());
  std::stable_sort(callbacks_.begin(), callbacks_.end(),
                   [](const auto& a, const auto& b) { return a->order() < b->order(); });

  if (!ckpt_path.empty()) restore(ckpt_path);
  if (o.process_group) {
    // Every rank starts from rank 0's weights (fresh or resumed).
    std::vector<Tensor> state = m.model->parameters();
    for (const Tensor& b : m.model->buffers()) state.push_back(b);
    distributed::broadcast_tensors(*o.process_group, state);
  }
}


void Trainer::restore(const std::string& path) {
  io::Checkpoint ck = io::load_checkpoint(path);
  model().load_state_dict(ck.model);
  opt_->load_state_dict(ck.optimizer);
  if (sched_) {
    TANDEM_CHECK(!ck.scheduler.metadata.empty(),
                 "Trainer: checkpoint {} has no scheduler state but this run has a scheduler",
                 path);
    sched_->load_state_dict(ck.scheduler);
  }
  default_generator().set_state(ck.rng_state);
  start_epoch_ = epoch_ = ck.epoch;
  step_ = ck.step;
  auto get = [&](const std::string& key) -> const std::string* {
    auto it = ck.extra.find(key);
    return it == ck.extra.end() ? nullptr : &it->second;
  };
  if (const std::string* b = get("trainer.batch")) {
    // Saved in the middle of an epoch: its running loss and metrics continue.
    skip_batches_ = batch_ = std::stoll(*b);
    loss_sum_ = parse_exact(*get("trainer.loss_sum"));
    samples_ = std::stoll(*get("trainer.samples"));
    if (const std::string* ms = get("trainer.metrics"))
      pending_metrics_ = nlohmann::json::parse(*ms).get<std::vector<std::vector<double>>>();
  }
  for (auto& cb : callbacks_) {
    if (cb->state_key().empty()) continue;
    if (const std::string* s = get("callback." + cb->state_key())) cb->load_state(*s);
  }
  TANDEM_CHECK(start_epoch_ < options_.max_epochs,
               "Trainer: checkpoint {} already finished epoch {} of max_epochs {}; nothing to do",
               path, start_epoch_, options_.max_epochs);
  TANDEM_CHECK(options_.max_steps == 0 || step_ < options_.max_steps,
               "Trainer: checkpoint {} is at step {}, max_steps is {}; nothing to do", path,
               step_, options_.max_steps);
  resumed_ = true;
}

io::Checkpoint Trainer::make_checkpoint() const {
  io::Checkpoint ck;
  ck.model = model().state_dict();
  ck.optimizer = optimizer().state_dict();
  if (sched_) ck.scheduler = sched_->state_dict();
  ck.rng_state = default_generator().get_state();
  ck.epoch = epoch_done_ ? epoch_ + 1 : epoch_;
  ck.step = step_;
  ck.extra = options_.checkpoint_extra;
  if (!epoch_done_) {
    ck.extra["trainer.batch"] = std::to_string(batch_);
    ck.extra["trainer.loss_sum"] = exact(loss_sum_);
    ck.extra["trainer.samples"] = std::to_string(samples_);
    nlohmann::json states = nlohmann::json::array();
    if (ckpt_metrics_at_ == std::pair{step_, batch_} && ckpt_metrics_.size() == module_->metrics.size()) {
      for (const auto& st : ckpt_metrics_) states.push_back(st);  // gathered over the ranks
    } else {
      for (const auto& m : module_->metrics) states.push_back(m->state());
    }
    ck.extra["trainer.metrics"] = states.dump();
  }
  for (const auto& cb : callbacks_)
    if (!cb->state_key().empty()) ck.extra["callback." + cb->state_key()] = cb->state();
  return ck;
}

void Trainer::save_checkpoint(const std::string& path) const { io::save_checkpoint(path, make_checkpoint()); }

Logs Trainer::run_epoch(data::DataLoader& global_train) {
  const TrainerOptions& o = options_;
  data::DataLoader& train = rank_loader_ ? *rank_loader_ : global_train;
  epoch_done_ = false;
  train.set_epoch(epoch_);
  int64_t skip = skip_batches_;
  skip_batches_ = 0;
  if (skip == 0) {
    batch_ = 0;
    loss_sum_ = 0;
    samples_ = 0;
    for (auto& m : module_->metrics) m->reset();
  } else {
    // A distributed checkpoint holds the metrics' global state: rank 0 continues from it,
    // the others from zero (the epoch's end sums them).
    for (auto& m : module_->metrics) m->reset();
    const bool holder = !o.process_group || o.process_group->rank() == 0;
    for (size_t i = 0; holder && i < module_->metrics.size() && i < pending_metrics_.size(); ++i)
      module_->metrics[i]->load_state(pending_metrics_[i]);
  }
  train_seconds_ = 0;
  module_->model->train();
  each_callback("on_epoch_start", [&](Callback& c) { c.on_epoch_start(*this); });

  auto t0 = Clock::now();
  double val_seconds = 0;
  for (auto& batch : train) {
    if (skip > 0) {  // resumed mid-epoch: these batches already ran
      --skip;
      continue;
    }
    each_callback("on_train_batch_start", [&](Callback& c) { c.on_train_batch_start(*this, batch); });
    int64_t step_before = step_;
    Logs logs = train_batch(batch);
    note(logs);
    each_callback("on_train_batch_end", [&](Callback& c) { c.on_train_batch_end(*this, logs); });
    if (o.val_every_n_steps > 0 && step_ != step_before && step_ % o.val_every_n_steps == 0 &&
        validation_configured()) {
      auto tv = Clock::now();
      Logs v = validate();
      val_seconds += seconds_since(tv);
      each_callback("on_validation_end", [&](Callback& c) { c.on_validation_end(*this, v); });
      module_->model->train();
    }
    if (o.max_steps > 0 && step_ >= o.max_steps) request_stop(fmt::format("max_steps {} reached", o.max_steps));
    if (stop_) break;
  }
  // A last, partial accumulation window still updates the weights (as Lightning does).
  if (pending_window_ > 0) optimizer_step();
  train_seconds_ = seconds_since(t0) - val_seconds;

  Logs logs{{"epoch", double(epoch_ + 1)}, {"step", double(step_)}};
  logs["train_loss"] = samples_ > 0 ? loss_sum_ / samples_ : 0.0;
  if (o.process_group && o.process_group->size() > 1 && !module_->metrics.empty()) {
    // Every rank's share counted (collective): each rank then holds the global state.
    auto states = trainer_global_metric_states(module_->metrics, o.process_group.get());
    for (size_t i = 0; i < states.size(); ++i) module_->metrics[i]->load_state(states[i]);
  }
  for (const auto& m : module_->metrics) logs["train_" + m->name()] = m->compute();
  logs["lr"] = opt_->lr();
  logs["train_seconds"] = train_seconds_;
  logs["samples_per_second"] = train_seconds_ > 0 ? samples_ / train_seconds_ : 0.0;
  validated_ = false;
  if (o.val_every_n_epochs > 0 && (epoch_ + 1) % o.val_every_n_epochs == 0 && validation_configured()) {
    Logs v = validate();
    each_callback("on_validation_end", [&](Callback& c) { c.on_validation_end(*this, v); });
    logs.insert(v.begin(), v.end());
    validated_ = true;
    module_->model->train();
  }
  if (sched_ && module_->scheduler_interval == TrainModule::Interval::Epoch) {
    if (auto* plateau = dynamic_cast<optim::ReduceLROnPlateau*>(sched_.get())) {
      auto it = logs.find(module_->scheduler_monitor);
      TANDEM_CHECK(it != logs.end(),
                   "Trainer: ReduceLROnPlateau steps on '{}', which epoch {} did not log; logged: {}",
                   module_->scheduler_monitor, epoch_ + 1, logged_keys());
      plateau->step(it->second);
    } else {
      sched_->step();
    }
  }
  note(logs);
  epoch_done_ = true;  // from here a checkpoint resumes at the next epoch
  // ZeRO-1: the shards gathered on rank 0, whose callbacks may checkpoint now (a collective,
  // so every rank takes part whether or not it saves).
  if (auto* z = dynamic_cast<distributed::ZeroRedundancyOptimizer*>(opt_.get()))
    z->consolidate_state_dict(0);
  each_callback("on_epoch_end", [&](Callback& c) { c.on_epoch_end(*this, logs); });
  return logs;
}

Logs Trainer::train_batch(const data::Batch& batch) {
  const TrainerOptions& o = options_;
  TrainModule& m = *module_;
  if (o.process_group && o.process_group->size() > 1) {
    // Rank 0's running statistics for everyone, as DistributedDataParallel's forward does.
    std::vector<Tensor> bufs;
    for (const Tensor& b : m.model->buffers())
      if (b.is_floating_point()) bufs.push_back(b);
    if (!bufs.empty()) distributed::broadcast_tensors(*o.process_group, bufs);
  }
  const int64_t n = batch.data.defined() && batch.data.dim() > 0 ? batch.data.size(0) : 1;
  StepOutput out;
  if (compiled_step_) {
    std::vector<Tensor> r = compiled_step_({batch.data, batch.target});
    out.loss = r.at(0);
    if (r.size() > 1) out.output = r[1];
    ++step_;
    if (sched_ && m.scheduler_interval == TrainModule::Interval::Step) sched_->step();
    check_scalar_loss(out.loss, step_, epoch_ + 1);
  } else {
    if (pending_window_ == 0) opt_->zero_grad();
    AutocastGuard autocast(o.precision != "fp32");  // forward and loss; backward runs without
    if (m.training_step) {
      out = m.training_step(*m.model, batch);
    } else {
      out.output = (*m.model)(batch.data);
      out.loss = m.loss(out.output, batch.target);
    }
    check_scalar_loss(out.loss, step_ + 1, epoch_ + 1);
  }
  double loss = out.loss.item();
  // NOTE: checked before backward in eager mode, so the weights (and the last checkpoint)
  // never see a non-finite update.
  TANDEM_CHECK(std::isfinite(loss),
               "train: the loss became {} at step {} (epoch {}); lower the learning rate or "
               "change the optimizer{}",
               loss, compiled_step_ ? step_ : step_ + 1, epoch_ + 1,
               last_ckpt_.empty() ? "" : fmt::format("; the last good checkpoint is {}", last_ckpt_));
  if (!compiled_step_) {
    Tensor scaled = o.accumulate_grad_batches > 1 ? out.loss / double(o.accumulate_grad_batches) : out.loss;
    // Micro-batches before the window's last accumulate locally (DDP's no_sync).
    // (The epoch's last batch always synchronizes: a partial window is stepped too.)
    const bool sync = pending_window_ + 1 == o.accumulate_grad_batches || batches_per_epoch_ < 0 ||
                      batch_ + 1 >= batches_per_epoch_;
    if (reducer_) reducer_->set_sync(sync);
    scaled.backward();
    if (reducer_) reducer_->set_sync(true);
    if (++pending_window_ == o.accumulate_grad_batches) optimizer_step();
  }
  if (out.output.defined() && !m.metrics.empty()) {
    NoGradGuard ng;
    for (auto& metric : m.metrics) metric->update(out.output.detach(), batch.target);
  }
  int64_t rows = n;
  bool ckpt = false;
  loss = reduce_batch(loss, rows, ckpt);
  ++batch_;
  last_batch_size_ = rows;
  loss_sum_ += loss * static_cast<double>(rows);
  samples_ += rows;
  if (ckpt) gather_for_checkpoint();
  Logs logs = std::move(out.logs);
  logs["loss"] = loss;
  logs["lr"] = opt_->lr();
  return logs;
}

double Trainer::reduce_batch(double loss, int64_t& rows, bool& ckpt) {
  for (const auto& cb : callbacks_) ckpt = ckpt || cb->checkpoints_after_batch(*this);
  const auto& pg = options_.process_group;
  if (pg && pg->size() > 1) {
    // The mean loss over every rank's rows (rank 0 alone would report its slice), and whether
    // any rank checkpoints now: only rank 0 usually has the checkpoint callback.
    Tensor v = tensor(std::vector<double>{loss * static_cast<double>(rows),
                                          static_cast<double>(rows), ckpt ? 1.0 : 0.0});
    pg->all_reduce(v);
    const auto r = v.to_vector<double>();
    rows = std::llround(r[1]);
    loss = r[1] > 0 ? r[0] / r[1] : 0.0;
    ckpt = r[2] > 0;
  }
  return loss;
}

void Trainer::gather_for_checkpoint() {
  // Collectives, in the same order on every rank.
  if (auto* z = dynamic_cast<distributed::ZeroRedundancyOptimizer*>(opt_.get()))
    z->consolidate_state_dict(0);
  if (options_.process_group && options_.process_group->size() > 1) {
    ckpt_metrics_ = trainer_global_metric_states(module_->metrics, options_.process_group.get());
    ckpt_metrics_at_ = {step_, batch_};
  }
}

void Trainer::optimizer_step() {
  const TrainerOptions& o = options_;
  if (o.gradient_clip_norm > 0) nn::utils::clip_grad_norm_(module_->model->parameters(), o.gradient_clip_norm);
  if (o.gradient_clip_value > 0) nn::utils::clip_grad_value_(module_->model->parameters(), o.gradient_clip_value);
  opt_->step();
  pending_window_ = 0;
  ++step_;
  if (sched_ && module_->scheduler_interval == TrainModule::Interval::Step) sched_->step();
}

Logs Trainer::validate() {
  TrainModule& m = *module_;
  nn::Module& model = *m.model;
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  AutocastGuard autocast(options_.precision != "fp32");
  Logs logs;
  if (m.validate) {
    logs = m.validate(model);
  } else {
    // The training metrics' running state is set aside while the same objects measure
    // validation (a validation every N steps happens in the middle of an epoch).
    std::vector<std::vector<double>> train_state;
    for (auto& metric : m.metrics) {
      train_state.push_back(metric->state());
      metric->reset();
    }
    double loss_sum = 0;
    int64_t seen = 0;
    bool have_loss = false;
    std::map<std::string, double> sums;
    val_->set_epoch(0);
    for (auto& batch : *val_) {
      StepOutput out;
      if (m.validation_step) {
        out = m.validation_step(model, batch);
      } else {
        out.output = model(batch.data);
        out.loss = m.loss ? m.loss(out.output, batch.target) : Tensor();
      }
      int64_t n = batch.data.defined() && batch.data.dim() > 0 ? batch.data.size(0) : 1;
      if (out.loss.defined()) {
        loss_sum += out.loss.item() * n;
        have_loss = true;
      }
      for (const auto& [k, v] : out.logs) sums[k] += v * n;
      if (out.output.defined())
        for (auto& metric : m.metrics) metric->update(out.output, batch.target);
      seen += n;
    }
    TANDEM_CHECK(seen > 0, "Trainer: the validation loader gave no batches");
    if (have_loss) logs["val_loss"] = loss_sum / seen;
    for (const auto& [k, v] : sums) logs["val_" + k] = v / seen;
    for (size_t i = 0; i < m.metrics.size(); ++i) {
      logs["val_" + m.metrics[i]->name()] = m.metrics[i]->compute();
      m.metrics[i]->load_state(train_state[i]);
    }
  }
  model.train(was_training);
  ++validations_;
  note(logs);
  return logs;
}

}  // namespace tandem::train
