// The fit/evaluate loop (include/tandem/train/fit.h).
#include "tandem/train/fit.h"

#include <sys/resource.h>

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
#include "tandem/data/sql.h"
#include "tandem/error.h"
#include "tandem/generator.h"
#include "tandem/io.h"
#include "tandem/memory.h"
#include "tandem/models.h"
#include "tandem/ops.h"
#include "tandem/optim.h"
#include "tandem/distributed/ddp.h"
#include "tandem/train/progress.h"
#include "tandem/summary.h"
#include "tandem/train/callbacks.h"
#include "tandem/train/trainer.h"
#include "metrics_file.h"
#include "optimizer_factory.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tandem::train {
namespace {

using Clock = std::chrono::steady_clock;
double elapsed_seconds(Clock::time_point t0) {
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

}  // namespace

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

namespace {

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
      {"model", model_name},         {"data", data::redact_url(o.data)},
      {"optimizer", o.optimizer},
      {"batch_size", std::to_string(o.batch_size)},
      {"seed", std::to_string(o.seed)},
      {"schedule", o.schedule},      {"augment", o.augment},
      {"train_limit", std::to_string(o.train_limit)}};
  if (o.precision != "fp32") r["precision"] = o.precision;  // fp32 runs keep their old recipe
  // A schedule spans all epochs: changing their number changes every lr after the resume.
  // Without one, a finished run may be extended.
  if (o.schedule != "none") r["epochs"] = std::to_string(o.epochs);
  if (data::is_sql_url(o.data)) {
    r["table"] = o.table;
    r["test_table"] = o.test_table;  // so a resumed run evaluates on the same rows
  }
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
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    text = os.str();
  }
  // Rewritten atomically: a resume killed here keeps the previous metrics whole.
  io::write_file_atomic(path, [&](std::ostream& out) {
    for (const auto& l : metrics_lines_to_keep(text, last_kept_epoch)) out << l << '\n';
  });
}

}  // namespace

std::string to_json(const FitResult& r, const std::string& model_name) {
  json j = {{"model", model_name},
            {"test_accuracy", r.test_accuracy},
            {"test_loss", r.test_loss},
            {"train_loss", r.train_loss},
            {"epochs", r.epochs},
            {"seconds", r.seconds},
            {"samples_per_second", r.samples_per_second},
            {"peak_rss_bytes", r.peak_rss_bytes},
            {"peak_allocated_bytes", r.peak_allocated_bytes}};
  json per_epoch = json::array();
  for (const auto& m : r.history) per_epoch.push_back(epoch_json(m));
  j["history"] = per_epoch;
  if (r.world_size > 1 || r.allreduce_seconds > 0) {
    j["world_size"] = r.world_size;
    j["train_seconds"] = r.train_seconds;
    j["allreduce_seconds"] = r.allreduce_seconds;
    j["allreduce_exposed_seconds"] = r.allreduce_exposed_seconds;
  }
  if (!r.run_dir.empty()) {
    j["run_dir"] = r.run_dir;
    j["model_path"] = r.model_path;
    j["checkpoint_path"] = r.checkpoint_path;
    j["metrics_path"] = r.metrics_path;
  }
  return j.dump();
}

namespace {

// What `tandem data import` writes: (id 0..N-1, image bytes [1, 28, 28], label).
data::SqlOptions sql_images(const std::string& table) {
  return {.table = table, .target = "label", .features = {"image"},
          .columns = {{.name = "image", .kind = data::SqlKind::Bytes, .shape = {1, 28, 28}}},
          .key = "id"};
}
std::string sql_table_name(const std::string& table, bool train) {
  return table.empty() ? (train ? "train" : "test") : table;
}

// Bytes → the float32 pixels load_dataset gives (the same operations, so the same bits).
data::Batch normalize_images(data::Batch b) {
  Tensor x = empty(b.data.shape(), {DType::Float32});
  const uint8_t* src = b.data.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  b.data = ((x - kPixelMean) / kPixelStd).contiguous();
  return b;
}

}  // namespace

