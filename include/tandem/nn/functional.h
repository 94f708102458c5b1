// nn::functional — the stateless forms of the layers (torch.nn.functional): the ops of
// tandem/ops.h under their PyTorch names, plus the few that differ in signature.
//
//   namespace F = tandem::nn::functional;
//   Tensor h = F::relu(F::conv2d(x, w, b, {1, 1}, {1, 1}));
//   Tensor y = F::dropout(F::max_pool2d(h, {2, 2}), 0.5, /*training=*/module.is_training());
#pragma once
#include <optional>
#include <string>

#include "tandem/ops.h"
#include "tandem/sampling.h"

namespace tandem::nn::functional {

// Activations
using tandem::gelu;
using tandem::leaky_relu;
using tandem::log_softmax;
using tandem::relu;
using tandem::sigmoid;
using tandem::silu;
using tandem::softmax;
using tandem::softplus;
using tandem::tanh;
// Linear and convolutions
using tandem::conv1d;
using tandem::conv2d;
using tandem::conv_transpose2d;
using tandem::linear;
// Pooling
using tandem::adaptive_avg_pool2d;
using tandem::affine_grid;
using tandem::grid_sample;
using tandem::interpolate;
using tandem::pixel_shuffle;
using tandem::pixel_unshuffle;
using tandem::InterpolateOptions;
using tandem::avg_pool2d;
using tandem::max_pool2d;
// Normalization, dropout, embedding
using tandem::batch_norm;
using tandem::dropout;
using tandem::embedding;
using tandem::group_norm;
using tandem::layer_norm;
// Shape
using tandem::flatten;
using tandem::one_hot;
using tandem::pad;
// Losses
using tandem::binary_cross_entropy_with_logits;
using tandem::cross_entropy;
using tandem::l1_loss;
using tandem::mse_loss;
using tandem::nll_loss;
using tandem::smooth_l1_loss;

inline Tensor relu6(const Tensor& x) { return clamp(x, 0.0, 6.0); }
inline Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0) {
  return clamp(x, min_val, max_val);
}
// x / max(‖x‖_p, eps) along `dim`.
Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12);

}  // namespace tandem::nn::functional
