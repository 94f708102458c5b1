// nn::init: fans and gains against PyTorch, distribution statistics on large tensors,
// orthogonality, reproducibility from a Generator, and PyTorch's default init per layer.
#include <gtest/gtest.h>

#include <cmath>

#include "tandem/nn.h"
#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;
namespace init = tandem::nn::init;

namespace {

struct Stats {
  double mean, std, min, max;
};

Stats stats(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  double s = 0, s2 = 0, lo = v[0], hi = v[0];
  for (double x : v) {
    s += x;
    s2 += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  double n = static_cast<double>(v.size());
  double mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean), lo, hi};
}

// U(-b, b): inside the bounds, reaching close to both, std b/√3 (2% on 2^17 samples is
// about 7 standard errors of the sample std).
void expect_uniform(const Tensor& t, double b) {
  Stats s = stats(t);
  EXPECT_GE(s.min, -b);
  EXPECT_LE(s.max, b);
  EXPECT_LT(s.min, -0.99 * b);
  EXPECT_GT(s.max, 0.99 * b);
  EXPECT_NEAR(s.std, b / std::sqrt(3.0), 0.02 * b / std::sqrt(3.0));
  EXPECT_NEAR(s.mean, 0.0, 0.02 * b);
}

void expect_normal(const Tensor& t, double mean, double std) {
  Stats s = stats(t);
  EXPECT_NEAR(s.std, std, 0.02 * std);
  EXPECT_NEAR(s.mean, mean, 0.02 * std);
}

}  // namespace

TEST(Init, FansMatchPyTorch) {
  Tensor expected = load_npy("nn/init/fans.npy");  // gen_nn.py FAN_SHAPES, same order
  std::vector<Shape> shapes{{3, 4}, {6, 2, 3, 3}, {5, 7, 2}, {8, 1, 1, 2, 3}};
  ASSERT_EQ(expected.size(0), static_cast<int64_t>(shapes.size()));
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(empty(shapes[i]));
    Tensor row = expected[static_cast<int64_t>(i)];
    EXPECT_EQ(fan_in, row[0].item<int64_t>()) << shape_str(shapes[i]);
    EXPECT_EQ(fan_out, row[1].item<int64_t>()) << shape_str(shapes[i]);
  }
  EXPECT_TRUE(throws_error([] { init::calculate_fan_in_and_fan_out(empty({5})); }, {"fewer than 2"}));
}

TEST(Init, GainsMatchPyTorch) {
  Tensor expected = load_npy("nn/init/gains.npy");  // gen_nn.py GAINS, same order
  std::vector<std::pair<std::string, std::optional<double>>> gains{
      {"linear", {}}, {"conv2d", {}}, {"sigmoid", {}}, {"tanh", {}}, {"relu", {}},
      {"leaky_relu", {}}, {"leaky_relu", 0.2}, {"selu", {}}};
  ASSERT_EQ(expected.numel(), static_cast<int64_t>(gains.size()));
  for (size_t i = 0; i < gains.size(); ++i)
    EXPECT_DOUBLE_EQ(init::calculate_gain(gains[i].first, gains[i].second),
                     expected[static_cast<int64_t>(i)].item())
        << gains[i].first;
  EXPECT_TRUE(throws_error([] { init::calculate_gain("swish"); }, {"swish", "unsupported"}));
}

TEST(Init, UniformAndNormal) {
  Tensor t = empty({256, 512});
  init::uniform_(t, -0.5, 1.5);
  Stats s = stats(t);
  EXPECT_GE(s.min, -0.5);
  EXPECT_LT(s.max, 1.5);
  EXPECT_NEAR(s.mean, 0.5, 0.01);
  init::normal_(t, 2.0, 0.3);
  expect_normal(t, 2.0, 0.3);
  Tensor d = empty({100000}, {.dtype = DType::Float64});
  init::normal_(d, -1.0, 2.0);
  EXPECT_EQ(d.dtype(), DType::Float64);
  expect_normal(d, -1.0, 2.0);
}

