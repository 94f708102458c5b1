// tandem summary: a zoo model's layers, output shapes and parameter counts, and the memory
// one training step takes at the batch size (train::estimate_training_memory).
#include <iostream>
#include <memory>

#include <tandem/models.h>
#include <tandem/train/memory_estimate.h>

#include "commands.h"

namespace tandem::cli {

Run add_summary(CLI::App& app) {
  struct Args {
    std::string model;
    int64_t batch = 1;
    std::string optimizer = "adam";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("summary", "Print a model's layers, output shapes, parameter counts and training memory");
  cmd->add_option("--model,-m", a->model, "Model")->required()->check(CLI::IsMember(models::names()));
  cmd->add_option("--batch-size,-b", a->batch, "Batch size of the example input")
      ->check(positive())->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "Optimizer whose state the memory estimate counts")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))->capture_default_str();
  return [a] {
    auto model = models::create(a->model);
    Shape shape = models::input_shape(a->model);
    shape.insert(shape.begin(), a->batch);
    std::cout << model->summary(shape);
    train::TrainOptions o;
    o.optimizer = a->optimizer;
    std::cout << '\n' << train::format_memory_estimate(train::estimate_training_memory(*model, shape, o));
    return 0;
  };
}

}  // namespace tandem::cli
