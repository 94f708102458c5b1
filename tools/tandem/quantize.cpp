// tandem quantize: static post-training quantization of an ONNX model into a QDQ ONNX file
// (int8 per-channel weights, uint8/int8 activations calibrated on samples from an .npy file).
//
//   tandem quantize model.onnx --data calib.npy --samples 500 --out model.int8.onnx
//   tandem quantize model.onnx --data calib.npy --method percentile --keep-float Gemm --out q.onnx
#include <algorithm>
#include <iostream>
#include <memory>

#include <tandem/io/npy.h>
#include <tandem/onnx.h>
#include <tandem/onnx/quantize.h>

#include "commands.h"

namespace tandem::cli {

Run add_quantize(CLI::App& app) {
  struct Args {
    std::string model, data, out, method = "minmax", activations = "uint8", input;
    int64_t samples = 500, batch = 50;
    double percentile = 99.99;
    std::vector<std::string> keep_float;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Quantize an ONNX model to int8 (QDQ format) with calibration samples");
  cmd->add_option("model", a->model, "The float .onnx model")->required();
  cmd->add_option("--data", a->data, "Calibration inputs: an .npy array [N, ...] for the model's input")->required();
  cmd->add_option("--out", a->out, "The quantized .onnx file to write")->required();
  cmd->add_option("--input", a->input, "The model input the data feeds (default: the first)");
  cmd->add_option("--samples", a->samples, "Calibration samples: the first N of --data")->check(positive());
  cmd->add_option("--batch", a->batch, "Samples per calibration run")->check(positive());
  cmd->add_option("--method", a->method, "Calibration: minmax or percentile")->check(CLI::IsMember({"minmax", "percentile"}));
  cmd->add_option("--percentile", a->percentile, "Percentile for --method percentile")->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--activations", a->activations, "Activation type: uint8 or int8")->check(CLI::IsMember({"uint8", "int8"}));
  cmd->add_option("--keep-float", a->keep_float, "Node names or op types to leave in float (comma-separated)")->delimiter(',');
  return [a] {
    auto model = onnx::Model::load(a->model);
    const auto& inputs = model.info().inputs;
    TANDEM_CHECK(!inputs.empty(), "quantize: '{}' has no inputs", a->model);
    std::string name = a->input.empty() ? inputs[0].name : a->input;
    TANDEM_CHECK(std::any_of(inputs.begin(), inputs.end(), [&](const onnx::ValueInfo& v) { return v.name == name; }),
                 "quantize: the model has no input '{}'", name);
    Tensor data = io::load_npy(a->data);
    TANDEM_CHECK(data.dim() >= 1 && data.size(0) > 0, "quantize: '{}' holds no samples", a->data);
    int64_t n = std::min<int64_t>(a->samples, data.size(0));
    std::vector<std::map<std::string, Tensor>> batches;
    for (int64_t s = 0; s < n; s += a->batch)
      batches.push_back({{name, data.slice(0, s, std::min(n, s + a->batch)).contiguous()}});
    onnx::QuantizeOptions o;
    o.method = a->method == "percentile" ? onnx::Calibration::Percentile : onnx::Calibration::MinMax;
    o.percentile = a->percentile;
    o.int8_activations = a->activations == "int8";
    o.keep_float = a->keep_float;
    auto report = onnx::quantize_model(a->model, a->out, batches, o);
    std::cout << report.str() << "wrote " << a->out << "\n";
    return 0;
  };
}

}  // namespace tandem::cli
