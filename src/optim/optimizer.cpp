#include "tandem/optim/optimizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/ops.h"

namespace tandem::optim {

namespace {

// Keys schedulers write into groups (PyTorch does the same); they are kept but not validated.
const std::set<std::string> kSchedulerKeys = {"initial_lr", "max_lr", "min_lr", "max_momentum",
                                              "base_momentum"};

std::string join_keys(const std::map<std::string, double>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k;
  return s;
}

// "state.<i>.<name>" -> (i, name); false when the key has another form.
bool parse_state_key(const std::string& key, size_t& index, std::string& name) {
  if (key.rfind("state.", 0) != 0) return false;
  size_t dot = key.find('.', 6);
  if (dot == std::string::npos || dot == 6 || dot + 1 >= key.size()) return false;
  std::string num = key.substr(6, dot - 6);
  if (!std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      num.size() > 9)
    return false;
  index = std::stoul(num);
  name = key.substr(dot + 1);
  return true;
}

}  // namespace

Optimizer::Optimizer(std::string name, std::map<std::string, double> defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {}

Optimizer::~Optimizer() = default;

void Optimizer::init_groups(std::vector<ParamGroup> groups) {
  TANDEM_CHECK(!groups.empty(), "{}: got no parameter groups; pass the model's parameters()",
               name_);
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  size_t gi = groups_.size();
  TANDEM_CHECK(!group.params.empty(),
               "{}: parameter group {} is empty; pass at least one parameter (an empty "
               "model->parameters() usually means the model registered none)",
               name_, gi);
  // PyTorch spells Adam's betas as a pair; accept "betas0"/"betas1" for beta1/beta2.
  for (auto [alias, key] : {std::pair{"betas0", "beta1"}, std::pair{"betas1", "beta2"}}) {
    auto it = group.options.find(alias);
    if (it != group.options.end() && defaults_.count(key)) {
      group.options[key] = it->second;
      group.options.erase(alias);
    }
  }
  for (const auto& [k, v] : group.options)
    TANDEM_CHECK(defaults_.count(k) || kSchedulerKeys.count(k),
                 "{}: unknown option '{}' in parameter group {}; {} takes: {}", name_, k, gi,
                 name_, join_keys(defaults_));
  for (const auto& [k, v] : defaults_) group.options.emplace(k, v);
  TANDEM_CHECK(!std::isnan(group.options.at("lr")),
               "{}: parameter group {} has no learning rate; set lr in the options or in the "
               "group",
               name_, gi);
  try {
    validate_options(group.options);
  } catch (const Error& e) {
    TANDEM_FAIL("{} (parameter group {})", e.what(), gi);
  }
  std::set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    TANDEM_CHECK(p.defined(), "{}: parameter {} of group {} is an undefined tensor", name_, i, gi);
    TANDEM_CHECK(p.is_floating_point(),
                 "{}: parameter {} of group {} has dtype {}; only floating-point tensors can be "
                 "optimized",
                 name_, i, gi, p.dtype());
    TANDEM_CHECK(p.is_leaf(),
                 "{}: parameter {} of group {} (shape {}) is not a leaf tensor (it was computed "
                 "from others); optimize the leaf it came from, or detach() it first",
                 name_, i, gi, shape_str(p.shape()));
    TANDEM_CHECK(seen.insert(p.impl()).second,
                 "{}: parameter {} of group {} (shape {}) appears more than once across the "
                 "parameter groups; give each parameter to one group only",
                 name_, i, gi, shape_str(p.shape()));
  }
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard guard;
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      if (set_to_none) graph::trace_grad_cleared(p);  // tandem::compile: no .grad dependence
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        if (grad.grad_fn()) {  // a grad with history (create_graph): drop the history
          grad = grad.detach();
          p.set_grad(grad);
        }
        grad.zero_();
      }
    }
  }
}

double Optimizer::lr(size_t group) const {
  TANDEM_CHECK(group < groups_.size(), "{}::lr: group {} out of range (the optimizer has {})",
               name_, group, groups_.size());
  return groups_[group].options.at("lr");
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.options["lr"] = lr;
}

const Optimizer::ParamState* Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it == state_.end() ? nullptr : &it->second;
}

Optimizer::ParamState& Optimizer::state_for(const Tensor& param) { return state_[param.impl()]; }

double Optimizer::opt(const ParamGroup& g, const char* key) {
  auto it = g.options.find(key);
  TANDEM_CHECK(it != g.options.end(), "optimizer: parameter group lacks option '{}'", key);
  return it->second;
}

