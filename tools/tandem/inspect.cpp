// tandem inspect model.onnx: inputs, outputs, opset, op histogram, parameter count, and the
// ops tandem cannot import. Any valid ONNX model is described, whether tandem runs it or not.
#include <iostream>
#include <memory>

#include <tandem/onnx.h>

#include "commands.h"

namespace tandem::cli {

Run add_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Print an ONNX model's inputs, outputs, opset, ops and parameter count");
  cmd->add_option("model", *path, "The .onnx file")->required();
  return [path] {
    onnx::ModelInfo info = onnx::inspect(*path);  // Error only when the file is not an ONNX model
    std::string why_not;
    if (info.unsupported_ops.empty()) {
      // Importable as far as its ops go: the import adds what folds at load.
      try {
        info = onnx::Model::load(*path).info();
      } catch (const Error& e) {
        why_not = e.what();
      }
    }
    std::cout << info.str();
    if (!why_not.empty()) std::cout << "tandem cannot run this model: " << why_not << "\n";
    return 0;
  };
}

}  // namespace tandem::cli
