// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
//
//   loss.backward();
//   double norm = nn::utils::clip_grad_norm_(model->parameters(), /*max_norm=*/1.0);
//   opt.step();
//
// Both change the grads in place and skip parameters without a grad.
#pragma once
#include <limits>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::nn::utils {

// Scales all grads by max_norm / (total_norm + 1e-6) when that is below 1, where total_norm
// is the norm_type-norm of all grads together (as if concatenated); returns total_norm
// (before clipping). norm_type: any p > 0, or infinity (max |g|). With error_if_nonfinite
// a NaN or infinite total norm throws instead of writing NaNs into the grads.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every grad element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

inline constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace tandem::nn::utils
