// Train your own model with tandem's public API: a module of your own, a DataLoader over
// Fashion-MNIST, AdamW with a one-cycle schedule, evaluation, and the weights saved as
// safetensors. A subset and two epochs, so it runs in seconds.
//
//   ./build/release/examples/example_train_custom [IDX_DIR]   (default: Debian's Fashion-MNIST)
#include <tandem/data.h>
#include <tandem/io.h>
#include <tandem/nn.h>
#include <tandem/optim.h>
#include <tandem/tandem.h>
#include <tandem/train.h>

#include <iostream>

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
  const int64_t epochs = 2, batch_size = 64;

  manual_seed(0);
  auto model = std::make_shared<SmallNet>();
  std::cout << model->summary({1, 1, 28, 28});

  // load_dataset normalizes the images; keep 6000 training and 2000 test images.
  auto train_set = train::load_dataset(data_dir, /*train=*/true, /*limit=*/6000);
  auto test_set = train::load_dataset(data_dir, /*train=*/false, /*limit=*/2000);
  data::DataLoader loader(train_set, {.batch_size = batch_size, .shuffle = true, .seed = 0,
                                      .transform = data::random_crop(28, /*padding=*/2)});

  optim::AdamW opt(model->parameters(), {.lr = 3e-3, .weight_decay = 1e-4});
  optim::OneCycleLR sched(opt, /*max_lr=*/3e-3, epochs * loader.num_batches());

  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    model->train();
    loader.set_epoch(epoch);  // a new shuffle (and augmentation) per epoch, reproducibly
    double loss_sum = 0;
    int64_t batches = 0;
    for (auto& batch : loader) {
      opt.zero_grad();
      Tensor loss = cross_entropy((*model)(batch.data), batch.target);
      loss.backward();
      opt.step();
      sched.step();
      loss_sum += loss.item();
      ++batches;
    }
    train::EvalResult ev = train::evaluate(*model, *test_set);
    std::cout << "epoch " << epoch + 1 << ": train loss " << loss_sum / batches << ", test accuracy "
              << 100 * ev.accuracy << "%\n";
  }
  io::save_safetensors("small_net.safetensors", model->state_dict());
  std::cout << "wrote small_net.safetensors\n";
  return 0;
} catch (const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
