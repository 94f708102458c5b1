// Calibration of one tensor's range for quantize_model (include/tandem/onnx/quantize.h):
// min-max, averaged per-batch percentiles, or entropy (KL) over a histogram of |x|.
#pragma once
#include <limits>
#include <utility>
#include <vector>

#include "tandem/onnx/quantize.h"

namespace tandem::onnx::detail {

// Observes one tensor over the calibration batches. Every method takes the batches once
// through observe(); Entropy then needs a second pass through observe_histogram() (the
// histogram's bins span [0, max |x|] of the whole first pass).
class QuantCalibrator {
 public:
  explicit QuantCalibrator(const QuantizeOptions& options) : o_(options) {}
  bool needs_histogram() const { return o_.method == Calibration::Entropy; }
  void observe(const Tensor& t);
  void observe_histogram(const Tensor& t);
  // [lo, hi]; [0, 0] when nothing was observed.
  std::pair<float, float> range() const;

 private:
  QuantizeOptions o_;
  float lo_ = std::numeric_limits<float>::infinity(), hi_ = -std::numeric_limits<float>::infinity();
  double sum_lo_ = 0, sum_hi_ = 0;  // Percentile: per-batch quantiles summed
  int batches_ = 0;
  std::vector<double> hist_;        // Entropy: counts of |x|
};

}  // namespace tandem::onnx::detail
