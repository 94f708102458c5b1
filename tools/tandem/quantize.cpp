// tandem quantize: post-training quantization of an ONNX model into an int8 ONNX file. Static
// (QDQ: int8 per-channel weights, uint8/int8 activations calibrated on samples from an .npy
// or .csv file or a data set as `tandem train` names it) or dynamic (--dynamic: int8 MatMul/Gemm
// weights, activations quantized at run time; no data).
//
//   tandem quantize model.onnx --data calib.npy --samples 500 --out model.int8.onnx
//   tandem quantize model.onnx --data fashion-mnist --method entropy --out q.onnx
//   tandem quantize model.onnx --data features.csv --csv-target label --out q.onnx
//   tandem quantize model.onnx --data calib.npy --method percentile --keep-float Gemm --out q.onnx
//   tandem quantize model.onnx --data calib.npy --sensitivity              # per-layer error table
//   tandem quantize model.onnx --data calib.npy --keep-float-worst 2 --out q.onnx
//   tandem quantize --dynamic model.onnx --out q.onnx
#include <algorithm>
#include <iostream>
#include <memory>

#include <tandem/data/csv.h>
#include <tandem/io/npy.h>
#include <tandem/onnx.h>
#include <tandem/ops.h>
#include <tandem/onnx/quantize.h>
#include <tandem/train/fit.h>

#include "commands.h"

namespace tandem::cli {
namespace {

bool quantize_has_suffix(const std::string& path, const std::string& suffix) {
  return path.size() > suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
}

// A CSV file's feature columns (all but `target`), one sample per row, reshaped to the
// model input's non-batch dims when they are all known.
Tensor quantize_csv(const std::string& path, const std::string& target, const onnx::ValueInfo& input) {
  data::CsvOptions o;
  o.target = target;
  data::CsvTable t = data::read_csv(path, o);
  Tensor x = t.features;
  Shape shape = {x.size(0)};
  int64_t per_row = 1;
  bool known = input.has_shape && input.shape.size() >= 2;
  for (size_t d = 1; known && d < input.shape.size(); ++d) {
    known = input.shape[d].is_static();
    if (known) shape.push_back(input.shape[d].value), per_row *= input.shape[d].value;
  }
  if (!known) return x;
  TANDEM_CHECK(per_row == x.size(1),
               "quantize: '{}' has {} feature columns, but model input '{}' takes {} values per sample (shape {}); "
               "name the label column with --csv-target",
               path, x.size(1), input.name, per_row, shape_str(Shape(shape.begin() + 1, shape.end())));
  return x.reshape(shape);
}

// The first `n` samples of `data` (an .npy array, a CSV file, or a data set as `tandem train
// --data` reads it, with its preprocessing) in batches of `batch`, fed to `input`.
std::vector<std::map<std::string, Tensor>> quantize_calibration(const std::string& data, const std::string& table,
                                                                const std::string& csv_target, const onnx::ValueInfo& input,
                                                                int64_t n, int64_t batch) {
  const std::string& name = input.name;
  std::vector<std::map<std::string, Tensor>> batches;
  const bool csv = quantize_has_suffix(data, ".csv");
  if (quantize_has_suffix(data, ".npy") || csv) {
    Tensor x = csv ? quantize_csv(data, csv_target, input) : io::load_npy(data);
    TANDEM_CHECK(x.dim() >= 1 && x.size(0) > 0, "quantize: '{}' holds no samples", data);
    n = std::min<int64_t>(n, x.size(0));
    for (int64_t s = 0; s < n; s += batch) batches.push_back({{name, x.slice(0, s, std::min(n, s + batch)).contiguous()}});
    return batches;
  }
  // The training split, as the model saw it in training (normalized like `tandem train`).
  auto ds = train::load_dataset(data, /*train=*/true, n, table);
  n = std::min<int64_t>(n, ds->size());
  TANDEM_CHECK(n > 0, "quantize: the data set '{}' holds no samples", data);
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t e = std::min(n, s + batch);
    std::vector<int64_t> idx;
    for (int64_t i = s; i < e; ++i) idx.push_back(i);
    Tensor x;
    if (auto b = ds->get_batch(idx.data(), e - s)) {
      x = b->data;
    } else {
      std::vector<Tensor> xs;
      for (int64_t i : idx) xs.push_back(ds->get(i).data);
      x = stack(xs);
    }
    batches.push_back({{name, x.contiguous()}});
  }
  return batches;
}

}  // namespace

