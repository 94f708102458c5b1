#include "tandem/optim/lr_scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace tandem::optim {

namespace {

using nlohmann::json;

// JSON has no infinities or NaN: write them as strings.
json num_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double json_to_num(const json& j, const std::string& where, const std::string& key) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  TANDEM_FAIL("{}: '{}' in the scheduler state is not a number", where, key);
}

std::vector<double> group_lrs(const Optimizer& opt) {
  std::vector<double> lrs;
  for (const auto& g : opt.param_groups()) lrs.push_back(g.options.at("lr"));
  return lrs;
}

}  // namespace

// ---- LRScheduler

LRScheduler::LRScheduler(std::string name, Optimizer& opt, bool record_initial_lr)
    : name_(std::move(name)), opt_(opt) {
  if (record_initial_lr) {
    for (auto& g : opt_.param_groups()) {
      g.options.emplace("initial_lr", g.options.at("lr"));
      base_lrs_.push_back(g.options.at("initial_lr"));
    }
  }
  last_lr_ = group_lrs(opt_);
}

LRScheduler::~LRScheduler() = default;

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  std::vector<double> lrs = get_lr();
  auto& groups = opt_.param_groups();
  TANDEM_CHECK(lrs.size() == groups.size(),
               "{}: the optimizer has {} parameter groups, the scheduler was made for {}", name_,
               groups.size(), lrs.size());
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options["lr"] = lrs[i];
  last_lr_ = group_lrs(opt_);
}

StateDict LRScheduler::state_dict() const {
  json j = json::object();
  j["last_epoch"] = last_epoch_;
  j["step_count"] = step_count_;
  json base = json::array(), last = json::array();
  for (double v : base_lrs_) base.push_back(num_to_json(v));
  for (double v : last_lr_) last.push_back(num_to_json(v));
  j["base_lrs"] = std::move(base);
  j["last_lr"] = std::move(last);
  std::map<std::string, double> extra;
  save_extra(extra);
  for (const auto& [k, v] : extra) j[k] = num_to_json(v);
  StateDict sd;
  sd.metadata["scheduler"] = name_;
  sd.metadata["state"] = j.dump();
  return sd;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  const std::string where = name_ + "::load_state_dict";
  auto it = sd.metadata.find("scheduler");
  TANDEM_CHECK(it != sd.metadata.end(),
               "{}: the state dict has no 'scheduler' metadata; pass what a scheduler's "
               "state_dict() returned",
               where);
  TANDEM_CHECK(it->second == name_, "{}: the state dict was saved by a {}; load it into a {}",
               where, it->second, it->second);
  auto st = sd.metadata.find("state");
  TANDEM_CHECK(st != sd.metadata.end(), "{}: the state dict has no 'state' metadata", where);
  json j;
  try {
    j = json::parse(st->second);
  } catch (const std::exception& e) {
    TANDEM_FAIL("{}: 'state' metadata is not valid JSON: {}", where, e.what());
  }
  TANDEM_CHECK(j.is_object(), "{}: 'state' metadata is not a JSON object", where);
  for (const char* key : {"last_epoch", "step_count", "base_lrs", "last_lr"})
    TANDEM_CHECK(j.contains(key), "{}: the state lacks '{}'", where, key);
  const size_t ngroups = opt_.param_groups().size();
  auto read_list = [&](const char* key) {
    const json& a = j[key];
    TANDEM_CHECK(a.is_array(), "{}: '{}' is not a list", where, key);
    std::vector<double> v;
    for (const auto& x : a) v.push_back(json_to_num(x, where, key));
    return v;
  };
  std::vector<double> base = read_list("base_lrs"), last = read_list("last_lr");
  TANDEM_CHECK(base.size() == base_lrs_.size() && last.size() == ngroups,
               "{}: the state is for {} parameter groups, the optimizer has {}", where, last.size(),
               ngroups);
  std::map<std::string, double> extra;
  for (const auto& [k, v] : j.items()) {
    if (k == "base_lrs" || k == "last_lr") continue;
    extra[k] = json_to_num(v, where, k);
  }
  load_extra(extra);
  last_epoch_ = static_cast<int64_t>(extra.at("last_epoch"));
  step_count_ = static_cast<int64_t>(extra.at("step_count"));
  base_lrs_ = std::move(base);
  last_lr_ = std::move(last);
}

