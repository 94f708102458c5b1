// nn::TransformerEncoderLayer and nn::TransformerEncoder, as torch.nn's (same submodule and
// parameter names, so PyTorch state_dicts load).
//
//   auto layer = std::make_shared<nn::TransformerEncoderLayer>(
//       /*d_model=*/64, /*nhead=*/4,
//       nn::TransformerEncoderLayerOptions{.dim_feedforward = 256, .batch_first = true,
//                                          .norm_first = true});
//   auto encoder = std::make_shared<nn::TransformerEncoder>(layer, /*num_layers=*/3);
//   Tensor x = randn({8, 20, 64});                          // [batch, seq, d_model]
//   Tensor pad = zeros({8, 20}, {.dtype = DType::Bool});    // true = padding position
//   Tensor y = encoder->forward(x, /*mask=*/{}, pad);       // [8, 20, 64]
//
// One layer (post-norm, the default):  x = norm1(x + sa(x));  x = norm2(x + ff(x))
//            (norm_first, pre-norm):    x = x + sa(norm1(x));  x = x + ff(norm2(x))
// where sa(x) = dropout1(self_attn(x, x, x, masks)) and
//       ff(x) = dropout2(linear2(dropout(activation(linear1(x))))).
// Masks are MultiheadAttention's: src_mask [L, L] or [N*nhead, L, L], src_key_padding_mask
// [N, L] (bool: true = masked / padding; floating point: added to the scores).
//
// Submodules: self_attn (MultiheadAttention), linear1 [dim_feedforward, d_model], dropout,
// linear2 [d_model, dim_feedforward], norm1, norm2 (LayerNorm over d_model), dropout1,
// dropout2. The encoder holds layers.0 ... layers.{N-1} (copies of the given layer, all
// starting from the same weights, as PyTorch's deepcopy) and an optional final `norm`.
// Unlike PyTorch's inference fast path, padded positions are computed, not zeroed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/generator.h"
#include "tandem/nn/attention.h"
#include "tandem/nn/container.h"
#include "tandem/nn/layers.h"
#include "tandem/nn/module.h"

namespace tandem::nn {

struct TransformerEncoderLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" | "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;  // pre-norm when true
  bool bias = true;         // every Linear and the attention projections
};

class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, TransformerEncoderLayerOptions opts = {},
                          Generator* gen = nullptr);
  Tensor forward(const Tensor& src, const Tensor& src_mask,
                 const Tensor& src_key_padding_mask = Tensor());
  Tensor forward(const Tensor& src) override;  // no masks
  std::string extra_repr() const override;

  int64_t d_model, nhead;
  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;

 private:
  Tensor activation(const Tensor& x) const;
};

class TransformerEncoder : public Module {
 public:
  // num_layers copies of `encoder_layer` (its options and current weights); `norm`, when
  // given, is applied to the output of the last layer.
  TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = Tensor());
  Tensor forward(const Tensor& src) override;  // no masks

  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // may be null
};

}  // namespace tandem::nn
