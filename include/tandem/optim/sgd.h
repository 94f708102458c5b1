// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay —
// torch.optim.SGD's update (PyTorch 1.13):
//   d = grad + weight_decay * p
//   buf = d (first step) | momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf          (when momentum != 0)
//   p -= lr * d
//
//   optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9, .nesterov = true});
#pragma once
#include <limits>

#include "tandem/optim/optimizer.h"

namespace tandem::optim {

struct SGDOptions {
  // Required, as in PyTorch (no default learning rate); a group may set its own instead.
  double lr = std::numeric_limits<double>::quiet_NaN();
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions opts);
  SGD(std::vector<ParamGroup> groups, SGDOptions defaults);
  void step() override;

 protected:
  void validate_options(const std::map<std::string, double>& o) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& o) const override;
};

}  // namespace tandem::optim