// ---- StepLR, MultiStepLR, ExponentialLR: PyTorch's chainable forms

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : LRScheduler("StepLR", opt), step_size_(step_size), gamma_(gamma) {
  TANDEM_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got {}", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = group_lrs(opt_);
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

std::vector<double> StepLR::closed_form_lr() {
  std::vector<double> lrs;
  for (double base : base_lrs_)
    lrs.push_back(base * std::pow(gamma_, static_cast<double>(last_epoch_ / step_size_)));
  return lrs;
}

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : LRScheduler("MultiStepLR", opt), gamma_(gamma) {
  for (int64_t m : milestones) ++milestones_[m];
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = group_lrs(opt_);
  auto it = milestones_.find(last_epoch_);
  if (it == milestones_.end()) return lrs;
  for (double& lr : lrs) lr *= std::pow(gamma_, it->second);
  return lrs;
}

std::vector<double> MultiStepLR::closed_form_lr() {
  int count = 0;  // milestones <= last_epoch, with repeats (bisect_right)
  for (const auto& [m, n] : milestones_)
    if (m <= last_epoch_) count += n;
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, count));
  return lrs;
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma)
    : LRScheduler("ExponentialLR", opt), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = group_lrs(opt_);
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

std::vector<double> ExponentialLR::closed_form_lr() {
  std::vector<double> lrs;
  for (double base : base_lrs_) lrs.push_back(base * std::pow(gamma_, static_cast<double>(last_epoch_)));
  return lrs;
}

// ---- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", opt), T_max_(T_max), eta_min_(eta_min) {
  TANDEM_CHECK(T_max >= 1, "CosineAnnealingLR: T_max must be >= 1, got {}", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  if (last_epoch_ == 0) return group_lrs(opt_);
  std::vector<double> lrs;
  const double c = std::cos(std::numbers::pi * static_cast<double>(last_epoch_) /
                            static_cast<double>(T_max_));
  for (double base : base_lrs_) lrs.push_back(eta_min_ + (base - eta_min_) * (1 + c) / 2);
  return lrs;
}

std::vector<double> CosineAnnealingLR::closed_form_lr() {
  std::vector<double> lrs;
  const double c = std::cos(std::numbers::pi * static_cast<double>(last_epoch_) /
                            static_cast<double>(T_max_));
  for (double base : base_lrs_) lrs.push_back(eta_min_ + (base - eta_min_) * (1 + c) / 2);
  return lrs;
}

// ---- LinearLR

LinearLR::LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler("LinearLR", opt),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  TANDEM_CHECK(start_factor > 0 && start_factor <= 1,
               "LinearLR: start_factor must be in (0, 1], got {}", start_factor);
  TANDEM_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR: end_factor must be in [0, 1], got {}",
               end_factor);
  TANDEM_CHECK(total_iters >= 0, "LinearLR: total_iters must be >= 0, got {}", total_iters);
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = group_lrs(opt_);
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double d = end_factor_ - start_factor_;
  const double f = 1.0 + d / (static_cast<double>(total_iters_) * start_factor_ +
                              static_cast<double>(last_epoch_ - 1) * d);
  for (double& lr : lrs) lr *= f;
  return lrs;
}

std::vector<double> LinearLR::closed_form_lr() {
  std::vector<double> lrs;
  const double t = static_cast<double>(std::min(total_iters_, last_epoch_));
  for (double base : base_lrs_)
    lrs.push_back(base * (start_factor_ + (end_factor_ - start_factor_) * t /
                                              static_cast<double>(total_iters_)));
  return lrs;
}

// ---- SequentialLR: PyTorch 1.13's semantics, including its restart of each scheduler

SequentialLR::SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler("SequentialLR", opt),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
  TANDEM_CHECK(!schedulers_.empty(), "SequentialLR: needs at least one scheduler");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    TANDEM_CHECK(schedulers_[i], "SequentialLR: scheduler {} is null", i);
    TANDEM_CHECK(&schedulers_[i]->opt_ == &opt_,
                 "SequentialLR: scheduler {} ({}) belongs to another optimizer; all must drive the "
                 "optimizer given to SequentialLR",
                 i, schedulers_[i]->name());
    TANDEM_CHECK(!dynamic_cast<ReduceLROnPlateau*>(schedulers_[i].get()),
                 "SequentialLR: ReduceLROnPlateau cannot be sequenced (it needs a metric)");
  }
  TANDEM_CHECK(milestones_.size() + 1 == schedulers_.size(),
               "SequentialLR: expected {} milestones for {} schedulers (one fewer), got {}",
               schedulers_.size() - 1, schedulers_.size(), milestones_.size());
  TANDEM_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()),
               "SequentialLR: milestones must be increasing, got {}", milestones_);
  last_epoch_ = 0;
  for (auto& g : opt_.param_groups()) g.options["lr"] = g.options.at("initial_lr");
  for (auto& s : schedulers_) --s->last_epoch_;  // undo their initial steps
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

