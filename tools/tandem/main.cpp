// tandem — train, evaluate and inspect the model zoo's models from the command line.
//
//   tandem train --model cnn                 # Fashion-MNIST, progress bar, runs/cnn-<time>/
//   tandem eval --model cnn --weights runs/latest/model.safetensors
//   tandem summary --model resnet
#include <cstdio>
#include <exception>
#include <iostream>

#include <tandem/error.h>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: train, evaluate and inspect models (Fashion-MNIST by default)", "tandem"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tandem 0.1.0");
  try {
    auto train = tandem::cli::add_train(app);
    auto eval = tandem::cli::add_eval(app);
    auto summary = tandem::cli::add_summary(app);
    app.parse(argc, argv);
    for (auto [name, run] : {std::pair{"train", train}, {"eval", eval}, {"summary", summary}}) {
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
