// The fit/evaluate loop (include/tandem/train/fit.h).
#include "tandem/train/fit.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tandem/autograd.h"
#include "tandem/compile.h"
#include "tandem/data.h"
#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/io.h"
#include "tandem/models.h"
#include "tandem/ops.h"
#include "tandem/optim.h"
#include "tandem/train/progress.h"
#include "run_log.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tandem::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string data_dir(const std::string& data) {
  return data == "fashion-mnist" ? std::string(data::kFashionMnistDir) : data;
}

// "train-images-idx3-ubyte" or its .gz, whichever exists ("" when neither).
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const auto& name : {stem + ".gz", stem}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p.string();
  }
  return "";
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                 std::vector<Tensor> params) {
  if (o.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(
        std::move(params),
        optim::SGDOptions{.lr = o.lr > 0 ? o.lr : 0.01, .momentum = o.momentum,
                          .weight_decay = o.weight_decay >= 0 ? o.weight_decay : 0.0});
  }
  if (o.optimizer == "adam") {
    return std::make_unique<optim::Adam>(
        std::move(params), optim::AdamOptions{.lr = o.lr > 0 ? o.lr : 1e-3,
                                              .weight_decay = o.weight_decay >= 0 ? o.weight_decay : 0.0});
  }
  if (o.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(
        std::move(params), optim::AdamWOptions{.lr = o.lr > 0 ? o.lr : 1e-3,
                                               .weight_decay = o.weight_decay >= 0 ? o.weight_decay : 1e-2});
  }
  TANDEM_FAIL("train: unknown optimizer '{}'; choose sgd, adam or adamw", o.optimizer);
}

// Per-step schedules over the whole run (`epochs` × steps per epoch).
std::unique_ptr<optim::LRScheduler> make_scheduler(const TrainOptions& o, optim::Optimizer& opt,
                                                   int64_t total_steps) {
  if (o.schedule == "none") return nullptr;
  if (o.schedule == "cosine") return std::make_unique<optim::CosineAnnealingLR>(opt, total_steps);
  if (o.schedule == "onecycle") return std::make_unique<optim::OneCycleLR>(opt, opt.lr(), total_steps);
  TANDEM_FAIL("train: unknown schedule '{}'; choose none, cosine or onecycle", o.schedule);
}

data::Transform make_augment(const std::string& augment) {
  if (augment == "none") return {};
  if (augment == "crop") return data::random_crop(28, 2);
  if (augment == "crop+flip") {
    return data::compose({data::random_crop(28, 2), data::random_horizontal_flip(0.5)});
  }
  TANDEM_FAIL("train: unknown augmentation '{}'; choose none, crop or crop+flip", augment);
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// What must match between a checkpoint and the run resuming it (else the curve differs).
std::map<std::string, std::string> recipe(const TrainOptions& o, const std::string& model_name) {
  std::map<std::string, std::string> r = {
      {"model", model_name},         {"optimizer", o.optimizer},
      {"batch_size", std::to_string(o.batch_size)},
      {"seed", std::to_string(o.seed)},
      {"schedule", o.schedule},      {"augment", o.augment},
      {"train_limit", std::to_string(o.train_limit)}};
  // A schedule spans all epochs: changing their number changes every lr after the resume.
  // Without one, a finished run may be extended.
  if (o.schedule != "none") r["epochs"] = std::to_string(o.epochs);
  return r;
}

json epoch_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"step", m.step},
          {"train_loss", m.train_loss},
          {"test_loss", m.test_loss},
          {"test_accuracy", m.test_accuracy},
          {"lr", m.lr},
          {"train_seconds", m.train_seconds},
          {"eval_seconds", m.eval_seconds},
          {"samples_per_second", m.samples_per_second}};
}

// metrics.jsonl of a resumed run keeps the lines of the epochs before `first_epoch`.
void trim_metrics(const std::string& path, int64_t last_kept_epoch) {
  std::vector<std::string> kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("epoch") && j["epoch"].get<int64_t>() <= last_kept_epoch)
        kept.push_back(line);
    }
  }
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : kept) out << l << '\n';
}

}  // namespace

