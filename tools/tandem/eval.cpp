// tandem eval: accuracy and loss of saved weights on the test set.
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <tandem/io.h>
#include <tandem/models.h>
#include <tandem/train.h>

#include "commands.h"

namespace tandem::cli {

Run add_eval(CLI::App& app) {
  struct Args {
    std::string model, weights, data = "fashion-mnist";
    int threads = 0;
    int64_t limit = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate saved weights (model.safetensors) on the test set");
  cmd->add_option("--model,-m", a->model, "Model the weights belong to")
      ->required()->check(CLI::IsMember(models::names()));
  cmd->add_option("--weights,-w", a->weights, "A model.safetensors (or a training checkpoint's model)")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "fashion-mnist, or a directory of IDX files")
      ->capture_default_str();
  cmd->add_option("--threads,-t", a->threads, "Kernel threads (default: all cores)")
      ->check(positive());
  cmd->add_option("--test-limit", a->limit, "Use only the first N test images")
      ->check(positive());
  cmd->add_flag("--json", a->json, "Print one JSON object with the results as the last line");
  return [a] {
    if (a->threads > 0) set_num_threads(a->threads);
    auto test_set = train::load_dataset(a->data, /*train=*/false, a->limit);
    auto model = models::create(a->model);
    io::SafetensorsFile f = io::load_safetensors(a->weights);
    // A checkpoint holds the model under "model.<name>"; plain weights hold the names as is.
    std::map<std::string, Tensor> sd;
    if (f.metadata.count("format") && f.metadata.at("format") == io::kCheckpointFormat) {
      sd = io::load_checkpoint(a->weights).model;
    } else {
      sd = std::move(f.tensors);
    }
    model->load_state_dict(sd);
    // The batch size tandem train evaluates in (src/train/optimizer_factory.h's
    // kEvalBatchSize), so that both report the same loss to the last bit.
    train::EvalResult r = train::evaluate(*model, *test_set, 128);
    std::cout << fmt::format("{} on {} ({} test images): test accuracy {:.2f}%  test loss {:.4f}  "
                             "({:.1f} s)\n",
                             a->model, a->data, r.samples, 100 * r.accuracy, r.loss, r.seconds);
    if (a->json) {
      std::cout << fmt::format(
                       R"({{"model": "{}", "test_accuracy": {}, "test_loss": {}, "samples": {}, "seconds": {}}})",
                       a->model, r.accuracy, r.loss, r.samples, r.seconds)
                << std::endl;
    }
    return 0;
  };
}

}  // namespace tandem::cli
