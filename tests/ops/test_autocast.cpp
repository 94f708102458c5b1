// bfloat16 and autocast (tandem/autocast.h): conversions and autocast results against PyTorch
// 1.13's (tests/reference/gen_bf16.py), the op-by-op policy, the bfloat16 kernels of relu and
// max-pooling against the float32 ones at every ISA level, the path without AVX512-BF16
// (forced ISA level) against the native one, gradients and training against float32, and
// compile inside a scope.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "../../src/backend/cpu/elementwise.h"
#include "../../src/backend/cpu/isa.h"
#include "tandem/autocast.h"
#include "tandem/nn.h"
#include "tandem/optim.h"
#include "test_util.h"

namespace tandem {
namespace {

using testing::all_close;
using testing::load_npy;

// Restores the default ISA level when a test that forces one ends (also on failure).
struct IsaScope {
  explicit IsaScope(const char* level) { cpu::set_isa(level); }
  ~IsaScope() { cpu::set_isa(""); }
};

// Conversions of PyTorch's test values, bit for bit (at the ISA level in use).
void expect_conversion_like_torch();

TEST(Bf16, ConversionRoundsToNearestEvenAsPyTorch) {
  for (cpu::Isa level : cpu::supported_isas()) {
    SCOPED_TRACE(std::string(cpu::isa_name(level)));
    IsaScope scope(std::string(cpu::isa_name(level)).c_str());
    expect_conversion_like_torch();
  }
}

void expect_conversion_like_torch() {
  Tensor in = load_npy("bf16/convert_in.npy");
  Tensor bits = load_npy("bf16/convert_bits.npy");
  Tensor b = in.to(kBFloat16);
  ASSERT_EQ(b.dtype(), kBFloat16);
  const auto* got = static_cast<const uint16_t*>(b.data_ptr());
  const float* x = in.data<float>();
  const int32_t* want = bits.data<int32_t>();
  for (int64_t i = 0; i < in.numel(); ++i) {
    if (std::isnan(x[i])) {  // any NaN is a NaN (PyTorch writes 0xffff, others 0x7fc0)
      EXPECT_EQ(got[i] & 0x7f80, 0x7f80) << i;
      EXPECT_NE(got[i] & 0x7f, 0) << i;
      continue;
    }
    EXPECT_EQ(got[i], static_cast<uint16_t>(want[i])) << "element " << i << ": " << x[i];
  }
  // Widening is exact: back to float32 gives the bf16 value's bits in the upper half.
  Tensor back = b.to(kFloat32);
  for (int64_t i = 0; i < in.numel(); ++i) {
    if (std::isnan(x[i])) continue;
    uint32_t u;
    std::memcpy(&u, back.data<float>() + i, 4);
    EXPECT_EQ(u >> 16, static_cast<uint32_t>(want[i])) << i;
  }
}

TEST(Autocast, OpByOpPolicy) {
  manual_seed(0);
  Tensor x = randn({4, 8}), w = randn({6, 8}), b = randn({6});
  Tensor img = randn({1, 2, 5, 5}), k = randn({3, 2, 3, 3});
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_EQ(linear(x, w, b).dtype(), kFloat32);
  {
    AutocastGuard autocast;
    EXPECT_TRUE(is_autocast_enabled());
    // Lower precision: matmul, linear, convolution.
    EXPECT_EQ(linear(x, w, b).dtype(), kBFloat16);
    EXPECT_EQ(matmul(x, w.t()).dtype(), kBFloat16);
    EXPECT_EQ(conv2d(img, k).dtype(), kBFloat16);
    Tensor h = linear(x, w);
    // float32: reductions, norms, softmax, losses.
    EXPECT_EQ(softmax(h, 1).dtype(), kFloat32);
    EXPECT_EQ(log_softmax(h, 1).dtype(), kFloat32);
    EXPECT_EQ(h.sum().dtype(), kFloat32);
    EXPECT_EQ(h.mean({1}).dtype(), kFloat32);
    EXPECT_EQ(layer_norm(h, {6}).dtype(), kFloat32);
    EXPECT_EQ(cross_entropy(h, tensor({0, 1, 2, 3}, {.dtype = kInt64})).dtype(), kFloat32);
    // Everything else runs on what it gets (relu and max-pooling of a convolution stay bf16).
    EXPECT_EQ(relu(h).dtype(), kBFloat16);
    EXPECT_EQ(max_pool2d(relu(conv2d(img, k)), {2, 2}).dtype(), kBFloat16);
    EXPECT_EQ(max_pool2d(img, {2, 2}).dtype(), kFloat32);
    EXPECT_EQ((h * 2.0).dtype(), kBFloat16);
    EXPECT_EQ(tanh(h).dtype(), kBFloat16);
    EXPECT_EQ(relu(x).dtype(), kFloat32);
    EXPECT_EQ((h + b).dtype(), kFloat32);  // bf16 + f32 promotes
    EXPECT_EQ(linear(x.to(kFloat64), w.to(kFloat64)).dtype(), kFloat64);  // only float32 is lowered
    {
      AutocastGuard off(false);
      EXPECT_EQ(linear(x, w, b).dtype(), kFloat32);
    }
    EXPECT_EQ(linear(x, w, b).dtype(), kBFloat16);
  }
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_EQ(linear(x, w, b).dtype(), kFloat32);
}

// bfloat16 values with the cases the bit-level kernels must get right: signed zeros, NaN,
// infinities, ties inside windows, and plain random values.
// (Own generator: the default one's state stays as the other tests expect it.)
Tensor bf16_awkward(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  // Multiples of 0.5 (many ties inside windows), half of them moved off by a little noise.
  Tensor x = randint(-6, 7, shape, {.dtype = kInt64}, &gen).to(kFloat32) * 0.5 +
             randn(shape, {}, &gen) * randint(0, 2, shape, {.dtype = kInt64}, &gen).to(kFloat32) * 0.01;
  float* p = x.data<float>();
  const float special[] = {0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f};
  for (int64_t i = 0; i < x.numel(); i += 7) p[i] = special[(i / 7) % 8];
  return x.to(kBFloat16);
}

// got equals the float32 result rounded once to bfloat16, NaN where it has NaN (relu and max of
// bfloat16 values are exact; overlapping pooling windows sum their gradients, then round).
void expect_same_values(const Tensor& got, const Tensor& want, const char* what) {
  ASSERT_EQ(got.dtype(), kBFloat16) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  Tensor g = got.to(kFloat32), w = want.to(kBFloat16).to(kFloat32);
  for (int64_t i = 0; i < g.numel(); ++i) {
    float a = g.data<float>()[i], b = w.data<float>()[i];
    if (std::isnan(b)) EXPECT_TRUE(std::isnan(a)) << what << " element " << i;
    else EXPECT_EQ(a, b) << what << " element " << i;
  }
}

TEST(Bf16, ReluAndMaxPoolKernelsEqualFloat32AtEveryIsaLevel) {
  // 2x2 pools over rows of 3, 7, 12 and 20 windows (every vector width and the scalar rows),
  // odd H and W (a row and a column no window covers), and a 3x3 window (the widening path).
  const std::vector<Shape> shapes = {{2, 3, 6, 6}, {1, 4, 15, 15}, {2, 2, 24, 25}, {1, 3, 8, 40}};
  for (cpu::Isa level : cpu::supported_isas()) {
    SCOPED_TRACE(std::string(cpu::isa_name(level)));
    IsaScope scope(std::string(cpu::isa_name(level)).c_str());
    uint64_t seed = 10;
    for (const Shape& shape : shapes) {
      Tensor x = bf16_awkward(shape, seed++), xf = x.to(kFloat32);
      Tensor g = bf16_awkward(shape, seed++);
      expect_same_values(relu(x), relu(xf), "relu");
      // relu_backward through autograd: d relu(x) / dx applied to g.
      Tensor xr = x.clone().requires_grad_(true), xrf = xf.clone().requires_grad_(true);
      Tensor gx = grad({(relu(xr).to(kFloat32) * g.to(kFloat32)).sum()}, {xr})[0];
      Tensor gxf = grad({(relu(xrf) * g.to(kFloat32)).sum()}, {xrf})[0];
      expect_same_values(gx, gxf, "relu_backward");
      for (int64_t k : {2, 3}) {
        IntArray ks = {k, k}, st = {2, 2};
        expect_same_values(max_pool2d(x, ks, st), max_pool2d(xf, ks, st), "max_pool2d");
        Tensor xp = x.clone().requires_grad_(true), xpf = xf.clone().requires_grad_(true);
        Tensor y = max_pool2d(xp, ks, st);
        Tensor gy = bf16_awkward(y.shape(), seed++);
        Tensor gp = grad({(y.to(kFloat32) * gy.to(kFloat32)).sum()}, {xp})[0];
        Tensor gpf = grad({(max_pool2d(xpf, ks, st) * gy.to(kFloat32)).sum()}, {xpf})[0];
        expect_same_values(gp, gpf, "max_pool2d_backward");
      }
    }
  }
}

// y = f(x, w, b) inside autocast, then the float32 gradients of sum(y * gy), against PyTorch's.
void expect_like_torch(const std::string& prefix, const std::function<Tensor(Tensor, Tensor, Tensor)>& f) {
  Tensor x = load_npy("bf16/" + prefix + "_x.npy").requires_grad_(true);
  Tensor w = load_npy("bf16/" + prefix + "_w.npy").requires_grad_(true);
  Tensor b = load_npy("bf16/" + prefix + "_b.npy").requires_grad_(true);
  Tensor y;
  {
    AutocastGuard autocast;
    y = f(x, w, b);
  }
  ASSERT_EQ(y.dtype(), kBFloat16);
  // Both sides accumulate in float32 and round once: at most an ulp of bf16 apart (2^-8 relative).
  EXPECT_TRUE(all_close(y.to(kFloat32), load_npy("bf16/" + prefix + "_y.npy"), 1e-2, 8e-3));
  (y.to(kFloat32) * load_npy("bf16/" + prefix + "_gy.npy")).sum().backward();
  for (auto [t, name] : {std::pair{x, "gx"}, {w, "gw"}, {b, "gb"}}) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_EQ(t.grad().dtype(), kFloat32) << name;  // float32 master copies get float32 gradients
    Tensor want = load_npy("bf16/" + prefix + "_" + name + ".npy");
    double scale = want.abs().max().item<float>();
    EXPECT_TRUE(all_close(t.grad(), want, 2e-2 * scale, 2e-2)) << prefix << " " << name;
  }
}

TEST(Autocast, LinearAndGradientsMatchPyTorchAutocast) {
  expect_like_torch("linear", [](Tensor x, Tensor w, Tensor b) { return linear(x, w, b); });
}

TEST(Autocast, Conv2dAndGradientsMatchPyTorchAutocast) {
  expect_like_torch("conv", [](Tensor x, Tensor w, Tensor b) { return conv2d(x, w, b, {1, 1}, {1, 1}); });
}

TEST(Autocast, PathWithoutAvx512Bf16AgreesWithTheNativeOne) {
  if (!bf16_native()) GTEST_SKIP() << "this CPU has no AVX512-BF16: only the float32 path runs here";
  manual_seed(1);
  Tensor x = randn({33, 70}), w = randn({40, 70}), b = randn({40});
  Tensor img = randn({2, 16, 9, 9}, {.requires_grad = true}), k = randn({16, 16, 3, 3}, {.requires_grad = true});
  auto run = [&] {
    AutocastGuard autocast;
    Tensor y = conv2d(img, k, Tensor(), {1, 1}, {1, 1});
    auto g = grad({y.to(kFloat32).sum()}, {img, k});
    return std::vector<Tensor>{linear(x, w, b).to(kFloat32), y.to(kFloat32), g[0], g[1]};
  };
  std::vector<Tensor> native = run();
  std::vector<Tensor> fallback;
  {
    IsaScope avx2("avx2");
    EXPECT_FALSE(bf16_native());
    fallback = run();
  }
  EXPECT_TRUE(bf16_native());
  for (size_t i = 0; i < native.size(); ++i) {
    double scale = native[i].abs().max().item<float>();
    EXPECT_TRUE(all_close(fallback[i], native[i], 1e-2 * scale, 8e-3)) << "output " << i;
  }
}

struct TinyNet : nn::Module {
  std::shared_ptr<nn::Sequential> body;
  TinyNet() : Module("TinyNet") {
    body = register_module("body", std::make_shared<nn::Sequential>(
                                       std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}), std::make_shared<nn::ReLU>(),
                                       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(8 * 36, 32),
                                       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, 4)));
  }
  Tensor forward(const Tensor& x) override { return (*body)(x); }
};