std::vector<double> SequentialLR::get_lr() { return group_lrs(opt_); }

void SequentialLR::step() {
  ++last_epoch_;
  ++step_count_;
  const size_t idx = static_cast<size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin());
  LRScheduler& s = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_) {
    // PyTorch's scheduler.step(0): restart at epoch 0 with the closed form.
    ++s.step_count_;
    s.last_epoch_ = 0;
    std::vector<double> lrs = s.closed_form_lr();
    auto& groups = opt_.param_groups();
    for (size_t i = 0; i < groups.size(); ++i) groups[i].options["lr"] = lrs[i];
    s.last_lr_ = group_lrs(opt_);
  } else {
    s.step();
  }
  last_lr_ = s.get_last_lr();
}

StateDict SequentialLR::state_dict() const {
  StateDict sd = LRScheduler::state_dict();
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (auto& [k, v] : schedulers_[i]->state_dict().metadata) sd.metadata[fmt::format("{}.{}", i, k)] = v;
  return sd;
}

void SequentialLR::load_state_dict(const StateDict& sd) {
  std::vector<StateDict> parts(schedulers_.size());
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    const std::string prefix = fmt::format("{}.", i);
    for (const auto& [k, v] : sd.metadata)
      if (k.rfind(prefix, 0) == 0) parts[i].metadata[k.substr(prefix.size())] = v;
  }
  LRScheduler::load_state_dict(sd);
  for (size_t i = 0; i < schedulers_.size(); ++i) schedulers_[i]->load_state_dict(parts[i]);
}

// ---- OneCycleLR

OneCycleLR::OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, OneCycleLROptions opts)
    : OneCycleLR(opt, std::vector<double>(opt.param_groups().size(), max_lr), total_steps,
                 std::move(opts)) {}

