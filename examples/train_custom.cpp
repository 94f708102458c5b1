// Train your own model on the Trainer: a module of your own, Fashion-MNIST with augmentation,
// AdamW with a one-cycle schedule, accuracy and F1, the best two checkpoints by validation
// accuracy, early stopping, TensorBoard and metrics.jsonl, a progress bar. A subset and two
// epochs, so it runs in seconds; everything around the loop is a Trainer option or callback.
//
//   ./build/release/examples/example_train_custom [IDX_DIR] [MAX_STEPS]
//   (default: Debian's Fashion-MNIST; MAX_STEPS > 0 stops early, as the CI run does)
//   then: tensorboard --logdir runs/train_custom
#include <tandem/data.h>
#include <tandem/io.h>
#include <tandem/nn.h>
#include <tandem/optim.h>
#include <tandem/tandem.h>
#include <tandem/train.h>

#include <iostream>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

using namespace tandem;

// A small convolutional net: two conv blocks with batch norm, dropout before the classifier.
struct SmallNet : nn::Module {
  std::shared_ptr<nn::Sequential> features, classifier;
  SmallNet() : Module("SmallNet") {
    features = register_module("features", std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(1, 16, 3, nn::Conv2dOptions{.padding = 1}),
        std::make_shared<nn::BatchNorm2d>(16), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::MaxPool2d>(2),                          // 16×14×14
        std::make_shared<nn::Conv2d>(16, 32, 3, nn::Conv2dOptions{.padding = 1}),
        std::make_shared<nn::BatchNorm2d>(32), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::MaxPool2d>(2)));                        // 32×7×7
    classifier = register_module("classifier", std::make_shared<nn::Sequential>(
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Dropout>(0.2),
        std::make_shared<nn::Linear>(32 * 7 * 7, 10)));
  }
  Tensor forward(const Tensor& x) override { return (*classifier)((*features)(x)); }
};

int main(int argc, char** argv) try {
  const std::string data_dir = argc > 1 ? argv[1] : "fashion-mnist";
  const int64_t max_steps = argc > 2 ? std::stoll(argv[2]) : 0;

  manual_seed(0);
  auto model = std::make_shared<SmallNet>();
  std::cout << model->summary({1, 1, 28, 28});

  // load_dataset normalizes the images; keep 6000 training and 2000 test images.
  auto train_set = train::load_dataset(data_dir, /*train=*/true, /*limit=*/6000);
  auto test_set = train::load_dataset(data_dir, /*train=*/false, /*limit=*/2000);
  data::DataLoader train_loader(train_set, {.batch_size = 64, .shuffle = true, .seed = 0,
                                            .transform = data::random_crop(28, /*padding=*/2)});
  data::DataLoader val_loader(test_set, {.batch_size = 500});

  train::TrainModule m;
  m.model = model;
  m.loss = [](const Tensor& logits, const Tensor& y) { return cross_entropy(logits, y); };
  m.optimizer = [](std::vector<Tensor> params) {
    return std::make_unique<optim::AdamW>(std::move(params), optim::AdamWOptions{.lr = 3e-3, .weight_decay = 1e-4});
  };
  m.scheduler = [](optim::Optimizer& opt, int64_t total_steps) {  // stepped every batch
    return std::make_unique<optim::OneCycleLR>(opt, /*max_lr=*/3e-3, total_steps);
  };
  m.metrics = {train::accuracy(), train::f1_score(10)};

  train::Trainer trainer({.max_epochs = 2, .max_steps = max_steps, .gradient_clip_norm = 5.0,
                          .log_dir = "runs/train_custom", .progress_bar = true});
  trainer.add_callback(std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
      .dirpath = "runs/train_custom/checkpoints", .monitor = "val_accuracy", .mode = "max",
      .save_top_k = 2}));
  trainer.add_callback(std::make_shared<train::EarlyStopping>(
      train::EarlyStoppingOptions{.monitor = "val_loss", .patience = 3}));
  trainer.add_callback(std::make_shared<train::LearningRateMonitor>());

  train::TrainResult r = trainer.fit(m, train_loader, &val_loader);
  const train::Logs& last = r.history.back();
  std::cout << "after " << r.global_step << " steps: validation accuracy "
            << 100 * last.at("val_accuracy") << "%, F1 " << last.at("val_f1") << "\n";
  io::save_safetensors("runs/train_custom/small_net.safetensors", model->state_dict());
  std::cout << "wrote runs/train_custom/small_net.safetensors\n";
  return 0;
} catch (const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
