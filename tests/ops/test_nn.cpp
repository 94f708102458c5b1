// nn ops: pooling, normalization, dropout, embedding. PyTorch agreement on regular
// inputs lives in test_reference.cpp; here: gradchecks (first and second order), edge
// cases with hard-coded PyTorch 1.13 values, the fused backward kernels against the
// composite formulas, dtypes, threads, and every error path.
#include <array>
#include <cmath>
#include <limits>

#include "../../src/backend/cpu/isa.h"
#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor f64(std::vector<double> v, Shape s) { return tensor(v, s); }

// d/dx of sum(f(x) * g), recorded (create_graph) so it can be differentiated again.
Tensor grad_of(const Tensor& y, const Tensor& g, const Tensor& x) {
  return tandem::grad({(y * g).sum()}, {x}, {}, true, true)[0];
}

}  // namespace

// ---- gradcheck table ------------------------------------------------------------

TANDEM_GRAD_CASE(max_pool2d, pad_dilation_ceil_noncontiguous,
                 [](const Tensors& x) { return max_pool2d(x[0], {3, 2}, {2, 1}, {1, 1}, {1, 2}, true); },
                 [] { return Tensors{noncontiguous({2, 2, 5, 6})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(max_pool2d, two_by_two_3d_input, [](const Tensors& x) { return max_pool2d(x[0], {2}); },
                 [] { return Tensors{noncontiguous({3, 4, 5})}; });
TANDEM_GRAD_CASE(max_pool2d_backward, grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(max_pool2d(x[0], {3}, {2}, {1}), x[1], x[0]); },
                 [] { return Tensors{randn({1, 2, 5, 5}, kF64g), randn({1, 2, 3, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(max_pool2d_gather, third_order,
                 [](const Tensors& x) {
                   Tensor gx = grad_of(max_pool2d(x[0], {2, 3}, {1, 2}), x[1], x[0]);
                   return tandem::grad({(gx * x[2]).sum()}, {x[1]}, {}, true, true)[0];
                 },
                 [] {
                   return Tensors{randn({2, 4, 5}, kF64g), randn({2, 3, 2}, kF64g),
                                  randn({2, 4, 5}, kF64g)};
                 });
TANDEM_GRAD_CASE(avg_pool2d, ceil_pad_exclude_noncontiguous,
                 [](const Tensors& x) { return avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, true, false); },
                 [] { return Tensors{noncontiguous({2, 2, 5, 6})}; });
TANDEM_GRAD_CASE(avg_pool2d_backward, grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(avg_pool2d(x[0], {2, 3}, {1, 2}, {1, 1}), x[1], x[0]); },
                 [] { return Tensors{randn({1, 2, 4, 5}, kF64g), randn({1, 2, 5, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(adaptive_avg_pool2d, uneven_noncontiguous,
                 [](const Tensors& x) { return adaptive_avg_pool2d(x[0], {3, 4}); },
                 [] { return Tensors{noncontiguous({2, 2, 5, 7})}; });
TANDEM_GRAD_CASE(adaptive_avg_pool2d_backward, grad_wrt_upstream,
                 [](const Tensors& x) { return grad_of(adaptive_avg_pool2d(x[0], {2, 3}), x[1], x[0]); },
                 [] { return Tensors{randn({2, 3, 5}, kF64g), randn({2, 2, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(interpolate, bicubic_noncontiguous,
                 [](const Tensors& x) { return interpolate(x[0], {.size = {5, 7}, .mode = "bicubic"}); },
                 [] { return Tensors{noncontiguous({1, 2, 3, 4})}; });
TANDEM_GRAD_CASE(interpolate, trilinear_down_align,
                 [](const Tensors& x) {
                   return interpolate(x[0], {.size = {2, 3, 2}, .mode = "trilinear", .align_corners = true});
                 },
                 [] { return Tensors{randn({1, 2, 3, 5, 4}, kF64g)}; });
TANDEM_GRAD_CASE(interpolate, bicubic_antialias_down_noncontiguous,
                 [](const Tensors& x) {
                   return interpolate(x[0], {.size = {3, 2}, .mode = "bicubic", .antialias = true});
                 },
                 [] { return Tensors{noncontiguous({1, 2, 7, 5})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(interpolate, bilinear_antialias_down,
                 [](const Tensors& x) {
                   return interpolate(x[0], {.scale_factor = {0.4, 0.5}, .mode = "bilinear", .antialias = true});
                 },
                 [] { return Tensors{randn({2, 1, 8, 6}, kF64g)}; });
TANDEM_GRAD_CASE(interpolate_backward, grad_wrt_upstream,
                 [](const Tensors& x) {
                   return grad_of(interpolate(x[0], {.scale_factor = {1.5, 0.7}, .mode = "bilinear"}), x[1], x[0]);
                 },
                 [] { return Tensors{randn({1, 2, 4, 6}, kF64g), randn({1, 2, 6, 4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});

TEST(Interpolate, BadArgumentsAreErrors) {
  Tensor x = randn({1, 2, 4, 4});
  EXPECT_THROW(interpolate(x, {}), Error);                                        // neither size nor scale
  EXPECT_THROW(interpolate(x, {.size = {2, 2}, .scale_factor = {2.0}}), Error);   // both
  EXPECT_THROW(interpolate(x, {.size = {2, 2, 2}}), Error);                       // 3 sizes, 2 dims
  EXPECT_THROW(interpolate(x, {.scale_factor = {-1.0}}), Error);
  EXPECT_THROW(interpolate(x, {.size = {8}, .mode = "trilinear"}), Error);        // wants 5-D
  EXPECT_THROW(interpolate(x, {.size = {8}, .mode = "nearest", .align_corners = true}), Error);
  EXPECT_THROW(interpolate(x, {.size = {8}, .mode = "lanczos"}), Error);
  EXPECT_TRUE(throws_error([&] { interpolate(x, {.size = {2}, .mode = "nearest", .antialias = true}); },
                           {"antialias", "bilinear and bicubic", "'nearest'"}));
  EXPECT_THROW(interpolate(randn({4, 4}), {.size = {8}}), Error);                  // no batch/channel
  EXPECT_THROW(interpolate(arange(16).reshape({1, 1, 4, 4}), {.size = {8}}), Error);  // integer
}

TEST(Interpolate, UpsampleModuleMatchesFunction) {
  Tensor x = randn({2, 3, 4, 5});
  nn::Upsample up({.scale_factor = {2.0}, .mode = "bilinear", .align_corners = true});
  EXPECT_ALL_CLOSE(up(x), interpolate(x, up.options), 0, 0);
  EXPECT_EQ(up(x).shape(), (Shape{2, 3, 8, 10}));
  EXPECT_EQ(up.extra_repr(), "scale_factor=2, mode='bilinear', align_corners=True");
}

TANDEM_GRAD_CASE(layer_norm, affine_noncontiguous,
                 [](const Tensors& x) { return layer_norm(x[0], {3, 4}, x[1], x[2], 1e-3); },
                 [] { return Tensors{noncontiguous({2, 3, 4}), noncontiguous({3, 4}, 4), randn({3, 4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(layer_norm, no_affine, [](const Tensors& x) { return layer_norm(x[0], {5}); },
                 [] { return Tensors{randn({3, 5}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(group_norm, affine_noncontiguous,
                 [](const Tensors& x) { return group_norm(x[0], 2, x[1], x[2], 1e-3); },
                 [] { return Tensors{noncontiguous({2, 4, 3}), randn({4}, kF64g), randn({4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(batch_norm, train_4d_noncontiguous,
                 [](const Tensors& x) { return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true, 0.1, 1e-3); },
                 [] { return Tensors{noncontiguous({3, 2, 2, 2}), randn({2}, kF64g), randn({2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(batch_norm, train_2d_no_affine,
                 [](const Tensors& x) { return batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                 [] { return Tensors{randn({4, 3}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(batch_norm, eval_3d,
                 [](const Tensors& x) {
                   Tensor rm = f64({0.5, -1.0}, {2}), rv = f64({2.0, 0.5}, {2});
                   return batch_norm(x[0], rm, rv, x[1], x[2], false, 0.1, 1e-3);
                 },
                 [] { return Tensors{noncontiguous({3, 2, 4}), randn({2}, kF64g), randn({2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(dropout, reseeded,
                 [](const Tensors& x) {
                   manual_seed(11);
                   return dropout(x[0], 0.4);
                 },
                 [] { return Tensors{noncontiguous({4, 5})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(embedding, repeated_and_padding,
                 [](const Tensors& x) {
                   Tensor idx = tensor(std::vector<int64_t>{1, 3, 1, 0, 3, 3}, Shape{2, 3});
                   return embedding(x[0], idx, 2);  // row 2 unused: its gradient is zero either way
                 },
                 [] { return Tensors{noncontiguous({4, 3})}; });
TANDEM_GRAD_CASE(embedding_backward, grad_wrt_upstream,
                 [](const Tensors& x) {
                   Tensor idx = tensor(std::vector<int64_t>{2, 0, 2, 1}, Shape{4});
                   return grad_of(embedding(x[0], idx, -2), x[1], x[0]);
                 },
                 [] { return Tensors{randn({3, 2}, kF64g), randn({4, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});

// ---- max_pool2d -------------------------------------------------------------------

TEST(MaxPool2d, NaNWinsAndTiesTakeTheFirstMaximum) {
  // torch: F.max_pool2d(x, 2, stride=1) with x = [[1, 1, 2], [nan, 0, 2], [-inf, -inf, 3]]
  Tensor x = f64({1, 1, 2, kNaN, 0, 2, -kInf, -kInf, 3}, {1, 1, 3, 3}).requires_grad_();
  Tensor y = max_pool2d(x, {2}, {1});
  EXPECT_ALL_CLOSE(y, f64({kNaN, 2, kNaN, 3}, {1, 1, 2, 2}));
  Tensor g = tandem::grad({y.sum()}, {x})[0];
  // torch.autograd.grad(y.sum(), x)
  EXPECT_ALL_CLOSE(g, f64({0, 0, 1, 2, 0, 0, 0, 0, 1}, {1, 1, 3, 3}));
}

TEST(MaxPool2d, WindowOfMinusInfinityGivesItsFirstElementTheGradient) {
  // torch: F.max_pool2d(torch.full((1, 1, 2, 3), -inf), 2, stride=1) -> [-inf, -inf], grad [[1, 1, 0], [0, 0, 0]]
  Tensor x = full({1, 1, 2, 3}, -kInf, kF64).requires_grad_();
  Tensor y = max_pool2d(x, {2}, {1});
  EXPECT_ALL_CLOSE(y, f64({-kInf, -kInf}, {1, 1, 1, 2}));
  EXPECT_ALL_CLOSE(tandem::grad({y.sum()}, {x})[0], f64({1, 1, 0, 0, 0, 0}, {1, 1, 2, 3}));
}

TEST(MaxPool2d, TwoByTwoTiesAndOddWidth) {
  // torch: F.max_pool2d(x, 2) with x = [[5, 5, 1, 7, 9], [5, 2, 7, 7, 9]] (the last column is
  // outside every window); grad of sum(y * [1, 10]) -> [[1, 0, 0, 10, 0], [0, 0, 0, 0, 0]]
  Tensor x = f64({5, 5, 1, 7, 9, 5, 2, 7, 7, 9}, {1, 1, 2, 5}).requires_grad_();
  Tensor y = max_pool2d(x, {2});
  EXPECT_ALL_CLOSE(y, f64({5, 7}, {1, 1, 1, 2}));
  Tensor g = tandem::grad({(y * f64({1, 10}, {1, 1, 1, 2})).sum()}, {x})[0];
  EXPECT_ALL_CLOSE(g, f64({1, 0, 0, 10, 0, 0, 0, 0, 0, 0}, {1, 1, 2, 5}));
}

// A naive max_pool2d (values and the gradient of sum(y * g)) over [P, H, W] planes,
// PyTorch's argmax rule spelled out: scan the window row-major, take v if v > best or
// v is NaN; a window of -inf keeps its first element.
std::pair<std::vector<double>, std::vector<double>> naive_max_pool(
    const std::vector<double>& x, const std::vector<double>& g, int64_t P, int64_t H, int64_t W,
    int64_t k, int64_t s, int64_t pad, int64_t d, int64_t OH, int64_t OW) {
  std::vector<double> y(P * OH * OW), gx(P * H * W, 0.0);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -kInf;
        int64_t arg = -1;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            int64_t ih = oh * s - pad + i * d, iw = ow * s - pad + j * d;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double v = x[(p * H + ih) * W + iw];
            if (arg < 0 || v > best || std::isnan(v)) {
              arg = (p * H + ih) * W + iw;
              best = v;
            }
          }
        y[(p * OH + oh) * OW + ow] = best;
        gx[arg] += g[(p * OH + oh) * OW + ow];
      }
  return {y, gx};
}

TEST(MaxPool2d, MatchesNaiveLoopsForEveryRowWidthAndDtype) {
  // Widths cover every vector width (16/8/4 lanes, overlapping last step, scalar rows)
  // of the 2x2 path and the general one (strides 1, 2 and the scalar stride 3, padded
  // rows, ceil mode); a few NaNs, ties and infinities included.
  Generator gen(5);
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t W : {2, 3, 5, 8, 9, 14, 17, 28, 33, 40})
      for (const std::array<int64_t, 5>& c : std::vector<std::array<int64_t, 5>>{
               {2, 2, 0, 1, 0}, {3, 2, 1, 1, 0}, {2, 1, 0, 2, 0}, {3, 3, 1, 1, 0}, {3, 1, 1, 2, 0},
               {2, 2, 0, 1, 1}, {3, 2, 1, 1, 1}}) {
        // Plain variables, not a structured binding: lambdas below capture them (clang 14).
        const int64_t k = c[0], s = c[1], pad = c[2], d = c[3], ceil = c[4];
        const int64_t P = 3, H = 5;
        Tensor x = randn({P, H, W}, kF64, &gen).mul_(4.0);
        x = x.to(kFloat32).to(kFloat64);  // rounds like the float32 run
        std::vector<double> xv = x.to_vector<double>();
        for (size_t i = 0; i < xv.size(); i += 7) xv[i] = std::round(xv[i]);  // ties
        xv[3] = kNaN;
        xv[xv.size() - 2] = -kInf;
        xv[xv.size() / 2] = kInf;
        x = tensor(xv, Shape{P, H, W});
        auto out_size = [&](int64_t in) {
          int64_t o = (in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s + 1;
          return ceil && (o - 1) * s >= in + pad ? o - 1 : o;
        };
        const int64_t OH = out_size(H), OW = out_size(W);
        if (W + 2 * pad < d * (k - 1) + 1) continue;
        Tensor g = randn({P, OH, OW}, kF64, &gen).to(kFloat32).to(kFloat64);
        auto [ye, ge] = naive_max_pool(xv, g.to_vector<double>(), P, H, W, k, s, pad, d, OH, OW);
        Tensor xt = x.to(dt).requires_grad_();
        Tensor y = max_pool2d(xt, {k}, {s}, {pad}, {d}, ceil != 0);
        SCOPED_TRACE(fmt::format("{} W={} k={} s={} pad={} d={} ceil={}", dtype_name(dt), W, k, s, pad, d, ceil));
        EXPECT_ALL_CLOSE(y.to(kFloat64), tensor(ye, Shape{P, OH, OW}), 0, 0);
        Tensor gx = tandem::grad({y}, {xt}, {g.to(dt)})[0];
        EXPECT_ALL_CLOSE(gx.to(kFloat64), tensor(ge, Shape{P, H, W}), 1e-6, 1e-6);
      }
}

TEST(MaxPool2d, Float32MatchesFloat64AndThreadCountsAgree) {
  Tensor x = randn({3, 4, 9, 10}, kF64);
  Tensor ref = max_pool2d(x, {3}, {2}, {1}, {2});
  EXPECT_ALL_CLOSE(max_pool2d(x.to(kFloat32), {3}, {2}, {1}, {2}), ref.to(kFloat32), 0, 0);
  int nt = get_num_threads();
  set_num_threads(1);
  Tensor one = max_pool2d(x, {3}, {2}, {1}, {2});
  set_num_threads(nt);
  EXPECT_ALL_CLOSE(one, ref, 0, 0);
}

TEST(MaxPool2d, ChannelsLastInputIsHandled) {
  Tensor x = randn({2, 5, 6, 3}, kF64).permute({0, 3, 1, 2});  // [2, 3, 5, 6], not contiguous
  EXPECT_ALL_CLOSE(max_pool2d(x, {2}), max_pool2d(x.contiguous(), {2}), 0, 0);
}

TEST(MaxPool2d, Errors) {
  Tensor x = randn({2, 3, 4, 4});
  EXPECT_TRUE(throws_error([&] { max_pool2d(randn({4, 4}), {2}); }, {"max_pool2d", "3-D", "[4, 4]"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {5}); }, {"max_pool2d", "too small", "[2, 3, 4, 4]", "0x0"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {3}, {}, {2}); }, {"max_pool2d", "half of kernel_size", "[2, 2]"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {2}, {0}); }, {"max_pool2d", "stride must be positive"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {2, 2, 2}); }, {"max_pool2d", "kernel_size", "3 elements"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {0}); }, {"max_pool2d", "kernel_size must be positive"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {2}, {}, {0}, {0}); }, {"max_pool2d", "dilation"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(x, {2}, {}, {-1}); }, {"max_pool2d", "non-negative"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(zeros({2, 3, 4, 4}, {.dtype = kInt64}), {2}); },
                           {"max_pool2d", "floating-point", "int64"}));
  EXPECT_TRUE(throws_error([&] { max_pool2d(randn({2, 0, 4, 4}), {2}); }, {"max_pool2d", "non-zero", "[2, 0, 4, 4]"}));
  EXPECT_EQ(max_pool2d(randn({0, 3, 4, 4}), {2}).shape(), (Shape{0, 3, 2, 2}));
}

// ---- avg pooling ------------------------------------------------------------------

TEST(AvgPool2d, CountIncludePadDivisors) {
  // torch: F.avg_pool2d(torch.ones(1, 1, 3, 3), 2, stride=2, padding=1, ceil_mode=True,
  //                     count_include_pad=True) -> [[0.25, 0.5], [0.5, 1]]; with False -> all ones
  Tensor x = ones({1, 1, 3, 3}, kF64);
  EXPECT_ALL_CLOSE(avg_pool2d(x, {2}, {2}, {1}, true, true), f64({0.25, 0.5, 0.5, 1.0}, {1, 1, 2, 2}));
  EXPECT_ALL_CLOSE(avg_pool2d(x, {2}, {2}, {1}, true, false), ones({1, 1, 2, 2}, kF64));
}

TEST(AvgPool2d, Errors) {
  Tensor x = randn({2, 3, 4, 4});
  EXPECT_TRUE(throws_error([&] { avg_pool2d(x, {5}); }, {"avg_pool2d", "too small"}));
  EXPECT_TRUE(throws_error([&] { avg_pool2d(x, {3}, {}, {2}); }, {"avg_pool2d", "half of kernel_size"}));
  EXPECT_TRUE(throws_error([&] { avg_pool2d(randn({4, 4}), {2}); }, {"avg_pool2d", "3-D"}));
  EXPECT_TRUE(throws_error([&] { adaptive_avg_pool2d(randn({4, 4}), {2}); }, {"adaptive_avg_pool2d", "3-D", "[4, 4]"}));
  EXPECT_TRUE(throws_error([&] { adaptive_avg_pool2d(x, {2, 2, 2}); }, {"adaptive_avg_pool2d", "output_size"}));
  EXPECT_TRUE(throws_error([&] { adaptive_avg_pool2d(x, {-1, 2}); }, {"adaptive_avg_pool2d", "non-negative"}));
  EXPECT_TRUE(throws_error([&] { adaptive_avg_pool2d(randn({2, 3, 0, 4}), {2}); },
                           {"adaptive_avg_pool2d", "non-zero", "[2, 3, 0, 4]"}));
}

// ---- normalization ----------------------------------------------------------------

// The fused first-order kernels (grad mode off in backward) against the composite
// formulas (create_graph = true), all three gradients.
void expect_fused_matches_composite(const std::function<Tensor(const Tensors&)>& f, Tensors in) {
  Tensor y = f(in);
  Tensor v = randn(y.shape(), kF64);
  Tensors fused = tandem::grad({(y * v).sum()}, in, {}, false, false);
  Tensor y2 = f(in);
  Tensors comp = tandem::grad({(y2 * v).sum()}, in, {}, false, true);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_ALL_CLOSE(fused[i], comp[i], 1e-12, 1e-10) << "input " << i;
}

TEST(Norms, FusedBackwardMatchesComposite) {
  manual_seed(3);
  expect_fused_matches_composite([](const Tensors& x) { return layer_norm(x[0], {6}, x[1], x[2]); },
                                 {(randn({5, 6}, kF64) * 3.0 + 2.0).requires_grad_(), randn({6}, kF64g), randn({6}, kF64g)});
  expect_fused_matches_composite([](const Tensors& x) { return group_norm(x[0], 3, x[1], x[2]); },
                                 {randn({2, 6, 5}, kF64g), randn({6}, kF64g), randn({6}, kF64g)});
  expect_fused_matches_composite(
      [](const Tensors& x) { return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); },
      {randn({4, 3, 5}, kF64g), randn({3}, kF64g), randn({3}, kF64g)});
  expect_fused_matches_composite(
      [](const Tensors& x) { return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); },
      {randn({7, 3}, kF64g), randn({3}, kF64g), randn({3}, kF64g)});
}

TEST(Norms, LongRowsInFloat32StayAccurate) {
  // Large mean, small spread: a one-pass variance would lose every digit.
  Tensor x = randn({4, 5000}, kF64) * 0.01 + 1000.0;
  Tensor w = randn({5000}, kF64), b = randn({5000}, kF64);
  Tensor ref = layer_norm(x, {5000}, w, b);
  Tensor y = layer_norm(x.to(kFloat32), {5000}, w.to(kFloat32), b.to(kFloat32));
  // x itself is only float32-exact to ~6e-5 of its spread (1000 * 2^-24 / 0.01)
  EXPECT_ALL_CLOSE(y.to(kFloat64), ref, 2e-2, 1e-3);
  Tensor xb = x.reshape({4, 1, 5000}).expand({4, 3, 5000}).contiguous();
  Tensor bn = batch_norm(xb.to(kFloat32), Tensor(), Tensor(), Tensor(), Tensor(), true);
  EXPECT_ALL_CLOSE(bn.to(kFloat64), batch_norm(xb, Tensor(), Tensor(), Tensor(), Tensor(), true), 2e-2, 1e-3);
}

TEST(Norms, Float32BackwardMatchesFloat64) {
  Tensor x = randn({8, 40}, kF64), w = randn({40}, kF64), b = randn({40}, kF64);
  Tensor gy = randn({8, 40}, kF64);
  auto grads = [&](DType dt) {
    Tensor xx = x.to(dt).detach().requires_grad_(), ww = w.to(dt).detach().requires_grad_(),
           bb = b.to(dt).detach().requires_grad_();
    return tandem::grad({layer_norm(xx, {40}, ww, bb)}, {xx, ww, bb}, {gy.to(dt)});
  };
  Tensors g64 = grads(kFloat64), g32 = grads(kFloat32);
  for (int i = 0; i < 3; ++i) EXPECT_ALL_CLOSE(g32[i].to(kFloat64), g64[i], 1e-4, 1e-4) << i;
}

TEST(Norms, ThreadCountsAgree) {
  Tensor x = randn({64, 300}, kF64).requires_grad_(), w = randn({300}, kF64).requires_grad_();
  auto run = [&] { return tandem::grad({layer_norm(x, {300}, w)}, {x, w}, {ones({64, 300}, kF64)}); };
  Tensors ref = run();
  int nt = get_num_threads();
  set_num_threads(1);
  Tensors one = run();
  set_num_threads(nt);
  EXPECT_ALL_CLOSE(one[0], ref[0], 1e-12, 1e-10);
  EXPECT_ALL_CLOSE(one[1], ref[1], 1e-12, 1e-10);
}

TEST(BatchNorm, RunningStatisticsUseMomentumAndTheUnbiasedVariance) {
  // torch: F.batch_norm(x, rm, rv, None, None, True, 0.2, 1e-5), x = [[1, 2], [3, 5], [0, -1]],
  // rm = [0.5, -0.5], rv = [2, 3] -> rm [0.6666666667, 0], rv [2.0666666667, 4.2]
  Tensor x = f64({1, 2, 3, 5, 0, -1}, {3, 2});
  Tensor rm = f64({0.5, -0.5}, {2}), rv = f64({2, 3}, {2});
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.2, 1e-5);
  EXPECT_ALL_CLOSE(y, f64({-0.2672603829, 0, 1.3363019143, 1.2247438508, -1.0690415315, -1.2247438508}, {3, 2}),
                   1e-9, 1e-9);
  EXPECT_ALL_CLOSE(rm, f64({2.0 / 3.0, 0.0}, {2}), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(rv, f64({2.0 + 1.0 / 15.0, 4.2}, {2}), 1e-12, 1e-12);
}

TEST(BatchNorm, RunningStatisticsOfAnotherDtypeAndLayoutAreUpdatedInPlace) {
  Tensor x = randn({4, 3, 2}, kF64);
  Tensor base = zeros({3, 2});  // float32, every other element
  Tensor rm = base.select(1, 0), rv = ones({3});
  uint64_t v = rm.version();
  Tensor mean = x.sum({0, 2}) / 8.0;
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.5);
  EXPECT_GT(rm.version(), v);
  EXPECT_ALL_CLOSE(rm.to(kFloat64), mean * 0.5, 1e-6, 1e-5);
  EXPECT_ALL_CLOSE(base.select(1, 1), zeros({3}), 0, 0);
}

TEST(BatchNorm, BackwardStillWorksAfterTheRunningUpdate) {
  Tensor x = randn({4, 3}, kF64g);
  Tensor rm = zeros({3}, kF64), rv = ones({3}, kF64);
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true);
  batch_norm(x, rm, rv, Tensor(), Tensor(), true);  // a second in-place update
  EXPECT_NO_THROW(y.sum().backward());
}

TEST(BatchNorm, Errors) {
  Tensor x = randn({2, 3, 4, 4});
  EXPECT_TRUE(throws_error([&] { batch_norm(x, zeros({4}), ones({4})); },
                           {"batch_norm", "running_mean", "3 elements", "[4]"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, Tensor(), Tensor()); }, {"batch_norm", "evaluation mode"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(randn({1, 3}), zeros({3}), ones({3}), Tensor(), Tensor(), true); },
                           {"batch_norm", "more than 1 value per channel", "[1, 3]"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(randn({3}), zeros({3}), ones({3}), Tensor(), Tensor(), true); },
                           {"batch_norm", "at least 2 dims", "[3]"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, zeros({3}), ones({3}), ones({4}), Tensor(), true); },
                           {"batch_norm", "weight", "[4]"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, zeros({3}), ones({3}), Tensor(), ones({4}), true); },
                           {"batch_norm", "bias", "[4]"}));
  EXPECT_TRUE(throws_error([&] { batch_norm(x, zeros({3}), ones({5}), Tensor(), Tensor(), true); },
                           {"batch_norm", "running_var", "[5]"}));
}

TEST(LayerNorm, Errors) {
  Tensor x = randn({2, 3, 4});
  EXPECT_TRUE(throws_error([&] { layer_norm(x, {5}); }, {"layer_norm", "normalized_shape [5]", "[2, 3, 4]"}));
  EXPECT_TRUE(throws_error([&] { layer_norm(x, {4}, ones({3})); }, {"layer_norm", "weight", "[3]", "[4]"}));
  EXPECT_TRUE(throws_error([&] { layer_norm(x, {4}, Tensor(), ones({3})); }, {"layer_norm", "bias", "[3]"}));
  EXPECT_TRUE(throws_error([&] { layer_norm(x, {}); }, {"layer_norm", "at least one element"}));
  EXPECT_TRUE(throws_error([&] { layer_norm(x, {2, 3, 4, 1}); }, {"layer_norm", "[2, 3, 4, 1]"}));
}

TEST(GroupNorm, Errors) {
  Tensor x = randn({2, 3, 4, 4});
  EXPECT_TRUE(throws_error([&] { group_norm(x, 2); }, {"group_norm", "divisible by num_groups", "[2, 3, 4, 4]", "num_groups=2"}));
  EXPECT_TRUE(throws_error([&] { group_norm(x, 0); }, {"group_norm", "num_groups must be positive"}));
  EXPECT_TRUE(throws_error([&] { group_norm(randn({3}), 1); }, {"group_norm", "at least 2 dims"}));
  EXPECT_TRUE(throws_error([&] { group_norm(x, 3, ones({4})); }, {"group_norm", "weight", "[4]", "[2, 3, 4, 4]"}));
  EXPECT_TRUE(throws_error([&] { group_norm(x, 3, Tensor(), ones({4})); }, {"group_norm", "bias", "[4]"}));
}

// ---- 16-bit inputs (computed in float32 by dispatch, rounded once) ---------------

TEST(NnOps, HalfAndBFloat16InputsMatchFloat32) {
  Tensor x = randn({2, 4, 6, 6});
  Tensor w = randn({4}), b = randn({4}), lw = randn({6}), lb = randn({6});
  for (DType dt : {kFloat16, kBFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor xh = x.to(dt);
    Tensor xr = xh.to(kFloat32);  // the values the 16-bit run sees
    auto close16 = [&](const Tensor& got, const Tensor& want) {
      EXPECT_EQ(got.dtype(), dt);
      EXPECT_ALL_CLOSE(got.to(kFloat32), want.to(dt).to(kFloat32), 0.05, 0.02);
    };
    close16(max_pool2d(xh, {3}, {2}, {1}), max_pool2d(xr, {3}, {2}, {1}));
    close16(avg_pool2d(xh, {2}), avg_pool2d(xr, {2}));
    close16(adaptive_avg_pool2d(xh, {1}), adaptive_avg_pool2d(xr, {1}));
    close16(layer_norm(xh, {6}, lw.to(dt), lb.to(dt)), layer_norm(xr, {6}, lw.to(dt).to(kFloat32), lb.to(dt).to(kFloat32)));
    close16(group_norm(xh, 2, w, b), group_norm(xr, 2, w, b));
    Tensor rm = zeros({4}), rv = ones({4});
    close16(batch_norm(xh, rm, rv, w, b, true), batch_norm(xr, Tensor(), Tensor(), w, b, true));
    EXPECT_EQ(rm.dtype(), kFloat32);
    manual_seed(3);
    Tensor dh = dropout(xh, 0.5);
    manual_seed(3);
    close16(dh, dropout(xr, 0.5));
    Tensor xg = xh.detach().requires_grad_();
    Tensor g = tandem::grad({layer_norm(xg, {6}).sum()}, {xg})[0];
    EXPECT_EQ(g.dtype(), dt);
  }
}

// ---- dropout ----------------------------------------------------------------------

TEST(Dropout, SameSeedSameMaskAndKeptValuesAreScaled) {
  Tensor x = randn({50, 40}, kF64);
  manual_seed(7);
  Tensor a = dropout(x, 0.3);
  manual_seed(7);
  Tensor b = dropout(x, 0.3);
  EXPECT_ALL_CLOSE(a, b, 0, 0);
  std::vector<double> av = a.to_vector<double>(), xv = x.to_vector<double>();
  int64_t zeros_seen = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    if (av[i] == 0.0) ++zeros_seen;
    else EXPECT_NEAR(av[i], xv[i] / 0.7, 1e-12);
  }
  // 2000 draws at p = 0.3: 600 expected, sd ~20.5.
  EXPECT_NEAR(static_cast<double>(zeros_seen), 600.0, 100.0);
  manual_seed(8);
  EXPECT_FALSE(all_close(dropout(x, 0.3), a, 0, 0));
}

TEST(Dropout, EvalAndZeroProbabilityAreIdentityAndOneGivesZeros) {
  Tensor x = randn({3, 4});
  EXPECT_EQ(dropout(x, 0.5, false).impl(), x.impl());
  EXPECT_EQ(dropout(x, 0.0).impl(), x.impl());
  EXPECT_ALL_CLOSE(dropout(x, 1.0), zeros({3, 4}), 0, 0);
  Tensor xg = randn({3, 4}, kF64g);
  EXPECT_ALL_CLOSE(tandem::grad({dropout(xg, 1.0).sum()}, {xg})[0], zeros({3, 4}, kF64), 0, 0);
}

TEST(Dropout, Errors) {
  Tensor x = randn({3});
  EXPECT_TRUE(throws_error([&] { dropout(x, 1.5); }, {"dropout", "between 0 and 1", "1.5"}));
  EXPECT_TRUE(throws_error([&] { dropout(x, -0.1, false); }, {"dropout", "between 0 and 1"}));
  EXPECT_TRUE(throws_error([&] { dropout(zeros({3}, {.dtype = kInt64}), 0.5); }, {"dropout", "floating-point"}));
}

// ---- embedding --------------------------------------------------------------------

TEST(Embedding, GathersRowsForIndicesOfAnyShapeAndDtype) {
  Tensor w = f64({0, 1, 10, 11, 20, 21}, {3, 2});
  Tensor idx = tensor(std::vector<int32_t>{2, 0, 1, 2}, Shape{2, 1, 2});
  Tensor y = embedding(w, idx);
  EXPECT_EQ(y.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_ALL_CLOSE(y, f64({20, 21, 0, 1, 10, 11, 20, 21}, {2, 1, 2, 2}), 0, 0);
  EXPECT_ALL_CLOSE(embedding(w.to(kFloat16), idx).to(kFloat64), y, 0, 0);
  EXPECT_EQ(embedding(w, tensor(std::vector<int64_t>{}, Shape{0})).shape(), (Shape{0, 2}));
}

TEST(Embedding, PaddingIdxRowGetsNoGradientButIsStillRead) {
  // torch: F.embedding(idx, w, padding_idx=1) returns w[1] for idx 1; w.grad[1] == 0
  Tensor w = randn({3, 2}, kF64g);
  Tensor idx = tensor(std::vector<int64_t>{1, 2, 1}, Shape{3});
  Tensor y = embedding(w, idx, 1);
  EXPECT_ALL_CLOSE(y.select(0, 0), w.detach().select(0, 1), 0, 0);
  Tensor g = tandem::grad({y.sum()}, {w})[0];
  EXPECT_ALL_CLOSE(g, f64({0, 0, 0, 0, 1, 1}, {3, 2}), 0, 0);
}

TEST(Embedding, Errors) {
  Tensor w = randn({6, 3});
  auto idx = [](std::vector<int64_t> v) { return tensor(v, Shape{static_cast<int64_t>(v.size())}); };
  EXPECT_TRUE(throws_error([&] { embedding(w, idx({1, 6})); }, {"embedding", "index 6", "6 rows", "[6, 3]"}));
  EXPECT_TRUE(throws_error([&] { embedding(w, idx({-1})); }, {"embedding", "index -1"}));
  EXPECT_TRUE(throws_error([&] { embedding(w, tensor({1.0})); }, {"embedding", "int64 or int32", "float32"}));
  EXPECT_TRUE(throws_error([&] { embedding(randn({6}), idx({1})); }, {"embedding", "2-D", "[6]"}));
  EXPECT_TRUE(throws_error([&] { embedding(w, idx({1}), 6); }, {"embedding", "padding_idx 6"}));
  EXPECT_TRUE(throws_error([&] { embedding(w, idx({1}), -7); }, {"embedding", "padding_idx -7"}));
  EXPECT_EQ(embedding(w, idx({5}), -1).shape(), (Shape{1, 3}));
}

// The pooling and normalization kernels are compiled once per ISA level; forcing each level
// this CPU runs gives the same results (float32 within float tolerance of the float64 result,
// float64 equal across levels up to summation order).
TEST(NnKernels, EveryIsaLevelMatchesTheFloat64Result) {
  Generator g(21);
  Tensor x = randn({3, 5, 11, 13}, kF64, &g), w = randn({13}, kF64, &g), b = randn({13}, kF64, &g);
  Tensor wc = randn({5}, kF64, &g), bc = randn({5}, kF64, &g);
  auto run = [&](DType dt) {
    Tensor xx = x.to(dt).detach().requires_grad_(), ww = w.to(dt).detach().requires_grad_(),
           bb = b.to(dt).detach().requires_grad_(), wcc = wc.to(dt).detach().requires_grad_(),
           bcc = bc.to(dt).detach().requires_grad_();
    Tensors outs = {layer_norm(xx, {13}, ww, bb),
                    group_norm(xx, 5, wcc, bcc),
                    batch_norm(xx, Tensor(), Tensor(), wcc, bcc, true),
                    max_pool2d(xx, {3, 3}, {2, 2}, {1, 1}),
                    adaptive_avg_pool2d(xx, {4, 5})};
    Tensor loss;
    for (size_t i = 0; i < outs.size(); ++i) {
      Tensor t = (outs[i] * outs[i] * static_cast<double>(i + 1)).sum();
      loss = loss.defined() ? loss + t : t;
    }
    Tensors r = tandem::grad({loss}, {xx, ww, bb, wcc, bcc});
    for (const Tensor& o : outs) r.push_back(o.detach());
    for (Tensor& t : r) t = t.to(kFloat64);
    return r;
  };
  cpu::set_isa("baseline");
  const Tensors ref = run(kFloat64);
  for (cpu::Isa level : cpu::supported_isas()) {
    SCOPED_TRACE(std::string(cpu::isa_name(level)));
    cpu::set_isa(cpu::isa_name(level));
    Tensors r64 = run(kFloat64), r32 = run(kFloat32);
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_ALL_CLOSE(r64[i], ref[i], 1e-12, 1e-10) << "float64, result " << i;
      EXPECT_ALL_CLOSE(r32[i], ref[i], 2e-4, 2e-4) << "float32, result " << i;
    }
  }
  cpu::set_isa("");
}