TEST(Init, ConstantsAndEye) {
  Tensor t = empty({3, 4});
  init::constant_(t, 2.5);
  EXPECT_ALL_CLOSE(t, full({3, 4}, 2.5), 0.0, 0.0);
  init::zeros_(t);
  EXPECT_ALL_CLOSE(t, zeros({3, 4}), 0.0, 0.0);
  init::ones_(t);
  EXPECT_ALL_CLOSE(t, ones({3, 4}), 0.0, 0.0);
  init::eye_(t);
  EXPECT_ALL_CLOSE(t, eye(3, 4), 0.0, 0.0);
}

TEST(Init, XavierUsesBothFans) {
  Tensor t = empty({128, 64, 3, 3});  // fan_in 576, fan_out 1152
  init::xavier_uniform_(t, 2.0);
  expect_uniform(t, 2.0 * std::sqrt(6.0 / (576 + 1152)));
  init::xavier_normal_(t, 0.5);
  expect_normal(t, 0.0, 0.5 * std::sqrt(2.0 / (576 + 1152)));
}

TEST(Init, KaimingModesAndNonlinearities) {
  Tensor t = empty({512, 256});  // fan_in 256, fan_out 512
  init::kaiming_uniform_(t);     // leaky_relu with a=0: gain √2
  expect_uniform(t, std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(256.0));
  init::kaiming_uniform_(t, std::sqrt(5.0));  // PyTorch's Linear default: bound 1/√fan_in
  expect_uniform(t, 1.0 / std::sqrt(256.0));
  init::kaiming_normal_(t, 0.0, "fan_out", "relu");
  expect_normal(t, 0.0, std::sqrt(2.0) / std::sqrt(512.0));
  init::kaiming_normal_(t, 0.0, "fan_in", "tanh");
  expect_normal(t, 0.0, (5.0 / 3.0) / std::sqrt(256.0));
  EXPECT_TRUE(throws_error([&] { init::kaiming_uniform_(t, 0.0, "fan_avg"); }, {"fan_avg"}));
}

