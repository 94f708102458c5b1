#include "tandem/optim/clip.h"

#include <cmath>
#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "step_ops.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::nn::utils {

namespace {

enum class NormKind { Max, One, Two, P };

// sum f(|g_i|) (or max |g_i|) over [b, e), with 8 independent accumulators so that it
// vectorizes without -ffast-math; NaN propagates through the max.
template <NormKind K, typename T>
double chunk_norm(const T* g, int64_t b, int64_t e, double p) {
  auto f = [p](double a) {
    if constexpr (K == NormKind::Two) return a * a;
    else if constexpr (K == NormKind::P) return std::pow(a, p);
    else return a;
  };
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, nans[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    for (int k = 0; k < 8; ++k) {
      double a = f(std::fabs(static_cast<double>(g[i + k])));
      if constexpr (K == NormKind::Max) {
        acc[k] = a > acc[k] ? a : acc[k];
        nans[k] += a != a ? 1.0 : 0.0;  // counted apart: a branch-free max vectorizes
      } else {
        acc[k] += a;
      }
    }
  }
  for (; i < e; ++i) {
    double a = f(std::fabs(static_cast<double>(g[i])));
    if constexpr (K == NormKind::Max) {
      acc[0] = a > acc[0] ? a : acc[0];
      nans[0] += a != a ? 1.0 : 0.0;
    } else {
      acc[0] += a;
    }
  }
  if constexpr (K == NormKind::Max) {
    double m = acc[0], nan_count = nans[0];
    for (int k = 1; k < 8; ++k) {
      m = acc[k] > m ? acc[k] : m;
      nan_count += nans[k];
    }
    return nan_count > 0 ? std::numeric_limits<double>::quiet_NaN() : m;
  } else {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
}

// sum |g|^p (p finite) or max |g| (p infinite) over one contiguous float buffer, in double.
// NOTE: fixed-size chunks combined in order, so the result does not depend on the thread count.
template <typename T>
double partial_norm(const T* g, int64_t n, double p) {
  const NormKind kind = std::isinf(p) ? NormKind::Max
                        : p == 1.0    ? NormKind::One
                        : p == 2.0    ? NormKind::Two
                                      : NormKind::P;
  constexpr int64_t kChunk = 1 << 16;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nchunks));
  auto run = [&](auto k) {
    constexpr NormKind K = decltype(k)::value;
#pragma omp parallel for schedule(static) if (nchunks > 1 && !omp_in_parallel())
    for (int64_t c = 0; c < nchunks; ++c)
      part[c] = chunk_norm<K>(g, c * kChunk, std::min(n, (c + 1) * kChunk), p);
  };
  switch (kind) {
    case NormKind::Max: run(std::integral_constant<NormKind, NormKind::Max>{}); break;
    case NormKind::One: run(std::integral_constant<NormKind, NormKind::One>{}); break;
    case NormKind::Two: run(std::integral_constant<NormKind, NormKind::Two>{}); break;
    case NormKind::P: run(std::integral_constant<NormKind, NormKind::P>{}); break;
  }
  double total = 0.0;
  for (double v : part) {
    if (kind == NormKind::Max) total = (v > total || v != v) ? v : total;
    else total += v;
  }
  return total;
}

template <typename T>
void scale(T* d, int64_t n, double coef) {
  const T c = static_cast<T>(coef);
  optim::detail::parallel_range(n, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) d[i] = d[i] * c;
  });
}

template <typename T>
void clamp(T* d, int64_t n, double lo, double hi) {
  const T l = static_cast<T>(lo), h = static_cast<T>(hi);
  optim::detail::parallel_range(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T x = d[i];  // min(max(x, lo), hi) as torch.clamp; NaN stays NaN
      x = x < l ? l : x;
      d[i] = x > h ? h : x;
    }
  });
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  TANDEM_CHECK(norm_type > 0 && !std::isnan(norm_type),
               "clip_grad_norm_: norm_type must be > 0 or infinity, got {}", norm_type);
  NoGradGuard guard;
  std::vector<Tensor> grads;
  for (const auto& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  const bool is_inf = std::isinf(norm_type);
  double acc = 0.0;
  for (const auto& g : grads) {
    double part;
    if ((g.dtype() == DType::Float32 || g.dtype() == DType::Float64) && g.is_contiguous()) {
      part = TANDEM_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_", [&] {
        return partial_norm<scalar_t>(g.data<scalar_t>(), g.numel(), norm_type);
      });
    } else {
      Tensor a = abs(g.to(DType::Float64));
      part = is_inf ? (g.numel() ? max(a).item() : 0.0) : sum(pow(a, norm_type)).item();
    }
    if (is_inf) {
      acc = (std::isnan(part) || part > acc) ? part : acc;
      if (std::isnan(acc)) break;
    } else {
      acc += part;
    }
  }
  const double total = is_inf ? acc : norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type);
  TANDEM_CHECK(!error_if_nonfinite || std::isfinite(total),
               "clip_grad_norm_: the total norm of order {} of the gradients is non-finite ({}), so they "
               "cannot be clipped; set error_if_nonfinite = false to clip anyway (the grads "
               "become NaN), or find where the loss overflowed",
               norm_type, total);
  const double coef = max_norm / (total + 1e-6);
  if (!(coef < 1.0) && !std::isnan(coef)) return total;  // clamp(coef, max=1): no change
  for (auto& g : grads) {
    if ((g.dtype() == DType::Float32 || g.dtype() == DType::Float64) && g.is_contiguous()) {
      TANDEM_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_",
                            [&] { scale(g.data<scalar_t>(), g.numel(), coef); });
      g.storage()->bump_version();
    } else {
      g.mul_(coef);
    }
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  TANDEM_CHECK(!std::isnan(clip_value), "clip_grad_value_: clip_value is NaN");
  NoGradGuard guard;
  const double lo = -clip_value, hi = clip_value;
  for (const auto& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if ((g.dtype() == DType::Float32 || g.dtype() == DType::Float64) && g.is_contiguous()) {
      TANDEM_DISPATCH_FLOAT(g.dtype(), "clip_grad_value_",
                            [&] { clamp(g.data<scalar_t>(), g.numel(), lo, hi); });
      g.storage()->bump_version();
    } else {
      g.clamp_(lo, hi);
    }
  }
}

}  // namespace tandem::nn::utils
