// Plot rasterizer: panels of line series on an RGB canvas, encoded with encode_png.
#include "tandem/summary/plot.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "font5x7.h"
#include "tandem/error.h"
#include "tandem/io/atomic_file.h"
#include "tandem/summary/reader.h"
#include "tandem/summary/writer.h"

namespace tandem::summary {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

// Tableau-10: distinct on white and for the common colour-vision deficiencies.
constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                            {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                            {188, 189, 34}, {23, 190, 207}};
constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrid{225, 225, 225}, kText{40, 40, 40};

class Painter {
 public:
  explicit Painter(Canvas& c) : c_(c) {}
  void set(int x, int y, Rgb col) {
    if (x < 0 || y < 0 || x >= c_.width || y >= c_.height) return;
    uint8_t* p = &c_.rgb[(static_cast<size_t>(y) * c_.width + x) * 3];
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
  }
  void fill(int x0, int y0, int x1, int y1, Rgb col) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) set(x, y, col);
  }
  void hline(int x0, int x1, int y, Rgb col) { fill(x0, y, x1 + 1, y + 1, col); }
  void vline(int x, int y0, int y1, Rgb col) { fill(x, y0, x + 1, y1 + 1, col); }
  // Bresenham, drawn `thick` pixels wide.
  void line(double fx0, double fy0, double fx1, double fy1, Rgb col, int thick = 2) {
    int x0 = static_cast<int>(std::lround(fx0)), y0 = static_cast<int>(std::lround(fy0));
    int x1 = static_cast<int>(std::lround(fx1)), y1 = static_cast<int>(std::lround(fy1));
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
      fill(x0, y0, x0 + thick, y0 + thick, col);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text with its top-left corner at (x, y); `scale` multiplies the 5x7 font.
  void text(int x, int y, const std::string& s, Rgb col, int scale = 1) {
    for (char ch : s) {
      const font::Glyph& g = font::glyph(ch);
      for (int r = 0; r < font::kHeight; ++r)
        for (int b = 0; b < font::kWidth; ++b)
          if (g.rows[r] & (1 << (font::kWidth - 1 - b)))
            fill(x + b * scale, y + r * scale, x + (b + 1) * scale, y + (r + 1) * scale, col);
      x += font::kAdvance * scale;
    }
  }
  // Text rotated 90° counter-clockwise (reads bottom to top), bottom-left at (x, y).
  void text_up(int x, int y, const std::string& s, Rgb col) {
    for (char ch : s) {
      const font::Glyph& g = font::glyph(ch);
      for (int r = 0; r < font::kHeight; ++r)
        for (int b = 0; b < font::kWidth; ++b)
          if (g.rows[r] & (1 << (font::kWidth - 1 - b))) set(x + r, y - b, col);
      y -= font::kAdvance;
    }
  }

 private:
  Canvas& c_;
};

