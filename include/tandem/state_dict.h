#pragma once
// What a module, an optimizer or a scheduler saves and restores: named tensors plus
// string metadata (hyper-parameters, step counters, JSON blobs). It maps one to one onto a
// safetensors file (tensors + "__metadata__"), which is how checkpoints store it.
//
//   tandem::StateDict sd = optimizer.state_dict();
//   sd.tensors["state.0.exp_avg"];      // a tensor the optimizer keeps per parameter
//   sd.metadata["param_groups"];        // JSON text
//
// Tensors in a StateDict alias the live state (like PyTorch's state_dict()): clone them to
// keep a snapshot.
#include <map>
#include <string>

#include "tandem/tensor.h"

namespace tandem {

struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

}  // namespace tandem
