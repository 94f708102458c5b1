#include "tandem/nn/layers.h"

#include <fmt/format.h>

#include <cmath>
#include <tuple>
#include <utility>

#include "tandem/autograd.h"
#include "tandem/nn/init.h"
#include "tandem/ops.h"
#include "tandem/sampling.h"

namespace tandem::nn {

std::string Size2::str() const { return fmt::format("({}, {})", h, w); }

namespace {
bool parse_padding_mode(const char* mode, const char* layer) {
  std::string m = mode ? mode : "";
  TANDEM_CHECK(m == "same" || m == "valid",
               "{}: padding must be a number, \"same\" or \"valid\", got \"{}\"", layer, m);
  return m == "same";
}

// "same" padding of one dimension: (before, after); the odd element goes after.
std::pair<int64_t, int64_t> same_padding(int64_t kernel, int64_t dilation) {
  int64_t total = dilation * (kernel - 1);
  return {total / 2, total - total / 2};
}
}  // namespace

Conv1dPadding::Conv1dPadding(const char* mode) : same(parse_padding_mode(mode, "Conv1d")) {}
Conv2dPadding::Conv2dPadding(const char* mode) : Size2(0), same(parse_padding_mode(mode, "Conv2d")) {}

namespace {

// PyTorch's reset_parameters for Linear and the convolutions: weight kaiming_uniform(a=√5),
// i.e. U(±1/√fan_in), and bias U(±1/√fan_in) with fan_in taken from the weight.
void reset_weight_and_bias(Tensor& weight, Tensor& bias, Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(weight);
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

void check_positive(int64_t v, const char* layer, const char* what) {
  TANDEM_CHECK(v > 0, "{}: {} must be positive, got {}", layer, what, v);
}

void check_groups(int64_t in, int64_t out, int64_t groups, const char* layer) {
  TANDEM_CHECK(groups > 0, "{}: groups must be positive, got {}", layer, groups);
  TANDEM_CHECK(in % groups == 0 && out % groups == 0,
               "{}: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})",
               layer, in, out, groups);
}

void check_padding_mode(const std::string& mode, const char* layer) {
  TANDEM_CHECK(mode == "zeros" || mode == "reflect" || mode == "replicate" || mode == "circular",
               "{}: padding_mode must be zeros, reflect, replicate or circular, got \"{}\"", layer,
               mode);
}

std::string bool_str(bool b) { return b ? "True" : "False"; }

}  // namespace

// ---- Linear

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* gen)
    : Module("Linear"), in_features(in), out_features(out) {
  TANDEM_CHECK(in >= 0 && out >= 0, "Linear: in_features ({}) and out_features ({}) must be >= 0", in,
               out);
  weight = register_parameter("weight", empty({out, in}));
  bias = register_parameter("bias", with_bias ? empty({out}) : Tensor());
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) { reset_weight_and_bias(weight, bias, gen); }

Tensor Linear::forward(const Tensor& x) {
  TANDEM_CHECK(x.dim() >= 1 && x.size(-1) == in_features,
               "Linear: expected input with last dimension {} (in_features), got shape {}",
               in_features, shape_str(x.shape()));
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features,
                     bool_str(bias.defined()));
}

// ---- Conv1d

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, Conv1dOptions opts, Generator* gen)
    : Module("Conv1d"), in_channels(in), out_channels(out), kernel_size(k), options(std::move(opts)) {
  check_positive(k, "Conv1d", "kernel_size");
  check_groups(in, out, options.groups, "Conv1d");
  check_padding_mode(options.padding_mode, "Conv1d");
  TANDEM_CHECK(!options.padding.same || options.stride == 1,
               "Conv1d: padding=\"same\" needs stride 1 (got {}); give the padding as a number",
               options.stride);
  weight = register_parameter("weight", empty({out, in / options.groups, k}));
  bias = register_parameter("bias", options.bias ? empty({out}) : Tensor());
  reset_parameters(gen);
}

void Conv1d::reset_parameters(Generator* gen) { reset_weight_and_bias(weight, bias, gen); }

Tensor Conv1d::forward(const Tensor& x) {
  const auto& o = options;
  int64_t lo = o.padding.value, hi = o.padding.value;
  if (o.padding.same) std::tie(lo, hi) = same_padding(kernel_size, o.dilation);
  if ((o.padding_mode != "zeros" && (lo != 0 || hi != 0)) || lo != hi) {
    std::string mode = o.padding_mode == "zeros" ? "constant" : o.padding_mode;
    return conv1d(pad(x, {lo, hi}, mode), weight, bias, o.stride, 0, o.dilation, o.groups);
  }
  return conv1d(x, weight, bias, o.stride, lo, o.dilation, o.groups);
}