std::string to_json(const FitResult& r, const std::string& model_name) {
  json j = {{"model", model_name},
            {"test_accuracy", r.test_accuracy},
            {"test_loss", r.test_loss},
            {"train_loss", r.train_loss},
            {"epochs", r.epochs},
            {"seconds", r.seconds},
            {"samples_per_second", r.samples_per_second}};
  json per_epoch = json::array();
  for (const auto& m : r.history) per_epoch.push_back(epoch_json(m));
  j["history"] = per_epoch;
  if (!r.run_dir.empty()) {
    j["run_dir"] = r.run_dir;
    j["model_path"] = r.model_path;
    j["checkpoint_path"] = r.checkpoint_path;
    j["metrics_path"] = r.metrics_path;
  }
  return j.dump();
}

std::shared_ptr<data::Dataset> load_dataset(const std::string& data, bool train, int64_t limit) {
  std::string dir = data_dir(data);
  TANDEM_CHECK(fs::is_directory(dir),
               "data directory '{}' not found; give --data fashion-mnist (Debian's "
               "dataset-fashion-mnist, installed by scripts/setup.sh) or a directory with "
               "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
               "t10k-labels-idx1-ubyte (each optionally .gz)",
               dir);
  std::string prefix = train ? "train" : "t10k";
  std::string images = find_idx(dir, prefix + "-images-idx3-ubyte");
  std::string labels = find_idx(dir, prefix + "-labels-idx1-ubyte");
  TANDEM_CHECK(!images.empty() && !labels.empty(),
               "data directory '{}' has no {}-images-idx3-ubyte[.gz] and "
               "{}-labels-idx1-ubyte[.gz]: it must hold the IDX files of an MNIST-like dataset",
               dir, prefix, prefix);
  auto ds = data::idx_dataset(images, labels);
  Tensor x = ds->data();
  Tensor y = ds->targets();
  TANDEM_CHECK(x.dim() >= 3 && x.size(-1) == 28 && x.size(-2) == 28,
               "{}: expected 28×28 images, got shape {}", images, x.shape());
  if (limit > 0 && limit < x.size(0)) {
    x = x.narrow(0, 0, limit);
    y = y.narrow(0, 0, limit);
  }
  if (x.dim() == 3) x = x.unsqueeze(1);  // [N, 28, 28] -> [N, 1, 28, 28]
  if (x.dtype() != DType::Float32) x = x.to(DType::Float32) / 255.0;
  // Normalized once here rather than per sample in the loader: one pass over the data.
  x = ((x - kPixelMean) / kPixelStd).contiguous();
  if (y.dtype() != DType::Int64) y = y.to(DType::Int64);
  return std::make_shared<data::TensorDataset>(x, y.contiguous());
}

EvalResult evaluate(nn::Module& model, const data::Dataset& ds, int64_t batch_size) {
  auto t0 = Clock::now();
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t n = ds.size();
  // The dataset is not owned here, so batches are gathered by hand (no DataLoader); a
  // TensorDataset's batches are plain slices of its tensors (no copy).
  const auto* tensors = dynamic_cast<const data::TensorDataset*>(&ds);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    int64_t end = std::min(n, begin + batch_size);
    data::Batch b;
    if (tensors && tensors->targets().defined()) {
      b.data = tensors->data().narrow(0, begin, end - begin);
      b.target = tensors->targets().narrow(0, begin, end - begin);
    } else {
      std::vector<data::Example> examples;
      examples.reserve(static_cast<size_t>(end - begin));
      for (int64_t i = begin; i < end; ++i) examples.push_back(ds.get(i));
      b = data::default_collate(std::move(examples));
    }
    Tensor logits = model(b.data);
    loss_sum += cross_entropy(logits, b.target, Tensor(), -100, Reduction::Sum).item();
    correct += eq(argmax(logits, 1), b.target).sum().item<int64_t>();
  }
  model.train(was_training);
  r.samples = n;
  r.loss = n > 0 ? loss_sum / n : 0.0;
  r.accuracy = n > 0 ? static_cast<double>(correct) / n : 0.0;
  r.seconds = seconds_since(t0);
  return r;
}