// 35% of the colour over white: the raw curve behind a smoothed one.
Rgb pale(Rgb c) {
  auto mix = [](uint8_t v) { return static_cast<uint8_t>(std::lround(255 - 0.35 * (255 - v))); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

int text_width(const std::string& s, int scale = 1) {
  return static_cast<int>(s.size()) * font::kAdvance * scale;
}

// Tick positions at 1, 2 or 5 x 10^k covering [lo, hi] with about `target` ticks.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  double span = hi - lo;
  double raw = span / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.1e}", v);
  std::string s = fmt::format("{:.4f}", v);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

void draw_panel(Painter& p, const Panel& panel, int top, const PlotOptions& opt,
                const std::map<std::string, Rgb>& colors) {
  const int left = 78, right = 20, title_h = 26, bottom_h = 42;
  int x0 = left, x1 = opt.width - right;
  int y0 = top + title_h, y1 = top + opt.panel_height - bottom_h;
  // Data range over finite points.
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : panel.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  p.text((opt.width - text_width(panel.title, 2)) / 2, top + 6, panel.title, kText, 2);
  if (!std::isfinite(xmin)) {
    p.text(x0 + 10, (y0 + y1) / 2, "no finite values", kText);
    return;
  }
  if (xmax == xmin) xmin -= 1, xmax += 1;
  if (ymax == ymin) {
    double d = ymin == 0 ? 1.0 : std::abs(ymin) * 0.1;
    ymin -= d, ymax += d;
  }
  double ypad = (ymax - ymin) * 0.05;
  ymin -= ypad, ymax += ypad;
  auto px = [&](double x) { return x0 + (x - xmin) / (xmax - xmin) * (x1 - x0); };
  auto py = [&](double y) { return y1 - (y - ymin) / (ymax - ymin) * (y1 - y0); };

  for (double t : nice_ticks(ymin, ymax, 6)) {
    int y = static_cast<int>(std::lround(py(t)));
    p.hline(x0 + 1, x1, y, kGrid);
    p.hline(x0 - 4, x0, y, kBlack);
    std::string l = tick_label(t);
    p.text(x0 - 7 - text_width(l), y - font::kHeight / 2, l, kText);
  }
  for (double t : nice_ticks(xmin, xmax, 8)) {
    int x = static_cast<int>(std::lround(px(t)));
    p.vline(x, y0, y1 - 1, kGrid);
    p.vline(x, y1, y1 + 4, kBlack);
    std::string l = tick_label(t);
    p.text(x - text_width(l) / 2, y1 + 8, l, kText);
  }
  p.hline(x0, x1, y1, kBlack);
  p.vline(x0, y0, y1, kBlack);
  p.text((x0 + x1 - text_width(opt.xlabel)) / 2, y1 + 24, opt.xlabel, kText);

  // With smoothing, the raw values are drawn first in a pale tint of the series' colour,
  // the smoothed curve over them in the full colour (as TensorBoard does).
  auto draw_series = [&](const Series& s, Rgb col, int thick) {
    bool have_prev = false;
    double prev_x = 0, prev_y = 0;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        have_prev = false;
        continue;
      }
      double cx = px(s.x[i]), cy = py(s.y[i]);
      if (have_prev) p.line(prev_x, prev_y, cx, cy, col, thick);
      else if (i + 1 >= s.x.size() || !std::isfinite(s.y[i + 1]) || !std::isfinite(s.x[i + 1]))
        p.fill(int(cx) - 2, int(cy) - 2, int(cx) + 4, int(cy) + 4, col);  // a lone point shows
      prev_x = cx, prev_y = cy, have_prev = true;
    }
  };
  for (const Series& s : panel.series) {
    Rgb col = colors.at(s.label);
    if (opt.smoothing > 0) {
      draw_series(s, pale(col), 1);
      Series smoothed{s.label, s.x, smooth_ema(s.y, opt.smoothing)};
      draw_series(smoothed, col, 2);
    } else {
      draw_series(s, col, 2);
    }
  }

  // Legend, top right inside the plot area.
  int lw = 0;
  for (const Series& s : panel.series) lw = std::max(lw, text_width(s.label));
  int lx = x1 - lw - 34, ly = y0 + 6, lh = static_cast<int>(panel.series.size()) * 12 + 6;
  p.fill(lx, ly, x1 - 6, ly + lh, kWhite);
  p.hline(lx, x1 - 6, ly, kGrid), p.hline(lx, x1 - 6, ly + lh, kGrid);
  p.vline(lx, ly, ly + lh, kGrid), p.vline(x1 - 6, ly, ly + lh, kGrid);
  for (size_t i = 0; i < panel.series.size(); ++i) {
    int y = ly + 5 + static_cast<int>(i) * 12;
    p.fill(lx + 5, y + 2, lx + 19, y + 5, colors.at(panel.series[i].label));
    p.text(lx + 24, y, panel.series[i].label, kText);
  }
}

}  // namespace

std::vector<double> smooth_ema(const std::vector<double>& y, double weight) {
  TANDEM_CHECK(weight >= 0 && weight < 1,
               "plot: smoothing must be in [0, 1) (0: none, 0.99: very smooth), got {}", weight);
  bool constant = std::all_of(y.begin(), y.end(), [&](double v) { return v == y.front(); });
  std::vector<double> out(y.size());
  double last = 0;
  int64_t n = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (constant || !std::isfinite(y[i])) {
      out[i] = y[i];
      continue;
    }
    last = last * weight + (1 - weight) * y[i];
    ++n;
    out[i] = last / (1 - std::pow(weight, static_cast<double>(n)));
  }
  return out;
}

Canvas render_plot(const std::vector<Panel>& panels, const PlotOptions& opt) {
  TANDEM_CHECK(!panels.empty(), "plot: nothing to draw (no panels)");
  TANDEM_CHECK(opt.smoothing >= 0 && opt.smoothing < 1,
               "plot: smoothing must be in [0, 1) (0: none, 0.99: very smooth), got {}",
               opt.smoothing);
  TANDEM_CHECK(opt.width >= 200 && opt.panel_height >= 120,
               "plot: image {}x{} per panel is too small (at least 200x120)", opt.width,
               opt.panel_height);
  Canvas c;
  c.width = opt.width;
  c.height = opt.panel_height * static_cast<int>(panels.size());
  c.rgb.assign(static_cast<size_t>(c.width) * c.height * 3, 255);
  std::map<std::string, Rgb> colors;
  for (const Panel& panel : panels)
    for (const Series& s : panel.series)
      if (!colors.count(s.label)) {
        size_t k = colors.size();
        colors[s.label] = kPalette[k % std::size(kPalette)];
      }
  Painter p(c);
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(p, panels[i], static_cast<int>(i) * opt.panel_height, opt, colors);
  return c;
}

void write_plot(const std::string& png_path, const std::vector<Panel>& panels,
                const PlotOptions& options) {
  Canvas c = render_plot(panels, options);
  std::string png = encode_png(c.rgb.data(), c.width, c.height, 3);
  // Atomic: an interrupted plot never leaves a truncated PNG over the previous one.
  io::write_file_atomic(png_path, [&](std::ostream& out) {
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
  });
}

