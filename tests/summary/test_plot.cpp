// plot: the rasterizer draws every series in its colour; the PNG reads back with libpng.
#include "summary_test_util.h"
#include "tandem/summary.h"
#include "test_util.h"

namespace tandem::summary {
namespace {

using tandem::testing::throws_error;

size_t count_color(const std::vector<uint8_t>& rgb, uint8_t r, uint8_t g, uint8_t b) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < rgb.size(); i += 3) n += rgb[i] == r && rgb[i + 1] == g && rgb[i + 2] == b;
  return n;
}

TEST(Plot, EachSeriesIsDrawnInItsOwnColour) {
  Series a{"run_a", {0, 1, 2, 3}, {1.0, 0.5, 0.25, 0.125}};
  Series b{"run_b", {0, 1, 2, 3}, {0.9, 0.7, 0.6, 0.55}};
  Canvas c = render_plot({{"loss", {a, b}}}, {.width = 400, .panel_height = 300});
  ASSERT_EQ(c.width, 400);
  ASSERT_EQ(c.height, 300);
  ASSERT_EQ(c.rgb.size(), 400u * 300u * 3u);
  EXPECT_GT(count_color(c.rgb, 31, 119, 180), 100u);  // first palette colour: run_a
  EXPECT_GT(count_color(c.rgb, 255, 127, 14), 100u);  // second: run_b
  size_t background = count_color(c.rgb, 255, 255, 255);
  EXPECT_GT(background, c.rgb.size() / 3 / 2);  // mostly white
  EXPECT_LT(background, c.rgb.size() / 3);      // but not blank
}

TEST(Plot, PngReadsBackWithLibpng) {
  testing::ScratchDir dir;
  std::vector<Panel> panels = {{"loss", {{"r", {0, 10, 20}, {3, 2, 1}}}},
                               {"accuracy", {{"r", {0, 10, 20}, {0.1, 0.5, 0.9}}}}};
  write_plot(dir / "p.png", panels, {.width = 320, .panel_height = 200});
  DecodedImage img = decode_png(testing::read_bytes(dir / "p.png"));
  EXPECT_EQ(img.width, 320);
  EXPECT_EQ(img.height, 400);
  EXPECT_EQ(img.channels, 3);
  Canvas c = render_plot(panels, {.width = 320, .panel_height = 200});
  EXPECT_EQ(img.pixels, c.rgb);
}

TEST(Plot, RunsAreReadFromEventFiles) {
  testing::ScratchDir dir;
  for (const char* run : {"sgd", "adam"}) {
    Writer w(dir / run);
    for (int s = 0; s < 10; ++s) w.add_scalar("loss", 1.0 / (s + 1), s), w.add_scalar("lr", 0.1, s);
  }
  std::vector<Panel> panels = run_panels({dir / "sgd", dir / "adam"}, {"loss"});
  ASSERT_EQ(panels.size(), 1u);
  ASSERT_EQ(panels[0].series.size(), 2u);
  EXPECT_EQ(panels[0].series[0].x.size(), 10u);
  EXPECT_EQ(panels[0].series[0].y[3], 0.25);
  EXPECT_EQ(run_panels({dir / "sgd"}).size(), 2u);  // every scalar tag
  plot_runs({dir / "sgd", dir / "adam"}, {}, dir / "curves.png");
  DecodedImage img = decode_png(testing::read_bytes(dir / "curves.png"));
  EXPECT_EQ(img.height, 2 * PlotOptions{}.panel_height);
  EXPECT_TRUE(throws_error([&] { run_panels({dir / "sgd"}, {"acc"}); }, {"'acc'", "loss", "lr"}));
}

TEST(Plot, NonFiniteValuesAndFlatSeriesStillDraw) {
  Series s{"x", {0, 1, 2, 3}, {1.0, NAN, INFINITY, 1.0}};
  Canvas c = render_plot({{"flat", {s}}}, {.width = 300, .panel_height = 200});
  EXPECT_GT(count_color(c.rgb, 31, 119, 180), 0u);
}

