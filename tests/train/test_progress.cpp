// ProgressMode: TrainOptions::progress (and `tandem train --no-progress`) switches the bar off
// entirely, on a terminal or not; unset keeps the terminal/log-file default.
#include <gtest/gtest.h>

#include <sstream>

#include <tandem/train.h>

using namespace tandem;

namespace {

TEST(ProgressMode, FalseIsOffTrueRedrawsUnsetFollowsTheTerminal) {
  EXPECT_EQ(train::progress_mode(false, true), train::ProgressMode::Off);
  EXPECT_EQ(train::progress_mode(false, false), train::ProgressMode::Off);
  EXPECT_EQ(train::progress_mode(true, false), train::ProgressMode::Redraw);
  EXPECT_EQ(train::progress_mode(std::nullopt, true), train::ProgressMode::Redraw);
  EXPECT_EQ(train::progress_mode(std::nullopt, false), train::ProgressMode::Lines);
}

TEST(ProgressMode, OffDrawsNothing) {
  std::ostringstream os;
  train::ProgressBar bar(os, "epoch 1/1", 8, train::ProgressMode::Off);
  for (int i = 1; i <= 8; ++i) bar.update(i, 1.0, 100);
  bar.finish();
  EXPECT_EQ(os.str(), "");
}

}  // namespace
