// RMSprop — torch.optim.RMSprop's update (PyTorch 1.13):
//   g = grad + weight_decay * p
//   sq = alpha * sq + (1 - alpha) * g²
//   avg = centered ? sqrt(sq - ga²) + eps  (ga = alpha * ga + (1 - alpha) * g)  : sqrt(sq) + eps
//   momentum > 0:  buf = momentum * buf + g / avg;  p -= lr * buf
//   otherwise:     p -= lr * g / avg
//
//   optim::RMSprop opt(model->parameters(), {.lr = 1e-3, .momentum = 0.9, .centered = true});
#pragma once
#include "tandem/optim/optimizer.h"

namespace tandem::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions opts = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults = {});
  void step() override;

 protected:
  void validate_options(const std::map<std::string, double>& o) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& o) const override;
};

}  // namespace tandem::optim
