// tandem run: runs an ONNX model on .npy/.npz inputs, prints a one-line summary of each
// output and writes it as DIR/<output name>.npy.
//
//   tandem run model.onnx x.npy                  # a model with one input
//   tandem run model.onnx inputs.npz             # arrays named like the model's inputs
//   tandem run model.onnx a.npy b.npy            # several inputs, in the model's order
//   tandem run model.onnx --input ids=ids.npy --input mask=mask.npy --output-dir out
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <tandem/autocast.h>
#include <tandem/io/npy.h>
#include <tandem/onnx.h>
#include <tandem/ops.h>

#include "commands.h"

namespace tandem::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string input_names(const onnx::ModelInfo& info) {
  std::string names;
  for (const auto& v : info.inputs) names += (names.empty() ? "" : ", ") + v.name;
  return names.empty() ? "(none)" : names;
}

// Binds the positional files to the model's inputs: an .npz by its array names, each .npy to
// the next input (in the model's order) that nothing named yet.
void bind_files(const std::vector<std::string>& files, const onnx::ModelInfo& info,
                std::map<std::string, Tensor>& inputs) {
  auto known = [&](const std::string& name) {
    return std::any_of(info.inputs.begin(), info.inputs.end(),
                       [&](const onnx::ValueInfo& v) { return v.name == name; });
  };
  std::vector<std::string> npy;
  for (const std::string& f : files) {
    if (ends_with(f, ".npz")) {
      for (auto& [name, t] : io::load_npz(f)) {
        TANDEM_CHECK(known(name),
                     "run: {} holds an array '{}' but the model has no input of that name; its "
                     "inputs: {}",
                     f, name, input_names(info));
        TANDEM_CHECK(!inputs.count(name), "run: input '{}' is given twice ({})", name, f);
        inputs[name] = t;
      }
    } else {
      TANDEM_CHECK(ends_with(f, ".npy"),
                   "run: '{}' is not an .npy or .npz file (give inputs as x.npy, inputs.npz or "
                   "--input NAME=file.npy)",
                   f);
      npy.push_back(f);
    }
  }
  size_t next = 0;
  for (const std::string& f : npy) {
    while (next < info.inputs.size() && inputs.count(info.inputs[next].name)) ++next;
    TANDEM_CHECK(next < info.inputs.size(),
                 "run: more input files than the model has inputs ({}: {}); '{}' is left over",
                 info.inputs.size(), input_names(info), f);
    inputs[info.inputs[next].name] = io::load_npy(f);
  }
}

}  // namespace

// "float32 [1, 10]  min -2.31  max 4.07  argmax 7": argmax only for a score vector (1-D, or
// [1, ..., 1, N] as a batch of one).
static std::string describe_output(const Tensor& t) {
  std::string s = fmt::format("{} {}", t.dtype(), shape_str(t.shape()));
  if (t.numel() == 0) return s + "  (empty)";
  Tensor d = t.contiguous().to(DType::Float64);
  s += fmt::format("  min {:.6g}  max {:.6g}", min(d).item(), max(d).item());
  bool vector = t.dim() >= 1 && t.numel() > 1 && t.numel() == t.size(-1);
  if (vector) s += fmt::format("  argmax {}", argmax(d.reshape({-1})).item<int64_t>());
  return s;
}

Run add_run(CLI::App& app) {
  struct Args {
    std::string model, out_dir = ".", precision = "fp32";
    std::vector<std::string> files, inputs;
    bool verbose = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Run an ONNX model on .npy/.npz inputs, summarize the outputs and write them as .npy");
  cmd->add_option("model", a->model, "The .onnx file")->required();
  cmd->add_option("inputs", a->files,
                  "Input files: one .npy per input in the model's order, or an .npz whose "
                  "arrays are named like the inputs");
  cmd->add_option("--input,-i", a->inputs, "NAME=file.npy (an input by name)");
  cmd->add_option("--output-dir,-o", a->out_dir, "Folder for the outputs (<name>.npy)")->capture_default_str();
  cmd->add_option("--precision", a->precision,
                  "fp32, or bf16: matmul, Gemm and convolution in bfloat16 with float32 accumulation "
                  "(autocast; outputs written as float32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_flag("--verbose,-v", a->verbose,
                "Print how the nodes ran: traced plans, and the nodes run eagerly between them");
  return [a] {
    auto model = onnx::Model::load(a->model);
    const onnx::ModelInfo& info = model.info();
    std::map<std::string, Tensor> inputs;
    for (const auto& spec : a->inputs) {
      auto eq = spec.find('=');
      TANDEM_CHECK(eq != std::string::npos && eq > 0, "--input '{}': expected NAME=file.npy", spec);
      inputs[spec.substr(0, eq)] = io::load_npy(spec.substr(eq + 1));
    }
    bind_files(a->files, info, inputs);
    for (const auto& [name, value] : inputs) {
      bool known = false;
      for (const auto& v : info.inputs) known = known || v.name == name;
      TANDEM_CHECK(known, "run: input '{}' is not an input of this model; its inputs are {}", name,
                   input_names(info));
    }
    for (const auto& v : info.inputs) {
      if (v.type.rfind("optional(", 0) == 0) continue;  // an optional input may be left out
      TANDEM_CHECK(inputs.count(v.name),
                   "run: no value for input '{}'; the model's inputs are {} (give x.npy per "
                   "input in this order, an .npz with these names, or --input NAME=file.npy)",
                   v.name, input_names(info));
    }
    std::vector<onnx::Value> outs;
    {
      AutocastGuard autocast(a->precision == "bf16");  // the traced graph holds the casts
      outs = model.run_values({inputs.begin(), inputs.end()});
    }
    if (a->verbose) std::cout << model.plan_summary().str() << "\n";
    std::filesystem::create_directories(a->out_dir);
    // One .npy per tensor; a sequence output as <name>_<k>.npy per element.
    auto save = [&](const std::string& name, Tensor t) {
      if (t.dtype() == DType::BFloat16) t = t.to(DType::Float32);  // .npy has no bfloat16
      std::string path = (std::filesystem::path(a->out_dir) / (name + ".npy")).string();
      io::save_npy(path, t.contiguous());
      std::cout << fmt::format("{}: {} -> {}\n", name, describe_output(t), path);
    };
    for (size_t i = 0; i < outs.size(); ++i) {
      std::string name = i < info.outputs.size() ? info.outputs[i].name : "output_" + std::to_string(i);
      for (char& ch : name)
        if (ch == '/' || ch == '\\' || ch == ':') ch = '_';
      if (outs[i].is_tensor()) {
        save(name, outs[i].tensor);
      } else if (outs[i].is_sequence()) {
        std::cout << fmt::format("{}: a sequence of {} tensors\n", name, outs[i].sequence.size());
        for (size_t k = 0; k < outs[i].sequence.size(); ++k) save(fmt::format("{}_{}", name, k), outs[i].sequence[k]);
      } else {
        std::cout << fmt::format("{}: an empty optional (nothing written)\n", name);
      }
    }
    return 0;
  };
}

}  // namespace tandem::cli