std::string Conv1d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size=({},), stride=({},)", in_channels, out_channels,
                              kernel_size, options.stride);
  if (options.padding.same) s += ", padding=same";
  else if (options.padding.value != 0) s += fmt::format(", padding=({},)", options.padding.value);
  if (options.dilation != 1) s += fmt::format(", dilation=({},)", options.dilation);
  if (options.groups != 1) s += fmt::format(", groups={}", options.groups);
  if (!bias.defined()) s += ", bias=False";
  if (options.padding_mode != "zeros") s += fmt::format(", padding_mode={}", options.padding_mode);
  return s;
}

// ---- Conv2d

Conv2d::Conv2d(int64_t in, int64_t out, Size2 k, Conv2dOptions opts, Generator* gen)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k), options(std::move(opts)) {
  check_positive(k.h, "Conv2d", "kernel_size");
  check_positive(k.w, "Conv2d", "kernel_size");
  check_groups(in, out, options.groups, "Conv2d");
  check_padding_mode(options.padding_mode, "Conv2d");
  TANDEM_CHECK(!options.padding.same || (options.stride.h == 1 && options.stride.w == 1),
               "Conv2d: padding=\"same\" needs stride 1 (got {}); give the padding as numbers",
               options.stride.str());
  weight = register_parameter("weight", empty({out, in / options.groups, k.h, k.w}));
  bias = register_parameter("bias", options.bias ? empty({out}) : Tensor());
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator* gen) { reset_weight_and_bias(weight, bias, gen); }

Tensor Conv2d::forward(const Tensor& x) {
  const auto& o = options;
  auto [top, bottom] = std::pair{o.padding.h, o.padding.h};
  auto [left, right] = std::pair{o.padding.w, o.padding.w};
  if (o.padding.same) {
    std::tie(top, bottom) = same_padding(kernel_size.h, o.dilation.h);
    std::tie(left, right) = same_padding(kernel_size.w, o.dilation.w);
  }
  bool any = top != 0 || bottom != 0 || left != 0 || right != 0;
  if ((o.padding_mode != "zeros" && any) || top != bottom || left != right) {
    std::string mode = o.padding_mode == "zeros" ? "constant" : o.padding_mode;
    Tensor padded = pad(x, {left, right, top, bottom}, mode);
    return conv2d(padded, weight, bias, o.stride.vec(), {0, 0}, o.dilation.vec(), o.groups);
  }
  return conv2d(x, weight, bias, o.stride.vec(), {top, left}, o.dilation.vec(), o.groups);
}

std::string Conv2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", in_channels, out_channels,
                              kernel_size.str(), options.stride.str());
  if (options.padding.same) s += ", padding=same";
  else if (options.padding.h != 0 || options.padding.w != 0) s += ", padding=" + options.padding.str();
  if (options.dilation.h != 1 || options.dilation.w != 1) s += ", dilation=" + options.dilation.str();
  if (options.groups != 1) s += fmt::format(", groups={}", options.groups);
  if (!bias.defined()) s += ", bias=False";
  if (options.padding_mode != "zeros") s += fmt::format(", padding_mode={}", options.padding_mode);
  return s;
}

// ---- ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, Size2 k, ConvTranspose2dOptions opts,
                                 Generator* gen)
    : Module("ConvTranspose2d"), in_channels(in), out_channels(out), kernel_size(k), options(opts) {
  check_positive(k.h, "ConvTranspose2d", "kernel_size");
  check_positive(k.w, "ConvTranspose2d", "kernel_size");
  check_groups(in, out, options.groups, "ConvTranspose2d");
  weight = register_parameter("weight", empty({in, out / options.groups, k.h, k.w}));
  bias = register_parameter("bias", options.bias ? empty({out}) : Tensor());
  reset_parameters(gen);
}

void ConvTranspose2d::reset_parameters(Generator* gen) { reset_weight_and_bias(weight, bias, gen); }

Tensor ConvTranspose2d::forward(const Tensor& x) {
  const auto& o = options;
  return conv_transpose2d(x, weight, bias, o.stride.vec(), o.padding.vec(), o.output_padding.vec(),
                          o.groups, o.dilation.vec());
}

