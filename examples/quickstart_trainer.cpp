// The README's quick start with the Trainer, built with the examples so it stays true.
#include <tandem/tandem.h>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();
using namespace tandem;

int main() {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10));

  train::TrainModule m;
  m.model = model;
  m.loss = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  m.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions{.lr = 1e-3});
  };
  m.metrics = {train::accuracy()};

  train::Trainer trainer({.max_epochs = 2, .compile = true, .batch_size = 128,
                          .checkpoint_dir = "runs/quick/ckpt", .log_dir = "runs/quick"});
  trainer.fit(m, train::load_dataset("fashion-mnist", true), train::load_dataset("fashion-mnist", false));
  // Resume exactly where it stopped: trainer.fit(m, ..., "runs/quick/ckpt/last.safetensors")
}
