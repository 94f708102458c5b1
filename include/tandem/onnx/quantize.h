// Static post-training quantization of an ONNX model into QDQ form (the form ONNX Runtime's
// quantizer writes and runs): symmetric per-channel int8 weights, uint8 (or int8)
// activations whose ranges come from running the float model on calibration batches.
//
//   std::vector<std::map<std::string, Tensor>> calib = ...;   // e.g. 500 images in batches
//   auto report = tandem::onnx::quantize_model("model.onnx", "model.int8.onnx", calib,
//                                              {.method = tandem::onnx::Calibration::Percentile});
//   std::cout << report.str();
//
// What is quantized: Conv, and Gemm / MatMul whose weight is an initializer (the weight
// becomes an int8 initializer read through DequantizeLinear, per output channel); the float
// input of each such node and its output (after a Relu that alone reads it) get a
// QuantizeLinear -> DequantizeLinear pair. Everything else stays float, as do the nodes
// whose name or op type is listed in keep_float. tandem's graph pass fuse_qdq runs each
// quantized Conv / Gemm (transB = 1) as one int8 layer.
// Needs opset 13 or newer (per-axis DequantizeLinear). The file is checked with ONNX's checker
// and written atomically.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::onnx {

enum class Calibration {
  MinMax,      // the smallest and largest value seen over all batches
  Percentile,  // per batch the `percentile` / 100 - `percentile` quantiles, averaged over batches
  Entropy,     // the clipping threshold T that minimizes KL(P || Q) (entropy_threshold): [-T, T]
               // intersected with [min, max]; two passes over the batches (range, then histogram)
};

struct QuantizeOptions {
  Calibration method = Calibration::MinMax;
  double percentile = 99.99;
  int entropy_bins = 2048;                // histogram bins over [0, max |x|] for Entropy
  bool int8_activations = false;          // uint8 (default) or int8 activations
  std::vector<std::string> keep_float;    // node names or op types left in float
  // Left in float by the sensitivity report (quantization_sensitivity): the `keep_float_worst`
  // nodes it ranks worst, and every node whose relative L2 error exceeds `keep_float_above`
  // (0: none). Either one makes quantize_model run the report first.
  int keep_float_worst = 0;
  double keep_float_above = 0;
};

// The error one node brings when it alone is quantized (everything else float): the model's
// outputs over the calibration batches against the float model's, all outputs together.
struct LayerSensitivity {
  std::string name, op;
  double rel_l2 = 0;   // ||q - f|| / ||f||
  double cosine = 1;   // <q, f> / (||q|| ||f||)
  double max_abs = 0;  // max |q - f|
  bool kept_float = false;  // quantize_model left it in float because of this row
};

struct QuantizeReport {
  struct Node {
    std::string name, op;
    bool quantized = false;  // false: kept float (keep_float or the sensitivity report)
  };
  std::vector<Node> nodes;                                       // Conv/Gemm/MatMul nodes seen
  std::map<std::string, std::pair<float, float>> ranges;         // calibrated tensor -> [lo, hi]
  int64_t float_weight_bytes = 0, int8_weight_bytes = 0;         // the quantized weights
  int calibration_batches = 0;
  std::vector<LayerSensitivity> sensitivity;  // worst first, when keep_float_worst / keep_float_above asked for it
  std::string str() const;
};

// The sensitivity report: for each node quantize_model would quantize (keep_float honoured),
// that node alone quantized with the calibrated ranges, run on the calibration batches, and
// compared with the float model. Sorted worst first (largest rel_l2).
std::vector<LayerSensitivity> quantization_sensitivity(const std::string& in_path,
                                                       const std::vector<std::map<std::string, Tensor>>& calibration,
                                                       const QuantizeOptions& options = {});
// The report as a table, one row per node, worst first.
std::string sensitivity_table(const std::vector<LayerSensitivity>& rows);

// Entropy (KL-divergence) calibration, the method of TensorRT's entropy calibrator and ONNX
// Runtime's CalibrationMethod.Entropy, written from their description:
//   `histogram` counts |x| in B equal bins over [0, max_abs]; `levels` is the number of
//   quantization levels over [0, T] (256 for data that is never negative with 8-bit
//   activations, 128 for signed data). Bin 0's count is replaced by bin 1's: exact zeros (a
//   ReLU's output is half zeros) would otherwise outweigh the rest of P.
//   For every candidate i = levels .. B (T = i * max_abs / B):
//     P = histogram[0, i) with the counts of bins >= i added to bin i - 1 (clipped outliers);
//     Q = histogram[0, i) (without the clipped outliers) merged into `levels` groups of
//         i / levels consecutive bins (integer division; the last group also takes the
//         remainder), each group's total spread evenly over the group's bins where P is
//         non-zero (zero elsewhere);
//     KL(P || Q) = sum over P > 0 of p ln(p / q), with P and Q normalized to sum 1; a
//         candidate where some q is 0 under a p > 0 (KL infinite) is skipped.
//   The smallest KL wins (the smallest i on ties); returns its T: max_abs when no candidate
//   has a finite KL or the histogram is empty, 0 when max_abs is 0.
// tests/reference/gen_quant_calib.py implements the same algorithm in NumPy.
double entropy_threshold(const std::vector<double>& histogram, double max_abs, int levels);

// The range [lo, hi] `options.method` calibrates for one tensor observed as these batches
// (what quantize_model does for each activation it measures).
std::pair<float, float> calibrate_range(const std::vector<Tensor>& batches, const QuantizeOptions& options = {});

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const std::vector<std::map<std::string, Tensor>>& calibration,
                              const QuantizeOptions& options = {});

// Dynamic quantization (ONNX Runtime's quantize_dynamic): no calibration data. Each MatMul
// whose second input is a 2-D float initializer, and each Gemm with such a weight (transA 0,
// alpha 1, beta 1), becomes
//   x -> DynamicQuantizeLinear -> (x_q uint8, x_scale, x_zero_point)
//   MatMulInteger(x_q, w_q int8 [K, N], x_zero_point, 0) -> Cast float -> Mul(x_scale * w_scale) (-> Add bias)
// with symmetric int8 weights, per output column (per_channel) or one scale for the whole
// weight. Activations are quantized at run time, per tensor, from their own min and max.
// Several nodes reading the same activation share its DynamicQuantizeLinear.
struct DynamicQuantizeOptions {
  bool per_channel = true;
  std::vector<std::string> keep_float;  // node names or op types left in float
};

// Writes the dynamically quantized model (checked, atomically); the report lists the
// MatMul/Gemm nodes and the weight bytes (no activation ranges).
QuantizeReport quantize_dynamic(const std::string& in_path, const std::string& out_path,
                                const DynamicQuantizeOptions& options = {});

}  // namespace tandem::onnx
