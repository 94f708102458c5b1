// Optimizer base class and parameter groups, as in torch.optim.
//
//   auto model = std::make_shared<nn::Linear>(784, 10);
//   optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
//   for (auto& batch : loader) {
//     opt.zero_grad();
//     nn::functional::cross_entropy(model->forward(batch.data), batch.target).backward();
//     opt.step();
//   }
//
//   // Parameter groups: their own options, missing keys take the optimizer's defaults.
//   optim::Adam adam({{.params = backbone, .options = {{"lr", 1e-4}}},
//                     {.params = head}}, {.lr = 1e-3, .weight_decay = 1e-2});
//
// Ownership: the optimizer holds shared handles to the parameters (the same TensorImpls the
// model holds) and owns its per-parameter state (momentum buffers, moment estimates), keyed
// by parameter identity. step() updates parameters in place, under NoGradGuard, and skips
// parameters whose grad is undefined.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/state_dict.h"
#include "tandem/tensor.h"

namespace tandem::optim {

// A set of parameters with its own hyper-parameters. Option keys are the optimizer's option
// names ("lr", "weight_decay", "momentum", "beta1", ...; booleans are 0/1). A key left out
// takes the optimizer's default when the group is added. Schedulers add their own keys
// ("initial_lr", "max_lr", ...), as PyTorch does.
struct ParamGroup {
  std::vector<Tensor> params;
  std::map<std::string, double> options;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a grad.
  virtual void step() = 0;
  // Clears the grads: undefined (set_to_none) or zero-filled in place.
  void zero_grad(bool set_to_none = true);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Adds a group after construction (e.g. unfreezing layers); options are checked.
  void add_param_group(ParamGroup group);
  const std::map<std::string, double>& defaults() const { return defaults_; }
  // "SGD", "Adam", ...
  const std::string& name() const { return name_; }

  double lr(size_t group = 0) const;
  void set_lr(double lr);  // every group

  // Per-parameter state as "state.<i>.<name>" tensors (i counts parameters over all groups
  // in order, like PyTorch), "state.<i>.step" (int64 scalar), and metadata "optimizer" (the
  // name) and "param_groups" (JSON: each group's options and its parameter indices).
  // State tensors alias the live state: clone them to keep a snapshot.
  virtual StateDict state_dict() const;
  // Restores state and group options from state_dict(). The optimizer must have been built
  // over the same groups (same counts and shapes); tensors are copied in.
  virtual void load_state_dict(const StateDict& sd);

  // State of one parameter: named tensors and how many steps it took.
  struct ParamState {
    std::map<std::string, Tensor> tensors;
    int64_t step = 0;
  };
  // The state of `param`, or nullptr when it has none yet.
  const ParamState* state(const Tensor& param) const;

 protected:
  Optimizer(std::string name, std::map<std::string, double> defaults);
  // Called by the derived constructor: adds each group (filling defaults, validating).
  void init_groups(std::vector<ParamGroup> groups);
  // Throws Error when a group's (complete) options are invalid.
  virtual void validate_options(const std::map<std::string, double>& options) const = 0;
  // Names of the tensors a parameter's state holds once initialized under these options
  // (used to validate load_state_dict).
  virtual std::vector<std::string> state_names(const std::map<std::string, double>& options) const = 0;

  ParamState& state_for(const Tensor& param);  // creates empty state when missing
  static double opt(const ParamGroup& g, const char* key);  // option that must exist

 private:
  std::string name_;
  std::map<std::string, double> defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

}  // namespace tandem::optim
