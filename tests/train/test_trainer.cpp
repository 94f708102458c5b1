// train::Trainer and its callbacks on a small synthetic classification problem: checkpoints
// keep exactly the best k and each resumes the uninterrupted run exactly (epoch ends and
// mid-epoch), EarlyStopping on a scripted metric, gradient accumulation = one big batch,
// clipping = clip_grad_norm_, the loggers' files, and the errors (non-scalar loss, NaN,
// a monitored value never logged, a throwing callback) with no checkpoint lost.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <tandem/io.h>
#include <tandem/nn.h>
#include <tandem/optim.h>
#include <tandem/train.h>

#include "test_util.h"
#include "train_test_util.h"

namespace tandem::testing {
namespace {
namespace fs = std::filesystem;
using train::Logs;

// 96 points in 8 dimensions, 3 classes by the sign pattern of two fixed projections.
std::shared_ptr<data::TensorDataset> blobs(int64_t n = 96) {
  Generator g(42);
  Tensor x = randn({n, 8}, {}, &g);
  Tensor score = x.narrow(1, 0, 1) + x.narrow(1, 1, 1) * 0.5;
  Tensor y = (gt(score, wrap_scalar(0.5)).to(DType::Int64) + gt(score, wrap_scalar(-0.5)).to(DType::Int64)).reshape({n});
  return std::make_shared<data::TensorDataset>(x, y);
}

std::shared_ptr<nn::Module> small_net(bool dropout = true) {
  manual_seed(3);
  if (!dropout)
    return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::Tanh>(),
                                            std::make_shared<nn::Linear>(16, 3));
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
                                          std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(16, 3));
}

train::TrainModule classifier(std::shared_ptr<nn::Module> model, double lr = 0.05) {
  train::TrainModule m;
  m.model = std::move(model);
  m.loss = [](const Tensor& out, const Tensor& y) { return cross_entropy(out, y); };
  m.optimizer = [lr](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = lr});
  };
  m.scheduler = [](optim::Optimizer& opt, int64_t total) {
    return std::make_unique<optim::CosineAnnealingLR>(opt, total);
  };
  m.metrics = {train::accuracy()};
  return m;
}

// Records every step's loss (step -> loss) and every epoch's logs.
struct Recorder {
  std::vector<std::pair<int64_t, double>> losses;
  std::vector<Logs> epochs;
  std::shared_ptr<train::LambdaCallback> callback() {
    return std::make_shared<train::LambdaCallback>(train::LambdaCallback::Hooks{
        .on_train_batch_end = [this](train::Trainer& t, Logs& l) { losses.emplace_back(t.global_step(), l.at("loss")); },
        .on_epoch_end = [this](train::Trainer&, Logs& l) { epochs.push_back(l); }});
  }
};

// A validation whose value per epoch is scripted (1-based epoch -> value).
std::function<Logs(nn::Module&)> scripted(std::vector<double> values, train::Trainer*& t) {
  return [values, &t](nn::Module&) { return Logs{{"val_score", values.at(t->epoch())}}; };
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Trainer, ModelCheckpointKeepsTheBestKAndEachResumesExactly) {
  std::string dir = fresh_temp_dir("trainer_topk");
  auto ds = blobs();
  const std::vector<double> script = {0.5, 0.3, 0.4, 0.2, 0.6, 0.25, 0.9};
  auto run = [&](const std::string& ckpt, Recorder& rec) {
    train::TrainModule m = classifier(small_net());
    train::Trainer trainer({.max_epochs = 7, .threads = 1, .progress_bar = false});
    train::Trainer* tp = &trainer;
    m.validate = scripted(script, tp);
    auto mc = std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
        .dirpath = dir, .monitor = "val_score", .mode = "min", .save_top_k = 2});
    trainer.add_callback(mc).add_callback(rec.callback());
    trainer.add_callback(std::make_shared<train::JsonlLogger>(dir + "_log/metrics.jsonl"));
    data::DataLoader loader(ds, {.batch_size = 16, .shuffle = true, .seed = 1});
    trainer.fit(m, loader, nullptr, ckpt);
    return mc->best();
  };
  Recorder full;
  auto best = run("", full);
  ASSERT_EQ(full.losses.size(), 7u * 6);
  // min over 0.5 0.3 0.4 0.2 0.6 0.25 0.9 with k = 2: epochs 4 (0.2) and 6 (0.25), nothing else.
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].first, 0.2);
  EXPECT_EQ(best[1].first, 0.25);
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"epoch=4-step=24.safetensors",
                                                     "epoch=6-step=36.safetensors", "last.safetensors"}));
  for (const auto& [epoch, file] : {std::pair{4, "epoch=4-step=24"}, std::pair{6, "epoch=6-step=36"}}) {
    Recorder resumed;
    auto best_again = run(dir + "/" + file + ".safetensors", resumed);
    size_t offset = size_t(epoch) * 6;
    ASSERT_EQ(resumed.losses.size(), full.losses.size() - offset) << file;
    for (size_t i = 0; i < resumed.losses.size(); ++i) {
      EXPECT_EQ(resumed.losses[i].first, full.losses[offset + i].first);
      EXPECT_EQ(resumed.losses[i].second, full.losses[offset + i].second) << file << " step " << i;
    }
    EXPECT_EQ(resumed.epochs.back().at("train_accuracy"), full.epochs.back().at("train_accuracy"));
    EXPECT_EQ(best_again, best) << "the kept set continues from the checkpoint's state";
    // metrics.jsonl keeps the epochs before the checkpoint and continues: 1..7 once each.
    std::ifstream in(dir + "_log/metrics.jsonl");
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) EXPECT_EQ(nlohmann::json::parse(line).at("epoch"), ++n);
    EXPECT_EQ(n, 7);
  }
}

