// tandem convert: an ONNX model, or a zoo model with its weights, to a .tlite file for
// tandem-lite (the inference passes run first; an op tandem-lite lacks is named in the error,
// all of them at once). A zoo model goes through the same ONNX export as `tandem export`
// (dynamic batch), into a temporary file.
//
//   tandem convert mobilenet.onnx mobilenet.tlite
//   tandem convert --model cnn --weights runs/latest/model.safetensors cnn.tlite
//   tandem convert --list-ops
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <tandem/error.h>
#include <tandem/io.h>
#include <tandem/models.h>
#include <tandem/onnx/convert_lite.h>
#include <tandem/onnx/export.h>

#include "commands.h"

namespace tandem::cli {

namespace {

// The zoo model `name` with the weights of `weights` (a model.safetensors or a training
// checkpoint; empty: freshly initialized) exported to `onnx_path` with a dynamic batch.
void convert_export_zoo(const std::string& name, const std::string& weights, const std::string& onnx_path) {
  auto model = models::create(name);
  if (!weights.empty()) {
    io::SafetensorsFile f = io::load_safetensors(weights);
    std::map<std::string, Tensor> sd;
    if (f.metadata.count("format") && f.metadata.at("format") == io::kCheckpointFormat)
      sd = io::load_checkpoint(weights).model;
    else
      sd = std::move(f.tensors);
    model->load_state_dict(sd);
  }
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  onnx::export_model(model, zeros({1, 1, 28, 28}), onnx_path, o);  // the zoo takes Fashion-MNIST images
}

}  // namespace

Run add_convert(CLI::App& app) {
  struct Args {
    std::vector<std::string> files;
    std::string zoo, weights;
    bool list_ops = false, quiet = false, random_weights = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert an ONNX model (or a zoo model) to a .tlite file for tandem-lite");
  cmd->add_option("files", a->files, "MODEL.onnx OUT.tlite (with --model: OUT.tlite)");
  cmd->add_option("--model,-m", a->zoo, "A zoo model instead of an ONNX file")->check(CLI::IsMember(models::names()));
  auto* weights = cmd->add_option("--weights,-w", a->weights, "The zoo model's model.safetensors or training checkpoint")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--random-weights", a->random_weights, "Convert the freshly initialized zoo model (no --weights)")
      ->excludes(weights);
  cmd->add_flag("--list-ops", a->list_ops, "List the graph ops tandem-lite runs and exit");
  cmd->add_flag("--quiet,-q", a->quiet, "Print only the file written");
  return [a] {
    if (a->list_ops) {
      for (const std::string& op : onnx::lite_supported_ops()) std::cout << op << "\n";
      return 0;
    }
    onnx::LiteConvertReport r;
    std::string out;
    if (!a->zoo.empty()) {
      TANDEM_CHECK(a->files.size() == 1, "convert: with --model give only the output file "
                   "(tandem convert --model cnn --weights W out.tlite)");
      TANDEM_CHECK(!a->weights.empty() || a->random_weights,
                   "convert: give --weights FILE (or --random-weights for the untrained model)");
      out = a->files[0];
      auto tmp = std::filesystem::temp_directory_path() / fmt::format("tandem_convert_{}_{}.onnx", a->zoo, ::getpid());
      try {
        convert_export_zoo(a->zoo, a->weights, tmp.string());
        r = onnx::convert_to_lite(tmp.string(), out);
      } catch (...) {
        std::filesystem::remove(tmp);
        throw;
      }
      std::filesystem::remove(tmp);
    } else {
      TANDEM_CHECK(a->files.size() == 2, "convert: give the model and the output file "
                   "(tandem convert model.onnx model.tlite, or --model NAME --weights W out.tlite)");
      out = a->files[1];
      r = onnx::convert_to_lite(a->files[0], out);
    }
    if (!a->quiet) std::cout << r.str();
    std::cout << "wrote " << out << "\n";
    return 0;
  };
}

}  // namespace tandem::cli
