// The training progress bar (include/tandem/train/progress.h).
#include "tandem/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>

namespace tandem::train {

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) == 1; }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string ProgressBar::render(const std::string& label, int64_t done, int64_t total,
                                double loss, double samples_per_second, double eta_seconds,
                                int width) {
  double frac = total > 0 ? std::clamp(static_cast<double>(done) / total, 0.0, 1.0) : 1.0;
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>';
  bar.resize(static_cast<size_t>(width), ' ');
  return fmt::format("{} [{}] {:3.0f}% loss {:.4f} {:6.0f} samples/s ETA {}", label, bar,
                     100 * frac, loss, samples_per_second, format_duration(eta_seconds));
}

ProgressMode progress_mode(std::optional<bool> setting, bool terminal) {
  if (!setting) return terminal ? ProgressMode::Redraw : ProgressMode::Lines;
  return *setting ? ProgressMode::Redraw : ProgressMode::Off;
}

ProgressBar::ProgressBar(std::ostream& os, std::string label, int64_t total, ProgressMode mode)
    : os_(os), label_(std::move(label)), total_(total), mode_(mode),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t done, double loss, double samples_per_second) {
  if (mode_ == ProgressMode::Off) return;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = done > 0 ? elapsed / done * (total_ - done) : NAN;
  if (mode_ == ProgressMode::Redraw) {
    // NOTE: at most ~10 redraws a second: a terminal write per step would cost more than
    // a small model's step.
    bool last = done >= total_;
    if (!last && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    drawn_ = true;
    os_ << '\r' << render(label_, done, total_, loss, samples_per_second, eta) << "\033[K"
        << std::flush;
    return;
  }
  // Plain lines at 25%, 50%, 75% (the epoch summary follows at 100%).
  while (next_quarter_ < 4 && done * 4 >= total_ * next_quarter_) {
    os_ << render(label_, done, total_, loss, samples_per_second, eta) << '\n' << std::flush;
    ++next_quarter_;
  }
}

void ProgressBar::finish() {
  if (mode_ == ProgressMode::Redraw && drawn_) os_ << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace tandem::train
