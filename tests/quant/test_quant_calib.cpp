// Calibration methods of onnx::quantize_model: entropy (KL) thresholds against the NumPy
// implementation of the same algorithm (tests/reference/gen_quant_calib.py), on distributions
// whose answer is known: a Gaussian's far outliers are clipped by entropy, not by min-max;
// uniform data is not clipped.
#include <gtest/gtest.h>

#include "tandem/onnx/quantize.h"
#include "test_util.h"

using namespace tandem;
using tandem::testing::load_npy;

namespace {

struct CalibCase {
  std::vector<Tensor> batches;  // the four rows of <case>.npy
  std::vector<double> hist;
  double max_abs, levels, threshold, bin_width;
};

CalibCase calib_case(const std::string& name) {
  CalibCase c;
  Tensor x = load_npy("quant_calib/" + name + ".npy");
  for (int64_t b = 0; b < x.size(0); ++b) c.batches.push_back(x.select(0, b).contiguous());
  c.hist = load_npy("quant_calib/" + name + "_hist.npy").to_vector<double>();
  auto ref = load_npy("quant_calib/" + name + "_ref.npy").to_vector<double>();
  c.max_abs = ref[0], c.levels = ref[1], c.threshold = ref[2], c.bin_width = ref[3];
  return c;
}

TEST(EntropyCalibration, ThresholdOfTheReferenceHistogramMatchesNumPy) {
  for (const char* name : {"gauss_outliers", "relu_outliers", "uniform"}) {
    CalibCase c = calib_case(name);
    double t = onnx::entropy_threshold(c.hist, c.max_abs, static_cast<int>(c.levels));
    EXPECT_NEAR(t, c.threshold, c.bin_width) << name;
  }
}

TEST(EntropyCalibration, RangeFromBatchesMatchesNumPyAndClipsOutliersMinMaxKeeps) {
  const onnx::QuantizeOptions entropy{.method = onnx::Calibration::Entropy};
  for (const char* name : {"gauss_outliers", "relu_outliers"}) {
    CalibCase c = calib_case(name);
    auto [lo, hi] = onnx::calibrate_range(c.batches, entropy);
    EXPECT_NEAR(hi, c.threshold, c.bin_width) << name;
    // The outliers (30 and more) are clipped: the threshold is a few standard deviations.
    EXPECT_GT(hi, 2.5) << name;
    EXPECT_LT(hi, 6.0) << name;
    auto [mlo, mhi] = onnx::calibrate_range(c.batches, {});
    EXPECT_FLOAT_EQ(std::max(-mlo, mhi), static_cast<float>(c.max_abs)) << name;
    if (std::string(name) == "gauss_outliers") {
      EXPECT_NEAR(lo, -c.threshold, c.bin_width);
    } else {
      EXPECT_GE(lo, 0.0f);  // never negative data keeps its own minimum
      EXPECT_FLOAT_EQ(lo, mlo);
    }
  }
  // Nothing to clip in uniform data: the threshold stays within 1% of max |x|.
  CalibCase u = calib_case("uniform");
  auto [lo, hi] = onnx::calibrate_range(u.batches, entropy);
  EXPECT_NEAR(hi, u.threshold, u.bin_width);
  EXPECT_GT(hi, 0.99 * u.max_abs);
  EXPECT_LT(lo, -0.99 * u.max_abs);
}

TEST(EntropyCalibration, EdgeCasesAndBadArguments) {
  EXPECT_EQ(onnx::entropy_threshold(std::vector<double>(2048, 0.0), 0.0, 128), 0.0);  // all zeros
  EXPECT_EQ(onnx::entropy_threshold(std::vector<double>(2048, 0.0), 3.0, 128), 3.0);  // empty histogram
  auto [lo, hi] = onnx::calibrate_range({zeros({16})}, {.method = onnx::Calibration::Entropy});
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 0.0f);
  EXPECT_TRUE(tandem::testing::throws_error([] { onnx::entropy_threshold(std::vector<double>(64, 1.0), 1.0, 128); },
                                            {"64 histogram bins", "128 levels"}));
  EXPECT_TRUE(tandem::testing::throws_error(
      [] { onnx::calibrate_range({randn({16})}, {.method = onnx::Calibration::Entropy, .entropy_bins = 100}); },
      {"100 histogram bins"}));
}

}  // namespace
