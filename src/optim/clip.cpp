#include "tandem/optim/clip.h"

#include <cmath>
#include <omp.h>

#include "fused.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::nn::utils {

namespace {

// sum |g|^p (p finite) or max |g| (p infinite) over one contiguous float buffer, in double.
template <typename T>
double partial_norm(const T* g, int64_t n, double p) {
  const bool is_inf = std::isinf(p), is_two = p == 2.0, is_one = p == 1.0;
  double total = 0.0;
  int nt = (n >= optim::detail::kGrain && !omp_in_parallel()) ? omp_get_max_threads() : 1;
  if (is_inf) {
    double m = 0.0;
#pragma omp parallel for num_threads(nt) reduction(max : m) if (nt > 1)
    for (int64_t i = 0; i < n; ++i) {
      double a = std::fabs(static_cast<double>(g[i]));
      if (a > m) m = a;
    }
    // omp max ignores NaN: look for it separately (norms must propagate NaN like PyTorch).
    bool nan = false;
#pragma omp parallel for num_threads(nt) reduction(|| : nan) if (nt > 1)
    for (int64_t i = 0; i < n; ++i) nan = nan || std::isnan(g[i]);
    return nan ? std::numeric_limits<double>::quiet_NaN() : m;
  }
#pragma omp parallel for num_threads(nt) reduction(+ : total) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    double a = std::fabs(static_cast<double>(g[i]));
    total += is_two ? a * a : is_one ? a : std::pow(a, p);
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
