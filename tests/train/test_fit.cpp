// train::fit / evaluate / load_dataset / ProgressBar, and the exact-resume guarantee: a run
// interrupted after epoch 2 and resumed from its checkpoint repeats the uninterrupted run's
// per-step losses and final weights bit for bit (single-threaded, same seed).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <tandem/io.h>
#include <tandem/models.h>
#include <tandem/nn.h>
#include <tandem/train.h>

#include "test_util.h"
#include "train_test_util.h"

using namespace tandem;
using tandem::testing::fresh_temp_dir;
using tandem::testing::throws_error;
using tandem::testing::write_tiny_idx;
namespace fs = std::filesystem;

namespace {

struct FitRun {
  std::vector<std::pair<int64_t, double>> losses;  // (step, loss) as on_step saw them
  train::FitResult result;
};

// MLP with dropout: the resumed run must also continue the dropout masks' random stream.
std::shared_ptr<nn::Module> dropout_mlp() {
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 64),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.3),
      std::make_shared<nn::Linear>(64, 10));
}

FitRun run_fit(train::TrainOptions o, std::shared_ptr<nn::Module> model = nullptr) {
  FitRun r;
  o.on_step = [&r](int64_t step, double loss) { r.losses.emplace_back(step, loss); };
  std::ostringstream text;
  o.out = &text;
  o.progress = false;
  r.result = train::fit(o, std::move(model));
  return r;
}

void expect_same_weights(const std::string& a_path, const std::string& b_path) {
  auto a = io::load_safetensors(a_path).tensors;
  auto b = io::load_safetensors(b_path).tensors;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    auto va = t.contiguous().to_vector<double>();
    auto vb = b.at(name).contiguous().to_vector<double>();
    ASSERT_EQ(va, vb) << name << " differs";
  }
}

int count_lines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

// Runs 4 epochs straight, then 2 (interrupted) + 2 (resumed), and compares.
void check_exact_resume(train::TrainOptions o, const std::function<std::shared_ptr<nn::Module>()>& make,
                        const std::string& name) {
  std::string root = fresh_temp_dir("resume_" + name);
  o.threads = 1;
  o.epochs = 4;
  o.out_dir = root + "/full";
  FitRun full = run_fit(o, make ? make() : nullptr);

  o.out_dir = root + "/split";
  o.stop_after_epoch = 2;
  FitRun first = run_fit(o, make ? make() : nullptr);
  o.stop_after_epoch = 0;
  o.resume = root + "/split/checkpoint.safetensors";
  o.out_dir = "";  // continues in the checkpoint's directory
  FitRun second = run_fit(o, make ? make() : nullptr);

  ASSERT_GT(full.losses.size(), 8u);
  ASSERT_EQ(first.losses.size() + second.losses.size(), full.losses.size());
  for (size_t i = 0; i < full.losses.size(); ++i) {
    const auto& got = i < first.losses.size() ? first.losses[i] : second.losses[i - first.losses.size()];
    EXPECT_EQ(got.first, full.losses[i].first);
    // Bit for bit: no tolerance.
    EXPECT_EQ(got.second, full.losses[i].second) << "step " << full.losses[i].first;
  }
  EXPECT_EQ(second.result.epochs, 4);
  EXPECT_EQ(second.result.history.size(), 2u);
  EXPECT_EQ(second.result.test_accuracy, full.result.test_accuracy);
  EXPECT_EQ(second.result.test_loss, full.result.test_loss);
  expect_same_weights(full.result.model_path, second.result.model_path);
  EXPECT_EQ(second.result.run_dir, root + "/split");
  EXPECT_EQ(count_lines(second.result.metrics_path), 4);
}

}  // namespace

class Fit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = fresh_temp_dir("fit_data");
    write_tiny_idx(data_dir_, 512, 200);
  }
  train::TrainOptions options() const {
    train::TrainOptions o;
    o.data = data_dir_;
    o.batch_size = 64;
    o.seed = 7;
    return o;
  }
  static std::string data_dir_;
};
std::string Fit::data_dir_;

TEST_F(Fit, ExactResumeWithDropoutAugmentationAndOneCycle) {
  train::TrainOptions o = options();
  o.optimizer = "adamw";
  o.schedule = "onecycle";
  o.augment = "crop+flip";
  o.workers = 2;  // the batch order and augmentation must not depend on worker timing
  // A model given to fit() is initialized by its maker, so the maker seeds.
  check_exact_resume(o, [] { manual_seed(99); return dropout_mlp(); }, "dropout_mlp");
}

