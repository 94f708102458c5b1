// grid_sample, affine_grid, pixel_shuffle/unshuffle and cumprod against PyTorch 1.13: outputs
// and gradients from tests/data/grid_sample/<case>/, written by
// tests/reference/gen_grid_sample.py (its header describes the files; each case's PyTorch
// expression is in tests/data/grid_sample/manifest.json). Every case runs on contiguous inputs
// and on non-contiguous copies. Then finite-difference gradchecks and argument errors.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "grad_cases.h"
#include "reference_case.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

TANDEM_GRAD_CASE(grid_sample, bicubic_reflection, [](const Tensors& x) {
                   return grid_sample(x[0], x[1], "bicubic", "reflection", true);
                 },
                 [] {
                   Generator g(21);
                   return Tensors{randn({1, 2, 3, 4}, kF64g, &g),
                                  (rand({1, 2, 3, 2}, kF64, &g) * 2.2 - 1.1).requires_grad_()};
                 });
TANDEM_GRAD_CASE(pixel_shuffle, noncontiguous, [](const Tensors& x) { return pixel_shuffle(x[0], 2); },
                 [] { return Tensors{noncontiguous({1, 4, 2, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(pixel_unshuffle, noncontiguous, [](const Tensors& x) { return pixel_unshuffle(x[0], 2); },
                 [] { return Tensors{noncontiguous({1, 2, 4, 2})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(cumprod, noncontiguous, [](const Tensors& x) { return cumprod(x[0], 0); },
                 [] { return Tensors{noncontiguous({4, 3})}; }, GradcheckOptions{.second_order = true});

using CaseFn = std::function<Tensor(const Tensors&)>;

std::map<std::string, CaseFn> make_grid_cases() {
  std::map<std::string, CaseFn> m;
  for (const std::string mode : {"bilinear", "nearest", "bicubic"})
    for (const std::string pad : {"zeros", "border", "reflection"})
      for (const bool align : {false, true})
        m["grid_sample_" + mode + "_" + pad + "_" + (align ? "align" : "noalign")] =
            [mode, pad, align](const Tensors& x) { return grid_sample(x[0], x[1], mode, pad, align); };
  for (const std::string mode : {"bilinear", "nearest"})
    for (const std::string pad : {"zeros", "border", "reflection"})
      m["grid_sample_3d_" + mode + "_" + pad] = [mode, pad](const Tensors& x) {
        return grid_sample(x[0], x[1], mode, pad, pad != "border");
      };
  m["grid_sample_bilinear_f32"] = [](const Tensors& x) { return grid_sample(x[0], x[1]); };
  m["grid_sample_bicubic_reflection_f32"] = [](const Tensors& x) {
    return grid_sample(x[0], x[1], "bicubic", "reflection", true);
  };
  m["grid_sample_size1"] = [](const Tensors& x) { return grid_sample(x[0], x[1], "bilinear", "reflection", true); };
  m["grid_sample_input_only"] = [](const Tensors& x) { return grid_sample(x[0], x[1], "bilinear", "border"); };
  for (const bool align : {false, true}) {
    const std::string a = align ? "align" : "noalign";
    m["affine_grid_2d_" + a] = [align](const Tensors& x) { return affine_grid(x[0], {2, 3, 4, 5}, align); };
    m["affine_grid_3d_" + a] = [align](const Tensors& x) { return affine_grid(x[0], {2, 1, 3, 4, 2}, align); };
  }
  m["affine_grid_then_grid_sample"] = [](const Tensors& x) {
    return grid_sample(x[0], affine_grid(x[1], {2, 3, 5, 4}));
  };
  m["pixel_shuffle_r2"] = [](const Tensors& x) { return pixel_shuffle(x[0], 2); };
  m["pixel_shuffle_r3_5d"] = [](const Tensors& x) { return pixel_shuffle(x[0], 3); };
  m["pixel_unshuffle_r2"] = [](const Tensors& x) { return pixel_unshuffle(x[0], 2); };
  m["pixel_unshuffle_r3_3d"] = [](const Tensors& x) { return pixel_unshuffle(x[0], 3); };
  m["cumprod_last"] = [](const Tensors& x) { return cumprod(x[0], -1); };
  m["cumprod_dim0"] = [](const Tensors& x) { return cumprod(x[0], 0); };
  m["cumprod_zeros"] = [](const Tensors& x) { return cumprod(x[0], 1); };
  m["cumprod_f32"] = [](const Tensors& x) { return cumprod(x[0], 1); };
  return m;
}

const std::map<std::string, CaseFn>& grid_cases() {
  static const std::map<std::string, CaseFn> m = make_grid_cases();
  return m;
}

std::vector<std::string> grid_case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : grid_cases()) names.push_back(name);
  return names;
}

class GridReference : public ::testing::TestWithParam<std::string> {};

TEST_P(GridReference, MatchesPyTorch) {
  const std::string& name = GetParam();
  check_reference_case("grid_sample", name,
                       [&](const Tensors& x) { return Tensors{grid_cases().at(name)(x)}; });
}

INSTANTIATE_TEST_SUITE_P(Ops, GridReference, ::testing::ValuesIn(grid_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(GridReferenceData, EveryGeneratedCaseHasATandemCase) {
  EXPECT_EQ(reference_case_dirs("grid_sample"), grid_case_names());
}

// Grid points away from pixel centres and edges, where every mode is smooth.
Tensor smooth_grid(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return (rand(shape, kF64, &g) * 2.2 - 1.1).requires_grad_();
}

TEST(GridSample, GradcheckEveryMode) {
  Generator g(3);
  for (const std::string mode : {"bilinear", "bicubic", "nearest"})
    for (const std::string pad : {"zeros", "border", "reflection"}) {
      SCOPED_TRACE(mode + " " + pad);
      Tensor x = randn({1, 2, 4, 5}, kF64, &g).requires_grad_();
      EXPECT_TRUE(gradcheck([&](const Tensors& t) { return grid_sample(t[0], t[1], mode, pad, false); },
                            {x, smooth_grid({1, 3, 2, 2}, 11)}));
    }
}

TEST(GridSample, Gradcheck3d) {
  Generator g(4);
  Tensor x = randn({1, 2, 3, 3, 4}, kF64, &g).requires_grad_();
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return grid_sample(t[0], t[1], "bilinear", "reflection", true); },
                        {x, smooth_grid({1, 2, 2, 2, 3}, 12)}));
}

TEST(AffineGrid, Gradcheck) {
  Generator g(5);
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return affine_grid(t[0], {2, 1, 3, 4}, false); },
                        {randn({2, 2, 3}, kF64, &g).requires_grad_()}));
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return affine_grid(t[0], {1, 1, 2, 3, 2}, true); },
                        {randn({1, 3, 4}, kF64, &g).requires_grad_()}));
}

