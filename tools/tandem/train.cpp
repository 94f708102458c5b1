// tandem train: train a zoo model (tandem::train::fit) and write its run directory.
#include <iostream>
#include <memory>

#include <tandem/models.h>
#include <tandem/train.h>

#include "commands.h"

namespace tandem::cli {

Run add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model; writes RUN_DIR/{model,checkpoint}.safetensors and metrics.jsonl");
  auto o = std::make_shared<train::TrainOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--model,-m", o->model, "Model to train")
      ->check(CLI::IsMember(models::names()))
      ->capture_default_str();
  cmd->add_option("--data", o->data, "fashion-mnist, or a directory of IDX files ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz])")
      ->capture_default_str();
  cmd->add_option("--epochs,-e", o->epochs, "Epochs (the schedule spans them all)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--batch-size,-b", o->batch_size, "Batch size")
      ->check(positive())->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer, "Optimizer")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))->capture_default_str();
  cmd->add_option("--lr", o->lr, "Learning rate (peak lr for onecycle; default: sgd 0.01, adam/adamw 1e-3)")
      ->check(number_check(false, false));
  cmd->add_option("--momentum", o->momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "Weight decay (default: 0; adamw 0.01)")
      ->check(number_check(false, true));
  cmd->add_option("--schedule", o->schedule, "Learning-rate schedule, stepped every batch")
      ->check(CLI::IsMember({"none", "cosine", "onecycle"}))->capture_default_str();
  cmd->add_option("--augment", o->augment, "Augmentation: random crop (padding 2), horizontal flip")
      ->check(CLI::IsMember({"none", "crop", "crop+flip"}))->capture_default_str();
  cmd->add_option("--threads,-t", o->threads, "Kernel threads (default: all cores)")
      ->check(positive());
  cmd->add_option("--workers", o->workers, "Data loader threads (default: 1 when augmenting, else 0)")
      ->check(number_check(true, true));
  cmd->add_option("--seed,-s", o->seed, "Random seed (init, data order, augmentation)")
      ->capture_default_str();
  cmd->add_option("--out,-o", o->out_dir, "Run directory (default: runs/<model>-<time>, linked from runs/latest; with --resume: the checkpoint's)");
  cmd->add_option("--resume", o->resume, "Continue from a checkpoint.safetensors (same settings; --epochs may grow with --schedule none)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--train-limit", o->train_limit, "Use only the first N training images")
      ->check(positive());
  cmd->add_option("--test-limit", o->test_limit, "Use only the first N test images")
      ->check(positive());
  cmd->add_option("--stop-after", o->stop_after_epoch, "Stop after this epoch as if interrupted (the schedule still spans --epochs)")
      ->check(positive());
  cmd->add_flag("--no-progress", [o](int64_t) { o->progress = false; }, "No progress bar");
  cmd->add_flag("--no-tensorboard", [o](int64_t) { o->tensorboard = false; },
                "Do not write TensorBoard event files (RUN_DIR/events.out.tfevents.*)");
  cmd->add_option("--histogram-every", o->histogram_every,
                  "Steps between weight/gradient histograms (default: once per epoch)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--profile-steps", o->profile_steps,
                  "Profile the first N steps: RUN_DIR/trace.json (Perfetto) and a table of op times")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--compile", o->compile, "Run the training step in graph mode (tandem::compile)");
  cmd->add_flag("--json", *json, "Print one JSON object with the results as the last line");
  return [o, json] {
    train::FitResult r = train::fit(*o);
    if (*json) std::cout << train::to_json(r, o->model) << std::endl;
    return 0;
  };
}

}  // namespace tandem::cli
