// The README's quick start, built with the examples so it stays true.
#include <tandem/tandem.h>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();
using namespace tandem;

struct Net : nn::Module {
  std::shared_ptr<nn::Sequential> body;
  Net() : Module("Net") {
    body = register_module("body", std::make_shared<nn::Sequential>(
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10)));
  }
  Tensor forward(const Tensor& x) override { return (*body)(x); }
};

int main() {
  manual_seed(0);
  auto model = std::make_shared<Net>();
  auto train_set = train::load_dataset("fashion-mnist", /*train=*/true);  // Debian's package
  data::DataLoader loader(train_set, {.batch_size = 128, .shuffle = true, .seed = 0});
  optim::AdamW opt(model->parameters(), {.lr = 1e-3});

  // The same step, eager or captured into a graph (drop tandem::compile to run eagerly).
  auto step = compile([&](const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    loss.backward();
    opt.step();
    return loss;
  }, {.modules = {model}});

  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    loader.set_epoch(epoch);
    for (auto& batch : loader) step(batch.data, batch.target);
  }
  io::save_safetensors("net.safetensors", model->state_dict());
  onnx::export_model(model, randn({1, 1, 28, 28}), "net.onnx", {});
}