StateDict Optimizer::state_dict() const {
  StateDict sd;
  nlohmann::json groups = nlohmann::json::array();
  size_t index = 0;
  for (const auto& g : groups_) {
    nlohmann::json jg = nlohmann::json::object();
    for (const auto& [k, v] : g.options) jg[k] = v;
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& p : g.params) {
      ids.push_back(index);
      if (const ParamState* st = state(p)) {
        for (const auto& [name, t] : st->tensors) sd.tensors[fmt::format("state.{}.{}", index, name)] = t;
        sd.tensors[fmt::format("state.{}.step", index)] =
            tensor(std::vector<int64_t>{st->step}, Shape{});
      }
      ++index;
    }
    jg["params"] = std::move(ids);
    groups.push_back(std::move(jg));
  }
  sd.metadata["optimizer"] = name_;
  sd.metadata["param_groups"] = groups.dump();
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  const std::string where = name_ + "::load_state_dict";
  auto name_it = sd.metadata.find("optimizer");
  TANDEM_CHECK(name_it != sd.metadata.end(),
               "{}: the state dict has no 'optimizer' metadata; pass what an optimizer's "
               "state_dict() returned",
               where);
  TANDEM_CHECK(name_it->second == name_,
               "{}: the state dict was saved by a {} optimizer; load it into a {}", where,
               name_it->second, name_it->second);
  auto groups_it = sd.metadata.find("param_groups");
  TANDEM_CHECK(groups_it != sd.metadata.end(), "{}: the state dict has no 'param_groups' metadata",
               where);
  nlohmann::json jgroups;
  try {
    jgroups = nlohmann::json::parse(groups_it->second);
  } catch (const std::exception& e) {
    TANDEM_FAIL("{}: 'param_groups' metadata is not valid JSON: {}", where, e.what());
  }
  TANDEM_CHECK(jgroups.is_array(), "{}: 'param_groups' metadata is not a JSON array", where);
  TANDEM_CHECK(jgroups.size() == groups_.size(),
               "{}: the state dict has {} parameter groups, this optimizer has {}; build the "
               "optimizer with the same groups as the one that was saved",
               where, jgroups.size(), groups_.size());

  // Everything is checked before anything changes, so a failed load leaves the optimizer as it was.
  std::vector<std::map<std::string, double>> new_options(groups_.size());
  std::vector<const Tensor*> params;        // by global index
  std::vector<size_t> group_of;             // by global index
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& jg = jgroups[gi];
    TANDEM_CHECK(jg.is_object() && jg.contains("params") && jg["params"].is_array(),
                 "{}: parameter group {} in the state dict lacks its 'params' list", where, gi);
    TANDEM_CHECK(jg["params"].size() == groups_[gi].params.size(),
                 "{}: parameter group {} has {} parameters in the state dict and {} in this "
                 "optimizer",
                 where, gi, jg["params"].size(), groups_[gi].params.size());
    auto opts = groups_[gi].options;
    for (const auto& [k, v] : jg.items()) {
      if (k == "params") continue;
      if (v.is_boolean()) {
        opts[k] = v.get<bool>() ? 1.0 : 0.0;
      } else if (v.is_number()) {
        opts[k] = v.get<double>();
      } else if (v.is_null()) {  // JSON has no inf/nan; nlohmann writes them as null
        opts[k] = std::numeric_limits<double>::quiet_NaN();
      } else {
        TANDEM_FAIL("{}: option '{}' of parameter group {} is not a number", where, k, gi);
      }
    }
    try {
      validate_options(opts);
    } catch (const Error& e) {
      TANDEM_FAIL("{}: parameter group {} in the state dict: {}", where, gi, e.what());
    }
    new_options[gi] = std::move(opts);
    for (const auto& p : groups_[gi].params) {
      params.push_back(&p);
      group_of.push_back(gi);
    }
  }

  std::map<size_t, ParamState> loaded;
  for (const auto& [key, t] : sd.tensors) {
    size_t index = 0;
    std::string name;
    TANDEM_CHECK(parse_state_key(key, index, name),
                 "{}: unexpected tensor '{}' (expected state.<index>.<name>)", where, key);
    TANDEM_CHECK(index < params.size(),
                 "{}: '{}' refers to parameter {}, but the optimizer has {} parameters", where, key,
                 index, params.size());
    TANDEM_CHECK(t.defined(), "{}: '{}' is an undefined tensor", where, key);
    ParamState& st = loaded[index];
    if (name == "step") {
      TANDEM_CHECK(t.numel() == 1, "{}: '{}' should hold one number, has shape {}", where, key,
                   shape_str(t.shape()));
      double s = t.item<double>();
      TANDEM_CHECK(s >= 0 && s == std::floor(s), "{}: '{}' = {} is not a step count", where, key, s);
      st.step = static_cast<int64_t>(s);
      continue;
    }
    auto names = state_names(new_options[group_of[index]]);
    TANDEM_CHECK(std::find(names.begin(), names.end(), name) != names.end(),
                 "{}: unexpected state '{}' for parameter {} ({} with these options keeps: {})",
                 where, name, index, name_, fmt::join(names, ", "));
    const Tensor& p = *params[index];
    TANDEM_CHECK(t.shape() == p.shape(),
                 "{}: '{}' has shape {} but parameter {} has shape {}; the optimizer must be built "
                 "over the same parameters as the saved one",
                 where, key, shape_str(t.shape()), index, shape_str(p.shape()));
    Tensor copy = empty(p.shape(), {.dtype = p.dtype()});
    copy.copy_(t);
    st.tensors[name] = copy;
  }
  for (const auto& [index, st] : loaded) {
    if (st.tensors.empty()) continue;
    for (const auto& name : state_names(new_options[group_of[index]]))
      TANDEM_CHECK(st.tensors.count(name),
                   "{}: the state of parameter {} has {} but lacks 'state.{}.{}'", where, index,
                   st.tensors.begin()->first, index, name);
  }

  state_.clear();
  for (auto& [index, st] : loaded) state_[params[index]->impl()] = std::move(st);
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = std::move(new_options[gi]);
}

}  // namespace tandem::optim
