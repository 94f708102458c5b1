// MultiheadAttention as a composition of tandem ops, following PyTorch 1.13's
// F.multi_head_attention_forward: project, split heads, scale q by 1/√head_dim, scores
// q·kᵀ plus masks, softmax, dropout, weights·v, merge heads, out_proj.
//
// Internally batch-major: heads are [N, H, L, head_dim] views, so the two products are
// batched matmuls over (N, H) and masks broadcast over the missing dims.
#include "tandem/nn/attention.h"

#include <cmath>
#include <limits>

#include "tandem/autograd.h"
#include "tandem/nn/init.h"
#include "tandem/ops.h"

namespace tandem::nn {

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, MultiheadAttentionOptions opts,
                                       Generator* gen)
    : Module("MultiheadAttention"), embed_dim(embed_dim_), num_heads(num_heads_), options(opts) {
  TANDEM_CHECK(embed_dim > 0 && num_heads > 0,
               "MultiheadAttention: embed_dim and num_heads must be positive, got {} and {}", embed_dim,
               num_heads);
  TANDEM_CHECK(embed_dim % num_heads == 0,
               "MultiheadAttention: embed_dim ({}) must be divisible by num_heads ({}); each head "
               "gets embed_dim / num_heads features",
               embed_dim, num_heads);
  TANDEM_CHECK(options.dropout >= 0.0 && options.dropout <= 1.0,
               "MultiheadAttention: dropout must be a probability in [0, 1], got {}", options.dropout);
  head_dim = embed_dim / num_heads;
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", options.bias ? empty({3 * embed_dim}) : Tensor());
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, options.bias, gen));
  reset_parameters(gen);
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  init::xavier_uniform_(in_proj_weight, 1.0, gen);
  if (options.bias) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

