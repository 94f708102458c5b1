// The optimizer `tandem train` builds from its options (sgd with momentum, adam, adamw and
// their default learning rates), shared by train::fit and the memory estimate; and the
// evaluation batch size fit and `tandem eval` share.
#pragma once
#include <memory>
#include <vector>

#include "tandem/optim.h"
#include "tandem/train/fit.h"

namespace tandem::train {

// The batch size `tandem train` and `tandem eval` evaluate the test set in.
inline constexpr int64_t kEvalBatchSize = 128;

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, std::vector<Tensor> params);

}  // namespace tandem::train