FitResult fit(const TrainOptions& options, std::shared_ptr<nn::Module> model) {
  auto t_start = Clock::now();
  TrainOptions o = options;
  std::ostream& out = o.out ? *o.out : std::cout;
  TANDEM_CHECK(o.epochs > 0, "train: --epochs must be positive, got {}", o.epochs);
  TANDEM_CHECK(o.batch_size > 0, "train: --batch-size must be positive, got {}", o.batch_size);
  TANDEM_CHECK(o.lr >= 0 && std::isfinite(o.lr), "train: --lr must be positive, got {}", o.lr);
  if (o.threads > 0) set_num_threads(o.threads);
  const std::string model_name = model ? model->name() : o.model;

  // Data first: a missing directory is the likeliest mistake and should fail fast.
  auto train_set = load_dataset(o.data, true, o.train_limit);
  auto test_set = load_dataset(o.data, false, o.test_limit);

  manual_seed(o.seed);
  if (!model) model = models::create(o.model);
  auto opt = make_optimizer(o, model->parameters());

  data::DataLoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = true;
  lo.seed = o.seed;
  lo.transform = make_augment(o.augment);
  lo.num_workers = o.workers >= 0 ? o.workers : (lo.transform ? 1 : 0);
  data::DataLoader loader(train_set, lo);
  const int64_t steps_per_epoch = loader.num_batches();
  auto sched = make_scheduler(o, *opt, o.epochs * steps_per_epoch);

  // ---- resume
  int64_t start_epoch = 0, step = 0;
  if (!o.resume.empty()) {
    io::Checkpoint ck = io::load_checkpoint(o.resume);
    for (const auto& [key, value] : recipe(o, model_name)) {
      auto it = ck.extra.find(key);
      TANDEM_CHECK(it != ck.extra.end() && it->second == value,
                   "train: checkpoint {} was made with {} = {}, this run has {}: resume with the "
                   "same settings (a different value would not continue the same run)",
                   o.resume, key, it == ck.extra.end() ? "(missing)" : it->second, value);
    }
    model->load_state_dict(ck.model);
    opt->load_state_dict(ck.optimizer);
    if (sched) sched->load_state_dict(ck.scheduler);
    default_generator().set_state(ck.rng_state);
    start_epoch = ck.epoch;
    step = ck.step;
    TANDEM_CHECK(start_epoch < o.epochs,
                 "train: checkpoint {} already finished epoch {} of {}; nothing to do",
                 o.resume, start_epoch, o.epochs);
    if (o.out_dir.empty()) o.out_dir = fs::path(o.resume).parent_path().string();
  }

  // ---- run directory
  FitResult result;
  if (o.write_files) {
    if (o.out_dir.empty()) {
      o.out_dir = (fs::path("runs") / fmt::format("{}-{}", model_name, timestamp())).string();
      fs::create_directories(o.out_dir);
      // runs/latest -> the newest run, for the commands that follow a demo.
      std::error_code ec;
      fs::path latest = fs::path("runs") / "latest";
      fs::remove(latest, ec);
      fs::create_directory_symlink(fs::path(o.out_dir).filename(), latest, ec);
    }
    std::error_code ec;
    fs::create_directories(o.out_dir, ec);
    TANDEM_CHECK(fs::is_directory(o.out_dir), "train: cannot create the run directory '{}': {}",
                 o.out_dir, ec.message());
    result.run_dir = o.out_dir;
    result.model_path = (fs::path(o.out_dir) / "model.safetensors").string();
    result.checkpoint_path = (fs::path(o.out_dir) / "checkpoint.safetensors").string();
    result.metrics_path = (fs::path(o.out_dir) / "metrics.jsonl").string();
    if (start_epoch > 0 && fs::exists(result.metrics_path)) {
      trim_metrics(result.metrics_path, start_epoch);
    } else {
      std::ofstream(result.metrics_path, std::ios::trunc);
    }
  }

  bool progress = o.progress.value_or(stdout_is_terminal() && &out == &std::cout);
  if (o.verbose) {
    out << fmt::format("{} on {} ({} train / {} test images): {} epochs, batch {}, {} lr {:g}, "
                       "schedule {}, augment {}, {} threads{}\n",
                       model_name, o.data, train_set->size(), test_set->size(), o.epochs,
                       o.batch_size, o.optimizer, opt->lr(), o.schedule, o.augment,
                       get_num_threads(),
                       start_epoch > 0 ? fmt::format(", resuming after epoch {}", start_epoch) : "");
  }

  RunLog log(o, result.run_dir, model_name, *model, *test_set, opt->lr());
  int64_t last_epoch = o.stop_after_epoch > 0 ? std::min(o.stop_after_epoch, o.epochs) : o.epochs;
  double train_seconds_total = 0;
  int64_t train_samples_total = 0;
  model->train();
  // One training step: zero_grad, forward, loss, backward, optimizer step. With --compile the
  // same code is captured by tandem::compile (one graph per batch size: the loss's 1/N
  // depends on it) and later steps run the cached Plan.
  optim::Optimizer* optimizer = opt.get();
  auto eager_step = [model, optimizer](const Tensor& x, const Tensor& y) {
    optimizer->zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    loss.backward();
    optimizer->step();
    return loss;
  };
  std::function<Tensor(const Tensor&, const Tensor&)> train_step = eager_step;
  if (o.compile) {
    CompileOptions co;
    co.modules = {model};
    train_step = compile(eager_step, co);
  }
  for (int64_t epoch = start_epoch; epoch < last_epoch; ++epoch) {
    loader.set_epoch(epoch);
    ProgressBar bar(out, fmt::format("epoch {}/{}", epoch + 1, o.epochs), steps_per_epoch,
                    progress);
    auto t0 = Clock::now();
    double loss_sum = 0;
    int64_t seen = 0, batch_index = 0;
    for (auto& batch : loader) {
      log.begin_step(step + 1);
      Tensor loss = train_step(batch.data, batch.target);
      if (sched) sched->step();
      ++step;
      double l = loss.item();
      TANDEM_CHECK(std::isfinite(l),
                   "train: the loss became {} at step {} (epoch {}); lower --lr or change "
                   "the optimizer", l, step, epoch + 1);
      int64_t n = batch.data.size(0);
      loss_sum += l * n;
      seen += n;
      ++batch_index;
      log.end_step(step, l, opt->lr(), n);
      if (o.on_step) o.on_step(step, l);
      if (o.verbose) bar.update(batch_index, loss_sum / seen, seen / seconds_since(t0));
    }
    double train_seconds = seconds_since(t0);
    bar.finish();

    EvalResult ev = evaluate(*model, *test_set);
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.step = step;
    m.train_loss = seen > 0 ? loss_sum / seen : 0.0;
    m.test_loss = ev.loss;
    m.test_accuracy = ev.accuracy;
    m.lr = opt->lr();
    m.train_seconds = train_seconds;
    m.eval_seconds = ev.seconds;
    m.samples_per_second = seen / train_seconds;
    result.history.push_back(m);
    log.end_epoch(m);
    train_seconds_total += train_seconds;
    train_samples_total += seen;
    if (o.verbose) {
      out << fmt::format("epoch {}/{}  train loss {:.4f}  test loss {:.4f}  test accuracy "
                         "{:.2f}%  {:.1f} s  {:.0f} samples/s\n",
                         m.epoch, o.epochs, m.train_loss, m.test_loss, 100 * m.test_accuracy,
                         train_seconds + ev.seconds, m.samples_per_second)
          << std::flush;
    }

    if (o.write_files) {
      io::Checkpoint ck;
      ck.model = model->state_dict();
      ck.optimizer = opt->state_dict();
      if (sched) ck.scheduler = sched->state_dict();
      ck.rng_state = default_generator().get_state();
      ck.epoch = m.epoch;
      ck.step = step;
      ck.extra = recipe(o, model_name);
      io::save_checkpoint(result.checkpoint_path, ck);
      std::ofstream(result.metrics_path, std::ios::app) << epoch_json(m).dump() << '\n';
    }
  }

  if (!result.history.empty()) {
    const auto& last = result.history.back();
    result.epochs = last.epoch;
    result.test_accuracy = last.test_accuracy;
    result.test_loss = last.test_loss;
    result.train_loss = last.train_loss;
  } else {
    result.epochs = start_epoch;
  }
  result.samples_per_second =
      train_seconds_total > 0 ? train_samples_total / train_seconds_total : 0.0;
  if (o.write_files) {
    io::save_safetensors(result.model_path, model->state_dict(),
                         {{"framework", "tandem"},
                          {"model", model_name},
                          {"epochs", std::to_string(result.epochs)},
                          {"normalize_mean", fmt::format("{}", kPixelMean)},
                          {"normalize_std", fmt::format("{}", kPixelStd)}});
  }
  result.seconds = seconds_since(t_start);
  if (o.verbose && o.write_files) {
    out << fmt::format("wrote {}\n      {}\n      {}\n", result.model_path,
                       result.checkpoint_path, result.metrics_path);
  }
  log.finish(result);  // hparams with the final metrics; prints the event file under "wrote"
  return result;
}

}  // namespace tandem::train