TEST(Trainer, ResumeFromTheMiddleOfAnEpochRepeatsLossesAndEpochValues) {
  std::string dir = fresh_temp_dir("trainer_midepoch");
  auto ds = blobs();
  auto run = [&](const std::string& ckpt, Recorder& rec, int64_t every) {
    train::TrainModule m = classifier(small_net());
    m.metrics.push_back(train::f1_score(3));
    train::Trainer trainer({.max_epochs = 3, .threads = 1, .progress_bar = false});
    trainer.add_callback(std::make_shared<train::ModelCheckpoint>(train::ModelCheckpointOptions{
        .dirpath = dir, .save_top_k = -1, .every_n_steps = every}));
    trainer.add_callback(rec.callback());
    data::DataLoader loader(ds, {.batch_size = 16, .shuffle = true, .seed = 9});
    trainer.fit(m, loader, nullptr, ckpt);
  };
  Recorder full, resumed;
  run("", full, 4);  // steps 4, 8 (mid-epoch 2), 12 (epoch 2's end), 16
  ASSERT_TRUE(fs::exists(dir + "/epoch=2-step=8.safetensors"));
  run(dir + "/epoch=2-step=8.safetensors", resumed, 4);
  ASSERT_EQ(resumed.losses.size(), full.losses.size() - 8);
  for (size_t i = 0; i < resumed.losses.size(); ++i)
    EXPECT_EQ(resumed.losses[i].second, full.losses[8 + i].second) << "step " << 9 + i;
  // Epoch 2's mean loss and metrics include the 2 batches run before the checkpoint.
  ASSERT_EQ(resumed.epochs.size(), 2u);
  EXPECT_EQ(resumed.epochs[0].at("train_loss"), full.epochs[1].at("train_loss"));
  EXPECT_EQ(resumed.epochs[0].at("train_accuracy"), full.epochs[1].at("train_accuracy"));
  EXPECT_EQ(resumed.epochs[0].at("train_f1"), full.epochs[1].at("train_f1"));
}

TEST(Trainer, HooksRunInTheDocumentedOrder) {
  std::vector<std::string> calls;
  auto hook = [&](const char* name) { return [&calls, name](auto&&...) { calls.push_back(name); }; };
  train::Trainer trainer({.max_epochs = 2, .val_every_n_steps = 2, .progress_bar = false});
  trainer.add_callback(std::make_shared<train::LambdaCallback>(train::LambdaCallback::Hooks{
      .on_fit_start = hook("fit_start"), .on_epoch_start = hook("epoch_start"),
      .on_fit_end = hook("fit_end"), .on_train_batch_start = hook("batch_start"),
      .on_train_batch_end = hook("batch_end"), .on_validation_end = hook("validation_end"),
      .on_epoch_end = hook("epoch_end")}));
  train::TrainModule m = classifier(small_net());
  data::DataLoader loader(blobs(64), {.batch_size = 32});  // 2 steps per epoch
  data::DataLoader val(blobs(32), {.batch_size = 32});
  trainer.fit(m, loader, &val);
  std::vector<std::string> epoch = {"epoch_start", "batch_start", "batch_end", "batch_start",
                                    "batch_end", "validation_end",  // every 2 steps
                                    "validation_end", "epoch_end"};  // every epoch
  std::vector<std::string> want = {"fit_start"};
  for (int e = 0; e < 2; ++e) want.insert(want.end(), epoch.begin(), epoch.end());
  want.push_back("fit_end");
  EXPECT_EQ(calls, want);
}