Run add_quantize(CLI::App& app) {
  struct Args {
    std::string model, data, table, csv_target, out, method = "minmax", activations = "uint8", input;
    int64_t samples = 500, batch = 50;
    double percentile = 99.99;
    std::vector<std::string> keep_float;
    bool sensitivity = false, dynamic = false, per_tensor = false;
    int keep_float_worst = 0;
    double auto_keep_float = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Quantize an ONNX model to int8 (static QDQ with calibration samples, or --dynamic)");
  cmd->add_option("model", a->model, "The float .onnx model")->required();
  cmd->add_option("--data", a->data,
                  "Calibration inputs: an .npy array [N, ...] for the model's input, a .csv file (a sample per row), "
                  "or a data set as `tandem train --data` reads it (fashion-mnist, a directory of IDX files, a "
                  "database URL; its training split, normalized as for training)");
  cmd->add_option("--table", a->table, "With a database URL: the table to read (default: train)");
  cmd->add_option("--csv-target", a->csv_target, "With a .csv file: the label column, left out of the inputs");
  cmd->add_option("--out", a->out, "The quantized .onnx file to write (required unless --sensitivity)");
  cmd->add_option("--input", a->input, "The model input the data feeds (default: the first)");
  cmd->add_option("--samples", a->samples, "Calibration samples: the first N of --data")->check(positive());
  cmd->add_option("--batch", a->batch, "Samples per calibration run")->check(positive());
  cmd->add_option("--method", a->method, "Calibration: minmax, percentile or entropy (KL divergence)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy"}));
  cmd->add_option("--percentile", a->percentile, "Percentile for --method percentile")->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--activations", a->activations, "Activation type: uint8 or int8")->check(CLI::IsMember({"uint8", "int8"}));
  cmd->add_option("--keep-float", a->keep_float, "Node names or op types to leave in float (comma-separated)")->delimiter(',');
  cmd->add_flag("--sensitivity", a->sensitivity,
                "Print each node's error when it alone is quantized (relative L2, cosine, max abs of the outputs), worst first");
  cmd->add_option("--keep-float-worst", a->keep_float_worst, "Leave the K nodes the sensitivity report ranks worst in float")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--auto-keep-float", a->auto_keep_float,
                  "Leave in float every node whose relative L2 error alone exceeds this (e.g. 0.05)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dynamic", a->dynamic,
                "Dynamic quantization: int8 MatMul/Gemm weights, activations quantized at run time (no --data)");
  cmd->add_flag("--per-tensor", a->per_tensor, "With --dynamic: one weight scale per MatMul/Gemm (default: per column)");
  return [a] {
    if (a->dynamic) {
      TANDEM_CHECK(!a->out.empty(), "quantize --dynamic: give --out (the file to write)");
      TANDEM_CHECK(a->data.empty() && !a->sensitivity && a->keep_float_worst == 0 && a->auto_keep_float == 0,
                   "quantize --dynamic takes no calibration data (--data, --sensitivity, --keep-float-worst, "
                   "--auto-keep-float are for static quantization)");
      auto report = onnx::quantize_dynamic(a->model, a->out, {.per_channel = !a->per_tensor, .keep_float = a->keep_float});
      std::cout << report.str() << "wrote " << a->out << "\n";
      return 0;
    }
    TANDEM_CHECK(!a->data.empty(), "quantize: give --data (calibration samples) or --dynamic");
    TANDEM_CHECK(!a->out.empty() || a->sensitivity, "quantize: give --out (the file to write) or --sensitivity (the report alone)");
    auto model = onnx::Model::load(a->model);
    const auto& inputs = model.info().inputs;
    TANDEM_CHECK(!inputs.empty(), "quantize: '{}' has no inputs", a->model);
    std::string name = a->input.empty() ? inputs[0].name : a->input;
    auto in = std::find_if(inputs.begin(), inputs.end(), [&](const onnx::ValueInfo& v) { return v.name == name; });
    TANDEM_CHECK(in != inputs.end(), "quantize: the model has no input '{}'", name);
    auto batches = quantize_calibration(a->data, a->table, a->csv_target, *in, a->samples, a->batch);
    onnx::QuantizeOptions o;
    o.method = a->method == "percentile" ? onnx::Calibration::Percentile
               : a->method == "entropy"  ? onnx::Calibration::Entropy
                                         : onnx::Calibration::MinMax;
    o.percentile = a->percentile;
    o.int8_activations = a->activations == "int8";
    o.keep_float = a->keep_float;
    o.keep_float_worst = a->keep_float_worst;
    o.keep_float_above = a->auto_keep_float;
    const bool report_in_quantize = o.keep_float_worst > 0 || o.keep_float_above > 0;
    if (a->sensitivity && !(report_in_quantize && !a->out.empty()))
      std::cout << "sensitivity (each node alone quantized, worst first):\n"
                << onnx::sensitivity_table(onnx::quantization_sensitivity(a->model, batches, o));
    if (a->out.empty()) return 0;
    auto report = onnx::quantize_model(a->model, a->out, batches, o);
    std::cout << report.str() << "wrote " << a->out << "\n";
    return 0;
  };
}

}  // namespace tandem::cli