std::string MultiheadAttention::extra_repr() const {
  return fmt::format("embed_dim={}, num_heads={}, dropout={}, bias={}, batch_first={}", embed_dim, num_heads,
                     options.dropout, options.bias ? "True" : "False", options.batch_first ? "True" : "False");
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x, Tensor(), false).output; }

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const Tensor& key_padding_mask, bool need_weights,
                                            const Tensor& attn_mask, bool average_attn_weights) {
  const char* layout = options.batch_first ? "[batch, seq, embed_dim]" : "[seq, batch, embed_dim]";
  TANDEM_CHECK(query.defined() && key.defined() && value.defined(),
               "MultiheadAttention: query, key and value must all be defined tensors");
  TANDEM_CHECK(query.dim() == 3 || query.dim() == 2,
               "MultiheadAttention: expected a 3-D query {} or a 2-D unbatched one [seq, embed_dim], "
               "got shape {}",
               layout, shape_str(query.shape()));
  TANDEM_CHECK(key.dim() == query.dim() && value.dim() == query.dim(),
               "MultiheadAttention: query, key and value must have the same rank, got shapes {}, {}, {}",
               shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  for (const Tensor* t : {&query, &key, &value})
    TANDEM_CHECK(t->size(-1) == embed_dim,
                 "MultiheadAttention: expected embed_dim {} in the last dim of query, key and value, "
                 "got shapes {}, {}, {} (kdim/vdim other than embed_dim are not supported)",
                 embed_dim, shape_str(query.shape()), shape_str(key.shape()), shape_str(value.shape()));
  TANDEM_CHECK(key.shape() == value.shape(), "MultiheadAttention: key and value must have the same shape, got {} and {}",
               shape_str(key.shape()), shape_str(value.shape()));
  const DType dt = in_proj_weight.dtype();
  TANDEM_CHECK(query.dtype() == dt && key.dtype() == dt && value.dtype() == dt,
               "MultiheadAttention: query, key and value must have the parameters' dtype {}, got {}, {}, {}; "
               "convert them or call module->to(dtype)",
               dt, query.dtype(), key.dtype(), value.dtype());

  const bool unbatched = query.dim() == 2;
  // Batch-major [N, len, E] views.
  auto batch_major = [&](const Tensor& t) {
    return unbatched ? t.unsqueeze(0) : options.batch_first ? t : t.transpose(0, 1);
  };
  Tensor q = batch_major(query), k = batch_major(key), v = batch_major(value);
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = embed_dim, H = num_heads;
  TANDEM_CHECK(k.size(0) == N, "MultiheadAttention: query and key have different batch sizes ({} and {})", N,
               k.size(0));

  // ---- projections: one matmul for self-attention, else three slices of the weights.
  const bool self_attention = query.impl() == key.impl() && key.impl() == value.impl();
  if (self_attention) {
    std::vector<Tensor> qkv = chunk(linear(q, in_proj_weight, in_proj_bias), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    auto part = [&](const Tensor& t, int64_t i) {
      return linear(t, in_proj_weight.narrow(0, i * E, E),
                    in_proj_bias.defined() ? in_proj_bias.narrow(0, i * E, E) : Tensor());
    };
    q = part(q, 0), k = part(k, 1), v = part(v, 2);
  }
  // [N, len, E] -> [N, H, len, head_dim]
  auto heads = [&](const Tensor& t, int64_t len) { return t.reshape({N, len, H, head_dim}).permute({0, 2, 1, 3}); };
  Tensor qh = div(heads(q, L), wrap_scalar(std::sqrt(static_cast<double>(head_dim))));
  Tensor kh = heads(k, S), vh = heads(v, S);
  Tensor scores = matmul(qh, kh.transpose(-2, -1));  // [N, H, L, S]

  // ---- masks: bool ones fill -inf, float ones are added; both broadcast to [N, H, L, S].
  auto apply_mask = [&](const Tensor& mask, const Shape& view_shape) {
    Tensor m = mask.reshape(view_shape);
    if (m.dtype() == DType::Bool) return masked_fill(scores, m, -std::numeric_limits<double>::infinity());
    return add(scores, m);
  };
  if (attn_mask.defined()) {
    TANDEM_CHECK(attn_mask.dtype() == DType::Bool || attn_mask.is_floating_point(),
                 "MultiheadAttention: attn_mask must be bool (true = masked) or floating point (added), got {}",
                 attn_mask.dtype());
    const bool ok2 = attn_mask.dim() == 2 && attn_mask.shape() == (Shape{L, S});
    const bool ok3 = attn_mask.dim() == 3 && attn_mask.shape() == (Shape{N * H, L, S});
    TANDEM_CHECK(ok2 || ok3,
                 "MultiheadAttention: attn_mask must have shape [target_len, source_len] = {} or "
                 "[batch*num_heads, target_len, source_len] = {}, got {}",
                 shape_str({L, S}), shape_str({N * H, L, S}), shape_str(attn_mask.shape()));
    scores = apply_mask(attn_mask, ok2 ? Shape{1, 1, L, S} : Shape{N, H, L, S});
  }
  if (key_padding_mask.defined()) {
    const Shape expected = unbatched ? Shape{S} : Shape{N, S};
    TANDEM_CHECK(key_padding_mask.shape() == expected,
                 "MultiheadAttention: key_padding_mask must have shape {} ([{}source_len]), got {}",
                 shape_str(expected), unbatched ? "" : "batch, ", shape_str(key_padding_mask.shape()));
    TANDEM_CHECK(key_padding_mask.dtype() == DType::Bool || key_padding_mask.is_floating_point(),
                 "MultiheadAttention: key_padding_mask must be bool (true = padding) or floating point "
                 "(added), got {}",
                 key_padding_mask.dtype());
    scores = apply_mask(key_padding_mask, {N, 1, 1, S});
  }

  Tensor attn = softmax(scores, -1);
  if (options.dropout > 0.0 && is_training()) attn = dropout(attn, options.dropout, true);
  Tensor ctx = matmul(attn, vh);  // [N, H, L, head_dim]
  // Merge the heads straight into the caller's layout, so the result is contiguous.
  Tensor merged = (options.batch_first || unbatched) ? ctx.permute({0, 2, 1, 3}).reshape({N, L, E})
                                                     : ctx.permute({2, 0, 1, 3}).reshape({L, N, E});
  AttentionOutput r;
  r.output = (*out_proj)(merged);
  if (unbatched) r.output = r.output.squeeze(0);
  if (need_weights) {
    r.weights = average_attn_weights ? mean(attn, {1}) : attn;
    if (unbatched) r.weights = r.weights.squeeze(0);
  }
  return r;
}

}  // namespace tandem::nn