TEST(Trainer, EarlyStoppingStopsAtThePatienceEpochOfAScriptedMetric) {
  auto ds = blobs(32);
  // min, patience 2, min_delta 0.005: best 1.0, 0.8 (better), 0.81 (wait 1), 0.79 (better by
  // 0.01), 0.795 (wait 1: not better by more than 0.005), 0.80 (wait 2: stop at epoch 6).
  std::vector<double> script = {1.0, 0.8, 0.81, 0.79, 0.795, 0.80, 0.5, 0.4};
  train::TrainModule m = classifier(small_net());
  train::Trainer trainer({.max_epochs = 8, .progress_bar = false});
  train::Trainer* tp = &trainer;
  m.validate = scripted(script, tp);
  auto es = std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{
      .monitor = "val_score", .mode = "min", .patience = 2, .min_delta = 0.005});
  trainer.add_callback(es);
  train::TrainResult r = trainer.fit(m, ds);
  EXPECT_EQ(es->stopped_epoch(), 6);
  EXPECT_EQ(r.history.size(), 6u);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_NE(r.stop_reason.find("val_score"), std::string::npos) << r.stop_reason;
  EXPECT_EQ(es->best(), 0.79);

  // mode max with patience 0: the first epoch that is not a new maximum stops.
  train::TrainModule m2 = classifier(small_net());
  train::Trainer t2({.max_epochs = 8, .progress_bar = false});
  tp = &t2;
  m2.validate = scripted({0.1, 0.2, 0.2, 0.3}, tp);
  auto es2 = std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{.monitor = "val_score", .mode = "max", .patience = 0});
  t2.add_callback(es2);
  EXPECT_EQ(t2.fit(m2, ds).history.size(), 3u);
}

TEST(Trainer, GradientAccumulationEqualsOneBigBatch) {
  auto ds = blobs(64);
  auto weights = [&](int64_t batch, int64_t accumulate) {
    train::TrainModule m = classifier(small_net(/*dropout=*/false), 0.01);
    m.optimizer = [](std::vector<Tensor> p) {
      return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
    };
    train::Trainer trainer({.max_epochs = 3, .accumulate_grad_batches = accumulate, .progress_bar = false});
    data::DataLoader loader(ds, {.batch_size = batch});  // same order for both
    train::TrainResult r = trainer.fit(m, loader);
    EXPECT_EQ(r.global_step, 3 * 2);  // 64 samples = 2 optimizer steps of 32 per epoch
    return m.model->state_dict();
  };
  auto micro = weights(8, 4);
  auto big = weights(32, 1);
  for (const auto& [name, w] : big) EXPECT_ALL_CLOSE(micro.at(name), w, 1e-6, 1e-5) << name;
}

TEST(Trainer, ClippingEqualsClipGradNorm) {
  auto ds = blobs(32);
  auto sgd = [](std::vector<Tensor> p) {
    return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.5});
  };
  train::TrainModule m = classifier(small_net(false));
  m.optimizer = sgd;
  m.scheduler = nullptr;
  train::Trainer trainer({.max_epochs = 1, .gradient_clip_norm = 0.05, .progress_bar = false});
  data::DataLoader loader(ds, {.batch_size = 32});
  trainer.fit(m, loader);

  // By hand: the same step with nn::utils::clip_grad_norm_.
  auto model = small_net(false);
  auto opt = sgd(model->parameters());
  data::Batch b = *loader.begin();
  opt->zero_grad();
  cross_entropy((*model)(b.data), b.target).backward();
  double norm = nn::utils::clip_grad_norm_(model->parameters(), 0.05);
  EXPECT_GT(norm, 0.05);  // the clipping did something
  opt->step();
  auto want = model->state_dict();
  for (const auto& [name, w] : m.model->state_dict()) EXPECT_ALL_CLOSE(w, want.at(name), 0.0, 0.0) << name;
}