std::string ConvTranspose2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", in_channels, out_channels,
                              kernel_size.str(), options.stride.str());
  if (options.padding.h != 0 || options.padding.w != 0) s += ", padding=" + options.padding.str();
  if (options.output_padding.h != 0 || options.output_padding.w != 0)
    s += ", output_padding=" + options.output_padding.str();
  if (options.dilation.h != 1 || options.dilation.w != 1) s += ", dilation=" + options.dilation.str();
  if (options.groups != 1) s += fmt::format(", groups={}", options.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

// ---- BatchNorm

BatchNorm::BatchNorm(std::string type, int64_t n, BatchNormOptions opts)
    : Module(std::move(type)), num_features(n), options(opts) {
  check_positive(n, name().c_str(), "num_features");
  if (options.affine) {
    weight = register_parameter("weight", ones({n}));
    bias = register_parameter("bias", zeros({n}));
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({n}));
    running_var = register_buffer("running_var", ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::Int64}));
  }
}

void BatchNorm::reset_running_stats() {
  if (!options.track_running_stats) return;
  NoGradGuard ng;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (options.affine) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  TANDEM_CHECK(x.size(1) == num_features,
               "{}: expected {} channels (num_features) in dimension 1, got shape {}", name(),
               num_features, shape_str(x.shape()));
  double factor = 0.0;
  if (is_training() && options.track_running_stats) {
    NoGradGuard ng;
    num_batches_tracked.add_(wrap_scalar(int64_t{1}));
    factor = options.momentum ? *options.momentum
                              : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Batch statistics when training, or when there are no running ones to use.
  bool use_batch_stats = is_training() || !options.track_running_stats;
  if (use_batch_stats) {
    TANDEM_CHECK(x.numel() / x.size(1) > 1,
                 "{}: expected more than 1 value per channel when training, got input shape {}",
                 name(), shape_str(x.shape()));
  }
  // Running stats are updated only while training.
  Tensor rm = (!is_training() || options.track_running_stats) ? running_mean : Tensor();
  Tensor rv = (!is_training() || options.track_running_stats) ? running_var : Tensor();
  return batch_norm(x, rm, rv, weight, bias, use_batch_stats, factor, options.eps);
}

std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features,
                     options.eps, options.momentum ? fmt::format("{}", *options.momentum) : "None",
                     bool_str(options.affine), bool_str(options.track_running_stats));
}

void BatchNorm1d::check_input(const Tensor& x) const {
  TANDEM_CHECK(x.dim() == 2 || x.dim() == 3,
               "BatchNorm1d: expected 2D or 3D input ([N, C] or [N, C, L]), got shape {}",
               shape_str(x.shape()));
}

void BatchNorm2d::check_input(const Tensor& x) const {
  TANDEM_CHECK(x.dim() == 4, "BatchNorm2d: expected 4D input [N, C, H, W], got shape {}",
               shape_str(x.shape()));
}

// ---- LayerNorm / GroupNorm

LayerNorm::LayerNorm(Shape shape, double eps_, bool affine)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  TANDEM_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape, weight, bias, eps); }

