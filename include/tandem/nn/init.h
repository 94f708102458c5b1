// Parameter initializers, as torch.nn.init: each fills a tensor in place (under NoGradGuard,
// keeping its TensorImpl, so parameters stay registered) and returns the same handle. Views
// work too: init::zeros_(w.select(0, 2)) clears one row of w.
//
//   Tensor w = empty({256, 784});
//   nn::init::kaiming_uniform_(w, /*a=*/std::sqrt(5.0));          // PyTorch's Linear default
//   nn::init::xavier_normal_(w, nn::init::calculate_gain("tanh"));
//   Generator g(1); nn::init::normal_(w, 0.0, 0.02, &g);          // reproducible from a seed
//
// `gen` = nullptr draws from the default generator (tandem::manual_seed).
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "tandem/generator.h"
#include "tandem/tensor.h"

namespace tandem::nn::init {

// Recommended gain for a nonlinearity: "linear", "conv1d", "conv2d", "conv_transpose2d",
// "sigmoid" -> 1; "tanh" -> 5/3; "relu" -> √2; "leaky_relu" -> √(2/(1+a²)) with a = param
// (default 0.01); "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

// (fan_in, fan_out) = (size(1) * receptive field, size(0) * receptive field); needs dim >= 2.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor uniform_(const Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor constant_(const Tensor& t, double value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);
// 2-D identity (extra rows/columns zero).
Tensor eye_(const Tensor& t);

// U(±gain·√(6/(fan_in+fan_out))) and N(0, gain·√(2/(fan_in+fan_out))).
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

// std = gain(nonlinearity, a) / √fan (fan: "fan_in" or "fan_out"); uniform bound = √3·std.
Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);

// A (semi-)orthogonal matrix from the QR decomposition of a normal matrix, scaled by
// `gain`; the tensor is viewed as [size(0), numel/size(0)] (dim >= 2). Rows are orthonormal
// when rows <= columns, columns otherwise.
Tensor orthogonal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace tandem::nn::init
