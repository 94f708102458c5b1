// Convolutions: conv2d, conv_transpose2d, conv2d_weight (conv2d's weight gradient), conv1d.
// float32 runs through oneDNN, float64 through reference loops: the values are checked
// against PyTorch, float32 against float64 for every geometry, and gradients by gradcheck
// (first and second order).
#include "../../src/backend/cpu/onednn.h"
#include "grad_cases.h"

namespace tandem::testing {
namespace {

// arange(n) * scale - shift, reshaped: the inputs of the PyTorch expressions below.
Tensor A(const Shape& shape, double scale = 0.1, double shift = 0.5, DType dt = kFloat64) {
  std::vector<double> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * scale - shift;
  return tensor<double>(v, shape).to(dt);
}
Tensor T(const Shape& shape, std::vector<double> v) { return tensor<double>(v, shape); }

class ConvVsTorch : public ::testing::TestWithParam<DType> {};

TEST_P(ConvVsTorch, MatchesPyTorch) {
  DType dt = GetParam();
  auto a = [dt](const Shape& s, double scale = 0.1, double shift = 0.5) { return A(s, scale, shift, dt); };
  // F.conv2d(A(1,2,3,3), A(2,2,2,2, scale=0.2), A(2, scale=1.0))
  Tensor y = conv2d(a({1, 2, 3, 3}), a({2, 2, 2, 2}, 0.2), a({2}, 1.0));
  EXPECT_EQ(y.dtype(), dt);
  EXPECT_ALL_CLOSE(y.to(kFloat64), T({1, 2, 2, 2}, {1.46, 1.62, 1.94, 2.1, 4.38, 5.82, 8.7, 10.14}), 1e-5, 1e-5);
  // F.conv2d(A(1,4,5,5, scale=0.05), A(2,2,2,2, scale=0.2), None, stride=2, padding=1, dilation=2, groups=2)
  EXPECT_ALL_CLOSE(conv2d(a({1, 4, 5, 5}, 0.05), a({2, 2, 2, 2}, 0.2), Tensor(), {2, 2}, {1, 1}, {2, 2}, 2).to(kFloat64),
                   T({1, 2, 3, 3}, {0.925, 1.78, 0.815, 2.01, 3.6, 1.51, 0.685, 1.02, 0.295, 12.785, 24.82, 11.995,
                                    25.33, 48.88, 23.47, 12.145, 23.26, 11.075}),
                   1e-5, 1e-5);
  // F.conv_transpose2d(A(1,2,2,2), A(2,1,2,2, scale=0.2), A(1, scale=1.0), stride=2, padding=1, output_padding=1)
  EXPECT_ALL_CLOSE(conv_transpose2d(a({1, 2, 2, 2}), a({2, 1, 2, 2}, 0.2), a({1}, 1.0), {2, 2}, {1, 1}, {1, 1}).to(kFloat64),
                   T({1, 1, 3, 3}, {-0.64, -0.46, -0.54, -0.36, -0.34, -0.34, -0.44, -0.34, -0.34}), 1e-5, 1e-5);
  // F.conv1d(A(1,2,5), A(2,1,3, scale=0.2), None, stride=2, padding=1, groups=2)
  EXPECT_ALL_CLOSE(conv1d(a({1, 2, 5}), a({2, 1, 3}, 0.2), Tensor(), 2, 1, 1, 2).to(kFloat64),
                   T({1, 2, 3}, {0.19, 0.31, 0.13, 0.05, 0.22, 0.15}), 1e-5, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(DTypes, ConvVsTorch, ::testing::Values(kFloat32, kFloat64));

struct Geometry {
  const char* name;
  Shape x, w;
  IntArray stride, padding, dilation;
  int64_t groups;
  IntArray output_padding = {0, 0};  // conv_transpose2d only
};

const std::vector<Geometry>& geometries() {
  static const std::vector<Geometry> g = {
      {"basic", {2, 3, 7, 7}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1},
      {"one input channel, pad 1", {3, 1, 8, 8}, {8, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"16 channels (blocked layouts)", {2, 16, 6, 6}, {32, 16, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {"stride 2, asymmetric kernel", {2, 8, 9, 7}, {16, 8, 3, 2}, {2, 1}, {1, 0}, {1, 1}, 1},
      {"dilation 2, stride 2", {1, 4, 10, 10}, {6, 4, 3, 3}, {2, 2}, {2, 2}, {2, 2}, 1},
      {"groups 2", {2, 8, 6, 6}, {6, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 2},
      {"depthwise", {2, 16, 7, 7}, {16, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 16},
      {"1x1", {2, 5, 4, 4}, {3, 5, 1, 1}, {1, 1}, {0, 0}, {1, 1}, 1},
      {"stride 3 drops the last row", {1, 2, 8, 8}, {2, 2, 2, 2}, {3, 3}, {0, 0}, {1, 1}, 1},
  };
  return g;
}

Tensor rnd(const Shape& s, Generator& g) { return randn(s, {}, &g); }

TEST(Conv2d, Float32AgreesWithTheFloat64ReferenceForwardAndBackward) {
  Generator gen(21);
  for (const Geometry& c : geometries()) {
    SCOPED_TRACE(c.name);
    Tensor x = rnd(c.x, gen), w = rnd(c.w, gen), b = rnd({c.w[0]}, gen);
    Tensors grads32, grads64;
    Tensor y32, y64;
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor xd = x.to(dt).detach().requires_grad_(), wd = w.to(dt).detach().requires_grad_(),
             bd = b.to(dt).detach().requires_grad_();
      Tensor y = conv2d(xd, wd, bd, c.stride, c.padding, c.dilation, c.groups);
      Generator gg(5);
      y.backward(randn(y.shape(), {.dtype = dt}, &gg));
      (dt == kFloat32 ? y32 : y64) = y.detach();
      (dt == kFloat32 ? grads32 : grads64) = {xd.grad(), wd.grad(), bd.grad()};
    }
    EXPECT_TRUE(all_close(y32.to(kFloat64), y64, 1e-4, 1e-4));
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_close(grads32[i].to(kFloat64), grads64[i], 1e-3, 1e-4)) << i;
  }
}

TEST(ConvTranspose2d, Float32AgreesWithTheFloat64ReferenceForwardAndBackward) {
  Generator gen(22);
  std::vector<Geometry> cases = {
      {"basic", {2, 3, 4, 4}, {3, 5, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1},
      {"stride 2, padding 1, output_padding 1", {2, 8, 5, 5}, {8, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, {1, 1}},
      {"groups 2, dilation 2", {1, 4, 5, 6}, {4, 3, 3, 2}, {2, 1}, {1, 0}, {2, 2}, 2, {1, 0}},
      // output_padding >= stride (allowed because it is < dilation): oneDNN has no such
      // padding, the reference loop takes it.
      {"output_padding 2 with dilation 3", {1, 2, 3, 3}, {2, 2, 2, 2}, {1, 1}, {0, 0}, {3, 3}, 1, {2, 2}},
      {"output_padding 2 with dilation 3, padding 1", {2, 3, 4, 3}, {3, 2, 2, 3}, {1, 1}, {1, 1}, {3, 3}, 1, {2, 2}},
      {"16 channels", {2, 16, 4, 4}, {16, 16, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, {1, 1}},
  };
  for (const Geometry& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor x = rnd(c.x, gen), w = rnd(c.w, gen), b = rnd({c.w[1] * c.groups}, gen);
    Tensors r32, r64;
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor xd = x.to(dt).detach().requires_grad_(), wd = w.to(dt).detach().requires_grad_(),
             bd = b.to(dt).detach().requires_grad_();
      Tensor y = conv_transpose2d(xd, wd, bd, c.stride, c.padding, c.output_padding, c.groups, c.dilation);
      Generator gg(6);
      y.backward(randn(y.shape(), {.dtype = dt}, &gg));
      (dt == kFloat32 ? r32 : r64) = {y.detach(), xd.grad(), wd.grad(), bd.grad()};
    }
    for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(all_close(r32[i].to(kFloat64), r64[i], 1e-3, 1e-4)) << i;
  }
}

TEST(Conv2d, NonContiguousUnbatchedAndMixedInputs) {
  Generator gen(23);
  Tensor x = rnd({2, 3, 6, 6}, gen), w = rnd({4, 3, 3, 3}, gen);
  Tensor expected = conv2d(x, w);
  // A channels-last view and a transposed weight view give the same numbers.
  Tensor x_cl = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  Tensor w_t = w.transpose(0, 1).contiguous().transpose(0, 1);
  EXPECT_FALSE(x_cl.is_contiguous());
  EXPECT_ALL_CLOSE(conv2d(x_cl, w_t), expected, 1e-5, 1e-5);
  // A 3-D input is one unbatched image.
  EXPECT_ALL_CLOSE(conv2d(x[1], w), expected[1], 1e-5, 1e-5);
  EXPECT_EQ(conv2d(x[1], w).shape(), (Shape{4, 4, 4}));
  EXPECT_EQ(conv_transpose2d(x[1], w.transpose(0, 1)).shape(), (Shape{4, 8, 8}));
  // Mixed dtypes promote; bfloat16 computes in float32.
  EXPECT_EQ(conv2d(x, w.to(kFloat64)).dtype(), kFloat64);
  Tensor h = conv2d(x.to(kBFloat16), w.to(kBFloat16));
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_ALL_CLOSE(h.to(kFloat32), conv2d(x.to(kBFloat16).to(kFloat32), w.to(kBFloat16).to(kFloat32)), 0.1, 0.02);
}

TEST(Conv2d, EmptyBatch) {
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor x = zeros({0, 3, 5, 5}, {.dtype = dt}).requires_grad_(), w = ones({2, 3, 3, 3}, {.dtype = dt}).requires_grad_();
    Tensor y = conv2d(x, w);
    EXPECT_EQ(y.shape(), (Shape{0, 2, 3, 3}));
    y.sum().backward();
    EXPECT_ALL_CLOSE(w.grad().to(kFloat64), zeros({2, 3, 3, 3}, kF64));
  }
}

TEST(Conv2d, SameResultAtOneAndTwoThreadsAndReusesPrimitives) {
  int before = get_num_threads();
  Generator gen(24);
  Tensor x = rnd({4, 8, 10, 10}, gen), w = rnd({16, 8, 3, 3}, gen);
  set_num_threads(1);
  Tensor one = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  auto stats = cpu::onednn::cache_stats();
  Tensor again = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  EXPECT_EQ(cpu::onednn::cache_stats().misses, stats.misses);
  set_num_threads(2);
  Tensor two = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  set_num_threads(before);
  EXPECT_ALL_CLOSE(one, again, 0, 0);
  EXPECT_ALL_CLOSE(one, two, 1e-5, 1e-5);
}

TEST(Conv2d, ShapeErrorsNameTheShapes) {
  Tensor x = zeros({1, 4, 5, 5});
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({6, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 3); },
                           {"conv2d", "divisible by groups (3)", "[1, 4, 5, 5]", "[6, 3, 3, 3]"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({6, 3, 3, 3})); },
                           {"conv2d", "weight [6, 3, 3, 3] expects 3 input channels", "[1, 4, 5, 5] has 4"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({6, 2, 3, 3}), Tensor(), {1, 1}, {0, 0}, {1, 1}, 3); },
                           {"conv2d", "divisible by groups"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 7, 3})); },
                           {"conv2d", "kernel (7x3 after dilation) is larger than the padded input (5x5)"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3, 3}), Tensor(), {1, 1}, {0, 0}, {3, 3}); },
                           {"conv2d", "7x7 after dilation", "5x5"}));
  EXPECT_TRUE(throws_error([&] { conv2d(zeros({4, 5, 5}).unsqueeze(0).unsqueeze(0), zeros({2, 4, 3, 3})); },
                           {"conv2d", "4-D input", "[1, 1, 4, 5, 5]"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3})); }, {"conv2d", "4-D weight", "[2, 4, 3]"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3, 3}), zeros({3})); }, {"conv2d", "bias", "[3]", "2"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3, 3}), Tensor(), {0, 1}); }, {"conv2d", "stride", ">= 1"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3, 3}), Tensor(), {1, 1}, {-1, 0}); },
                           {"conv2d", "padding", ">= 0"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x, zeros({2, 4, 3, 3}), Tensor(), {1, 2, 3}); },
                           {"conv2d", "stride", "1 or 2 values"}));
  EXPECT_TRUE(throws_error([&] { conv2d(x.to(kInt64), zeros({2, 4, 3, 3}, {.dtype = kInt64})); },
                           {"conv2d", "floating-point"}));
}