std::string LayerNorm::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine={}", fmt::join(normalized_shape, ", "), eps,
                     bool_str(elementwise_affine));
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine_)
    : Module("GroupNorm"), num_groups(groups), num_channels(channels), eps(eps_), affine(affine_) {
  check_positive(groups, "GroupNorm", "num_groups");
  TANDEM_CHECK(channels % groups == 0,
               "GroupNorm: num_channels ({}) must be divisible by num_groups ({})", channels, groups);
  if (affine) {
    weight = register_parameter("weight", ones({channels}));
    bias = register_parameter("bias", zeros({channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  TANDEM_CHECK(x.dim() >= 2 && x.size(1) == num_channels,
               "GroupNorm: expected input [N, {}, *], got shape {}", num_channels,
               shape_str(x.shape()));
  return group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups, num_channels, eps, bool_str(affine));
}

// ---- Dropout / Embedding

Dropout::Dropout(double p_) : Module("Dropout"), p(p_) {
  TANDEM_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability has to be between 0 and 1, but got {}", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

Embedding::Embedding(int64_t num, int64_t dim, EmbeddingOptions opts, Generator* gen)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  check_positive(num, "Embedding", "num_embeddings");
  TANDEM_CHECK(dim >= 0, "Embedding: embedding_dim must be >= 0, got {}", dim);
  if (opts.padding_idx) {
    int64_t p = *opts.padding_idx;
    TANDEM_CHECK(p >= -num && p < num,
                 "Embedding: padding_idx {} must be within num_embeddings ({})", p, num);
    padding_idx = p < 0 ? p + num : p;
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters(gen);
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (padding_idx) {
    NoGradGuard ng;
    weight.select(0, *padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices, padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = fmt::format("{}, {}", num_embeddings, embedding_dim);
  if (padding_idx) s += fmt::format(", padding_idx={}", *padding_idx);
  return s;
}

// ---- pooling

MaxPool2d::MaxPool2d(Size2 k, MaxPool2dOptions opts) : Module("MaxPool2d"), kernel_size(k), options(opts) {
  check_positive(k.h, "MaxPool2d", "kernel_size");
  check_positive(k.w, "MaxPool2d", "kernel_size");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  const auto& o = options;
  Size2 stride = o.stride.value_or(kernel_size);
  return max_pool2d(x, kernel_size.vec(), stride.vec(), o.padding.vec(), o.dilation.vec(), o.ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  Size2 stride = options.stride.value_or(kernel_size);
  auto one = [](Size2 s) { return s.h == s.w ? fmt::format("{}", s.h) : s.str(); };
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}",
                     one(kernel_size), one(stride), one(options.padding), one(options.dilation),
                     bool_str(options.ceil_mode));
}

AvgPool2d::AvgPool2d(Size2 k, AvgPool2dOptions opts) : Module("AvgPool2d"), kernel_size(k), options(opts) {
  check_positive(k.h, "AvgPool2d", "kernel_size");
  check_positive(k.w, "AvgPool2d", "kernel_size");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  const auto& o = options;
  Size2 stride = o.stride.value_or(kernel_size);
  return avg_pool2d(x, kernel_size.vec(), stride.vec(), o.padding.vec(), o.ceil_mode,
                    o.count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  Size2 stride = options.stride.value_or(kernel_size);
  auto one = [](Size2 s) { return s.h == s.w ? fmt::format("{}", s.h) : s.str(); };
  return fmt::format("kernel_size={}, stride={}, padding={}", one(kernel_size), one(stride),
                     one(options.padding));
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2 out) : Module("AdaptiveAvgPool2d"), output_size(out) {
  check_positive(out.h, "AdaptiveAvgPool2d", "output_size");
  check_positive(out.w, "AdaptiveAvgPool2d", "output_size");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size.vec()); }

Upsample::Upsample(InterpolateOptions o) : Module("Upsample"), options(std::move(o)) {}
Tensor Upsample::forward(const Tensor& x) { return interpolate(x, options); }
std::string Upsample::extra_repr() const {
  std::string r = options.size.empty() ? fmt::format("scale_factor={}", fmt::join(options.scale_factor, ", "))
                                       : fmt::format("size={}", fmt::join(options.size, ", "));
  r += fmt::format(", mode='{}'", options.mode);
  if (options.align_corners) r += ", align_corners=True";
  return r;
}

PixelShuffle::PixelShuffle(int64_t r) : Module("PixelShuffle"), upscale_factor(r) {
  check_positive(r, "PixelShuffle", "upscale_factor");
}
Tensor PixelShuffle::forward(const Tensor& x) { return pixel_shuffle(x, upscale_factor); }
std::string PixelShuffle::extra_repr() const { return fmt::format("upscale_factor={}", upscale_factor); }

PixelUnshuffle::PixelUnshuffle(int64_t r) : Module("PixelUnshuffle"), downscale_factor(r) {
  check_positive(r, "PixelUnshuffle", "downscale_factor");
}
Tensor PixelUnshuffle::forward(const Tensor& x) { return pixel_unshuffle(x, downscale_factor); }
std::string PixelUnshuffle::extra_repr() const { return fmt::format("downscale_factor={}", downscale_factor); }

std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + (output_size.h == output_size.w ? fmt::format("{}", output_size.h)
                                                          : output_size.str());
}

// ---- Flatten and activations

Flatten::Flatten(int64_t s, int64_t e) : Module("Flatten"), start_dim(s), end_dim(e) {}
Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim, end_dim); }
std::string Flatten::extra_repr() const {
  return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim);
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

LeakyReLU::LeakyReLU(double s) : Module("LeakyReLU"), negative_slope(s) {}
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", negative_slope); }

GELU::GELU(std::string a) : Module("GELU"), approximate(std::move(a)) {
  TANDEM_CHECK(approximate == "none" || approximate == "tanh",
               "GELU: approximate must be \"none\" or \"tanh\", got \"{}\"", approximate);
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
std::string GELU::extra_repr() const { return fmt::format("approximate='{}'", approximate); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Softmax::Softmax(int64_t d) : Module("Softmax"), dim(d) {}
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
std::string Softmax::extra_repr() const { return fmt::format("dim={}", dim); }

LogSoftmax::LogSoftmax(int64_t d) : Module("LogSoftmax"), dim(d) {}
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return fmt::format("dim={}", dim); }

}  // namespace tandem::nn