TEST(PixelShuffle, GradcheckAndRoundTrip) {
  Generator g(6);
  Tensor x = randn({2, 8, 3, 2}, kF64, &g).requires_grad_();
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return pixel_shuffle(t[0], 2); }, {x}, {.second_order = true}));
  EXPECT_TRUE(all_close(pixel_unshuffle(pixel_shuffle(x, 2), 2), x, 0, 0));
}

TEST(Cumprod, GradcheckWithZeros) {
  Tensor x = tensor<double>({0.5, 0.0, -1.2, 2.0, 0.0, 1.5, 0.7, -0.3, 1.1, 0.0, 0.0, 0.9}, Shape{2, 6});
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return cumprod(t[0], 1); }, {x.requires_grad_()}));
  Tensor y = tensor<double>({0.5, 0.0, -1.2, 2.0, 0.0, 1.5}, Shape{3, 2, 1});
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return cumprod(t[0], 0); }, {y.requires_grad_()}));
}

TEST(Cumprod, IntegersMultiplyToInt64) {
  Tensor x = tensor<int32_t>({2, -3, 4}, Shape{3});
  Tensor y = cumprod(x, 0);
  EXPECT_EQ(y.dtype(), DType::Int64);
  EXPECT_TRUE(all_close(y, tensor<int64_t>({2, -6, -24}, Shape{3}), 0, 0));
}

