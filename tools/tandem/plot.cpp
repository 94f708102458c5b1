// tandem plot: scalar curves of one or more runs to a PNG (no browser needed); the drawing
// is summary::plot_runs in the library.
//
//   tandem plot runs/sgd runs/adam --tag loss --tag test/accuracy --out curves.png
//   tandem plot runs/latest --tag train/loss --smooth 0.6   # raw faded, smoothed on top
#include <iostream>
#include <memory>

#include <tandem/summary.h>

#include "commands.h"

namespace tandem::cli {

Run add_plot(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::vector<std::string> tags;
    std::string out = "curves.png";
    int width = 900, panel_height = 360;
    double smooth = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("plot", "Draw the scalar curves of runs into a PNG (one panel per tag, one colour per run)");
  cmd->add_option("run_dir", a->dirs, "Run folder(s) with event files")->required()->check(CLI::ExistingPath);
  cmd->add_option("--tag,-t", a->tags, "Scalar tags to draw (default: all, up to 8)");
  cmd->add_option("--out,-o", a->out, "Output PNG")->capture_default_str();
  cmd->add_option("--width", a->width, "Image width in pixels")->check(CLI::Range(200, 8000))->capture_default_str();
  cmd->add_option("--panel-height", a->panel_height, "Height of each panel in pixels")
      ->check(CLI::Range(120, 8000))->capture_default_str();
  cmd->add_option("--smooth", a->smooth,
                  "TensorBoard's smoothing in [0, 1): each curve raw (faded) and as a debiased "
                  "exponential moving average with this weight (0.6 is TensorBoard's default)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            try {
              size_t used = 0;
              double v = std::stod(s, &used);
              if (used == s.size() && v >= 0 && v < 1) return "";
            } catch (const std::exception&) {
            }
            return "must be a number in [0, 1) (0: no smoothing, 0.99: very smooth), got " + s;
          },
          "[0, 1)"))
      ->capture_default_str();
  return [a] {
    std::vector<summary::Panel> panels = summary::run_panels(a->dirs, a->tags);
    summary::write_plot(a->out, panels, {.width = a->width, .panel_height = a->panel_height, .smoothing = a->smooth});
    size_t series = 0;
    for (const auto& p : panels) series += p.series.size();
    fmt::print("wrote {} ({} panel{}, {} curve{}{})\n", a->out, panels.size(),
               panels.size() == 1 ? "" : "s", series, series == 1 ? "" : "s",
               a->smooth > 0 ? fmt::format(", smoothed {:g}", a->smooth) : "");
    return 0;
  };
}

}  // namespace tandem::cli
