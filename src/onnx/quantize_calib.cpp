// Calibration methods of quantize_model: min-max, percentile and entropy (KL divergence).
#include "quantize_calib.h"

#include <algorithm>
#include <cmath>

#include "tandem/error.h"

namespace tandem::onnx {

double entropy_threshold(const std::vector<double>& counts, double max_abs, int levels) {
  TANDEM_CHECK(levels >= 2, "entropy calibration: {} quantization levels (need at least 2)", levels);
  const int64_t bins = static_cast<int64_t>(counts.size());
  TANDEM_CHECK(bins >= levels, "entropy calibration: {} histogram bins for {} levels (need at least as many bins)", bins,
               levels);
  if (!(max_abs > 0)) return 0.0;
  // NOTE: bin 0 holds the exact zeros (half of a ReLU's output): left as counted, they
  // outweigh the rest of P and every candidate clips far into the tail.
  std::vector<double> histogram = counts;
  histogram[0] = histogram[1];
  const double width = max_abs / static_cast<double>(bins);
  // suffix[k] = counts of bins >= k: the outliers clipped into the last kept bin.
  std::vector<double> suffix(static_cast<size_t>(bins) + 1, 0.0);
  for (int64_t k = bins - 1; k >= 0; --k) suffix[k] = suffix[k + 1] + histogram[k];
  if (!(suffix[0] > 0)) return max_abs;
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = bins;
  std::vector<double> p, q;
  for (int64_t i = levels; i <= bins; ++i) {
    p.assign(histogram.begin(), histogram.begin() + i);
    p[i - 1] += suffix[i];
    const double p_total = suffix[0], q_total = suffix[0] - suffix[i];
    if (!(q_total > 0)) continue;
    const int64_t merged = i / levels;
    // Q per bin where P > 0: its group's in-range count spread over the group's non-zero bins.
    q.assign(static_cast<size_t>(i), 0.0);
    bool finite = true;
    for (int64_t g = 0; g < levels && finite; ++g) {
      const int64_t begin = g * merged, end = g == levels - 1 ? i : begin + merged;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t k = begin; k < end; ++k) {
        sum += histogram[k];
        nonzero += p[k] > 0;
      }
      for (int64_t k = begin; k < end; ++k)
        if (p[k] > 0) q[k] = sum / static_cast<double>(nonzero);
      for (int64_t k = begin; k < end; ++k) finite = finite && !(p[k] > 0 && q[k] == 0);
    }
    if (!finite) continue;
    double kl = 0;
    for (int64_t k = 0; k < i; ++k)
      if (p[k] > 0) {
        const double pn = p[k] / p_total, qn = q[k] / q_total;
        kl += pn * std::log(pn / qn);
      }
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return static_cast<double>(best_i) * width;
}

namespace detail {

void QuantCalibrator::observe(const Tensor& t) {
  std::vector<float> v = t.to(DType::Float32).contiguous().to_vector<float>();
  if (v.empty()) return;
  auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  lo_ = std::min(lo_, *mn);
  hi_ = std::max(hi_, *mx);
  if (o_.method != Calibration::Percentile) return;
  // NOTE: quantiles of each batch averaged over the batches, so that memory stays one
  // batch's activations whatever the number of calibration samples.
  const double q = std::clamp(o_.percentile, 50.0, 100.0) / 100.0;
  auto at = [&](double frac) {
    size_t k = static_cast<size_t>(std::llround(frac * static_cast<double>(v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  };
  sum_hi_ += at(q);
  sum_lo_ += at(1.0 - q);
  batches_++;
}

void QuantCalibrator::observe_histogram(const Tensor& t) {
  TANDEM_CHECK(o_.entropy_bins >= 256, "entropy calibration: {} histogram bins (need at least 256)", o_.entropy_bins);
  if (hist_.empty()) hist_.assign(static_cast<size_t>(o_.entropy_bins), 0.0);
  const double max_abs = std::max(std::abs(static_cast<double>(lo_)), std::abs(static_cast<double>(hi_)));
  if (!std::isfinite(max_abs) || !(max_abs > 0)) return;
  const int64_t bins = o_.entropy_bins;
  Tensor c = t.to(DType::Float32).contiguous();
  const float* x = c.data<float>();
  for (int64_t k = 0; k < c.numel(); ++k) {
    // The same binning as the NumPy reference: floor(|x| / max_abs * bins), the maximum in the last bin.
    int64_t b = static_cast<int64_t>(std::abs(static_cast<double>(x[k])) / max_abs * static_cast<double>(bins));
    hist_[static_cast<size_t>(std::clamp<int64_t>(b, 0, bins - 1))] += 1.0;
  }
}

std::pair<float, float> QuantCalibrator::range() const {
  if (!std::isfinite(lo_) || !std::isfinite(hi_)) return {0.0f, 0.0f};
  if (o_.method == Calibration::Percentile && batches_ > 0)
    return {static_cast<float>(sum_lo_ / batches_), static_cast<float>(sum_hi_ / batches_)};
  if (o_.method == Calibration::Entropy && !hist_.empty()) {
    const double max_abs = std::max(std::abs(static_cast<double>(lo_)), std::abs(static_cast<double>(hi_)));
    // 8-bit activations have 256 levels over [lo, hi]: all of them over [0, T] for data that is
    // never negative, about half for signed data quantized over [-T, T].
    const int levels = lo_ >= 0 ? 256 : 128;
    const double t = entropy_threshold(hist_, max_abs, levels);
    return {std::max(lo_, static_cast<float>(-t)), std::min(hi_, static_cast<float>(t))};
  }
  return {lo_, hi_};
}

}  // namespace detail

std::pair<float, float> calibrate_range(const std::vector<Tensor>& batches, const QuantizeOptions& options) {
  detail::QuantCalibrator c(options);
  for (const Tensor& b : batches) c.observe(b);
  if (c.needs_histogram())
    for (const Tensor& b : batches) c.observe_histogram(b);
  return c.range();
}

}  // namespace tandem::onnx
