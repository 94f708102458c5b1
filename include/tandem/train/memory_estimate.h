// How much memory training a model takes at a batch size, by part, from a dry run of one
// training step (what `tandem summary --batch-size N` prints):
//
//   auto model = models::create("cnn");
//   train::MemoryEstimate m = train::estimate_training_memory(*model, {128, 1, 28, 28}, {});
//   std::cout << train::format_memory_estimate(m);   // parameters, gradients, optimizer, ...
//
// The dry run trains one step on random input (cross-entropy against class 0 when the output
// is [N, C], else the sum of the output) with the optimizer `tandem train` would build from
// the options, measuring with the allocator's counters (tandem/memory.h): activations are the
// bytes held between forward and backward (the tensors the forward saved for backward, and
// the output), backward temporaries what backward needs at its busiest point beyond the
// gradients, optimizer state what its first step allocated. The model is left as it was
// (parameters, buffers, .grad and the random generator are restored).
#pragma once
#include <cstdint>
#include <string>

#include "tandem/nn/module.h"
#include "tandem/train/fit.h"

namespace tandem::train {

struct MemoryEstimate {
  Shape input_shape;
  std::string optimizer;
  int64_t parameters = 0;       // bytes of the parameters (and buffers)
  int64_t gradients = 0;        // the .grad of every trainable parameter
  int64_t optimizer_state = 0;  // momentum / moment buffers
  int64_t activations = 0;      // held from forward until backward
  int64_t backward_temporaries = 0;  // backward's peak beyond the gradients it writes
  int64_t input = 0;            // the input batch
  // The step's peak: everything above alive at once (backward's busiest point).
  int64_t total() const {
    return parameters + gradients + optimizer_state + activations + backward_temporaries + input;
  }
};

// `options` supplies the optimizer (name, momentum, weight decay); input_shape includes the
// batch dimension.
MemoryEstimate estimate_training_memory(nn::Module& model, const Shape& input_shape,
                                        const TrainOptions& options);
// A small table, one line per part, in MB.
std::string format_memory_estimate(const MemoryEstimate& m);

}  // namespace tandem::train
