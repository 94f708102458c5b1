// A one-line progress bar for training loops: percent, loss, samples/s and ETA.
//
//   train::ProgressBar bar(std::cout, "epoch 1/5", loader.num_batches(), train::stdout_is_terminal());
//   for (...) { ...; bar.update(step + 1, loss, samples_per_second); }
//   bar.finish();   // clears the bar (a terminal) before the epoch's summary line
//
// On a terminal the line is redrawn in place with '\r', at most 10 times a second (and at
// the end), so drawing costs nothing next to a training step. Otherwise (a pipe, a log
// file) it prints a plain line at each quarter of the epoch instead, so logs stay short.
// ProgressMode::Off draws nothing at all (`tandem train --no-progress`).
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>

namespace tandem::train {

// Whether standard output is a terminal (isatty).
bool stdout_is_terminal();

enum class ProgressMode { Off, Lines, Redraw };

// The mode for an on/off/unset setting (TrainOptions::progress): unset redraws on a terminal
// and prints quarter lines elsewhere; false is Off; true redraws.
ProgressMode progress_mode(std::optional<bool> setting, bool terminal);

class ProgressBar {
 public:
  ProgressBar(std::ostream& os, std::string label, int64_t total, ProgressMode mode);
  ProgressBar(std::ostream& os, std::string label, int64_t total, bool interactive)
      : ProgressBar(os, std::move(label), total,
                    interactive ? ProgressMode::Redraw : ProgressMode::Lines) {}
  // `done` of `total` steps finished; `loss` is the running mean so far.
  void update(int64_t done, double loss, double samples_per_second);
  // Removes the bar from a terminal line (nothing otherwise).
  void finish();
  // The text of one bar (no '\r'), e.g. "epoch 1/5 [=====>    ]  52% loss 0.4123 ...".
  static std::string render(const std::string& label, int64_t done, int64_t total, double loss,
                            double samples_per_second, double eta_seconds, int width = 30);

 private:
  std::ostream& os_;
  std::string label_;
  int64_t total_;
  ProgressMode mode_;
  bool drawn_ = false;
  int next_quarter_ = 1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:05", "12:00:03" (h:mm:ss from an hour on).
std::string format_duration(double seconds);

}  // namespace tandem::train
