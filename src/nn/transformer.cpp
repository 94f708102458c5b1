// TransformerEncoderLayer / TransformerEncoder: PyTorch 1.13's reference (non-fused) path,
// composed from MultiheadAttention, Linear, LayerNorm and Dropout.
#include "tandem/nn/transformer.h"

#include "tandem/ops.h"

namespace tandem::nn {

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model_, int64_t nhead_, TransformerEncoderLayerOptions opts,
                                                 Generator* gen)
    : Module("TransformerEncoderLayer"), d_model(d_model_), nhead(nhead_), options(std::move(opts)) {
  TANDEM_CHECK(options.activation == "relu" || options.activation == "gelu",
               "TransformerEncoderLayer: activation must be \"relu\" or \"gelu\", got \"{}\"", options.activation);
  TANDEM_CHECK(options.dim_feedforward > 0, "TransformerEncoderLayer: dim_feedforward must be positive, got {}",
               options.dim_feedforward);
  // Registration order as PyTorch's __init__ (named_parameters and state_dict follow it).
  self_attn = register_module(
      "self_attn", std::make_shared<MultiheadAttention>(
                       d_model, nhead,
                       MultiheadAttentionOptions{.dropout = options.dropout, .bias = options.bias,
                                                 .batch_first = options.batch_first},
                       gen));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, options.dim_feedforward, options.bias, gen));
  dropout = register_module("dropout", std::make_shared<Dropout>(options.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(options.dim_feedforward, d_model, options.bias, gen));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(Shape{d_model}, options.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(Shape{d_model}, options.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(options.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(options.dropout));
}

std::string TransformerEncoderLayer::extra_repr() const {
  return fmt::format("d_model={}, nhead={}, dim_feedforward={}, activation={}, norm_first={}, batch_first={}",
                     d_model, nhead, options.dim_feedforward, options.activation,
                     options.norm_first ? "True" : "False", options.batch_first ? "True" : "False");
}

Tensor TransformerEncoderLayer::activation(const Tensor& x) const {
  return options.activation == "gelu" ? gelu(x) : relu(x);
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask) {
  TANDEM_CHECK(src.defined() && (src.dim() == 3 || src.dim() == 2),
               "TransformerEncoderLayer: expected src of shape {} or [seq, d_model] (unbatched), got {}",
               options.batch_first ? "[batch, seq, d_model]" : "[seq, batch, d_model]",
               src.defined() ? shape_str(src.shape()) : "an undefined tensor");
  TANDEM_CHECK(src.size(-1) == d_model, "TransformerEncoderLayer: expected d_model {} in the last dim, got shape {}",
               d_model, shape_str(src.shape()));
  auto sa = [&](const Tensor& x) {
    // Through operator() when there are no masks, so forward hooks (summary) see self_attn.
    if (!src_mask.defined() && !src_key_padding_mask.defined()) return (*dropout1)((*self_attn)(x));
    return (*dropout1)(self_attn->forward(x, x, x, src_key_padding_mask, /*need_weights=*/false, src_mask).output);
  };
  auto ff = [&](const Tensor& x) {
    return (*dropout2)((*linear2)((*dropout)(activation((*linear1)(x)))));
  };
  Tensor x = src;
  if (options.norm_first) {
    x = add(x, sa((*norm1)(x)));
    x = add(x, ff((*norm2)(x)));
  } else {
    x = (*norm1)(add(x, sa(x)));
    x = (*norm2)(add(x, ff(x)));
  }
  return x;
}

TransformerEncoder::TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer,
                                       int64_t num_layers, std::shared_ptr<LayerNorm> norm_)
    : Module("TransformerEncoder") {
  TANDEM_CHECK(encoder_layer != nullptr, "TransformerEncoder: encoder_layer is null");
  TANDEM_CHECK(num_layers >= 1, "TransformerEncoder: num_layers must be at least 1, got {}", num_layers);
  layers = register_module("layers", std::make_shared<ModuleList>());
  const auto weights = encoder_layer->state_dict();
  for (int64_t i = 0; i < num_layers; ++i) {
    // A fresh layer with the same options, then the template's weights (PyTorch deep-copies).
    auto layer = std::make_shared<TransformerEncoderLayer>(encoder_layer->d_model, encoder_layer->nhead,
                                                           encoder_layer->options);
    layer->to(encoder_layer->self_attn->in_proj_weight.dtype());
    layer->load_state_dict(weights);
    layer->train(encoder_layer->is_training());
    layers->push_back(layer);
  }
  if (norm_) norm = register_module("norm", std::move(norm_));
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask) {
  Tensor x = src;
  // Children run through operator() (forward hooks, summary) when there are no masks to pass.
  const bool plain = !mask.defined() && !src_key_padding_mask.defined();
  for (const auto& m : *layers)
    x = plain ? (*m)(x) : std::static_pointer_cast<TransformerEncoderLayer>(m)->forward(x, mask, src_key_padding_mask);
  if (norm) x = (*norm)(x);
  return x;
}

}  // namespace tandem::nn
