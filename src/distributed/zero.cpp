// ZeroRedundancyOptimizer (tandem/distributed/zero.h).
#include "tandem/distributed/zero.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tandem/autograd.h"
#include "tandem/error.h"

namespace tandem::distributed {

ZeroRedundancyOptimizer::ZeroRedundancyOptimizer(std::vector<Tensor> params,
                                                 std::shared_ptr<ProcessGroup> pg, Factory make_inner)
    : Optimizer("ZeroRedundancyOptimizer", {{"lr", 0.0}}), pg_(std::move(pg)), params_(params) {
  TANDEM_CHECK(pg_ != nullptr && make_inner, "ZeroRedundancyOptimizer: needs a process group and "
               "a factory for the inner optimizer");
  int64_t n = 0;
  for (const Tensor& p : params_) {
    TANDEM_CHECK(p.dtype() == kFloat32, "ZeroRedundancyOptimizer: parameters must be float32, got {}",
                 p.dtype());
    offsets_.push_back(n);
    n += p.numel();
  }
  const int64_t r = pg_->size();
  shard_ = (n + r - 1) / r;
  flat_grad_ = zeros({shard_ * r});
  flat_param_ = zeros({shard_ * r});
  shard_grad_ = zeros({shard_});
  {
    NoGradGuard ng;
    for (size_t i = 0; i < params_.size(); ++i)
      flat_param_.narrow(0, offsets_[i], params_[i].numel()).copy_(params_[i].detach().reshape({-1}));
  }
  shard_param_ = flat_param_.narrow(0, pg_->rank() * shard_, shard_).clone();
  shard_param_.requires_grad_(true);
  shard_param_.set_grad(shard_grad_);
  inner_ = make_inner({shard_param_});
  TANDEM_CHECK(inner_ != nullptr, "ZeroRedundancyOptimizer: the factory returned no optimizer");
  init_groups({{.params = params_, .options = {{"lr", inner_->lr()}}}});
}

void ZeroRedundancyOptimizer::validate_options(const std::map<std::string, double>& o) const {
  TANDEM_CHECK(o.at("lr") >= 0, "ZeroRedundancyOptimizer: invalid learning rate {}", o.at("lr"));
}

std::vector<std::string> ZeroRedundancyOptimizer::state_names(const std::map<std::string, double>&) const {
  return {};
}

void ZeroRedundancyOptimizer::step() {
  NoGradGuard ng;
  flat_grad_.zero_();
  for (size_t i = 0; i < params_.size(); ++i)
    if (Tensor g = params_[i].grad(); g.defined())
      flat_grad_.narrow(0, offsets_[i], params_[i].numel()).copy_(g.reshape({-1}));
  pg_->reduce_scatter(shard_grad_, flat_grad_, ReduceOp::kAvg);
  shard_grad_.storage()->bump_version();
  // NOTE: the slice is read from the parameters again: they may have changed since the last
  // step (a checkpoint loaded into the model, rank 0's weights broadcast after a resume).
  const int64_t lo = pg_->rank() * shard_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t a = std::max(lo, offsets_[i]), b = std::min(lo + shard_, offsets_[i] + params_[i].numel());
    if (a < b)
      shard_param_.narrow(0, a - lo, b - a)
          .copy_(params_[i].detach().reshape({-1}).narrow(0, a - offsets_[i], b - a));
  }
  shard_param_.storage()->bump_version();
  consolidated_.reset();  // the gathered state is stale from here
  inner_->set_lr(lr());
  inner_->step();
  pg_->all_gather(flat_param_, shard_param_);
  flat_param_.storage()->bump_version();
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].detach();
    p.copy_(flat_param_.narrow(0, offsets_[i], p.numel()).view(p.shape()));
  }
}

int64_t ZeroRedundancyOptimizer::state_bytes() const {
  int64_t bytes = 0;
  if (const ParamState* s = inner_->state(shard_param_))
    for (const auto& [name, t] : s->tensors) bytes += static_cast<int64_t>(t.nbytes());
  return bytes;
}

namespace {
// "state.<i>.<name>" -> (i, name); false for any other key.
bool parse_state_key(const std::string& key, size_t& index, std::string& name) {
  if (key.rfind("state.", 0) != 0) return false;
  const size_t dot = key.find('.', 6);
  if (dot == std::string::npos || dot == 6 || dot + 1 >= key.size() || dot - 6 > 9) return false;
  for (size_t i = 6; i < dot; ++i)
    if (key[i] < '0' || key[i] > '9') return false;
  index = std::stoul(key.substr(6, dot - 6));
  name = key.substr(dot + 1);
  return true;
}
}  // namespace

StateDict ZeroRedundancyOptimizer::gather_state(int to) const {
  NoGradGuard ng;
  TANDEM_CHECK(param_groups().size() == 1 && inner_->param_groups().size() == 1,
               "ZeroRedundancyOptimizer: state_dict supports one parameter group");
  const int R = pg_->size(), rank = pg_->rank();
  const StateDict inner = inner_->state_dict();
  StateDict full;
  // NOTE: every rank holds the same state names (same optimizer, same steps), so the
  // all_gathers below are issued in the same order everywhere (std::map order).
  for (const auto& [key, t] : inner.tensors) {
    size_t index = 0;
    std::string name;
    if (!parse_state_key(key, index, name) || name == "step") continue;
    Tensor flat = R == 1 ? t.contiguous() : zeros({shard_ * R}, {.dtype = t.dtype()});
    if (R > 1) pg_->all_gather(flat, t.contiguous());
    if (rank != to) continue;
    for (size_t i = 0; i < params_.size(); ++i)
      full.tensors[fmt::format("state.{}.{}", i, name)] =
          flat.narrow(0, offsets_[i], params_[i].numel()).clone().view(params_[i].shape());
  }
  if (rank != to) return full;
  if (auto it = inner.tensors.find("state.0.step"); it != inner.tensors.end())
    for (size_t i = 0; i < params_.size(); ++i)
      full.tensors[fmt::format("state.{}.step", i)] = it->second.clone();
  // The inner optimizer's options, with this optimizer's lr and the schedulers' keys on top
  // (a scheduler steps this optimizer, not the inner one).
  nlohmann::json g = nlohmann::json::object();
  for (const auto& [k, v] : inner_->param_groups()[0].options) g[k] = v;
  for (const auto& [k, v] : param_groups()[0].options) g[k] = v;
  nlohmann::json ids = nlohmann::json::array();
  for (size_t i = 0; i < params_.size(); ++i) ids.push_back(i);
  g["params"] = std::move(ids);
  full.metadata["optimizer"] = inner_->name();
  full.metadata["param_groups"] = nlohmann::json::array({g}).dump();
  return full;
}

