// A training run's TensorBoard files: every scalar as logged (our reader and the independent
// Python decoder), histograms, the sample grid, hparams; --profile-steps writes a trace;
// tensorboard = false writes no event file.
#include <nlohmann/json.hpp>

#include "../train/train_test_util.h"
#include "summary_test_util.h"
#include "tandem/summary.h"
#include "tandem/train.h"
#include "test_util.h"

namespace tandem::summary {
namespace {

struct TrainRun : ::testing::Test {
  static std::string data_dir;
  static void SetUpTestSuite() {
    data_dir = tandem::testing::fresh_temp_dir("summary_train_data");
    tandem::testing::write_tiny_idx(data_dir, 256, 48);
  }
  static train::TrainOptions options(const std::string& run_dir) {
    train::TrainOptions o;
    o.model = "mlp";
    o.data = data_dir;
    o.epochs = 2;
    o.batch_size = 64;
    o.threads = 1;
    o.out_dir = run_dir;
    o.progress = false;
    o.verbose = false;
    return o;
  }
};
std::string TrainRun::data_dir;

TEST_F(TrainRun, EventFilesHoldEveryValueAsLogged) {
  testing::ScratchDir dir;
  train::TrainOptions o = options(dir / "run");
  o.histogram_every = 2;
  o.profile_steps = 2;
  std::vector<std::pair<int64_t, double>> losses;
  o.on_step = [&](int64_t step, double loss) { losses.emplace_back(step, loss); };
  train::FitResult r = train::fit(o);
  ASSERT_EQ(losses.size(), 8u);  // 2 epochs x 256/64

  std::vector<Record> rs = read(r.run_dir);
  std::map<std::string, std::vector<Record>> by_tag;
  for (const Record& rec : rs) by_tag[rec.tag].push_back(rec);
  ASSERT_EQ(by_tag["train/loss"].size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(by_tag["train/loss"][i].step, losses[i].first);
    EXPECT_EQ(by_tag["train/loss"][i].value, static_cast<float>(losses[i].second));
  }
  EXPECT_EQ(by_tag["train/lr"].size(), 8u);
  ASSERT_EQ(by_tag["epoch/test_accuracy"].size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(by_tag["epoch/test_accuracy"][e].step, r.history[e].step);
    EXPECT_EQ(by_tag["epoch/test_accuracy"][e].value, static_cast<float>(r.history[e].test_accuracy));
    EXPECT_EQ(by_tag["epoch/train_loss"][e].value, static_cast<float>(r.history[e].train_loss));
    EXPECT_EQ(by_tag["epoch/test_loss"][e].value, static_cast<float>(r.history[e].test_loss));
  }
  // Histograms of each parameter every 2 steps, with one count per element.
  std::vector<Record>& h = by_tag["params/fc1.weight"];
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].step, 2);
  EXPECT_EQ(h[0].histogram.num, 784 * 512);
  EXPECT_EQ(by_tag["grads/fc1.weight"].size(), 4u);
  ASSERT_EQ(by_tag["samples"].size(), 2u);
  EXPECT_EQ(by_tag["samples"][0].kind, Kind::Image);
  DecodedImage grid = decode_png(by_tag["samples"][0].image.png);
  EXPECT_EQ(grid.channels, 3);
  EXPECT_EQ(by_tag["_hparams_/session_start_info"].size(), 1u);
  EXPECT_EQ(by_tag["_hparams_/session_start_info"][0].hparams.at("model"), "mlp");
  EXPECT_EQ(by_tag["hparam/test_accuracy"][0].value, static_cast<float>(r.test_accuracy));

  // The same values through the independent decoder.
  nlohmann::json want = nlohmann::json::array();
  for (auto [step, loss] : losses) {
    want.push_back({{"kind", "scalar"}, {"tag", "train/loss"}, {"step", step},
                    {"value", static_cast<double>(static_cast<float>(loss))}});
    for (const train::EpochMetrics& m : r.history)  // logged after the epoch's last step
      if (m.step == step)
        want.push_back({{"kind", "scalar"}, {"tag", "epoch/test_accuracy"}, {"step", m.step},
                        {"value", static_cast<double>(static_cast<float>(m.test_accuracy))}});
  }
  want.push_back({{"kind", "hparams"}, {"tag", "_hparams_/session_start_info"}});
  testing::write_bytes(dir / "expect.json", nlohmann::json({{"records", want}}).dump());
  std::vector<std::string> files = event_files(r.run_dir);
  ASSERT_EQ(files.size(), 1u);
  testing::PythonCheck py = testing::run_check_events(files[0], dir / "expect.json", true);
  if (py.rc == 77) GTEST_SKIP() << py.output;
  EXPECT_EQ(py.rc, 0) << py.output;

  // --profile-steps 2: a trace with two step spans and the ops inside them.
  nlohmann::json trace = nlohmann::json::parse(testing::read_bytes(r.run_dir + "/trace.json"));
  int steps = 0, ops = 0, memory = 0;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "C") {  // the allocator's counter track, one sample per op
      memory += e["name"] == "memory";
      continue;
    }
    EXPECT_EQ(e["ph"], "X");
    steps += e["name"] == "train_step";
    ops += e["cat"] == "op";
  }
  EXPECT_EQ(steps, 2);
  EXPECT_GT(ops, 20);
  EXPECT_EQ(memory, ops);
}

TEST_F(TrainRun, NoTensorboardWritesNoEventFile) {
  testing::ScratchDir dir;
  train::TrainOptions o = options(dir / "run");
  o.epochs = 1;
  o.tensorboard = false;
  train::FitResult r = train::fit(o);
  EXPECT_TRUE(event_files(r.run_dir).empty());
  EXPECT_FALSE(std::filesystem::exists(r.run_dir + "/trace.json"));
}

}  // namespace
}  // namespace tandem::summary
