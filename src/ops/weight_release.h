// The hooks through which graph code asks the CPU backend to let packed weights replace their
// plain copies (graph::release_plain_when_packed / restore_plain_weights, include/tandem/graph/
// fusion.h). No layer includes a backend: the backend fills these in when its packed-weight
// cache starts (src/backend/cpu/packed_weights.cpp); unset, they do nothing.
#pragma once
#include "tandem/tensor.h"

namespace tandem::ops {

struct WeightReleaseHooks {
  void (*release_when_packed)(const Tensor& w) = nullptr;  // keep only the packed copy once packed
  void (*keep_plain)(const Tensor& w) = nullptr;           // restore it, and keep it plain for good
};
WeightReleaseHooks& weight_release_hooks();

}  // namespace tandem::ops
