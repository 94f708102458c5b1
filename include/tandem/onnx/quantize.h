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
#include <vector>

#include "tandem/tensor.h"

namespace tandem::onnx {

enum class Calibration {
  MinMax,      // the smallest and largest value seen over all batches
  Percentile,  // per batch the `percentile` / 100 - `percentile` quantiles, averaged over batches
};

struct QuantizeOptions {
  Calibration method = Calibration::MinMax;
  double percentile = 99.99;
  bool int8_activations = false;          // uint8 (default) or int8 activations
  std::vector<std::string> keep_float;    // node names or op types left in float
};

struct QuantizeReport {
  struct Node {
    std::string name, op;
    bool quantized = false;  // false: kept float (keep_float)
  };
  std::vector<Node> nodes;                                       // Conv/Gemm/MatMul nodes seen
  std::map<std::string, std::pair<float, float>> ranges;         // calibrated tensor -> [lo, hi]
  int64_t float_weight_bytes = 0, int8_weight_bytes = 0;         // the quantized weights
  int calibration_batches = 0;
  std::string str() const;
};

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const std::vector<std::map<std::string, Tensor>>& calibration,
                              const QuantizeOptions& options = {});

}  // namespace tandem::onnx