TEST(Trainer, CompiledStepGivesTheEagerLossesAndMetrics) {
  auto ds = blobs(64);
  auto run = [&](bool compiled) {
    train::TrainModule m = classifier(small_net(false));
    Recorder rec;
    train::Trainer trainer({.max_epochs = 2, .compile = compiled, .threads = 1, .progress_bar = false});
    trainer.add_callback(rec.callback());
    data::DataLoader loader(ds, {.batch_size = 24});  // 24, 24, 16: two graphs
    trainer.fit(m, loader);
    return rec;
  };
  Recorder eager = run(false), graph = run(true);
  ASSERT_EQ(graph.losses.size(), 6u);
  // Within float rounding: the graph's fused tanh + matmul sum in another order.
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(graph.losses[i].second, eager.losses[i].second, 1e-5);
  EXPECT_EQ(graph.epochs.back().at("train_accuracy"), eager.epochs.back().at("train_accuracy"));
}

TEST(Trainer, LoggersWriteJsonlCsvAndLearningRates) {
  std::string dir = fresh_temp_dir("trainer_loggers");
  auto ds = blobs(64);
  train::TrainModule m = classifier(small_net());
  m.metrics.push_back(train::top_k_accuracy(2));
  Recorder rec;
  std::vector<double> lrs;
  train::Trainer trainer({.max_epochs = 2, .progress_bar = false});
  trainer.add_callback(std::make_shared<train::LearningRateMonitor>())
      .add_callback(std::make_shared<train::JsonlLogger>(dir + "/m.jsonl"))
      .add_callback(std::make_shared<train::CsvLogger>(dir + "/m.csv"))
      .add_callback(std::make_shared<train::LambdaCallback>(train::LambdaCallback::Hooks{
          .on_train_batch_end = [&](train::Trainer& t, Logs& l) {
            lrs.push_back(l.at("lr-Adam"));
            EXPECT_EQ(l.at("lr-Adam"), t.optimizer().lr());
          }}, "check", /*order=*/10))
      .add_callback(rec.callback());
  trainer.fit(m, ds, blobs(32));
  ASSERT_EQ(lrs.size(), 4u);
  EXPECT_GT(lrs[0], lrs[3]);  // cosine decays
  std::ifstream jl(dir + "/m.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(jl, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("epoch"), n + 1);
    EXPECT_EQ(j.at("val_loss").get<double>(), rec.epochs[n].at("val_loss"));
    EXPECT_TRUE(j.contains("val_top2_accuracy") && j.contains("train_accuracy"));
    ++n;
  }
  EXPECT_EQ(n, 2);
  std::ifstream csv(dir + "/m.csv");
  std::getline(csv, line);
  EXPECT_EQ(line.substr(0, 6), "epoch,");
  EXPECT_NE(line.find("val_accuracy"), std::string::npos);
  int rows = 0;
  while (std::getline(csv, line)) rows += !line.empty();
  EXPECT_EQ(rows, 2);
}

// ---- errors

TEST(TrainerErrors, NonScalarLossNamesItsShape) {
  train::TrainModule m = classifier(small_net());
  m.loss = [](const Tensor& out, const Tensor& y) {
    return cross_entropy(out, y, Tensor(), -100, Reduction::None);
  };
  train::Trainer trainer({.progress_bar = false});
  EXPECT_TRUE(throws_error([&] { trainer.fit(m, blobs(32)); }, {"scalar", "[32]", "step 1", "epoch 1"}));
}

TEST(TrainerErrors, NanLossStopsNamingStepAndEpochAndKeepsTheLastCheckpoint) {
  std::string dir = fresh_temp_dir("trainer_nan");
  train::TrainModule m = classifier(small_net());
  int64_t calls = 0;
  m.training_step = [&](nn::Module& net, const data::Batch& b) {
    Tensor loss = cross_entropy(net(b.data), b.target);
    if (++calls == 5) loss = loss * std::nan("");  // step 5 = the second batch of epoch 2
    return train::StepOutput{loss};
  };
  train::Trainer trainer({.max_epochs = 3, .checkpoint_dir = dir, .progress_bar = false});
  data::DataLoader loader(blobs(96), {.batch_size = 32});
  EXPECT_TRUE(throws_error([&] { trainer.fit(m, loader); },
                           {"nan", "step 5", "epoch 2", dir + "/last.safetensors"}));
  io::Checkpoint ck = io::load_checkpoint(dir + "/last.safetensors");
  EXPECT_EQ(ck.epoch, 1);
  EXPECT_EQ(ck.step, 3);
  for (const auto& [name, w] : ck.model)
    EXPECT_TRUE(std::isfinite(w.abs().sum().item())) << name;
}

