// tandem convert: an ONNX model to a .tlite file for tandem-lite (the inference passes run
// first; an op tandem-lite lacks is named in the error, all of them at once).
//
//   tandem convert mobilenet.onnx mobilenet.tlite
//   tandem convert --list-ops
#include <iostream>
#include <memory>

#include <tandem/error.h>
#include <tandem/onnx/convert_lite.h>

#include "commands.h"

namespace tandem::cli {

Run add_convert(CLI::App& app) {
  struct Args {
    std::string model, out;
    bool list_ops = false, quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert an ONNX model to a .tlite file for tandem-lite");
  cmd->add_option("model", a->model, "The .onnx model");
  cmd->add_option("out", a->out, "The .tlite file to write");
  cmd->add_flag("--list-ops", a->list_ops, "List the graph ops tandem-lite runs and exit");
  cmd->add_flag("--quiet,-q", a->quiet, "Print only the file written");
  return [a] {
    if (a->list_ops) {
      for (const std::string& op : onnx::lite_supported_ops()) std::cout << op << "\n";
      return 0;
    }
    TANDEM_CHECK(!a->model.empty() && !a->out.empty(), "convert: give the model and the output file "
                 "(tandem convert model.onnx model.tlite)");
    onnx::LiteConvertReport r = onnx::convert_to_lite(a->model, a->out);
    if (!a->quiet) std::cout << r.str();
    std::cout << "wrote " << a->out << "\n";
    return 0;
  };
}

}  // namespace tandem::cli