OneCycleLR::OneCycleLR(Optimizer& opt, std::vector<double> max_lrs, int64_t total_steps,
                       OneCycleLROptions opts)
    : LRScheduler("OneCycleLR", opt), total_steps_(total_steps), opts_(std::move(opts)) {
  TANDEM_CHECK(total_steps > 0, "OneCycleLR: total_steps must be > 0, got {}", total_steps);
  TANDEM_CHECK(opts_.pct_start >= 0 && opts_.pct_start <= 1,
               "OneCycleLR: pct_start must be in [0, 1], got {}", opts_.pct_start);
  TANDEM_CHECK(opts_.anneal_strategy == "cos" || opts_.anneal_strategy == "linear",
               "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '{}'",
               opts_.anneal_strategy);
  auto& groups = opt_.param_groups();
  TANDEM_CHECK(max_lrs.size() == groups.size(),
               "OneCycleLR: expected {} max_lr values (one per parameter group), got {}",
               groups.size(), max_lrs.size());
  const double T = static_cast<double>(total_steps);
  if (opts_.three_phase) {
    phases_ = {{opts_.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {2 * opts_.pct_start * T - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
               {T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  } else {
    phases_ = {{opts_.pct_start * T - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
  }
  base_lrs_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& o = groups[i].options;
    o["initial_lr"] = max_lrs[i] / opts_.div_factor;
    o["max_lr"] = max_lrs[i];
    o["min_lr"] = o["initial_lr"] / opts_.final_div_factor;
    base_lrs_.push_back(o["initial_lr"]);
  }
  if (opts_.cycle_momentum) {
    const auto& d = opt_.defaults();
    momentum_key_ = d.count("beta1") ? "beta1" : d.count("momentum") ? "momentum" : "";
    TANDEM_CHECK(!momentum_key_.empty(),
                 "OneCycleLR: cycle_momentum needs an optimizer with momentum or betas ({} has "
                 "neither); set cycle_momentum = false",
                 opt_.name());
    for (auto& g : groups) {
      g.options[momentum_key_] = opts_.max_momentum;
      g.options["max_momentum"] = opts_.max_momentum;
      g.options["base_momentum"] = opts_.base_momentum;
    }
  }
  initial_step();
}

std::vector<double> OneCycleLR::get_lr() {
  const int64_t step_num = last_epoch_;
  TANDEM_CHECK(step_num <= total_steps_,
               "OneCycleLR: stepped {} times, but total_steps is {}; make total_steps cover "
               "every batch of every epoch",
               step_num + 1, total_steps_);
  const bool cos = opts_.anneal_strategy == "cos";
  auto anneal = [cos](double start, double end, double pct) {
    return cos ? end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1)
               : (end - start) * pct + start;
  };
  std::vector<double> lrs;
  for (auto& g : opt_.param_groups()) {
    auto& o = g.options;
    double start_step = 0, lr = 0, momentum = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (static_cast<double>(step_num) <= ph.end_step || i + 1 == phases_.size()) {
        double pct = (static_cast<double>(step_num) - start_step) / (ph.end_step - start_step);
        lr = anneal(o.at(ph.start_lr), o.at(ph.end_lr), pct);
        if (!momentum_key_.empty())
          momentum = anneal(o.at(ph.start_momentum), o.at(ph.end_momentum), pct);
        break;
      }
      start_step = ph.end_step;
    }
    lrs.push_back(lr);
    if (!momentum_key_.empty()) o[momentum_key_] = momentum;
  }
  return lrs;
}

// ---- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, ReduceLROnPlateauOptions opts)
    : LRScheduler("ReduceLROnPlateau", opt, /*record_initial_lr=*/false), opts_(std::move(opts)) {
  TANDEM_CHECK(opts_.factor < 1.0, "ReduceLROnPlateau: factor must be < 1, got {}", opts_.factor);
  TANDEM_CHECK(opts_.mode == "min" || opts_.mode == "max",
               "ReduceLROnPlateau: mode must be 'min' or 'max', got '{}'", opts_.mode);
  TANDEM_CHECK(opts_.threshold_mode == "rel" || opts_.threshold_mode == "abs",
               "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got '{}'",
               opts_.threshold_mode);
  const size_t n = opt_.param_groups().size();
  if (opts_.min_lrs.empty()) opts_.min_lrs.assign(n, opts_.min_lr);
  TANDEM_CHECK(opts_.min_lrs.size() == n,
               "ReduceLROnPlateau: expected {} min_lrs (one per parameter group), got {}", n,
               opts_.min_lrs.size());
  best_ = opts_.mode == "min" ? std::numeric_limits<double>::infinity()
                              : -std::numeric_limits<double>::infinity();
  last_epoch_ = 0;
}

std::vector<double> ReduceLROnPlateau::get_lr() { return group_lrs(opt_); }

void ReduceLROnPlateau::step() {
  TANDEM_FAIL("ReduceLROnPlateau: step() needs the metric to watch; call step(metric)");
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const bool rel = opts_.threshold_mode == "rel";
  if (opts_.mode == "min") return rel ? a < best * (1.0 - opts_.threshold) : a < best - opts_.threshold;
  return rel ? a > best * (opts_.threshold + 1.0) : a > best + opts_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  ++step_count_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > opts_.patience) {
    auto& groups = opt_.param_groups();
    for (size_t i = 0; i < groups.size(); ++i) {
      double old_lr = groups[i].options.at("lr");
      double new_lr = std::max(old_lr * opts_.factor, opts_.min_lrs[i]);
      if (old_lr - new_lr > opts_.eps) groups[i].options["lr"] = new_lr;
    }
    cooldown_counter_ = opts_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = group_lrs(opt_);
}

void ReduceLROnPlateau::save_extra(std::map<std::string, double>& m) const {
  m["best"] = best_;
  m["num_bad_epochs"] = static_cast<double>(num_bad_epochs_);
  m["cooldown_counter"] = static_cast<double>(cooldown_counter_);
}

void ReduceLROnPlateau::load_extra(const std::map<std::string, double>& m) {
  for (const char* k : {"best", "num_bad_epochs", "cooldown_counter"})
    TANDEM_CHECK(m.count(k), "ReduceLROnPlateau::load_state_dict: the state lacks '{}'", k);
  best_ = m.at("best");
  num_bad_epochs_ = static_cast<int64_t>(m.at("num_bad_epochs"));
  cooldown_counter_ = static_cast<int64_t>(m.at("cooldown_counter"));
}

}  // namespace tandem::optim
