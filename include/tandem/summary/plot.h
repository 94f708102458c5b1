// Scalar curves to PNG without a browser: a small rasterizer (lines, axes with tick labels,
// a built-in 5x7 bitmap font, legend) over libpng.
//
//   summary::plot_runs({"runs/sgd", "runs/adam"}, {"loss"}, "curves.png");
//   // one panel per tag, one colour per run; tags default to every scalar tag (up to 8)
//
//   summary::plot_runs({"runs/cnn"}, {"train/loss"}, "smooth.png", {.smoothing = 0.6});
//   // raw values faded, TensorBoard's smoothed curve on top
//
//   summary::Series s{"train", {0, 1, 2}, {1.0, 0.5, 0.3}};
//   summary::Canvas c = summary::render_plot({{"loss", {s}}});   // RGB pixels, for tests
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::summary {

struct Series {
  std::string label;          // legend entry
  std::vector<double> x, y;   // same length; non-finite y values break the line
};

struct Panel {
  std::string title;          // shown above the panel (usually the tag)
  std::vector<Series> series;
};

struct PlotOptions {
  int width = 900;            // whole image, pixels
  int panel_height = 360;     // per panel
  std::string xlabel = "step";
  // In [0, 1): 0 draws the values as they are; above, each series is drawn faded with its
  // smooth_ema curve on top (TensorBoard's "Smoothing" slider).
  double smoothing = 0.0;
};

// TensorBoard's scalar smoothing: an exponential moving average debiased like Adam's moments,
// s_n = m_n / (1 - w^n) with m_n = w m_{n-1} + (1 - w) y_n, m_0 = 0, n counting finite values.
// Non-finite values are kept as they are (and skipped by the average); a constant series is
// returned unchanged. `weight` must be in [0, 1).
std::vector<double> smooth_ema(const std::vector<double>& y, double weight);

struct Canvas {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;   // row-major, 3 bytes per pixel
};

// Panels stacked vertically; series colours are assigned by label across panels, so one
// run keeps its colour in every panel.
Canvas render_plot(const std::vector<Panel>& panels, const PlotOptions& options = {});
void write_plot(const std::string& png_path, const std::vector<Panel>& panels,
                const PlotOptions& options = {});

// Reads each run's event files (summary::read), one panel per tag with one series per run
// (labelled by the run directory). Error if a requested tag appears in no run.
std::vector<Panel> run_panels(const std::vector<std::string>& run_dirs,
                              const std::vector<std::string>& tags = {});
void plot_runs(const std::vector<std::string>& run_dirs, const std::vector<std::string>& tags,
               const std::string& png_path, const PlotOptions& options = {});

// A caption under a grid tile, in its own colour (e.g. green for a right prediction).
struct Label {
  std::string text;
  uint8_t r = 40, g = 40, b = 40;
};

// Tiles images ([N, C, H, W] or [N, H, W]; C = 1 or 3; float [0, 1] or uint8) with
// `nrow` per row, each magnified `scale` times (nearest neighbour) with its label written
// under it (cut to the tile's width). Returns a uint8 RGB image [3, H', W'] for add_image.
Tensor make_labeled_grid(const Tensor& images, const std::vector<Label>& labels,
                         int64_t nrow = 8, int scale = 2);

}  // namespace tandem::summary