TEST(GridSample, ArgumentErrors) {
  Tensor x = zeros({1, 2, 4, 4});
  EXPECT_TRUE(throws_error([&] { grid_sample(x, zeros({1, 3, 3, 3})); }, {"grid_sample", "grid"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(x, zeros({2, 3, 3, 2})); }, {"grid_sample", "[1, 2, 4, 4]"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(zeros({2, 4}), zeros({2, 3, 3, 2})); }, {"4-D"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(x, zeros({1, 3, 3, 2}), "area"); }, {"unknown mode 'area'"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(x, zeros({1, 3, 3, 2}), "bilinear", "wrap"); },
                           {"unknown padding_mode 'wrap'"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(zeros({1, 1, 2, 2, 2}), zeros({1, 1, 1, 1, 3}), "bicubic"); },
                           {"bicubic", "4-D"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(x, zeros({1, 3, 3, 2}, {.dtype = DType::Float64})); },
                           {"same dtype"}));
  EXPECT_TRUE(throws_error([&] { grid_sample(zeros({1, 2, 4, 4}, {.dtype = DType::Int64}), zeros({1, 3, 3, 2})); },
                           {"floating-point"}));
  EXPECT_TRUE(throws_error([&] { affine_grid(zeros({1, 2, 3}), {2, 1, 4, 4}); }, {"affine_grid", "theta"}));
  EXPECT_TRUE(throws_error([&] { affine_grid(zeros({1, 2, 3}), {1, 4, 4}); }, {"affine_grid", "size"}));
  EXPECT_TRUE(throws_error([&] { pixel_shuffle(zeros({1, 3, 2, 2}), 2); }, {"pixel_shuffle", "divisible"}));
  EXPECT_TRUE(throws_error([&] { pixel_unshuffle(zeros({1, 3, 3, 2}), 2); }, {"pixel_unshuffle", "divisible"}));
  EXPECT_TRUE(throws_error([&] { cumprod(zeros({2, 3}), 2); }, {"cumprod"}));
}

TEST(GridSample, SecondDerivativeIsAnError) {
  Tensor x = ones({1, 1, 2, 2}).requires_grad_();
  Tensor grid = zeros({1, 1, 1, 2}).requires_grad_();
  EXPECT_TRUE(throws_error([&] { tandem::grad({grid_sample(x, grid).sum()}, {x}, {}, true, true); },
                           {"grid_sample", "second derivative"}));
}

TEST(Cumprod, SecondDerivativeMatchesFiniteDifferences) {
  Tensor x = tensor<double>({0.5, 0.0, -1.2, 2.0, 0.0, 1.5, 0.7, -0.3, 1.1, 0.0, 0.0, 0.9}, Shape{3, 4});
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return cumprod(t[0], 0); }, {x.requires_grad_()},
                        {.second_order = true}));
  Tensor y = tensor<double>({0.5, 1.3, -1.2, 2.0, 0.8, 1.5}, Shape{2, 3});
  EXPECT_TRUE(gradcheck([](const Tensors& t) { return cumprod(t[0], 1); }, {y.requires_grad_()},
                        {.second_order = true}));
}

}  // namespace

namespace {

TEST(PixelShuffle, Layers) {
  nn::PixelShuffle shuffle(2);
  nn::PixelUnshuffle unshuffle(2);
  Tensor x = randn({1, 8, 2, 3});
  EXPECT_TRUE(all_close(shuffle.forward(x), pixel_shuffle(x, 2), 0, 0));
  EXPECT_TRUE(all_close(unshuffle.forward(shuffle.forward(x)), x, 0, 0));
  EXPECT_TRUE(throws_error([] { nn::PixelShuffle bad(0); }, {"PixelShuffle"}));
}

}  // namespace