std::shared_ptr<data::Dataset> load_dataset(const std::string& data, bool train, int64_t limit,
                                            const std::string& table) {
  // The pixels stay uint8 (one copy of the set); the DataLoader's workers convert and
  // normalize each batch (data::ImageDataset), giving the bits a whole-set conversion gave.
  Tensor x, y;
  std::string images;
  if (data::is_sql_url(data)) {
    std::string t = sql_table_name(table, train);
    data::SqlOptions so = sql_images(t);
    so.table.clear();
    so.query = fmt::format("SELECT image, label FROM {} ORDER BY id", t);
    auto ds = data::read_sql(data, so, limit);
    x = ds->data();
    y = ds->targets();
    images = data::redact_url(data) + " table " + t;
  } else {
    std::string dir = data_dir(data);
    TANDEM_CHECK(fs::is_directory(dir),
                 "data directory '{}' not found; give --data fashion-mnist (Debian's "
                 "dataset-fashion-mnist, installed by scripts/setup.sh) or a directory with "
                 "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                 "t10k-labels-idx1-ubyte (each optionally .gz)",
                 dir);
    std::string prefix = train ? "train" : "t10k";
    images = find_idx(dir, prefix + "-images-idx3-ubyte");
    std::string labels = find_idx(dir, prefix + "-labels-idx1-ubyte");
    TANDEM_CHECK(!images.empty() && !labels.empty(),
                 "data directory '{}' has no {}-images-idx3-ubyte[.gz] and "
                 "{}-labels-idx1-ubyte[.gz]: it must hold the IDX files of an MNIST-like dataset",
                 dir, prefix, prefix);
    // With a limit only the kept images are read (and decompressed).
    x = data::read_idx(images, limit);
    y = data::read_idx(labels, limit);
    TANDEM_CHECK(x.dtype() == DType::UInt8 && x.dim() == 3,
                 "{} holds {} {}, expected uint8 images [N, H, W]", images, x.dtype(),
                 shape_str(x.shape()));
    TANDEM_CHECK(y.dim() == 1 && is_integral(y.dtype()) && y.size(0) == x.size(0),
                 "{}: {} images but the labels file holds {} {}", images, x.size(0), y.dtype(),
                 shape_str(y.shape()));
  }
  TANDEM_CHECK(x.dim() >= 3 && x.size(-1) == 28 && x.size(-2) == 28,
               "{}: expected 28×28 images, got shape {}", images, x.shape());
  if (limit > 0 && limit < x.size(0)) {
    x = x.narrow(0, 0, limit);
    y = y.narrow(0, 0, limit);
  }
  return std::make_shared<data::ImageDataset>(x, y, kPixelMean, kPixelStd);
}

namespace {
std::vector<int64_t> arange_indices(int64_t begin, int64_t end) {
  std::vector<int64_t> v(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) v[static_cast<size_t>(i - begin)] = i;
  return v;
}
}  // namespace

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
  // TensorDataset's batches are plain slices of its tensors (no copy); an ImageDataset
  // converts each batch (get_batch).
  const auto* tensors = dynamic_cast<const data::TensorDataset*>(&ds);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    int64_t end = std::min(n, begin + batch_size);
    data::Batch b;
    if (tensors && tensors->targets().defined()) {
      b.data = tensors->data().narrow(0, begin, end - begin);
      b.target = tensors->targets().narrow(0, begin, end - begin);
    } else if (auto whole = ds.get_batch(arange_indices(begin, end).data(), end - begin)) {
      b = std::move(*whole);
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
  r.seconds = elapsed_seconds(t0);
  return r;
}

