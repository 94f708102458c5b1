// tandem run model.onnx --input NAME=file.npy ... --output-dir DIR: runs an ONNX model on
// .npy inputs and writes each output as DIR/<output name>.npy.
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include <tandem/io/npy.h>
#include <tandem/onnx.h>

#include "commands.h"

namespace tandem::cli {

Run add_run(CLI::App& app) {
  struct Args {
    std::string model, out_dir = ".";
    std::vector<std::string> inputs;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Run an ONNX model on .npy inputs, write the outputs as .npy");
  cmd->add_option("model", a->model, "The .onnx file")->required();
  cmd->add_option("--input,-i", a->inputs, "NAME=file.npy (one per model input)");
  cmd->add_option("--output-dir,-o", a->out_dir, "Folder for the outputs (<name>.npy)")->capture_default_str();
  return [a] {
    auto model = onnx::Model::load(a->model);
    std::map<std::string, Tensor> inputs;
    for (const auto& spec : a->inputs) {
      auto eq = spec.find('=');
      TANDEM_CHECK(eq != std::string::npos && eq > 0, "--input '{}': expected NAME=file.npy", spec);
      inputs[spec.substr(0, eq)] = io::load_npy(spec.substr(eq + 1));
    }
    auto outs = model.run(inputs);
    std::filesystem::create_directories(a->out_dir);
    const auto& infos = model.info().outputs;
    for (size_t i = 0; i < outs.size(); ++i) {
      std::string name = i < infos.size() ? infos[i].name : "output_" + std::to_string(i);
      for (char& ch : name)
        if (ch == '/' || ch == '\\' || ch == ':') ch = '_';
      std::string path = (std::filesystem::path(a->out_dir) / (name + ".npy")).string();
      io::save_npy(path, outs[i].contiguous());
      std::cout << fmt::format("{}: {} {} -> {}\n", name, outs[i].dtype(), shape_str(outs[i].shape()), path);
    }
    return 0;
  };
}

}  // namespace tandem::cli
