// The `tandem` subcommands: each adds itself to the CLI11 app and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace tandem::cli {

// Each returns the function that runs the subcommand once the arguments are parsed; it
// returns the process exit code and may throw tandem::Error (main prints "error: ...").
using Run = std::function<int()>;
Run add_train(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_summary(CLI::App& app);
Run add_logs(CLI::App& app);  // logs.cpp: last value of each scalar of a run's event files
Run add_plot(CLI::App& app);  // plot.cpp: scalar curves of runs to a PNG

}  // namespace tandem::cli
