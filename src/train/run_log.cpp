// RunLog: TensorBoard summaries and the step profiler of a training run.
#include "run_log.h"

#include <cmath>
#include <filesystem>
#include <iostream>

#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::train {
namespace {

// Fashion-MNIST's classes, in label order; other IDX data gets the label numbers.
const char* const kFashionClasses[] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};

std::string class_name(int64_t k, bool fashion) {
  return fashion && k >= 0 && k < 10 ? kFashionClasses[k] : std::to_string(k);
}

// Global 2-norm of all gradients: one pass over each float32 gradient (no dispatched ops,
// so a profile of the step shows only the training itself).
double grad_norm(const std::vector<Tensor>& params) {
  double sq = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.dtype() == DType::Float32 && g.is_contiguous()) {
      const float* d = g.data<float>();
      double s = 0;
      for (int64_t i = 0; i < g.numel(); ++i) s += double(d[i]) * d[i];
      sq += s;
    } else {
      NoGradGuard ng;
      Tensor g64 = g.to(DType::Float64);
      sq += (g64 * g64).sum().item();
    }
  }
  return std::sqrt(sq);
}

}  // namespace

RunLog::RunLog(const TrainOptions& o, const std::string& run_dir, const std::string& model_name,
               nn::Module& model, const data::Dataset& test_set, double initial_lr)
    : o_(o), run_dir_(run_dir), model_(model), test_set_(test_set),
      out_(o.out ? *o.out : std::cout) {
  if (run_dir.empty()) return;  // no files
  if (o.tensorboard) writer_ = std::make_unique<summary::Writer>(run_dir);
  if (o.profile_steps > 0) prof_ = std::make_unique<profiler::Profiler>();
  hparams_ = {{"model", model_name},
              {"optimizer", o.optimizer},
              {"lr", initial_lr},
              {"batch_size", double(o.batch_size)},
              {"epochs", double(o.epochs)},
              {"schedule", o.schedule},
              {"augment", o.augment},
              {"seed", double(o.seed)}};
  if (o.optimizer == "sgd") hparams_["momentum"] = o.momentum;
  if (o.weight_decay >= 0) hparams_["weight_decay"] = o.weight_decay;
  window_start_ = std::chrono::steady_clock::now();
}

RunLog::~RunLog() {
  try {
    step_span_.reset();
    if (prof_ && prof_->running()) prof_->stop();
  } catch (...) {
  }
}

void RunLog::begin_step(int64_t step) {
  if (!prof_ || profiled_ >= o_.profile_steps) return;
  if (!prof_->running()) prof_->start();
  step_span_ = std::make_unique<profiler::Span>("train_step");
}

void RunLog::end_step(int64_t step, double loss, double lr, int64_t batch_size) {
  if (step_span_) {
    step_span_.reset();
    if (++profiled_ == o_.profile_steps) write_trace();
  }
  if (!writer_) return;
  writer_->add_scalar("train/loss", loss, step);
  writer_->add_scalar("train/lr", lr, step);
  window_samples_ += batch_size;
  if (step % 10 == 0) {
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - window_start_).count();
    if (secs > 0) writer_->add_scalar("train/samples_per_second", window_samples_ / secs, step);
    window_samples_ = 0;
    window_start_ = now;
    writer_->add_scalar("train/grad_norm", grad_norm(model_.parameters()), step);
  }
  if (o_.histogram_every > 0 && step % o_.histogram_every == 0) histograms(step);
}

void RunLog::histograms(int64_t step) {
  for (const auto& [name, p] : model_.named_parameters()) {
    writer_->add_histogram("params/" + name, p, step);
    if (p.grad().defined()) writer_->add_histogram("grads/" + name, p.grad(), step);
  }
}

void RunLog::end_epoch(const EpochMetrics& m) {
  if (!writer_) return;
  writer_->add_scalar("epoch/train_loss", m.train_loss, m.step);
  writer_->add_scalar("epoch/test_loss", m.test_loss, m.step);
  writer_->add_scalar("epoch/test_accuracy", m.test_accuracy, m.step);
  writer_->add_scalar("epoch/samples_per_second", m.samples_per_second, m.step);
  if (o_.histogram_every <= 0) histograms(m.step);

  // The first 16 test images with the model's predictions.
  int64_t n = std::min<int64_t>(16, test_set_.size());
  if (n > 0) {
    std::vector<Tensor> xs;
    std::vector<int64_t> ys;
    for (int64_t i = 0; i < n; ++i) {
      data::Example e = test_set_.get(i);
      xs.push_back(e.data);
      ys.push_back(e.target.item<int64_t>());
    }
    bool was_training = model_.is_training();
    model_.eval();
    Tensor pred;
    {
      NoGradGuard ng;
      pred = argmax(model_(stack(xs, 0)), 1);
    }
    model_.train(was_training);
    bool fashion = o_.data == "fashion-mnist";
    std::vector<summary::Label> labels;
    for (int64_t i = 0; i < n; ++i) {
      int64_t p = pred.select(0, i).item<int64_t>();
      bool right = p == ys[i];
      labels.push_back({class_name(p, fashion), uint8_t(right ? 0 : 200), uint8_t(right ? 140 : 0), 0});
    }
    // Undo the input normalization for display.
    Tensor images = clamp(stack(xs, 0) * kPixelStd + kPixelMean, 0.0, 1.0);
    writer_->add_image("samples", summary::make_labeled_grid(images, labels, 8, 2), m.step);
  }
  writer_->flush();
}

void RunLog::finish(const FitResult& r) {
  if (prof_ && profiled_ > 0 && profiled_ < o_.profile_steps) write_trace();  // run was shorter
  if (!writer_) return;
  writer_->add_hparams(hparams_, {{"hparam/test_accuracy", r.test_accuracy},
                                  {"hparam/test_loss", r.test_loss},
                                  {"hparam/train_loss", r.train_loss}},
                       r.history.empty() ? 0 : r.history.back().step);
  std::string cfg = "| setting | value |\n|---|---|\n";
  for (const auto& [k, v] : hparams_) {
    std::string s;
    if (const double* d = std::get_if<double>(&v)) s = fmt::format("{:g}", *d);
    else if (const bool* b = std::get_if<bool>(&v)) s = *b ? "true" : "false";
    else s = std::get<std::string>(v);
    cfg += fmt::format("| {} | {} |\n", k, s);
  }
  writer_->add_text("config", cfg, 0);
  writer_->close();
  if (o_.verbose) {
    std::string parent = std::filesystem::path(run_dir_).parent_path().string();
    out_ << fmt::format("      {}  (tensorboard --logdir {}; or: tandem logs / tandem plot {})\n",
                        writer_->path(), parent.empty() ? "." : parent, run_dir_)
         << std::flush;
  }
}

void RunLog::write_trace() {
  prof_->stop();
  std::string path = (std::filesystem::path(run_dir_) / "trace.json").string();
  prof_->write_chrome_trace(path);
  if (o_.verbose)
    out_ << fmt::format("profile of {} steps: {} (open in https://ui.perfetto.dev)\n{}", profiled_,
                        path, prof_->key_averages(15))
         << std::flush;
}

}  // namespace tandem::train
