// The `tandem` subcommands: each adds itself to the CLI11 app and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <string>

namespace tandem::cli {

// Each returns the function that runs the subcommand once the arguments are parsed; it
// returns the process exit code and may throw tandem::Error (main prints "error: ...").
using Run = std::function<int()>;
// Checks for numeric options with a plain message ("must be a positive integer, got -3"):
// CLI11's own range checks print the whole double range.
inline CLI::Validator number_check(bool integer, bool allow_zero) {
  std::string what = std::string(allow_zero ? "a non-negative " : "a positive ") + (integer ? "integer" : "number");
  return CLI::Validator(
      [integer, allow_zero, what](std::string& s) -> std::string {
        try {
          size_t used = 0;
          double v = integer ? static_cast<double>(std::stoll(s, &used)) : std::stod(s, &used);
          if (used == s.size() && (v > 0 || (allow_zero && v == 0))) return "";
        } catch (const std::exception&) {
        }
        return "must be " + what + ", got " + s;
      },
      allow_zero ? "NONNEGATIVE" : "POSITIVE");
}
inline CLI::Validator positive() { return number_check(true, false); }
Run add_train(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_summary(CLI::App& app);
Run add_logs(CLI::App& app);  // logs.cpp: last value of each scalar of a run's event files
Run add_plot(CLI::App& app);  // plot.cpp: scalar curves of runs to a PNG
Run add_export(CLI::App& app);  // export.cpp: a zoo model to ONNX
Run add_graph(CLI::App& app);  // graph.cpp: a model's captured graph, the passes, planned memory
Run add_onnx_test(CLI::App& app); Run add_run(CLI::App& app); Run add_inspect(CLI::App& app);  // ONNX (onnx_test/run/inspect.cpp)
Run add_serve(CLI::App& app);
Run add_quantize(CLI::App& app);  // quantize.cpp: an ONNX model to int8 QDQ
Run add_convert(CLI::App& app);  // convert.cpp: an ONNX model to a .tlite file for tandem-lite
Run add_data(CLI::App& app);  // data.cpp: `tandem data import` into SQLite / PostgreSQL  // serve.cpp: TF Serving REST + v2 inference protocol model server

}  // namespace tandem::cli