TEST_F(Fit, ExactResumeOfTheZooCnnWithSgdAndCosine) {
  train::TrainOptions o = options();
  o.model = "cnn";
  o.optimizer = "sgd";
  o.lr = 0.05;
  o.schedule = "cosine";
  o.train_limit = 256;
  check_exact_resume(o, nullptr, "cnn");
}

TEST_F(Fit, ExactResumeOfTheResnetKeepsBatchNormStatistics) {
  train::TrainOptions o = options();
  o.model = "resnet";
  o.train_limit = 96;
  o.test_limit = 32;
  o.batch_size = 32;
  check_exact_resume(o, nullptr, "resnet");
}

TEST_F(Fit, ResumeCanExtendARunWithoutSchedule) {
  // 2 epochs, then --resume with --epochs 4: same as 4 epochs when nothing depends on the
  // total (no schedule).
  std::string root = fresh_temp_dir("extend");
  train::TrainOptions o = options();
  o.model = "mlp";
  o.schedule = "none";
  o.threads = 1;
  o.train_limit = 256;
  o.epochs = 4;
  o.out_dir = root + "/full";
  FitRun full = run_fit(o);
  o.epochs = 2;
  o.out_dir = root + "/split";
  FitRun first = run_fit(o);
  o.epochs = 4;
  o.resume = root + "/split/checkpoint.safetensors";
  // The recorded recipe says epochs = 2: a schedule-free run may still grow.
  FitRun second = run_fit(o);
  ASSERT_EQ(first.losses.size() + second.losses.size(), full.losses.size());
  for (size_t i = 0; i < second.losses.size(); ++i)
    EXPECT_EQ(second.losses[i].second, full.losses[first.losses.size() + i].second);
  expect_same_weights(full.result.model_path, second.result.model_path);
}

TEST_F(Fit, LearnsTheTinyDatasetAndWritesTheRunDirectory) {
  std::string root = fresh_temp_dir("learns");
  train::TrainOptions o = options();
  o.model = "mlp";
  o.epochs = 3;
  o.out_dir = root + "/run";
  FitRun r = run_fit(o);
  EXPECT_GT(r.result.test_accuracy, 0.9);  // the blocks are easy to tell apart
  ASSERT_EQ(r.result.history.size(), 3u);
  EXPECT_LT(r.result.history[2].train_loss, r.result.history[0].train_loss);
  EXPECT_EQ(r.losses.size(), 3u * 8);  // 512 / 64 steps per epoch
  EXPECT_TRUE(fs::exists(r.result.model_path));
  EXPECT_TRUE(fs::exists(r.result.checkpoint_path));
  EXPECT_EQ(count_lines(r.result.metrics_path), 3);
  io::Checkpoint ck = io::load_checkpoint(r.result.checkpoint_path);
  EXPECT_EQ(ck.epoch, 3);
  EXPECT_EQ(ck.step, 24);
  EXPECT_TRUE(ck.optimizer.tensors.size() > 0);
  // The saved weights evaluate to the reported accuracy (fit evaluates in batches of 128).
  auto model = models::create("mlp");
  model->load_state_dict(io::load_safetensors(r.result.model_path).tensors);
  auto ev = train::evaluate(*model, *train::load_dataset(data_dir_, false), 128);
  EXPECT_EQ(ev.accuracy, r.result.test_accuracy);
  EXPECT_EQ(ev.loss, r.result.test_loss);
}

TEST_F(Fit, ResumeWithOtherSettingsIsAnError) {
  std::string root = fresh_temp_dir("mismatch");
  train::TrainOptions o = options();
  o.model = "mlp";
  o.epochs = 2;
  o.stop_after_epoch = 1;
  o.train_limit = 128;
  o.out_dir = root;
  run_fit(o);
  o.stop_after_epoch = 0;
  o.resume = root + "/checkpoint.safetensors";
  o.batch_size = 32;
  EXPECT_TRUE(throws_error([&] { run_fit(o); }, {"batch_size", "64", "32"}));
  o.batch_size = 64;
  o.epochs = 3;  // the cosine schedule spans the epochs
  EXPECT_TRUE(throws_error([&] { run_fit(o); }, {"epochs", "2", "3"}));
  o.epochs = 1;  // already finished
  o.schedule = "none";
  EXPECT_TRUE(throws_error([&] { run_fit(o); }, {"schedule"}));
}