std::vector<Panel> run_panels(const std::vector<std::string>& run_dirs,
                              const std::vector<std::string>& tags) {
  TANDEM_CHECK(!run_dirs.empty(), "plot: no run directories given");
  // run -> tag -> step -> value (the last record for a step wins, as TensorBoard shows it)
  std::vector<std::map<std::string, std::map<int64_t, double>>> data(run_dirs.size());
  std::vector<std::string> all_tags;
  std::set<std::string> seen;
  for (size_t r = 0; r < run_dirs.size(); ++r)
    for (const Record& rec : read(run_dirs[r])) {
      if (rec.kind != Kind::Scalar) continue;
      data[r][rec.tag][rec.step] = rec.value;
      if (seen.insert(rec.tag).second) all_tags.push_back(rec.tag);
    }
  std::vector<std::string> want = tags;
  if (want.empty()) {
    TANDEM_CHECK(!all_tags.empty(), "plot: no scalar summaries in {}", fmt::join(run_dirs, ", "));
    want.assign(all_tags.begin(), all_tags.begin() + std::min<size_t>(all_tags.size(), 8));
  }
  std::vector<Panel> panels;
  for (const std::string& tag : want) {
    TANDEM_CHECK(seen.count(tag), "plot: tag '{}' is in none of the runs; scalar tags there: {}",
                 tag, fmt::join(all_tags, ", "));
    Panel panel{tag, {}};
    for (size_t r = 0; r < run_dirs.size(); ++r) {
      auto it = data[r].find(tag);
      if (it == data[r].end()) continue;
      std::string label = std::filesystem::path(run_dirs[r]).lexically_normal().string();
      while (label.size() > 1 && label.back() == '/') label.pop_back();
      Series s{label, {}, {}};
      for (const auto& [step, v] : it->second) s.x.push_back(double(step)), s.y.push_back(v);
      panel.series.push_back(std::move(s));
    }
    panels.push_back(std::move(panel));
  }
  return panels;
}

Tensor make_labeled_grid(const Tensor& images, const std::vector<Label>& labels, int64_t nrow,
                         int scale) {
  TANDEM_CHECK(images.defined() && (images.dim() == 3 || images.dim() == 4),
               "make_labeled_grid: expected [N, C, H, W] or [N, H, W], got shape {}",
               images.defined() ? shape_str(images.shape()) : std::string("undefined"));
  Tensor x = images.dim() == 3 ? images.unsqueeze(1) : images;
  int64_t n = x.shape()[0];
  TANDEM_CHECK(n > 0 && static_cast<int64_t>(labels.size()) == n,
               "make_labeled_grid: {} images but {} labels", n, labels.size());
  TANDEM_CHECK(nrow > 0 && scale >= 1 && scale <= 16, "make_labeled_grid: nrow {} and scale {} "
               "must be positive (scale at most 16)", nrow, scale);
  const int pad = 4, label_h = font::kHeight + 6;
  int h = static_cast<int>(x.shape()[2]) * scale, w = static_cast<int>(x.shape()[3]) * scale;
  int cols = static_cast<int>(std::min<int64_t>(nrow, n)), rows = static_cast<int>((n + cols - 1) / cols);
  Canvas c;
  c.width = cols * (w + pad) + pad;
  c.height = rows * (h + label_h + pad) + pad;
  c.rgb.assign(static_cast<size_t>(c.width) * c.height * 3, 255);
  Painter p(c);
  for (int64_t k = 0; k < n; ++k) {
    DecodedImage img = to_pixels(x.select(0, k), "CHW");
    TANDEM_CHECK(img.channels == 1 || img.channels == 3,
                 "make_labeled_grid: images need 1 or 3 channels, got {}", img.channels);
    int x0 = pad + static_cast<int>(k % cols) * (w + pad);
    int y0 = pad + static_cast<int>(k / cols) * (h + label_h + pad);
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx) {
        const uint8_t* s = &img.pixels[((y / scale) * img.width + xx / scale) * img.channels];
        p.set(x0 + xx, y0 + y, img.channels == 1 ? Rgb{s[0], s[0], s[0]} : Rgb{s[0], s[1], s[2]});
      }
    const Label& l = labels[k];
    std::string text = l.text.substr(0, std::max(1, (w + 1) / font::kAdvance));
    p.text(x0 + (w - text_width(text)) / 2, y0 + h + 3, text, Rgb{l.r, l.g, l.b});
  }
  Tensor out = empty({3, c.height, c.width}, TensorOptions{.dtype = DType::UInt8});
  uint8_t* o = static_cast<uint8_t*>(out.data_ptr());
  size_t plane = static_cast<size_t>(c.width) * c.height;
  for (size_t i = 0; i < plane; ++i)
    for (int ch = 0; ch < 3; ++ch) o[ch * plane + i] = c.rgb[i * 3 + ch];
  return out;
}

void plot_runs(const std::vector<std::string>& run_dirs, const std::vector<std::string>& tags,
               const std::string& png_path, const PlotOptions& options) {
  write_plot(png_path, run_panels(run_dirs, tags), options);
}

}  // namespace tandem::summary
