// Adagrad — torch.optim.Adagrad's update (PyTorch 1.13):
//   g = grad + weight_decay * p
//   sum += g²   (sum starts at initial_accumulator_value)
//   p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
//
//   optim::Adagrad opt(model->parameters(), {.lr = 0.05, .lr_decay = 1e-4});
//
// Unlike PyTorch, which fills every accumulator from the constructor's
// initial_accumulator_value, each group's own value is used (the same when groups don't set it).
#pragma once
#include "tandem/optim/optimizer.h"

namespace tandem::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions opts = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults = {});
  void step() override;

 protected:
  void validate_options(const std::map<std::string, double>& o) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& o) const override;
};

}  // namespace tandem::optim
