// tandem — train, evaluate and inspect the model zoo's models from the command line.
//
//   tandem train --model cnn                 # Fashion-MNIST, progress bar, runs/cnn-<time>/
//   tandem eval --model cnn --weights runs/latest/model.safetensors
//   tandem summary --model resnet
//   tandem logs runs/latest                  # last value of each logged scalar
//   tandem plot runs/a runs/b --tag loss --out curves.png
#include <cstdio>
#include <exception>
#include <iostream>

#include <tandem/error.h>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: train, evaluate and inspect models (Fashion-MNIST by default)", "tandem"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tandem 0.1.0");
  try {
    auto train = tandem::cli::add_train(app);
    auto eval = tandem::cli::add_eval(app);
    auto summary = tandem::cli::add_summary(app);
    auto logs = tandem::cli::add_logs(app);
    auto plot = tandem::cli::add_plot(app);
    auto export_model = tandem::cli::add_export(app);
    auto graph = tandem::cli::add_graph(app);
    auto onnx_test = tandem::cli::add_onnx_test(app), run_model = tandem::cli::add_run(app), inspect = tandem::cli::add_inspect(app);
    auto serve = tandem::cli::add_serve(app);
    auto data = tandem::cli::add_data(app);
    auto quantize = tandem::cli::add_quantize(app);
    auto convert = tandem::cli::add_convert(app);
    // CLI11 alone would answer "A subcommand is required" to a misspelt command.
    if (argc > 1 && argv[1][0] != '-' &&
        app.get_subcommands([&](CLI::App* c) { return c->check_name(argv[1]); }).empty()) {
      std::string names;
      for (const CLI::App* c : app.get_subcommands([](CLI::App*) { return true; }))
        names += (names.empty() ? "" : ", ") + c->get_name();
      std::fprintf(stderr, "tandem: unknown command '%s'; choose one of %s (--help)\n", argv[1],
                   names.c_str());
      return 2;
    }
    app.parse(argc, argv);
    for (auto [name, run] : {std::pair{"train", train}, {"eval", eval}, {"summary", summary},
                             {"logs", logs}, {"plot", plot}, {"graph", graph}, {"onnx-test", onnx_test}, {"export", export_model}, {"run", run_model}, {"inspect", inspect}, {"serve", serve}, {"data", data}, {"quantize", quantize}, {"convert", convert}}) {
      if (app.got_subcommand(name)) return run();
    }
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // usage errors: CLI11's message and a non-zero code (0 for --help)
  } catch (const tandem::Error& e) {
    std::cout.flush();
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
