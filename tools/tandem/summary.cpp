// tandem summary: a zoo model's layers, output shapes and parameter counts.
#include <iostream>
#include <memory>

#include <tandem/models.h>

#include "commands.h"

namespace tandem::cli {

Run add_summary(CLI::App& app) {
  struct Args {
    std::string model;
    int64_t batch = 1;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("summary", "Print a model's layers, output shapes and parameter counts");
  cmd->add_option("--model,-m", a->model, "Model")->required()->check(CLI::IsMember(models::names()));
  cmd->add_option("--batch-size,-b", a->batch, "Batch size of the example input")
      ->check(positive())->capture_default_str();
  return [a] {
    auto model = models::create(a->model);
    Shape shape = models::input_shape(a->model);
    shape.insert(shape.begin(), a->batch);
    std::cout << model->summary(shape);
    return 0;
  };
}

}  // namespace tandem::cli
