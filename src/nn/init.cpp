#include "tandem/nn/init.h"

#include <cmath>
#include <vector>

#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::nn::init {

namespace {

void check_float(const Tensor& t, const char* fn) {
  TANDEM_CHECK(t.defined(), "init::{}: the tensor is undefined", fn);
  TANDEM_CHECK(t.is_floating_point(), "init::{}: expected a floating-point tensor, got dtype {}", fn,
               t.dtype());
}

// The dtype random values are drawn in: float64 for float64 tensors, else float32 (copy_
// rounds to 16-bit types).
TensorOptions draw_opts(const Tensor& t) {
  return {.dtype = t.dtype() == DType::Float64 ? DType::Float64 : DType::Float32};
}

// Writes `src` into `t`'s storage without recording history; returns the handle.
Tensor assign(const Tensor& t, const Tensor& src) {
  NoGradGuard ng;
  Tensor h = t;
  h.copy_(src);
  return h;
}

}  // namespace

double calculate_gain(const std::string& nonlinearity, std::optional<double> param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "conv_transpose1d" ||
      nonlinearity == "conv_transpose2d" || nonlinearity == "conv_transpose3d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    double a = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + a * a));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  TANDEM_FAIL(
      "init::calculate_gain: unsupported nonlinearity \"{}\" (use linear, conv1d, conv2d, "
      "conv_transpose2d, sigmoid, tanh, relu, leaky_relu or selu)",
      nonlinearity);
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TANDEM_CHECK(t.dim() >= 2,
               "init: fan in and fan out can not be computed for a tensor with fewer than 2 "
               "dimensions (shape {})",
               shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(const Tensor& t, double a, double b, Generator* gen) {
  check_float(t, "uniform_");
  TANDEM_CHECK(a <= b, "init::uniform_: the lower bound {} is above the upper bound {}", a, b);
  NoGradGuard ng;
  Tensor r = rand(t.shape(), draw_opts(t), gen);
  return assign(t, r * (b - a) + a);
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_float(t, "normal_");
  TANDEM_CHECK(std >= 0.0, "init::normal_: std must be non-negative, got {}", std);
  NoGradGuard ng;
  Tensor r = randn(t.shape(), draw_opts(t), gen);
  return assign(t, r * std + mean);
}

Tensor constant_(const Tensor& t, double value) {
  TANDEM_CHECK(t.defined(), "init::constant_: the tensor is undefined");
  NoGradGuard ng;
  Tensor h = t;
  h.fill_(value);
  return h;
}

Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor eye_(const Tensor& t) {
  TANDEM_CHECK(t.defined() && t.dim() == 2, "init::eye_: expected a 2-D tensor");
  NoGradGuard ng;
  return assign(t, eye(t.size(0), t.size(1), {.dtype = t.dtype()}));
}

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_float(t, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_float(t, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(t, 0.0, std, gen);
}

namespace {
double kaiming_std(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                   const char* fn) {
  TANDEM_CHECK(mode == "fan_in" || mode == "fan_out",
               "init::{}: mode must be \"fan_in\" or \"fan_out\", got \"{}\"", fn, mode);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  int64_t fan = mode == "fan_in" ? fan_in : fan_out;
  TANDEM_CHECK(fan > 0, "init::{}: the tensor has a zero {} (shape {})", fn, mode,
               shape_str(t.shape()));
  double gain = calculate_gain(nonlinearity, a);
  return gain / std::sqrt(static_cast<double>(fan));
}
}  // namespace

Tensor kaiming_uniform_(const Tensor& t, double a, const std::string& mode,
                         const std::string& nonlinearity, Generator* gen) {
  check_float(t, "kaiming_uniform_");
  if (t.numel() == 0) return t;
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity, "kaiming_uniform_");
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, const std::string& mode,
                        const std::string& nonlinearity, Generator* gen) {
  check_float(t, "kaiming_normal_");
  if (t.numel() == 0) return t;
  return normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity, "kaiming_normal_"), gen);
}

Tensor orthogonal_(const Tensor& t, double gain, Generator* gen) {
  check_float(t, "orthogonal_");
  TANDEM_CHECK(t.dim() >= 2, "init::orthogonal_: only tensors with 2 or more dimensions are "
               "supported (shape {})", shape_str(t.shape()));
  if (t.numel() == 0) return t;
  const int64_t rows = t.size(0), cols = t.numel() / rows;
  // As PyTorch: QR of a normal [max, min] matrix (transposed when rows < cols), Q made
  // unique by the signs of R's diagonal.
  const bool transposed = rows < cols;
  const int64_t m = transposed ? cols : rows, n = transposed ? rows : cols;  // m >= n
  std::vector<double> a = randn({m, n}, {.dtype = DType::Float64}, gen).to_vector<double>();
  // Householder QR in place (row-major a[i*n+j]); then form the thin Q [m, n].
  std::vector<std::vector<double>> vs;
  std::vector<double> rdiag(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    double norm = 0;
    for (int64_t i = k; i < m; ++i) norm += a[i * n + k] * a[i * n + k];
    norm = std::sqrt(norm);
    double alpha = a[k * n + k] > 0 ? -norm : norm;
    std::vector<double> v(static_cast<size_t>(m), 0.0);
    for (int64_t i = k; i < m; ++i) v[i] = a[i * n + k];
    v[k] -= alpha;
    double vnorm = 0;
    for (int64_t i = k; i < m; ++i) vnorm += v[i] * v[i];
    if (vnorm > 0) {
      for (int64_t j = k; j < n; ++j) {
        double dot = 0;
        for (int64_t i = k; i < m; ++i) dot += v[i] * a[i * n + j];
        double f = 2.0 * dot / vnorm;
        for (int64_t i = k; i < m; ++i) a[i * n + j] -= f * v[i];
      }
    }
    rdiag[k] = a[k * n + k];
    vs.push_back(std::move(v));
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  std::vector<double> q(static_cast<size_t>(m * n), 0.0);
  for (int64_t j = 0; j < n; ++j) q[j * n + j] = 1.0;
  for (int64_t k = n - 1; k >= 0; --k) {
    const std::vector<double>& v = vs[k];
    double vnorm = 0;
    for (int64_t i = k; i < m; ++i) vnorm += v[i] * v[i];
    if (vnorm == 0) continue;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t i = k; i < m; ++i) dot += v[i] * q[i * n + j];
      double f = 2.0 * dot / vnorm;
      for (int64_t i = k; i < m; ++i) q[i * n + j] -= f * v[i];
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    double s = rdiag[j] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < m; ++i) q[i * n + j] *= s * gain;
  }
  Tensor qt = tensor(q, Shape{m, n});
  if (transposed) qt = qt.t();
  return assign(t, qt.contiguous().reshape(t.shape()));
}

}  // namespace tandem::nn::init