void ZeroRedundancyOptimizer::consolidate_state_dict(int to) {
  TANDEM_CHECK(to >= 0 && to < pg_->size(),
               "ZeroRedundancyOptimizer::consolidate_state_dict: rank {} is not in a world of {}",
               to, pg_->size());
  StateDict full = gather_state(to);
  if (pg_->rank() == to) {
    consolidated_ = std::move(full);
  } else {
    consolidated_.reset();
  }
}

StateDict ZeroRedundancyOptimizer::state_dict() const {
  if (pg_->size() == 1) return gather_state(0);
  TANDEM_CHECK(consolidated_.has_value(),
               "ZeroRedundancyOptimizer::state_dict: rank {} holds only its shard; call "
               "consolidate_state_dict(to) on every rank first (a collective), then state_dict() "
               "on rank `to`, before the next step()",
               pg_->rank());
  return *consolidated_;
}

void ZeroRedundancyOptimizer::load_state_dict(const StateDict& sd) {
  const std::string where = "ZeroRedundancyOptimizer::load_state_dict";
  auto name_it = sd.metadata.find("optimizer");
  TANDEM_CHECK(name_it != sd.metadata.end() && name_it->second == inner_->name(),
               "{}: the state was saved by a {} optimizer; this one shards a {}", where,
               name_it == sd.metadata.end() ? "(unnamed)" : name_it->second, inner_->name());
  TANDEM_CHECK(!sd.metadata.count("zero_world_size"),
               "{}: this is one rank's shard (an older per-rank format); it cannot be re-sharded",
               where);
  auto groups_it = sd.metadata.find("param_groups");
  TANDEM_CHECK(groups_it != sd.metadata.end(), "{}: the state dict has no 'param_groups' metadata",
               where);
  nlohmann::json groups;
  try {
    groups = nlohmann::json::parse(groups_it->second);
  } catch (const std::exception& e) {
    TANDEM_FAIL("{}: 'param_groups' metadata is not valid JSON: {}", where, e.what());
  }
  TANDEM_CHECK(groups.is_array() && groups.size() == 1 && groups[0].is_object() &&
                   groups[0].contains("params") && groups[0]["params"].is_array() &&
                   groups[0]["params"].size() == params_.size(),
               "{}: expected one parameter group over {} parameters (the optimizer this one "
               "shards, as it saves itself)",
               where, params_.size());

  // Each state tensor back into one flat buffer, then this rank's slice of it.
  NoGradGuard ng;
  std::map<std::string, Tensor> flat;
  std::optional<Tensor> step;
  for (const auto& [key, t] : sd.tensors) {
    size_t i = 0;
    std::string name;
    TANDEM_CHECK(parse_state_key(key, i, name) && i < params_.size() && t.defined(),
                 "{}: unexpected tensor '{}' (expected state.<i>.<name>, i < {})", where, key,
                 params_.size());
    if (name == "step") {
      TANDEM_CHECK(t.numel() == 1, "{}: '{}' should hold one number", where, key);
      // One step count for the slice: parameters of one elementwise optimizer step together.
      TANDEM_CHECK(!step || step->item<double>() == t.item<double>(),
                   "{}: the parameters' step counts differ ({} and {}); a sharded optimizer "
                   "steps them together", where, step->item<double>(), t.item<double>());
      step = t;
      continue;
    }
    TANDEM_CHECK(t.shape() == params_[i].shape() && t.dtype() == kFloat32,
                 "{}: '{}' has shape {} ({}) but parameter {} is {} float32", where, key,
                 shape_str(t.shape()), t.dtype(), i, shape_str(params_[i].shape()));
    auto [it, fresh] = flat.try_emplace(name);
    // NOTE: a parameter without this state (it never had a gradient) counts as zeros.
    if (fresh) it->second = zeros({shard_ * pg_->size()});
    it->second.narrow(0, offsets_[i], params_[i].numel()).copy_(t.reshape({-1}));
  }
  StateDict inner;
  for (const auto& [name, t] : flat)
    inner.tensors["state.0." + name] = t.narrow(0, pg_->rank() * shard_, shard_).clone();
  if (step) inner.tensors["state.0.step"] = step->clone();
  nlohmann::json g = groups[0];
  g["params"] = nlohmann::json::array({0});
  inner.metadata["optimizer"] = inner_->name();
  inner.metadata["param_groups"] = nlohmann::json::array({g}).dump();
  inner_->load_state_dict(inner);
  // This optimizer's own group takes the same options (lr and the schedulers' keys).
  StateDict own;
  own.metadata["optimizer"] = name();
  own.metadata["param_groups"] = groups_it->second;
  Optimizer::load_state_dict(own);
  consolidated_.reset();
}

}  // namespace tandem::distributed