TEST(Evaluate, ConstantPredictionScoresTheClassFrequency) {
  // logits = bias only, class 3 favoured by log(9): softmax gives p(3) = 0.5, others 1/18.
  Tensor x = zeros({6, 1, 28, 28});
  Tensor y = tensor(std::vector<int64_t>{3, 3, 1, 0, 3, 9});
  data::TensorDataset ds(x, y);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Flatten>(),
                                                std::make_shared<nn::Linear>(784, 10));
  auto fc = model->at<nn::Linear>(1);
  fc->weight.detach().zero_();
  fc->bias.detach().zero_();
  fc->bias.detach().narrow(0, 3, 1).fill_(std::log(9.0));
  auto ev = train::evaluate(*model, ds, /*batch_size=*/4);  // two batches, the last partial
  EXPECT_EQ(ev.samples, 6);
  EXPECT_DOUBLE_EQ(ev.accuracy, 3.0 / 6);
  EXPECT_NEAR(ev.loss, (3 * std::log(2.0) + 3 * std::log(18.0)) / 6, 1e-5);
  EXPECT_TRUE(model->is_training());  // mode restored
  // Any Dataset (here one that is not a TensorDataset: examples gathered one by one).
  struct Wrapped : data::Dataset {
    const data::Dataset& inner;
    explicit Wrapped(const data::Dataset& d) : inner(d) {}
    int64_t size() const override { return inner.size(); }
    data::Example get(int64_t i) const override { return inner.get(i); }
  };
  auto ev2 = train::evaluate(*model, Wrapped(ds), 4);
  EXPECT_EQ(ev2.accuracy, ev.accuracy);
  EXPECT_EQ(ev2.loss, ev.loss);
}

TEST(LoadDataset, MissingDirectoryNamesItAndTheExpectedFiles) {
  EXPECT_TRUE(throws_error([] { train::load_dataset("/nonexistent/fmnist", true); },
                           {"/nonexistent/fmnist", "train-images-idx3-ubyte"}));
  std::string empty = fresh_temp_dir("empty_data");
  EXPECT_TRUE(throws_error([&] { train::load_dataset(empty, false); },
                           {empty, "t10k-images-idx3-ubyte"}));
}

TEST(LoadDataset, NormalizesAndLimits) {
  std::string dir = fresh_temp_dir("norm_data");
  write_tiny_idx(dir, 20, 10, /*gzip=*/false);
  auto ds = train::load_dataset(dir, true, 5);
  ASSERT_EQ(ds->size(), 5);
  auto ex = ds->get(0);
  EXPECT_EQ(ex.data.shape(), (Shape{1, 28, 28}));
  // A 255 pixel (the class block, row 12) becomes (1 - mean) / std.
  double v = ex.data.select(1, 12).max().item();
  EXPECT_NEAR(v, (1.0 - train::kPixelMean) / train::kPixelStd, 1e-6);
}

TEST(ProgressBar, RendersPercentLossSpeedAndEta) {
  EXPECT_EQ(train::ProgressBar::render("epoch 1/2", 5, 10, 0.5, 1000, 65, 10),
            "epoch 1/2 [=====>    ]  50% loss 0.5000   1000 samples/s ETA 1:05");
  EXPECT_EQ(train::ProgressBar::render("e", 10, 10, 0.25, 12345.4, 0, 4),
            "e [====] 100% loss 0.2500  12345 samples/s ETA 0:00");
  EXPECT_EQ(train::format_duration(3723), "1:02:03");
}

TEST(ProgressBar, PlainLinesAtQuartersWhenNotATerminal) {
  std::ostringstream os;
  train::ProgressBar bar(os, "epoch 1/1", 8, /*interactive=*/false);
  for (int i = 1; i <= 8; ++i) bar.update(i, 1.0, 100);
  bar.finish();
  std::string s = os.str();
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 3);
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_NE(s.find(" 25%"), std::string::npos);
  EXPECT_NE(s.find(" 75%"), std::string::npos);
}

TEST(ProgressBar, RedrawsInPlaceOnATerminal) {
  std::ostringstream os;
  train::ProgressBar bar(os, "epoch 1/1", 1000, /*interactive=*/true);
  for (int i = 1; i <= 1000; ++i) bar.update(i, 1.0, 100);  // far faster than 10 redraws/s
  std::string s = os.str();
  auto redraws = std::count(s.begin(), s.end(), '\r');
  EXPECT_GE(redraws, 2);    // the first draw and the final 100%
  EXPECT_LT(redraws, 100);  // throttled
  EXPECT_NE(s.find("100%"), std::string::npos);
  EXPECT_EQ(s.find('\n'), std::string::npos);
  bar.finish();
  EXPECT_EQ(os.str().substr(os.str().size() - 4), "\r\033[K");
}
