// tandem export: a zoo model (with trained weights) to an ONNX file.
//
//   tandem export --model cnn --weights runs/latest/model.safetensors --out cnn.onnx --dynamic-batch
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <tandem/io.h>
#include <tandem/models.h>
#include <tandem/onnx/export.h>

#include "commands.h"

namespace tandem::cli {

Run add_export(CLI::App& app) {
  struct Args {
    std::string model, weights, out;
    int64_t opset = 17, batch = 1;
    bool dynamic_batch = false, no_weights = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a model (with its weights) to ONNX");
  cmd->add_option("--model,-m", a->model, "Zoo model")->required()->check(CLI::IsMember(models::names()));
  auto* weights = cmd->add_option("--weights,-w", a->weights, "A model.safetensors or a training checkpoint")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--random-weights", a->no_weights, "Export the freshly initialized model (no --weights)")
      ->excludes(weights);
  cmd->add_option("--out,-o", a->out, "Output .onnx file")->required();
  cmd->add_option("--opset", a->opset, "ONNX opset, 13..17")->capture_default_str()->check(CLI::Range(13, 17));
  cmd->add_flag("--dynamic-batch", a->dynamic_batch, "Symbolic batch dimension (dim_param \"batch\")");
  cmd->add_option("--batch", a->batch, "Example batch size to trace with")->capture_default_str()->check(positive());
  return [a] {
    TANDEM_CHECK(!a->weights.empty() || a->no_weights,
                 "export: give --weights FILE (or --random-weights to export the untrained model)");
    auto model = models::create(a->model);
    if (!a->weights.empty()) {
      io::SafetensorsFile f = io::load_safetensors(a->weights);
      std::map<std::string, Tensor> sd;
      if (f.metadata.count("format") && f.metadata.at("format") == io::kCheckpointFormat)
        sd = io::load_checkpoint(a->weights).model;
      else
        sd = std::move(f.tensors);
      model->load_state_dict(sd);
    }
    onnx::ExportOptions o;
    o.opset = a->opset;
    o.dynamic_batch = a->dynamic_batch;
    o.doc_string = fmt::format("tandem zoo model '{}'{}", a->model,
                               a->weights.empty() ? " (untrained)" : ", weights " + a->weights);
    // The zoo's models take Fashion-MNIST images.
    onnx::export_model(model, zeros({a->batch, 1, 28, 28}), a->out, o);
    std::cout << fmt::format("wrote {} ({} opset {}, {} parameters{})\n", a->out, a->model, a->opset,
                             model->num_parameters(), a->dynamic_batch ? ", dynamic batch" : "");
    return 0;
  };
}

}  // namespace tandem::cli