// TensorBoard's smoothing as a weighted average: s_n = sum_i w^(n-i) (1-w) y_i / (1 - w^n),
// an independent form of the recursive EMA with its debias term.
TEST(Plot, SmoothEmaIsTensorBoardsDebiasedAverage) {
  std::vector<double> y = {1.0, 0.0, 0.0, 4.0, -2.0, 3.5};
  for (double w : {0.0, 0.5, 0.6, 0.95}) {
    std::vector<double> got = smooth_ema(y, w);
    ASSERT_EQ(got.size(), y.size());
    for (size_t n = 1; n <= y.size(); ++n) {
      double num = 0, den = 0;
      for (size_t i = 0; i < n; ++i) {
        double k = std::pow(w, static_cast<double>(n - 1 - i)) * (1 - w);
        num += k * y[i];
        den += k;
      }
      EXPECT_NEAR(got[n - 1], num / den, 1e-12) << "w " << w << " n " << n;
    }
  }
  // Hand-computed for w = 0.5: [1, 0.25/0.75, 0.125/0.875].
  std::vector<double> h = smooth_ema({1, 0, 0}, 0.5);
  EXPECT_DOUBLE_EQ(h[1], 1.0 / 3);
  EXPECT_DOUBLE_EQ(h[2], 1.0 / 7);
  // Non-finite values pass through and do not count; a constant series stays as it is.
  std::vector<double> g = smooth_ema({2.0, NAN, 0.0}, 0.5);
  EXPECT_EQ(g[0], 2.0);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_DOUBLE_EQ(g[2], (0.25 * 2.0) / 0.75);  // m = 0.5 * 1 + 0.5 * 0, debiased by 1 - 0.5^2
  EXPECT_EQ(smooth_ema({0.3, 0.3, 0.3}, 0.9), (std::vector<double>{0.3, 0.3, 0.3}));
  EXPECT_TRUE(throws_error([] { smooth_ema({1.0}, 1.0); }, {"[0, 1)"}));
  EXPECT_TRUE(throws_error([] { smooth_ema({1.0}, -0.1); }, {"[0, 1)"}));
}

TEST(Plot, SmoothingDrawsRawFadedAndTheSmoothedCurve) {
  Series s{"run", {}, {}};
  for (int i = 0; i < 60; ++i) s.x.push_back(i), s.y.push_back(i % 2 ? 1.0 : 0.0);
  Canvas raw = render_plot({{"loss", {s}}}, {.width = 400, .panel_height = 300});
  Canvas smooth = render_plot({{"loss", {s}}}, {.width = 400, .panel_height = 300, .smoothing = 0.9});
  // The pale tint of the first palette colour (31, 119, 180): 35% of it over white.
  EXPECT_EQ(count_color(raw.rgb, 177, 207, 229), 0u);
  EXPECT_GT(count_color(smooth.rgb, 177, 207, 229), 100u);
  EXPECT_GT(count_color(smooth.rgb, 31, 119, 180), 100u);  // the smoothed curve
  EXPECT_TRUE(throws_error([&] { render_plot({{"loss", {s}}}, {.smoothing = 1.0}); }, {"[0, 1)"}));
}

TEST(Plot, LabeledGridPlacesImagesAndCaptions) {
  Tensor imgs = zeros({3, 1, 4, 5});
  imgs.select(0, 1).fill_(1.0);  // the second tile white, the others black
  Tensor g = make_labeled_grid(imgs, {{"a", 255, 0, 0}, {"b", 0, 160, 0}, {"c"}}, 2, 3);
  ASSERT_EQ(g.dtype(), DType::UInt8);
  // tiles 15x12, 2 per row, 4 px padding, 13 px caption strips
  ASSERT_EQ(g.shape(), (Shape{3, 2 * (12 + 13 + 4) + 4, 2 * (15 + 4) + 4}));
  auto px = [&](int ch, int y, int x) { return g.select(0, ch).select(0, y).select(0, x).item<int>(); };
  EXPECT_EQ(px(0, 4, 4), 0);               // tile 0 (black), top-left
  EXPECT_EQ(px(0, 4 + 11, 4 + 14), 0);     // tile 0, bottom-right
  EXPECT_EQ(px(1, 4, 4 + 19), 255);        // tile 1 (white)
  EXPECT_EQ(px(0, 4 + 29, 4), 0);          // tile 2, second row
  EXPECT_EQ(px(0, 2, 2), 255);             // padding is white
  size_t red = 0, green = 0;
  for (int y = 0; y < g.size(1); ++y)
    for (int x = 0; x < g.size(2); ++x) {
      red += px(0, y, x) == 255 && px(1, y, x) == 0 && px(2, y, x) == 0;
      green += px(0, y, x) == 0 && px(1, y, x) == 160 && px(2, y, x) == 0;
    }
  EXPECT_GT(red, 5u);    // caption "a"
  EXPECT_GT(green, 5u);  // caption "b"
  EXPECT_TRUE(throws_error([&] { make_labeled_grid(imgs, {{"a"}}); }, {"3 images but 1 labels"}));
}

}  // namespace
}  // namespace tandem::summary