TEST(Autocast, GradientsMatchFloat32WithinBf16Tolerance) {
  manual_seed(2);
  auto net = std::make_shared<TinyNet>();
  Tensor x = randn({16, 1, 6, 6}), y = randint(0, 4, {16});
  auto grads = [&](bool bf16) {
    net->zero_grad();
    Tensor loss;
    {
      AutocastGuard autocast(bf16);
      loss = cross_entropy((*net)(x), y);
    }
    EXPECT_EQ(loss.dtype(), kFloat32);
    loss.backward();
    std::vector<Tensor> g;
    for (const Tensor& p : net->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  std::vector<Tensor> f32 = grads(false), bf16 = grads(true);
  ASSERT_EQ(f32.size(), bf16.size());
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(bf16[i].dtype(), kFloat32);
    double scale = f32[i].abs().max().item<float>();
    // bf16 keeps 8 significant bits: a few percent of the gradient's scale, not more.
    EXPECT_TRUE(all_close(bf16[i], f32[i], 5e-2 * scale, 5e-2)) << "parameter " << i;
  }
}

// relu and max-pooling between two lowered ops stay bfloat16 (no casts around them); the
// gradients are those of the same network with both run in float32 on the same bfloat16
// values (they are exact on bfloat16, and the float32 gradient rounds once where it meets the
// convolution).
TEST(Autocast, ReluAndMaxPoolInBf16GiveTheGradientsOfFloat32Ones) {
  manual_seed(5);
  Tensor x = randn({8, 2, 12, 12}), gy = randn({8, 10});
  Tensor w1 = randn({16, 2, 3, 3}, {.requires_grad = true}), b1 = randn({16}, {.requires_grad = true});
  Tensor w2 = (randn({10, 16 * 36}) * 0.05).requires_grad_(true);
  auto grads = [&](bool f32_middle) {
    AutocastGuard autocast;
    Tensor h = conv2d(x, w1, b1, {1, 1}, {1, 1});
    EXPECT_EQ(h.dtype(), kBFloat16);
    if (f32_middle) h = h.to(kFloat32);
    h = max_pool2d(relu(h), {2, 2});
    EXPECT_EQ(h.dtype(), f32_middle ? kFloat32 : kBFloat16);
    Tensor y = linear(h.reshape({8, 16 * 36}), w2);
    return grad({(y.to(kFloat32) * gy).sum()}, {w1, b1, w2});
  };
  std::vector<Tensor> bf16 = grads(false), f32 = grads(true);
  for (size_t i = 0; i < bf16.size(); ++i) {
    EXPECT_EQ(bf16[i].dtype(), kFloat32) << i;
    EXPECT_TRUE(all_close(bf16[i], f32[i], 1e-6, 1e-6)) << "parameter " << i;
  }
}

TEST(Autocast, TrainingConvergesLikeFloat32) {
  auto train = [](bool bf16) {
    manual_seed(3);
    auto net = std::make_shared<TinyNet>();
    // Four classes told apart by which quadrant is bright.
    Tensor x = randn({64, 1, 6, 6}) * 0.3, y = randint(0, 4, {64});
    {
      NoGradGuard ng;
      for (int64_t i = 0; i < 64; ++i) {
        int64_t c = y[i].item<int64_t>();
        x[i].slice(1, (c / 2) * 3, (c / 2) * 3 + 3).slice(2, (c % 2) * 3, (c % 2) * 3 + 3).add_(1.0);
      }
    }
    optim::Adam opt(net->parameters(), {.lr = 1e-2});
    std::vector<float> losses;
    for (int step = 0; step < 40; ++step) {
      opt.zero_grad();
      Tensor loss;
      {
        AutocastGuard autocast(bf16);
        loss = cross_entropy((*net)(x), y);
      }
      loss.backward();
      opt.step();
      losses.push_back(loss.item<float>());
    }
    for (const Tensor& p : net->parameters()) EXPECT_EQ(p.dtype(), kFloat32);  // master weights stay float32
    return losses;
  };
  std::vector<float> f32 = train(false), bf16 = train(true);
  EXPECT_NEAR(bf16.front(), f32.front(), 0.02 * f32.front());
  EXPECT_LT(f32.back(), 0.2 * f32.front());
  EXPECT_LT(bf16.back(), 0.2 * bf16.front());
  EXPECT_NEAR(bf16.back(), f32.back(), 0.1 + 0.5 * f32.back());
}

TEST(Autocast, CompiledInsideAScopeEqualsEagerAndRetracesOutside) {
  manual_seed(4);
  auto net = std::make_shared<TinyNet>();
  net->eval();
  Tensor x = randn({8, 1, 6, 6});
  auto fn = compile([&](const Tensor& in) { return softmax((*net)(in), 1); }, {.modules = {net}});
  Tensor eager, compiled;
  {
    NoGradGuard ng;
    AutocastGuard autocast;
    eager = softmax((*net)(x), 1);
    compiled = fn(x);
    compiled = fn(x);  // the cached graph
  }
  EXPECT_EQ(compiled.dtype(), kFloat32);
  EXPECT_TRUE(all_close(compiled, eager, 1e-2, 1e-2));
  EXPECT_EQ(fn.stats().traces, 1);
  {
    NoGradGuard ng;
    Tensor plain = fn(x);
    EXPECT_EQ(fn.stats().traces, 2);
    ASSERT_EQ(fn.stats().reasons.size(), 2u);
    EXPECT_NE(fn.stats().reasons[1].find("autocast changed from on to off"), std::string::npos)
        << fn.stats().reasons[1];
    EXPECT_TRUE(all_close(plain, softmax((*net)(x), 1), 1e-6, 1e-5));
  }
}

}  // namespace
}  // namespace tandem
