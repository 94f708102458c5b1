// train::Accuracy, TopKAccuracy, MeanAbsoluteError, F1Score: values worked out by hand in the
// comments (F1 as sklearn's f1_score(average="macro")), running over batches, state round trip.
#include <gtest/gtest.h>

#include <tandem/train.h>

#include "test_util.h"

namespace tandem::testing {
namespace {

Tensor rows(std::vector<float> v, int64_t c) {
  int64_t n = static_cast<int64_t>(v.size()) / c;
  return tensor(v, Shape{n, c});
}
Tensor labels(std::vector<int64_t> v) { return tensor(v); }

TEST(Metrics, AccuracyTakesTheFirstMaximumAndRunsOverBatches) {
  train::Accuracy acc;
  acc.update(rows({0.1f, 0.9f, 0.8f, 0.2f}, 2), labels({1, 1}));  // right, wrong
  acc.update(rows({0.5f, 0.5f}, 2), labels({0}));                 // a tie: class 0, right
  EXPECT_DOUBLE_EQ(acc.compute(), 2.0 / 3);
  train::Accuracy copy;
  copy.load_state(acc.state());
  EXPECT_DOUBLE_EQ(copy.compute(), 2.0 / 3);
  acc.reset();
  EXPECT_EQ(acc.compute(), 0.0);
}

TEST(Metrics, TopKCountsTargetsAmongTheKLargest) {
  train::TopKAccuracy top2(2);
  // Row 0: only 0.4 beats the target's 0.3 -> in the top 2. Row 1: 0.4 and 0.3 beat 0.2 -> out.
  top2.update(rows({0.1f, 0.2f, 0.3f, 0.4f, 0.4f, 0.3f, 0.2f, 0.1f}, 4), labels({2, 2}));
  EXPECT_DOUBLE_EQ(top2.compute(), 0.5);
  EXPECT_EQ(top2.name(), "top2_accuracy");
  EXPECT_TRUE(throws_error([] { train::TopKAccuracy(0); }, {"k"}));
}

TEST(Metrics, MeanAbsoluteErrorOverAllElements) {
  train::MeanAbsoluteError mae;
  mae.update(tensor(std::vector<float>{1, 2}), tensor(std::vector<float>{1.5f, 2}));
  mae.update(tensor(std::vector<float>{3}), tensor(std::vector<float>{1}));
  EXPECT_NEAR(mae.compute(), (0.5 + 0 + 2) / 3, 1e-7);
  EXPECT_TRUE(throws_error([&] { mae.update(tensor(std::vector<float>{1, 2}), tensor(std::vector<float>{1})); },
                           {"MeanAbsoluteError"}));
}

TEST(Metrics, F1IsTheMacroMeanOfPerClassScores) {
  // targets 0 0 1 1 2 2, predictions 0 1 1 1 2 0:
  //   class 0: tp 1, fp 1, fn 1 -> 2/4;  class 1: tp 2, fp 1, fn 0 -> 4/5;
  //   class 2: tp 1, fp 0, fn 1 -> 2/3;  macro = (0.5 + 0.8 + 2/3) / 3.
  std::vector<int64_t> pred = {0, 1, 1, 1, 2, 0};
  std::vector<float> logits;
  for (int64_t p : pred)
    for (int64_t c = 0; c < 3; ++c) logits.push_back(c == p ? 1.0f : 0.0f);
  train::F1Score f1(3);
  f1.update(rows({logits.begin(), logits.begin() + 9}, 3), labels({0, 0, 1}));
  f1.update(rows({logits.begin() + 9, logits.end()}, 3), labels({1, 2, 2}));
  double want = (0.5 + 0.8 + 2.0 / 3) / 3;
  EXPECT_NEAR(f1.compute(), want, 1e-12);
  train::F1Score again(3);
  again.load_state(f1.state());
  EXPECT_NEAR(again.compute(), want, 1e-12);
  EXPECT_TRUE(throws_error([&] { again.load_state({1, 2}); }, {"F1Score", "9"}));
  EXPECT_TRUE(throws_error([&] { f1.update(rows({1, 0}, 2), labels({0})); }, {"F1Score", "2 classes"}));
}

}  // namespace
}  // namespace tandem::testing
