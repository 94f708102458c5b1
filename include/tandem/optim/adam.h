// Adam and AdamW (with AMSGrad) — torch.optim.Adam / AdamW's updates (PyTorch 1.13):
//   Adam:  g = grad + weight_decay * p            (L2 penalty folded into the gradient)
//   AdamW: p *= 1 - lr * weight_decay             (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g²
//   v̂ = amsgrad ? (vmax = max(vmax, v)) : v
//   p -= lr / (1 - beta1^t) * m / (sqrt(v̂) / sqrt(1 - beta2^t) + eps)
//
//   optim::AdamW opt(model->parameters(), {.lr = 1e-3, .weight_decay = 0.05});
#pragma once
#include "tandem/optim/optimizer.h"

namespace tandem::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // PyTorch's AdamW default
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions opts = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = {});
  void step() override;

 protected:
  Adam(std::string name, std::map<std::string, double> defaults);
  void validate_options(const std::map<std::string, double>& o) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& o) const override;
  void step_impl(bool decoupled_weight_decay);
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions opts = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults = {});
  void step() override;
};

}  // namespace tandem::optim