TEST(ConvTranspose2d, ShapeErrorsNameTheShapes) {
  Tensor x = zeros({1, 4, 3, 3});
  EXPECT_TRUE(throws_error([&] { conv_transpose2d(x, zeros({3, 2, 3, 3})); },
                           {"conv_transpose2d", "weight [3, 2, 3, 3] expects 3 input channels", "[1, 4, 3, 3] has 4"}));
  EXPECT_TRUE(throws_error([&] { conv_transpose2d(x, zeros({4, 2, 3, 3}), Tensor(), {1, 1}, {0, 0}, {0, 0}, 3); },
                           {"conv_transpose2d", "divisible by groups (3)"}));
  EXPECT_TRUE(throws_error([&] { conv_transpose2d(x, zeros({4, 2, 3, 3}), Tensor(), {2, 2}, {0, 0}, {2, 0}); },
                           {"conv_transpose2d", "output_padding [2, 0] must be smaller than stride [2, 2]"}));
  EXPECT_TRUE(throws_error([&] { conv_transpose2d(x, zeros({4, 2, 1, 1}), Tensor(), {1, 1}, {2, 2}); },
                           {"conv_transpose2d", "output would be -1x-1", "at least 1x1"}));
  EXPECT_TRUE(throws_error([&] { conv_transpose2d(x, zeros({4, 2, 3, 3}), zeros({4})); },
                           {"conv_transpose2d", "bias", "[4]"}));
}

