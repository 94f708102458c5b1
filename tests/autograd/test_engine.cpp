#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

TEST(Autograd, BackwardOfProductAccumulatesIntoLeaves) {
  Tensor a = tensor({1.0, 2.0, 3.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = tensor({4.0, 5.0, 6.0}, {.dtype = kFloat64, .requires_grad = true});
  (a * b).sum().backward();
  EXPECT_ALL_CLOSE(a.grad(), tensor({4.0, 5.0, 6.0}, {.dtype = kFloat64}));
  EXPECT_ALL_CLOSE(b.grad(), tensor({1.0, 2.0, 3.0}, {.dtype = kFloat64}));
  (a * b).sum().backward();  // a second graph accumulates
  EXPECT_ALL_CLOSE(a.grad(), tensor({8.0, 10.0, 12.0}, {.dtype = kFloat64}));
}

TEST(Autograd, BroadcastGradientIsSummedToInputShape) {
  Tensor a = randn({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = randn({3}, {.dtype = kFloat64, .requires_grad = true});
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return x[0] * x[1] + x[1]; }, {a, b}));
}

TEST(Autograd, SecondBackwardWithoutRetainGraphIsAnError) {
  Tensor a = randn({3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = (a * a).sum();
  y.backward();
  EXPECT_TRUE(throws_error([&] { y.backward(); }, {"second time", "retain_graph"}));
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor a = tensor({2.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = (a * a).sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_DOUBLE_EQ(a.grad().item<double>(), 8.0);
}

TEST(Autograd, GradOfGradGivesSecondDerivative) {
  Tensor x = tensor({3.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = (x * x * x).sum();  // y = x^3
  Tensor dx = grad({y}, {x}, {}, false, true)[0];  // 3x^2 = 27
  EXPECT_DOUBLE_EQ(dx.item<double>(), 27.0);
  Tensor ddx = grad({dx.sum()}, {x})[0];  // 6x = 18
  EXPECT_DOUBLE_EQ(ddx.item<double>(), 18.0);
  EXPECT_FALSE(x.grad().defined()) << "tandem::grad must not touch .grad";
}

TEST(Autograd, InPlaceChangeOfSavedTensorIsReportedAtBackward) {
  Tensor a = randn({3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = a * 2.0;
  Tensor y = (b * b).sum();  // mul saves b
  b.add_(1.0);
  EXPECT_TRUE(throws_error([&] { y.backward(); }, {"modified by an in-place operation", "mul"}));
}

TEST(Autograd, InPlaceOnLeafRequiringGradIsAnError) {
  Tensor a = randn({3}, {.dtype = kFloat64, .requires_grad = true});
  EXPECT_TRUE(throws_error([&] { a.add_(1.0); }, {"leaf", "in-place"}));
  NoGradGuard ng;
  a.add_(1.0);  // fine under no_grad
}

TEST(Autograd, InPlaceOnNonLeafKeepsHistory) {
  Tensor a = tensor({1.0, 2.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = a * 3.0;
  Tensor c = a * 1.0;
  b.mul_(c);  // b = 3a^2, d/da = 6a
  b.sum().backward();
  EXPECT_ALL_CLOSE(a.grad(), tensor({6.0, 12.0}, {.dtype = kFloat64}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor a = randn({3}, {.requires_grad = true});
  Tensor y;
  {
    NoGradGuard ng;
    y = a * a;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(throws_error([&] { y.sum().backward(); }, {"does not require grad"}));
}

TEST(Autograd, DetachStopsGradient) {
  Tensor a = tensor({2.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor y = (a * a.detach()).sum();
  y.backward();
  EXPECT_DOUBLE_EQ(a.grad().item<double>(), 2.0);
}

TEST(Autograd, HooksSeeAndReplaceGradients) {
  Tensor a = tensor({1.0, 1.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = a * 2.0;
  Tensor seen;
  b.register_hook([&](const Tensor& g) { seen = g; return g * 10.0; });
  b.retain_grad();
  b.sum().backward();
  EXPECT_ALL_CLOSE(seen, tensor({1.0, 1.0}, {.dtype = kFloat64}));
  EXPECT_ALL_CLOSE(a.grad(), tensor({20.0, 20.0}, {.dtype = kFloat64}));
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor a = randn({3}, {.requires_grad = true});
  EXPECT_TRUE(throws_error([&] { (a * a).backward(); }, {"scalar", "[3]"}));
  (a * a).backward(ones({3}));
  EXPECT_TRUE(a.grad().defined());
}

TEST(Autograd, ViewsGradcheck) {
  Tensor a = randn({3, 4}, {.dtype = kFloat64, .requires_grad = true});
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return x[0].t().reshape({2, 6}).slice(1, 1, 5, 2); }, {a}));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return x[0].select(1, 2).unsqueeze(0).expand({5, 3}); }, {a}));
}

TEST(Autograd, InPlaceThroughAViewOfATensorRequiringGradIsAnError) {
  Tensor a = randn({2, 3}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = a * 2.0;
  Tensor row = b.select(0, 0);
  EXPECT_TRUE(throws_error([&] { row.mul_(row); }, {"mul_", "view", "[3]"}));
}

TEST(Autograd, PrintingNamesTheGradFn) {
  Tensor a = randn({2}, {.requires_grad = true});
  EXPECT_NE((a * a).str().find("grad_fn=<mul>"), std::string::npos);
}

// A leaf's first gradient is taken as is only when nothing else holds it; otherwise it is
// copied, so accumulating into .grad later never changes a tensor someone else sees.
TEST(Autograd, FirstGradientIsNeverSharedWithAnotherHolder) {
  // The same gradient flows to two leaves (add's backward passes it to both).
  Tensor a = randn({4}, {.requires_grad = true}), b = randn({4}, {.requires_grad = true});
  (a + b).sum().backward();
  EXPECT_FALSE(a.grad().shares_storage(b.grad()));
  (a + b).sum().backward();  // accumulation into a.grad leaves b.grad alone
  EXPECT_ALL_CLOSE(a.grad(), full({4}, 2.0), 0, 0);
  EXPECT_ALL_CLOSE(b.grad(), full({4}, 2.0), 0, 0);

  // A hook keeps the gradient: .grad must be another tensor.
  Tensor c = randn({3}, {.requires_grad = true});
  Tensor kept;
  c.register_hook([&](const Tensor& g) {
    kept = g;
    return Tensor();
  });
  (c * 2.0).sum().backward();
  ASSERT_TRUE(kept.defined());
  EXPECT_FALSE(kept.shares_storage(c.grad()));
  (c * 2.0).sum().backward();
  EXPECT_ALL_CLOSE(kept, full({3}, 2.0), 0, 0);  // unchanged by the accumulation
  EXPECT_ALL_CLOSE(c.grad(), full({3}, 4.0), 0, 0);

  // backward(gradient) straight into a leaf: the caller's tensor stays the caller's.
  Tensor d = randn({2}, {.requires_grad = true});
  Tensor seed = full({2}, 3.0);
  d.backward(seed);
  EXPECT_FALSE(seed.shares_storage(d.grad()));
  d.backward(seed);
  EXPECT_ALL_CLOSE(seed, full({2}, 3.0), 0, 0);
  EXPECT_ALL_CLOSE(d.grad(), full({2}, 6.0), 0, 0);
}

// Without retain_graph a node's saved tensors are freed as soon as it has run, so backward
// never holds more than the activations still ahead of it (measured with memory_stats from
// a hook that runs near the end of backward).
TEST(Autograd, SavedTensorsAreFreedAsBackwardConsumesThem) {
  constexpr int64_t kN = 1 << 18;  // 1 MiB of float32 per activation
  constexpr int64_t kMiB = 1 << 20;
  constexpr int kLayers = 8;
  Tensor x = randn({kN}, {.requires_grad = true});
  Tensor first = x.tanh();
  Tensor y = first;
  for (int i = 0; i < kLayers; ++i) y = y.tanh();
  Tensor loss = y.sum();
  y = Tensor();  // only the tape holds the activations now
  int64_t before = memory_stats().allocated_bytes;
  int64_t at_first = -1;
  // Runs when the gradient reaches `first`: every later node has run by then.
  first.register_hook([&](const Tensor&) {
    at_first = memory_stats().allocated_bytes;
    return Tensor();
  });
  loss.backward();
  ASSERT_GE(at_first, 0);
  // The kLayers activations behind `first` are gone; a gradient or two is in flight.
  EXPECT_LT(at_first, before - (kLayers - 3) * kMiB);
  EXPECT_TRUE(x.grad().defined());
}

TEST(Autograd, RetainGraphKeepsSavedTensorsThroughBackward) {
  constexpr int64_t kN = 1 << 18;
  Tensor x = randn({kN}, {.requires_grad = true});
  Tensor y = x.tanh().tanh().tanh();
  Tensor loss = y.sum();
  y = Tensor();
  loss.backward(Tensor(), /*retain_graph=*/true);
  Tensor g1 = x.grad().clone();
  x.set_grad(Tensor());
  loss.backward();  // the saved tensors are still there
  EXPECT_ALL_CLOSE(x.grad(), g1, 0.0, 0.0);
}
