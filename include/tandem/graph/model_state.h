// The view of a model that tandem::compile takes (CompileOptions::modules); nn::Module
// implements it, so the graph layer needs nothing from nn.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tandem/tensor.h"

namespace tandem {

// What compile needs to know of a model (nn::Module implements it): its parameters and buffers
// by name, for names in the graph and cache guards (a parameter's .grad appearing), and the
// train/eval mode of it and its submodules, which keys the cache.
class ModelState {
 public:
  virtual ~ModelState() = default;
  virtual std::vector<std::pair<std::string, Tensor>> state_parameters() const = 0;
  virtual std::vector<std::pair<std::string, Tensor>> state_buffers() const = 0;
  // This model (name "") and each submodule, by name.
  virtual std::vector<std::pair<std::string, const ModelState*>> state_modules() const = 0;
  virtual bool state_training() const = 0;
};

}  // namespace tandem
