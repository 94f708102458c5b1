// tandem inspect model.onnx: inputs, outputs, opset, op histogram, parameter count, and the
// ops tandem cannot import (the model need not be one tandem runs).
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
    // Any valid model is described, supported or not (its unsupported ops are listed).
    std::cout << onnx::inspect(*path).str();
    return 0;
  };
}

}  // namespace tandem::cli
