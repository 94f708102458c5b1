// Metrics (include/tandem/train/metrics.h). Counts are kept as doubles in plain loops over
// the batch: a metric costs one pass over the outputs, no dispatched ops.
#include "tandem/train/metrics.h"

#include <cmath>

#include "tandem/error.h"

namespace tandem::train {
namespace {

// Output rows [N, C] as doubles, and integer targets [N].
struct Rows {
  std::vector<double> v;
  int64_t n = 0, c = 0;
};

Rows rows(const Tensor& output, const char* who) {
  TANDEM_CHECK(output.dim() == 2, "{}: expected outputs [N, C], got shape {}", who, output.shape());
  return {output.contiguous().to_vector<double>(), output.size(0), output.size(1)};
}

std::vector<int64_t> labels(const Tensor& target, int64_t n, const char* who) {
  TANDEM_CHECK(target.defined() && target.numel() == n,
               "{}: expected {} integer targets, got {}", who, n,
               target.defined() ? fmt::format("shape {}", target.shape()) : std::string("none"));
  return target.contiguous().to_vector<int64_t>();
}

void expect_size(const std::vector<double>& s, size_t n, const char* who) {
  TANDEM_CHECK(s.size() == n, "{}: a saved state has {} numbers, expected {}", who, s.size(), n);
}

}  // namespace

Metric::~Metric() = default;

void Accuracy::update(const Tensor& output, const Tensor& target) {
  Rows r = rows(output, "Accuracy");
  std::vector<int64_t> y = labels(target, r.n, "Accuracy");
  for (int64_t i = 0; i < r.n; ++i) {
    const double* row = r.v.data() + i * r.c;
    int64_t best = 0;
    for (int64_t j = 1; j < r.c; ++j)
      if (row[j] > row[best]) best = j;  // the first maximum, as argmax
    correct_ += best == y[i];
  }
  seen_ += r.n;
}

void Accuracy::load_state(const std::vector<double>& s) {
  expect_size(s, 2, "Accuracy");
  correct_ = s[0];
  seen_ = s[1];
}

TopKAccuracy::TopKAccuracy(int64_t k) : k_(k) {
  TANDEM_CHECK(k >= 1, "TopKAccuracy: k must be >= 1, got {}", k);
}

void TopKAccuracy::update(const Tensor& output, const Tensor& target) {
  Rows r = rows(output, "TopKAccuracy");
  std::vector<int64_t> y = labels(target, r.n, "TopKAccuracy");
  for (int64_t i = 0; i < r.n; ++i) {
    const double* row = r.v.data() + i * r.c;
    TANDEM_CHECK(y[i] >= 0 && y[i] < r.c, "TopKAccuracy: target {} is not a class of {}", y[i], r.c);
    // In the top k when fewer than k classes score strictly higher (ties favour the target).
    int64_t higher = 0;
    for (int64_t j = 0; j < r.c; ++j) higher += row[j] > row[y[i]];
    correct_ += higher < k_;
  }
  seen_ += r.n;
}

void MeanAbsoluteError::update(const Tensor& output, const Tensor& target) {
  TANDEM_CHECK(target.defined() && output.numel() == target.numel(),
               "MeanAbsoluteError: output shape {} and target shape {} differ in size",
               output.shape(), target.defined() ? target.shape() : Shape{});
  std::vector<double> a = output.contiguous().to_vector<double>();
  std::vector<double> b = target.contiguous().to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) sum_ += std::abs(a[i] - b[i]);
  count_ += static_cast<double>(a.size());
}

void MeanAbsoluteError::load_state(const std::vector<double>& s) {
  expect_size(s, 2, "MeanAbsoluteError");
  sum_ = s[0];
  count_ = s[1];
}

F1Score::F1Score(int64_t num_classes) : num_classes_(num_classes) {
  TANDEM_CHECK(num_classes >= 2, "F1Score: num_classes must be >= 2, got {}", num_classes);
  reset();
}

void F1Score::reset() {
  tp_.assign(num_classes_, 0);
  fp_.assign(num_classes_, 0);
  fn_.assign(num_classes_, 0);
}

void F1Score::update(const Tensor& output, const Tensor& target) {
  Rows r = rows(output, "F1Score");
  TANDEM_CHECK(r.c == num_classes_, "F1Score: outputs have {} classes, expected {}", r.c, num_classes_);
  std::vector<int64_t> y = labels(target, r.n, "F1Score");
  for (int64_t i = 0; i < r.n; ++i) {
    const double* row = r.v.data() + i * r.c;
    int64_t p = 0;
    for (int64_t j = 1; j < r.c; ++j)
      if (row[j] > row[p]) p = j;
    TANDEM_CHECK(y[i] >= 0 && y[i] < num_classes_, "F1Score: target {} is not a class of {}", y[i], num_classes_);
    if (p == y[i]) {
      tp_[p] += 1;
    } else {
      fp_[p] += 1;
      fn_[y[i]] += 1;
    }
  }
}

double F1Score::compute() const {
  double sum = 0;
  for (int64_t k = 0; k < num_classes_; ++k) {
    double denom = 2 * tp_[k] + fp_[k] + fn_[k];
    sum += denom > 0 ? 2 * tp_[k] / denom : 0.0;
  }
  return sum / num_classes_;
}

std::vector<double> F1Score::state() const {
  std::vector<double> s = tp_;
  s.insert(s.end(), fp_.begin(), fp_.end());
  s.insert(s.end(), fn_.begin(), fn_.end());
  return s;
}

void F1Score::load_state(const std::vector<double>& s) {
  expect_size(s, 3 * num_classes_, "F1Score");
  auto k = static_cast<size_t>(num_classes_);
  tp_.assign(s.begin(), s.begin() + k);
  fp_.assign(s.begin() + k, s.begin() + 2 * k);
  fn_.assign(s.begin() + 2 * k, s.end());
}

}  // namespace tandem::train