namespace {

// What `tandem train` adds to the Trainer: the per-epoch record (history, metrics.jsonl,
// the epoch line), on_step, the header, and --stop-after.
class FitRecorder : public Callback {
 public:
  FitRecorder(const TrainOptions& o, const std::string& model_name, const data::Dataset& train_set,
              const data::Dataset& test_set, FitResult& result, TensorBoardLogger* tb)
      : o_(o), model_name_(model_name), train_set_(train_set), test_set_(test_set), r_(result), tb_(tb) {}
  std::string name() const override { return "FitRecorder"; }
  void on_fit_start(Trainer& t) override {
    double lr = t.optimizer().lr();  // after the scheduler's initial step, as it trains
    if (tb_) tb_->options().hparams_numbers["lr"] = lr;
    if (!o_.verbose) return;
    t.out() << fmt::format(
        "{} on {} ({} train / {} test images): {} epochs, batch {}, {} lr {:g}, schedule {}, "
        "augment {}, {} threads{}\n",
        model_name_, o_.data, train_set_.size(), test_set_.size(), o_.epochs, o_.batch_size,
        o_.optimizer, lr, o_.schedule, o_.augment, get_num_threads(),
        t.start_epoch() > 0 ? fmt::format(", resuming after epoch {}", t.start_epoch()) : "");
  }
  void on_train_batch_end(Trainer& t, Logs& logs) override {
    if (o_.on_step) o_.on_step(t.global_step(), logs.at("loss"));
  }
  void on_epoch_end(Trainer& t, Logs& logs) override {
    EpochMetrics m;
    m.epoch = t.epoch() + 1;
    m.step = t.global_step();
    m.train_loss = logs.at("train_loss");
    m.test_loss = logs.at("test_loss");
    m.test_accuracy = logs.at("test_accuracy");
    m.lr = logs.at("lr");
    m.train_seconds = logs.at("train_seconds");
    m.eval_seconds = logs.at("eval_seconds");
    m.samples_per_second = logs.at("samples_per_second");
    r_.history.push_back(m);
    train_seconds += m.train_seconds;
    train_samples += t.epoch_samples();
    if (!r_.metrics_path.empty())
      std::ofstream(r_.metrics_path, std::ios::app) << epoch_json(m).dump() << '\n';
    if (o_.stop_after_epoch > 0 && m.epoch >= o_.stop_after_epoch) t.request_stop("--stop-after");
  }
  double train_seconds = 0;
  int64_t train_samples = 0;

 private:
  const TrainOptions& o_;
  const std::string& model_name_;
  const data::Dataset &train_set_, &test_set_;
  FitResult& r_;
  TensorBoardLogger* tb_;
};

// The first 16 test images with the model's predictions (green right, red wrong).
class SampleGrid : public Callback {
 public:
  SampleGrid(TensorBoardLogger& tb, const data::Dataset& test_set, bool fashion)
      : tb_(tb), test_set_(test_set), fashion_(fashion) {}
  std::string name() const override { return "SampleGrid"; }
  int order() const override { return 100; }  // after the TensorBoardLogger's epoch values
  void on_epoch_end(Trainer& t, Logs&) override {
    int64_t n = std::min<int64_t>(16, test_set_.size());
    if (n == 0 || !tb_.writer()) return;
    std::vector<Tensor> xs;
    std::vector<int64_t> ys;
    for (int64_t i = 0; i < n; ++i) {
      data::Example e = test_set_.get(i);
      xs.push_back(e.data);
      ys.push_back(e.target.item<int64_t>());
    }
    nn::Module& model = t.model();
    bool was_training = model.is_training();
    model.eval();
    Tensor pred;
    {
      NoGradGuard ng;
      pred = argmax(model(stack(xs, 0)), 1);
    }
    model.train(was_training);
    std::vector<summary::Label> labels;
    for (int64_t i = 0; i < n; ++i) {
      int64_t p = pred.select(0, i).item<int64_t>();
      bool right = p == ys[i];
      labels.push_back({class_name(p), uint8_t(right ? 0 : 200), uint8_t(right ? 140 : 0), 0});
    }
    // Undo the input normalization for display.
    Tensor images = clamp(stack(xs, 0) * kPixelStd + kPixelMean, 0.0, 1.0);
    tb_.writer()->add_image("samples", summary::make_labeled_grid(images, labels, 8, 2), t.global_step());
    tb_.writer()->flush();
  }

