// The standard layers: PyTorch's torch.nn modules with the same arguments, defaults and
// default initialization (so a model built here starts from the same distribution).
//
//   auto conv = std::make_shared<nn::Conv2d>(1, 32, 3, nn::Conv2dOptions{.padding = 1});
//   auto bn = std::make_shared<nn::BatchNorm2d>(32);
//   Tensor y = nn::functional::relu(bn->forward(conv->forward(x)));   // x: [N, 1, 28, 28]
//   conv->weight;   // the registered parameter [32, 1, 3, 3] (a handle: writes are visible)
//
// Every layer draws its initial values from `gen` when given, else from the default
// generator (tandem::manual_seed). Public Tensor members are handles to the registered
// parameters and buffers; an absent optional parameter (bias=false) is an undefined Tensor.
#pragma once
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>

#include "tandem/generator.h"
#include "tandem/nn/module.h"
#include "tandem/ops.h"

namespace tandem::nn {

// Two integers given as one (`1`, expanded to both) or as a pair (`{1, 2}`), as PyTorch's
// int-or-tuple arguments.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  Size2(int64_t a, int64_t b) : h(a), w(b) {}
  IntArray vec() const { return {h, w}; }
  std::string str() const;  // "(h, w)"
};

// A convolution's padding: a number (every side), a pair (Conv2d: {h, w}), or "valid" (none)
// / "same" (output length = input length; stride must be 1; an odd total puts the extra
// element at the end, as PyTorch).
struct Conv1dPadding {
  int64_t value = 0;
  bool same = false;
  template <std::integral I>
  Conv1dPadding(I v) : value(static_cast<int64_t>(v)) {}  // NOLINT: implicit on purpose
  Conv1dPadding(const char* mode);                        // NOLINT
};

struct Conv2dPadding : Size2 {
  bool same = false;
  template <std::integral I>
  Conv2dPadding(I v) : Size2(static_cast<int64_t>(v)) {}  // NOLINT: implicit on purpose
  Conv2dPadding(int64_t a, int64_t b) : Size2(a, b) {}
  Conv2dPadding(const char* mode);  // NOLINT
};

// ---- linear

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// y = x·Wᵀ + b. weight [out, in] ~ kaiming_uniform(a=√5), bias ~ U(±1/√in).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);
  int64_t in_features, out_features;
  Tensor weight, bias;
};

// ---- convolution

struct Conv1dOptions {
  int64_t stride = 1;
  Conv1dPadding padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  std::string padding_mode = "zeros";  // "zeros" | "reflect" | "replicate" | "circular"
};

// Input [N, C_in, L] (or [C_in, L]); weight [out, in/groups, k].
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv1dOptions opts = {},
         Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);
  int64_t in_channels, out_channels, kernel_size;
  Conv1dOptions options;
  Tensor weight, bias;
};

struct Conv2dOptions {
  Size2 stride = 1;
  Conv2dPadding padding = 0;
  Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  std::string padding_mode = "zeros";  // "zeros" | "reflect" | "replicate" | "circular"
};

// Input [N, C_in, H, W] (or [C_in, H, W]); weight [out, in/groups, kh, kw].
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Conv2dOptions opts = {},
         Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);
  int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dOptions options;
  Tensor weight, bias;
};

struct ConvTranspose2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 output_padding = 0;
  int64_t groups = 1;
  bool bias = true;
  Size2 dilation = 1;
};

// weight [in, out/groups, kh, kw] (PyTorch's layout for transposed convolutions).
class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
                  ConvTranspose2dOptions opts = {}, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);
  int64_t in_channels, out_channels;
  Size2 kernel_size;
  ConvTranspose2dOptions options;
  Tensor weight, bias;
};

// ---- normalization

struct BatchNormOptions {
  double eps = 1e-5;
  // Weight of the new batch statistic in the running averages; nullopt: a cumulative
  // average (1 / num_batches_tracked), as PyTorch's momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

// Shared by BatchNorm1d / BatchNorm2d (they differ only in the input ranks they accept).
// Buffers: running_mean [C] (0), running_var [C] (1), num_batches_tracked (int64 scalar).
// Training: normalizes with the batch statistics and updates the running ones; eval: uses
// the running statistics (or the batch's when track_running_stats is false).
class BatchNorm : public Module {
 public:
  BatchNorm(std::string type, int64_t num_features, BatchNormOptions opts);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_running_stats();
  void reset_parameters();
  int64_t num_features;
  BatchNormOptions options;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 protected:
  virtual void check_input(const Tensor& x) const = 0;
};

class BatchNorm1d : public BatchNorm {  // input [N, C] or [N, C, L]
 public:
  explicit BatchNorm1d(int64_t num_features, BatchNormOptions opts = {})
      : BatchNorm("BatchNorm1d", num_features, opts) {}

 protected:
  void check_input(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNorm {  // input [N, C, H, W]
 public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions opts = {})
      : BatchNorm("BatchNorm2d", num_features, opts) {}

 protected:
  void check_input(const Tensor& x) const override;
};

// Normalizes over the trailing `normalized_shape` dims; weight ones, bias zeros.
class LayerNorm : public Module {
 public:
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;
};

// Input [N, C, *]; C split into num_groups groups; per-channel weight ones, bias zeros.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_groups, num_channels;
  double eps;
  bool affine;
  Tensor weight, bias;
};

// ---- dropout and embedding

// Zeroes each element with probability p and scales the rest by 1/(1-p) in training mode;
// the identity in eval mode. Draws from the default generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
};

struct EmbeddingOptions {
  std::optional<int64_t> padding_idx;  // that row starts at zero and gets no gradient
};

// weight [num_embeddings, embedding_dim] ~ N(0, 1). Input: int64/int32 indices of any shape.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, EmbeddingOptions opts = {},
            Generator* gen = nullptr);
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);
  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;  // wrapped to [0, num_embeddings)
  Tensor weight;
};

// ---- pooling

struct MaxPool2dOptions {
  std::optional<Size2> stride;  // default: kernel_size
  Size2 padding = 0;
  Size2 dilation = 1;
  bool ceil_mode = false;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, MaxPool2dOptions opts = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 kernel_size;
  MaxPool2dOptions options;
};

struct AvgPool2dOptions {
  std::optional<Size2> stride;  // default: kernel_size
  Size2 padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, AvgPool2dOptions opts = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 kernel_size;
  AvgPool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Size2 output_size;
};

// torch.nn.Upsample: interpolate(x, options) as a layer (no parameters).
//   auto up = std::make_shared<nn::Upsample>(InterpolateOptions{.scale_factor = {2.0}});
class Upsample : public Module {
 public:
  explicit Upsample(InterpolateOptions options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  InterpolateOptions options;
};

// torch.nn.PixelShuffle / PixelUnshuffle: [*, C*r*r, H, W] <-> [*, C, H*r, W*r] (no parameters).
class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t upscale_factor;
};

class PixelUnshuffle : public Module {
 public:
  explicit PixelUnshuffle(int64_t downscale_factor);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t downscale_factor;
};

// ---- shape

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

// ---- activations

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double negative_slope;
};

class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");  // "none" | "tanh"
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::string approximate;
};

class SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;
};

}  // namespace tandem::nn