TEST(Init, OrthogonalGivesOrthonormalRowsOrColumns) {
  for (Shape shape : {Shape{6, 10}, Shape{10, 6}, Shape{7, 7}, Shape{4, 2, 3, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    Tensor t = empty(shape, {.dtype = DType::Float64});
    init::orthogonal_(t, 2.0);
    Tensor q = t.reshape({shape[0], -1});
    const int64_t rows = q.size(0), cols = q.size(1);
    Tensor g = rows <= cols ? matmul(q, q.t()) : matmul(q.t(), q);
    EXPECT_ALL_CLOSE(g, eye(std::min(rows, cols), std::nullopt, kF64) * 4.0, 1e-12, 0.0);
  }
  Tensor f = empty({5, 3});
  init::orthogonal_(f);
  EXPECT_ALL_CLOSE(matmul(f.t(), f), eye(3), 1e-6, 0.0);
  EXPECT_TRUE(throws_error([] {
    Tensor v = empty({4});
    init::orthogonal_(v);
  }, {"2 or more dimensions"}));
}

TEST(Init, GeneratorMakesItReproducible) {
  Tensor a = empty({4, 5}), b = empty({4, 5}), c = empty({4, 5});
  Generator g1(11), g2(11), g3(12);
  init::kaiming_uniform_(a, 0.0, "fan_in", "relu", &g1);
  init::kaiming_uniform_(b, 0.0, "fan_in", "relu", &g2);
  init::kaiming_uniform_(c, 0.0, "fan_in", "relu", &g3);
  EXPECT_ALL_CLOSE(a, b, 0.0, 0.0);
  EXPECT_FALSE(all_close(a, c));
  Tensor o1 = empty({3, 3}), o2 = empty({3, 3});
  Generator h1(4), h2(4);
  init::orthogonal_(o1, 1.0, &h1);
  init::orthogonal_(o2, 1.0, &h2);
  EXPECT_ALL_CLOSE(o1, o2, 0.0, 0.0);
}

TEST(Init, WritesIntoRegisteredParametersInPlace) {
  auto fc = std::make_shared<nn::Linear>(3, 2);
  Tensor held = fc->parameters()[0];
  init::zeros_(fc->weight);
  EXPECT_EQ(held.abs().sum().item(), 0.0);
  EXPECT_TRUE(fc->weight.requires_grad());
  EXPECT_TRUE(fc->weight.is_leaf());
}

TEST(Init, ViewsWriteThroughToTheirBase) {
  Tensor w = ones({3, 4});
  init::zeros_(w.select(0, 1));
  init::constant_(w.select(1, 3), 5.0);
  EXPECT_ALL_CLOSE(w, tensor({1.0, 1.0, 1.0, 5.0, 0.0, 0.0, 0.0, 5.0, 1.0, 1.0, 1.0, 5.0}).reshape({3, 4}),
                   0.0, 0.0);
}

// ---- PyTorch's default initialization per layer

TEST(DefaultInit, LinearAndConvAreUniformOverOneOverSqrtFanIn) {
  nn::Linear fc(400, 300);
  expect_uniform(fc.weight, 1.0 / std::sqrt(400.0));
  Stats sb = stats(fc.bias);
  EXPECT_GE(sb.min, -1.0 / 20.0);
  EXPECT_LE(sb.max, 1.0 / 20.0);

  nn::Conv2d conv(64, 128, 3);  // fan_in 64*9
  expect_uniform(conv.weight, 1.0 / std::sqrt(576.0));
  Stats sc = stats(conv.bias);
  EXPECT_LE(std::max(-sc.min, sc.max), 1.0 / std::sqrt(576.0));

  nn::Conv1d c1(32, 64, 5);  // fan_in 160
  expect_uniform(c1.weight, 1.0 / std::sqrt(160.0));

  // Transposed: weight [in, out/groups, k, k], so fan_in = out/groups * k*k (PyTorch's quirk).
  nn::ConvTranspose2d ct(128, 64, 3, nn::ConvTranspose2dOptions{.groups = 2});
  EXPECT_EQ(ct.weight.shape(), (Shape{128, 32, 3, 3}));
  expect_uniform(ct.weight, 1.0 / std::sqrt(32.0 * 9.0));
}

TEST(DefaultInit, NormalizationStartsAtIdentity) {
  nn::BatchNorm2d bn(5);
  EXPECT_ALL_CLOSE(bn.weight, ones({5}), 0.0, 0.0);
  EXPECT_ALL_CLOSE(bn.bias, zeros({5}), 0.0, 0.0);
  EXPECT_ALL_CLOSE(bn.running_mean, zeros({5}), 0.0, 0.0);
  EXPECT_ALL_CLOSE(bn.running_var, ones({5}), 0.0, 0.0);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);
  nn::LayerNorm ln({3, 4});
  EXPECT_ALL_CLOSE(ln.weight, ones({3, 4}), 0.0, 0.0);
  nn::GroupNorm gn(2, 4);
  EXPECT_ALL_CLOSE(gn.bias, zeros({4}), 0.0, 0.0);
}

TEST(DefaultInit, EmbeddingIsStandardNormalWithAZeroPaddingRow) {
  nn::Embedding emb(1000, 128, nn::EmbeddingOptions{.padding_idx = 7});
  Stats s = stats(emb.weight);
  EXPECT_NEAR(s.std, 1.0, 0.02);
  EXPECT_NEAR(s.mean, 0.0, 0.02);
  EXPECT_EQ(emb.weight[7].abs().sum().item(), 0.0);
}

TEST(DefaultInit, SameGeneratorSeedSameLayer) {
  Generator g1(3), g2(3);
  nn::Linear a(20, 10, true, &g1), b(20, 10, true, &g2);
  EXPECT_ALL_CLOSE(a.weight, b.weight, 0.0, 0.0);
  EXPECT_ALL_CLOSE(a.bias, b.bias, 0.0, 0.0);
  manual_seed(9);
  nn::Conv2d c(2, 3, 3);
  manual_seed(9);
  nn::Conv2d d(2, 3, 3);
  EXPECT_ALL_CLOSE(c.weight, d.weight, 0.0, 0.0);
}
