// Metrics for train::Trainer: running values over the batches of an epoch (or of a
// validation pass), as Keras' metrics and torchmetrics do.
//
//   train::Accuracy acc;
//   acc.update(logits, labels);     // logits [N, C], labels [N] int64
//   acc.update(logits2, labels2);
//   acc.compute();                  // correct / seen over both batches
//   acc.reset();
//
// A Trainer resets each metric at the start of an epoch and of a validation pass; the
// running state (counts, sums) goes into checkpoints through state()/load_state(), so a
// run resumed in the middle of an epoch reports the same epoch values.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::train {

class Metric {
 public:
  virtual ~Metric();
  // The name in logs ("accuracy"; the Trainer writes "train_accuracy" and "val_accuracy").
  virtual std::string name() const = 0;
  virtual void reset() = 0;
  // One batch: `output` as the model returned it, `target` as the batch holds it.
  virtual void update(const Tensor& output, const Tensor& target) = 0;
  // The value over every batch since reset() (0 before any).
  virtual double compute() const = 0;
  // The running state as numbers (for checkpoints) and back.
  virtual std::vector<double> state() const = 0;
  virtual void load_state(const std::vector<double>& state) = 0;
};

// Fraction of rows whose argmax over dim 1 equals the integer target.
class Accuracy : public Metric {
 public:
  std::string name() const override { return "accuracy"; }
  void reset() override { correct_ = seen_ = 0; }
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override { return seen_ > 0 ? correct_ / seen_ : 0.0; }
  std::vector<double> state() const override { return {correct_, seen_}; }
  void load_state(const std::vector<double>& s) override;

 protected:
  double correct_ = 0, seen_ = 0;
};

// Fraction of rows whose target is among the k largest outputs ("top5_accuracy").
class TopKAccuracy : public Accuracy {
 public:
  explicit TopKAccuracy(int64_t k);
  std::string name() const override { return "top" + std::to_string(k_) + "_accuracy"; }
  void update(const Tensor& output, const Tensor& target) override;

 private:
  int64_t k_;
};

// Mean of |output - target| over every element ("mae").
class MeanAbsoluteError : public Metric {
 public:
  std::string name() const override { return "mae"; }
  void reset() override { sum_ = count_ = 0; }
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override { return count_ > 0 ? sum_ / count_ : 0.0; }
  std::vector<double> state() const override { return {sum_, count_}; }
  void load_state(const std::vector<double>& s) override;

 private:
  double sum_ = 0, count_ = 0;
};

// F1 of argmax predictions over `num_classes` classes, macro-averaged (the mean of the
// per-class F1 scores, a class that never occurs in targets or predictions counting 0, as
// sklearn's f1_score(average="macro", zero_division=0)). Binary: num_classes = 2.
class F1Score : public Metric {
 public:
  explicit F1Score(int64_t num_classes);
  std::string name() const override { return "f1"; }
  void reset() override;
  void update(const Tensor& output, const Tensor& target) override;
  double compute() const override;
  std::vector<double> state() const override;
  void load_state(const std::vector<double>& s) override;

 private:
  int64_t num_classes_;
  std::vector<double> tp_, fp_, fn_;
};

inline std::shared_ptr<Metric> accuracy() { return std::make_shared<Accuracy>(); }
inline std::shared_ptr<Metric> top_k_accuracy(int64_t k) { return std::make_shared<TopKAccuracy>(k); }
inline std::shared_ptr<Metric> mean_absolute_error() { return std::make_shared<MeanAbsoluteError>(); }
inline std::shared_ptr<Metric> f1_score(int64_t num_classes) { return std::make_shared<F1Score>(num_classes); }

}  // namespace tandem::train
