// nn::MultiheadAttention, as torch.nn.MultiheadAttention (same parameter names, shapes,
// masks and default initialization, so PyTorch state_dicts load).
//
//   auto mha = std::make_shared<nn::MultiheadAttention>(
//       /*embed_dim=*/64, /*num_heads=*/8, nn::MultiheadAttentionOptions{.batch_first = true});
//   Tensor x = randn({2, 10, 64});                                  // [batch, seq, embed]
//   auto [out, weights] = mha->forward(x, x, x);                    // self-attention
//   // out [2, 10, 64]; weights [2, 10, 10], averaged over the heads
//   Tensor causal = arange(10).unsqueeze(0) > arange(10).unsqueeze(1);  // true: key after query
//   out = mha->forward(x, x, x, /*key_padding_mask=*/{}, /*need_weights=*/false, causal).output;
//   Tensor y = mha->forward(x);                                     // self-attention, output only
//
// Shapes (L target length, S source length, N batch, E embed_dim, H num_heads):
//   query [L, N, E], key / value [S, N, E] ([N, L, E] / [N, S, E] with batch_first), or
//         [L, E] / [S, E] for one unbatched sequence
//   key_padding_mask [N, S] ([S] unbatched): bool, true = this key is padding and is
//         ignored; or floating point, added to the scores
//   attn_mask [L, S] or [N*H, L, S]: bool, true = this query may not attend to this key;
//         or floating point, added to the scores. Both masks may be given, in any mix of
//         bool and float (two float masks are both added, as PyTorch 2.x; 1.13 refuses that)
//   output like query; weights [N, L, S] averaged over heads (average_attn_weights) or
//         [N, H, L, S] per head ([L, S] / [H, L, S] unbatched); undefined unless need_weights
// A query whose keys are all masked gets NaN, as in PyTorch.
//
// Parameters (PyTorch's names and order): in_proj_weight [3E, E] (q, k, v rows stacked;
// xavier_uniform), in_proj_bias [3E] (zeros), out_proj.weight [E, E] (Linear's default),
// out_proj.bias [E] (zeros); the biases only with bias=true. kdim/vdim other than E and
// add_bias_kv / add_zero_attn are not supported.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tandem/generator.h"
#include "tandem/nn/layers.h"
#include "tandem/nn/module.h"

namespace tandem::nn {

struct MultiheadAttentionOptions {
  double dropout = 0.0;  // on the attention weights, in training mode
  bool bias = true;
  bool batch_first = false;
};

struct AttentionOutput {
  Tensor output, weights;
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, MultiheadAttentionOptions opts = {},
                     Generator* gen = nullptr);
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                          const Tensor& attn_mask = Tensor(), bool average_attn_weights = true);
  // Self-attention without masks; the output only.
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  int64_t embed_dim, num_heads, head_dim;
  MultiheadAttentionOptions options;
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;
};

}  // namespace tandem::nn