TEST(Conv2dWeight, ChecksTheOutputGradientShape) {
  Attrs a{{"weight_size", IntArray{2, 4, 3, 3}}};
  EXPECT_TRUE(throws_error([&] { dispatch(op("conv2d_weight"), {zeros({1, 4, 5, 5}), zeros({1, 2, 4, 4})}, a); },
                           {"conv2d_weight", "[1, 2, 4, 4]", "[1, 2, 3, 3]"}));
}

TEST(Conv1d, ErrorsNameConv1dAndTheShapes) {
  EXPECT_TRUE(throws_error([] { conv1d(zeros({2, 3, 4, 5}), zeros({2, 3, 3})); }, {"conv1d", "3-D input", "[2, 3, 4, 5]"}));
  EXPECT_TRUE(throws_error([] { conv1d(zeros({2, 3, 5}), zeros({2, 3, 3, 3})); }, {"conv1d", "3-D weight"}));
  EXPECT_TRUE(throws_error([] { conv1d(zeros({2, 3, 5}), zeros({2, 2, 3})); },
                           {"conv1d", "[2, 3, 5]", "[2, 2, 3]", "expects 2 input channels"}));
  EXPECT_TRUE(throws_error([] { conv1d(zeros({2, 3, 2}), zeros({2, 3, 3})); }, {"conv1d", "larger than the padded input"}));
}

