// Activation checkpointing, as torch.utils.checkpoint: trade compute for memory by keeping
// only a block's inputs during the forward and running the block again inside backward.
//
//   // the free function, over any block of ops:
//   auto outs = checkpoint([&](const std::vector<Tensor>& xs) {
//     return std::vector<Tensor>{relu(fc1->forward(xs[0])) * 2};
//   }, {x}, fc1->parameters());
//   // or a module wrapper inside a model:
//   auto block = std::make_shared<nn::Checkpoint>(std::make_shared<nn::Sequential>(...));
//   Tensor y = (*block)(x);   // the same values and gradients, fewer saved tensors
//
// The forward runs without recording (nothing inside the block is saved); the block's outputs
// get one autograd node that holds the inputs and a copy of the random generator's state.
// Backward re-runs the block with that state (dropout draws the same masks), then a nested
// backward through the recomputed block sends gradients to the inputs and accumulates the
// parameters' .grad directly, like PyTorch's reentrant checkpoint. Consequences of that:
// - tandem::grad() with a checkpointed block's parameters among its inputs does not see them
//   (their .grad is written instead); gradients to the block's inputs are fine.
// - a block's side effects happen twice (BatchNorm running statistics, forward hooks).
// Under NoGradGuard or while tandem::compile traces, fn just runs (a compiled step's memory is
// planned instead). Modifying an input in place before backward is an Error, as for any op.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "tandem/nn/module.h"
#include "tandem/tensor.h"

namespace tandem {

using CheckpointFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs fn(inputs) keeping only `inputs` for backward. `params`: tensors fn reads besides its
// inputs (a module's parameters); the outputs require grad when an input or one of these does.
// fn must be deterministic apart from the default generator, and is kept until backward.
std::vector<Tensor> checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs,
                               const std::vector<Tensor>& params = {});

namespace nn {

// Runs the wrapped module under tandem::checkpoint. The module is the child "module", so its
// parameters are named "module.<name>".
class Checkpoint : public Module {
 public:
  explicit Checkpoint(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> module;
};

}  // namespace nn
}  // namespace tandem