TEST(TrainerErrors, AMonitoredValueThatIsNeverLoggedNamesWhatWas) {
  std::string dir = fresh_temp_dir("trainer_monitor");
  auto ds = blobs(32);
  {
    train::TrainModule m = classifier(small_net());
    train::Trainer trainer({.max_epochs = 2, .progress_bar = false});
    trainer.add_callback(std::make_shared<train::ModelCheckpoint>(
        train::ModelCheckpointOptions{.dirpath = dir, .monitor = "val_acc"}));
    EXPECT_TRUE(throws_error([&] { trainer.fit(m, ds, ds); },
                             {"ModelCheckpoint", "'val_acc'", "never logged", "val_accuracy"}));
  }
  {
    train::TrainModule m = classifier(small_net());
    train::Trainer trainer({.max_epochs = 2, .progress_bar = false});
    trainer.add_callback(std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{.monitor = "val_loss"}));
    // No validation data: val_loss can never appear.
    EXPECT_TRUE(throws_error([&] { trainer.fit(m, ds); }, {"EarlyStopping", "'val_loss'", "train_loss"}));
  }
}

TEST(TrainerErrors, AThrowingCallbackIsNamedAndEarlierCheckpointsStay) {
  std::string dir = fresh_temp_dir("trainer_throw");
  train::TrainModule m = classifier(small_net());
  train::Trainer trainer({.max_epochs = 3, .checkpoint_dir = dir, .progress_bar = false});
  trainer.add_callback(std::make_shared<train::LambdaCallback>(
      train::LambdaCallback::Hooks{.on_epoch_end = [](train::Trainer& t, Logs&) {
        if (t.epoch() == 1) throw std::runtime_error("disk quota exceeded");
      }},
      "QuotaCheck"));
  EXPECT_TRUE(throws_error([&] { trainer.fit(m, blobs(32)); },
                           {"QuotaCheck", "on_epoch_end", "epoch 2", "disk quota exceeded"}));
  EXPECT_EQ(io::load_checkpoint(dir + "/last.safetensors").epoch, 1);
}

// precision "bf16": the loop under autocast, eager and compiled, trains like float32 and leaves
// float32 parameters (tests/ops/test_autocast.cpp checks the numbers op by op).
TEST(Trainer, Bf16PrecisionTrainsLikeFloat32EagerAndCompiled) {
  auto ds = blobs(64);
  auto final_loss = [&](const std::string& precision, bool compile) {
    manual_seed(0);
    train::TrainModule m = classifier(small_net());
    train::TrainResult r = train::Trainer({.max_epochs = 4, .precision = precision, .compile = compile,
                                           .batch_size = 16, .progress_bar = false})
                               .fit(m, ds);
    for (const Tensor& p : m.model->parameters()) EXPECT_EQ(p.dtype(), kFloat32);
    return std::make_pair(r.history.front().at("train_loss"), r.history.back().at("train_loss"));
  };
  auto [f0, f1] = final_loss("fp32", false);
  for (bool compile : {false, true}) {
    auto [b0, b1] = final_loss("bf16", compile);
    EXPECT_NE(b1, f1) << "compile " << compile;  // really ran in bf16
    EXPECT_NEAR(b0, f0, 0.05 * f0) << "compile " << compile;
    EXPECT_NEAR(b1, f1, 0.05 + 0.2 * f1) << "compile " << compile;
    EXPECT_LT(b1, 0.8 * b0) << "compile " << compile;
  }
}

TEST(TrainerErrors, BadOptionsAndMissingPartsAreClear) {
  train::TrainModule m = classifier(small_net());
  auto ds = blobs(32);
  EXPECT_TRUE(throws_error([&] { train::Trainer({.precision = "fp16"}).fit(m, ds); }, {"fp16", "fp32", "bf16"}));
  EXPECT_TRUE(throws_error([&] { train::Trainer({.accumulate_grad_batches = 0}).fit(m, ds); }, {"accumulate_grad_batches"}));
  EXPECT_TRUE(throws_error([&] { train::Trainer({.accumulate_grad_batches = 2, .compile = true}).fit(m, ds); }, {"compile"}));
  train::TrainModule empty;
  EXPECT_TRUE(throws_error([&] { train::Trainer().fit(empty, ds); }, {"model"}));
}

}  // namespace
}  // namespace tandem::testing