// conv1d is a composite over conv2d: gradchecked here rather than in the op table.
TEST(Conv1d, Gradcheck) {
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return conv1d(x[0], x[1], x[2], 2, 1, 2, 2); },
                        {randn({2, 4, 9}, kF64g), randn({6, 2, 3}, kF64g), randn({6}, kF64g)},
                        {.second_order = true}));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return conv1d(x[0], x[1]); },
                        {randn({3, 7}, kF64g), randn({2, 3, 2}, kF64g)}));
}

}  // namespace

// ---- the gradcheck table (float64, reference loops; float32 agrees with them above)
TANDEM_GRAD_CASE(conv2d, bias, [](const Tensors& x) { return conv2d(x[0], x[1], x[2]); },
                 [] { return Tensors{randn({2, 3, 5, 5}, kF64g), randn({2, 3, 3, 3}, kF64g), randn({2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(conv2d, stride_padding_dilation_groups,
                 [](const Tensors& x) { return conv2d(x[0], x[1], x[2], {2, 1}, {1, 2}, {2, 1}, 2); },
                 [] { return Tensors{randn({2, 4, 6, 5}, kF64g), randn({4, 2, 2, 3}, kF64g), randn({4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(conv2d, noncontiguous, [](const Tensors& x) { return conv2d(x[0], x[1], Tensor(), {2, 2}, {1, 1}); },
                 [] { return Tensors{noncontiguous({2, 2, 5, 4}), noncontiguous({3, 2, 3, 3}, 4)}; });
TANDEM_GRAD_CASE(conv_transpose2d, bias_stride_output_padding,
                 [](const Tensors& x) { return conv_transpose2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 0}); },
                 [] { return Tensors{randn({2, 3, 3, 3}, kF64g), randn({3, 2, 3, 3}, kF64g), randn({2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(conv_transpose2d, groups_dilation,
                 [](const Tensors& x) { return conv_transpose2d(x[0], x[1], Tensor(), {1, 2}, {0, 1}, {0, 1}, 2, {2, 1}); },
                 [] { return Tensors{noncontiguous({1, 4, 3, 3}), randn({4, 1, 2, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
// output_padding >= stride (allowed as it is < dilation): the backward passes crop.
TANDEM_GRAD_CASE(conv_transpose2d, output_padding_beyond_stride,
                 [](const Tensors& x) { return conv_transpose2d(x[0], x[1], x[2], {1, 1}, {1, 1}, {2, 1}, 1, {3, 2}); },
                 [] { return Tensors{randn({2, 2, 3, 3}, kF64g), randn({2, 3, 2, 2}, kF64g), randn({3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(conv2d_weight, with_bias_gradient,
                 [](const Tensors& x) {
                   Attrs a{{"weight_size", IntArray{4, 1, 3, 2}}, {"stride", IntArray{2, 1}},
                           {"padding", IntArray{1, 0}}, {"dilation", IntArray{1, 2}}, {"groups", int64_t{2}},
                           {"bias", true}};
                   Tensors r = dispatch(op("conv2d_weight"), {x[0], x[1]}, a);
                   return r[0].sum({1, 2, 3}) * r[1];  // both outputs, so both backward paths run
                 },
                 [] { return Tensors{randn({2, 2, 5, 5}, kF64g), randn({2, 4, 3, 3}, kF64g)}; },
                 GradcheckOptions{.second_order = true});

}  // namespace tandem::testing
