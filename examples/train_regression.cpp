// Regression on a table: a CSV file, an MLP, mean-squared error, mean absolute error as the
// metric, the best checkpoint by validation MAE and a CSV log of every epoch. The Trainer
// is not tied to images or classification: the loss and metrics are yours.
//
//   ./build/release/examples/example_train_regression [EPOCHS [CSV TARGET_COLUMN]]
//   (default: 30 epochs on a synthetic houses.csv: price from area, rooms, age and noise)
#include <tandem/data.h>
#include <tandem/nn.h>
#include <tandem/optim.h>
#include <tandem/tandem.h>
#include <tandem/train.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <tandem/omp_wait.h>

// Idle OpenMP threads sleep instead of spinning (tandem/omp_wait.h): robust on shared cores.
TANDEM_OMP_PASSIVE_WAIT();

using namespace tandem;

// 1000 houses: price (k€) = 2.5·area + 15·rooms − 0.8·age + 40 + noise.
std::string write_houses(const std::string& path) {
  Generator gen(7);
  std::ofstream out(path);
  out << "area,rooms,age,price\n";
  for (int i = 0; i < 1000; ++i) {
    double area = 40 + 160 * gen.next_double(), rooms = std::floor(1 + 5 * gen.next_double());
    double age = 60 * gen.next_double(), noise = 10 * (gen.next_double() - 0.5);
    out << area << ',' << rooms << ',' << age << ',' << 2.5 * area + 15 * rooms - 0.8 * age + 40 + noise << '\n';
  }
  return path;
}

int main(int argc, char** argv) try {
  std::filesystem::create_directories("runs/train_regression");
  int64_t epochs = argc > 1 ? std::stoll(argv[1]) : 30;
  std::string csv = argc > 3 ? argv[2] : write_houses("runs/train_regression/houses.csv");
  std::string target = argc > 3 ? argv[3] : "price";

  data::CsvTable table = data::read_csv(csv, {.target = target});
  // Standardize features and target (statistics of the whole table, for brevity).
  Tensor x = table.features, y = table.target;
  Tensor x_mean = mean(x, {0}, true), x_std = tandem::std(x, {0}, 1, true);
  double y_mean = mean(y).item(), y_std = tandem::std(y).item();
  x = (x - x_mean) / x_std;
  y = (y - y_mean) / y_std;
  auto all = std::make_shared<data::TensorDataset>(x, y);
  auto parts = data::random_split(all, {800, 200}, 0);

  manual_seed(0);
  train::TrainModule m;
  m.model = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(x.size(1), 32), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 1), std::make_shared<nn::Flatten>(0));
  m.loss = [](const Tensor& pred, const Tensor& t) { return mse_loss(pred, t); };
  m.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 1e-2});
  };
  // Per epoch: lower the learning rate when the validation MAE stops improving.
  m.scheduler = [](optim::Optimizer& opt, int64_t) {
    return std::make_unique<optim::ReduceLROnPlateau>(opt, optim::ReduceLROnPlateauOptions{.patience = 2});
  };
  m.scheduler_interval = train::TrainModule::Interval::Epoch;
  m.scheduler_monitor = "val_mae";
  m.metrics = {train::mean_absolute_error()};

  train::Trainer trainer({.max_epochs = epochs, .batch_size = 32, .progress_bar = false});
  auto best = std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
      .dirpath = "runs/train_regression/checkpoints", .monitor = "val_mae", .save_top_k = 1});
  trainer.add_callback(best)
      .add_callback(std::make_shared<train::CsvLogger>("runs/train_regression/metrics.csv"))
      .add_callback(std::make_shared<train::ProgressCallback>(train::ProgressOptions{.show_bar = false}));
  train::TrainResult r = trainer.fit(m, parts[0], parts[1]);

  double mae = r.history.back().at("val_mae") * y_std;  // back in the target's units
  std::cout << "validation MAE " << mae << " " << target << " units (target std " << y_std
            << "); best checkpoint " << best->best().front().second << "\n";
  return 0;
} catch (const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