 private:
  std::string class_name(int64_t k) const {
    // Fashion-MNIST's classes, in label order; other IDX data gets the label numbers.
    static const char* const kFashion[] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};
    return fashion_ && k >= 0 && k < 10 ? kFashion[k] : std::to_string(k);
  }
  TensorBoardLogger& tb_;
  const data::Dataset& test_set_;
  bool fashion_;
};

}  // namespace

FitResult fit(const TrainOptions& options, std::shared_ptr<nn::Module> model) {
  auto t_start = Clock::now();
  TrainOptions o = options;
  // Distributed: rank 0 alone prints and writes files.
  const bool root = !o.process_group || o.process_group->rank() == 0;
  if (!root) {
    o.write_files = false;
    o.verbose = false;
    o.progress = false;
  }
  std::ostream& out = o.out ? *o.out : std::cout;
  TANDEM_CHECK(o.epochs > 0, "train: --epochs must be positive, got {}", o.epochs);
  TANDEM_CHECK(o.batch_size > 0, "train: --batch-size must be positive, got {}", o.batch_size);
  TANDEM_CHECK(o.lr >= 0 && std::isfinite(o.lr), "train: --lr must be positive, got {}", o.lr);
  if (o.threads > 0) set_num_threads(o.threads);
  const std::string model_name = model ? model->name() : o.model;

  // Data first: a missing directory is the likeliest mistake and should fail fast. From a
  // database the training rows are read batch by batch (bounded memory, the same batches);
  // the test set is read whole.
  std::shared_ptr<data::SqlTable> train_table;
  if (data::is_sql_url(o.data))
    train_table = std::make_shared<data::SqlTable>(
        o.data, sql_images(sql_table_name(o.table, true)), o.train_limit);
  std::shared_ptr<data::Dataset> train_set =
      train_table ? train_table : load_dataset(o.data, true, o.train_limit, o.table);
  auto test_set = load_dataset(o.data, false, o.test_limit, o.test_table);

  manual_seed(o.seed);
  if (!model) model = models::create(o.model);

  data::DataLoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = true;
  lo.seed = o.seed;
  lo.transform = make_augment(o.augment);
  // A worker by default when batches take time to make: augmenting, or reading a database.
  lo.num_workers = o.workers >= 0 ? o.workers : (lo.transform || train_table ? 1 : 0);
  std::shared_ptr<data::Dataset> loader_set = train_set;
  if (train_table) {
    data::GatherPlan plan = data::gather_plan(train_table, lo, normalize_images);
    loader_set = plan.indices;
    lo = plan.options;
  }
  data::DataLoader loader(loader_set, lo);
  const int64_t total_steps = o.epochs * loader.num_batches();
  // Validate the optimizer and schedule names before anything is written.
  {
    auto probe = make_optimizer(o, model->parameters());  // updates nothing
    make_scheduler(o, *probe, total_steps);
  }

  // ---- resume: the checkpoint must come from the same recipe (else the curve differs)
  int64_t start_epoch = 0;
  if (!o.resume.empty()) {
    io::Checkpoint ck = io::load_checkpoint(o.resume);
    for (const auto& [key, value] : recipe(o, model_name)) {
      auto it = ck.extra.find(key);
      if (it == ck.extra.end() && key == "data") continue;  // not recorded by older checkpoints
      TANDEM_CHECK(it != ck.extra.end() && it->second == value,
                   "train: checkpoint {} was made with {} = {}, this run has {}: resume with the "
                   "same settings (a different value would not continue the same run)",
                   o.resume, key, it == ck.extra.end() ? "(missing)" : it->second, value);
    }
    start_epoch = ck.epoch;
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

  // ---- the Trainer: zoo model, cross-entropy, the test set as validation
  TrainModule m;
  m.model = model;
  m.loss = [](const Tensor& logits, const Tensor& y) { return cross_entropy(logits, y); };
  m.optimizer = [&o](std::vector<Tensor> params) { return make_optimizer(o, std::move(params)); };
  m.scheduler = [&o, total_steps](optim::Optimizer& opt, int64_t) {
    return make_scheduler(o, opt, total_steps);
  };
  // NOTE: evaluated in batches of kEvalBatchSize (as `tandem eval` does, so both report the
  // same loss): the CNN's activations at evaluate()'s default of 500 images were the job's
  // largest allocation (about 170 MB more peak RSS than at 128).
  m.validate = [&test_set](nn::Module& net) {
    EvalResult ev = evaluate(net, *test_set, kEvalBatchSize);
    return Logs{{"test_loss", ev.loss}, {"test_accuracy", ev.accuracy}, {"eval_seconds", ev.seconds}};
  };
  TrainerOptions topts;
  topts.max_epochs = o.epochs;
  topts.compile = o.compile;
  topts.precision = o.precision;
  topts.progress_bar = false;  // the bar below, with the epoch line `tandem train` prints
  topts.checkpoint_extra = recipe(o, model_name);
  topts.out = &out;
  topts.process_group = o.process_group;
  topts.zero = o.zero;
  topts.bucket_cap_mb = o.bucket_cap_mb;
  Trainer trainer(topts);

  std::shared_ptr<TensorBoardLogger> tb;
  if (o.write_files && o.tensorboard) {
    TensorBoardOptions to;
    to.log_dir = o.out_dir;
    to.histogram_every = o.histogram_every;
    to.epoch_keys = {"train_loss", "test_loss", "test_accuracy", "samples_per_second"};
    to.hparams_text = {{"model", model_name}, {"optimizer", o.optimizer},
                       {"schedule", o.schedule}, {"augment", o.augment}};
    to.hparams_numbers = {{"batch_size", double(o.batch_size)}, {"epochs", double(o.epochs)},
                          {"seed", double(o.seed)}};
    to.hparam_metrics = {"test_accuracy", "test_loss", "train_loss"};
    if (o.optimizer == "sgd") to.hparams_numbers["momentum"] = o.momentum;
    if (o.weight_decay >= 0) to.hparams_numbers["weight_decay"] = o.weight_decay;
    tb = std::make_shared<TensorBoardLogger>(std::move(to));
    trainer.add_callback(tb);
    trainer.add_callback(std::make_shared<SampleGrid>(*tb, *test_set, o.data == "fashion-mnist"));
  }
  auto recorder = std::make_shared<FitRecorder>(o, model_name, *train_set, *test_set, result, tb.get());
  trainer.add_callback(recorder);
  if (o.write_files) {
    ModelCheckpointOptions co;
    co.dirpath = o.out_dir;
    co.save_top_k = 0;
    co.last_name = "checkpoint";  // RUN_DIR/checkpoint.safetensors after every epoch
    co.every_n_steps = o.checkpoint_every;  // or every N steps (mid-epoch ones resume exactly)
    trainer.add_callback(std::make_shared<ModelCheckpoint>(co));
    if (o.profile_steps > 0)
      trainer.add_callback(std::make_shared<StepProfiler>(
          (fs::path(o.out_dir) / "trace.json").string(), o.profile_steps, o.verbose));
  }
  if (o.verbose) {
    ProgressOptions po;
    po.interactive = o.progress.value_or(stdout_is_terminal() && &out == &std::cout);
    po.show_bar = o.progress.value_or(true);  // --no-progress: no bar, no quarter lines either
    const int64_t epochs = o.epochs;
    po.summary = [epochs](const Trainer&, const Logs& l) {
      return fmt::format("epoch {}/{}  train loss {:.4f}  test loss {:.4f}  test accuracy "
                         "{:.2f}%  {:.1f} s  {:.0f} samples/s",
                         int64_t(l.at("epoch")), epochs, l.at("train_loss"), l.at("test_loss"),
                         100 * l.at("test_accuracy"), l.at("train_seconds") + l.at("eval_seconds"),
                         l.at("samples_per_second"));
    };
    trainer.add_callback(std::make_shared<ProgressCallback>(std::move(po)));
  }

  TrainResult tr = trainer.fit(m, loader, nullptr, o.resume);

  if (!result.history.empty()) {
    const auto& last = result.history.back();
    result.epochs = last.epoch;
    result.test_accuracy = last.test_accuracy;
    result.test_loss = last.test_loss;
    result.train_loss = last.train_loss;
  } else {
    result.epochs = tr.epochs;
  }
  result.samples_per_second =
      recorder->train_seconds > 0 ? recorder->train_samples / recorder->train_seconds : 0.0;
  result.train_seconds = recorder->train_seconds;
  if (o.process_group) {
    const int world = o.process_group->size();
    result.world_size = world;
    if (const distributed::Reducer* r = trainer.reducer()) {
      result.allreduce_seconds = r->total_comm_seconds();
      result.allreduce_exposed_seconds = r->total_wait_seconds();
    } else {
      result.allreduce_seconds = result.allreduce_exposed_seconds = o.process_group->stats().busy_seconds;
    }
    if (o.verbose) {
      const double t = std::max(result.train_seconds, 1e-9);
      const double hidden = result.allreduce_seconds > 0
                                ? 1.0 - result.allreduce_exposed_seconds / result.allreduce_seconds
                                : 0.0;
      out << fmt::format(
          "distributed: world size {} ({}{}), global batch {} ({} per rank); gradient "
          "communication {:.1f} s in flight, {:.1f} s not hidden behind backward = {:.1f}% of "
          "{:.1f} s training ({:.0f}% hidden)\n",
          world, o.process_group->backend(), o.zero ? ", ZeRO-1" : "", o.batch_size,
          o.batch_size / world, result.allreduce_seconds, result.allreduce_exposed_seconds,
          100 * result.allreduce_exposed_seconds / t, t, 100 * hidden);
    }
  }
  if (o.write_files) {
    io::save_safetensors(result.model_path, model->state_dict(),
                         {{"framework", "tandem"},
                          {"model", model_name},
                          {"epochs", std::to_string(result.epochs)},
                          {"normalize_mean", fmt::format("{}", kPixelMean)},
                          {"normalize_std", fmt::format("{}", kPixelStd)}});
  }
  result.seconds = elapsed_seconds(t_start);
  {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    result.peak_rss_bytes = int64_t{ru.ru_maxrss} * 1024;  // Linux reports KiB
    result.peak_allocated_bytes = memory_stats().peak_allocated_bytes;
  }
  if (o.verbose)
    out << fmt::format("memory: peak RSS {:.0f} MB, tensors at most {:.0f} MB\n", result.peak_rss_bytes / 1048576.0,
                       result.peak_allocated_bytes / 1048576.0);
  if (o.verbose && o.write_files) {
    out << fmt::format("wrote {}\n      {}\n      {}\n", result.model_path,
                       result.checkpoint_path, result.metrics_path);
    if (tb) {
      std::string parent = fs::path(o.out_dir).parent_path().string();
      out << fmt::format("      {}  (tensorboard --logdir {}; or: tandem logs / tandem plot {})\n",
                         tb->path(), parent.empty() ? "." : parent, o.out_dir)
          << std::flush;
    }
  }
  return result;
}

}  // namespace tandem::train
