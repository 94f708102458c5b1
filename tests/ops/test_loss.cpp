// Losses: cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss,
// binary_cross_entropy_with_logits. They are compositions of tandem ops, so the checks
// are: values against PyTorch 1.13 for the option combinations (hard-coded below with the
// PyTorch expression; the common combinations, gradients and second derivatives also in
// test_reference.cpp), gradcheck of every loss and option (first order, second order for
// a few), and every error path.
#include <cmath>
#include <functional>

#include "test_util.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

const Tensor none;

Tensor f64(std::vector<double> v, Shape s) { return tensor(v, s); }
Tensor i64(std::vector<int64_t> v, Shape s) { return tensor(v, s); }

// The inputs of the PyTorch expressions below (torch.set_default_dtype(torch.float64)).
// X = [[0.2,-1.0,0.5,1.5],[1.0,0.3,-0.7,0.0],[-0.4,0.8,2.0,-1.2]]; T = [3,0,1]
// W = [0.5,1.0,2.0,1.5]; P = [[0.1,0.2,0.3,0.4],[0.7,0.1,0.1,0.1],[0.0,0.5,0.5,0.0]]
// K = [[[0.3,-0.2],[1.1,0.4],[-0.5,0.9]],[[0.0,0.6],[-1.3,0.2],[0.7,-0.1]]]; KT = [[0,2],[1,0]]
// KW = [0.7,1.3,0.4]; Y = [[0.5,-0.3,1.2],[2.0,-1.5,0.1]]; YT = [[0.0,0.2,1.0],[1.0,-1.0,0.6]]
// B = [[1.0,0.0,1.0],[0.3,0.9,0.0]]; BW = [[0.5,2.0,1.0],[1.0,1.0,0.25]]; PW = [2.0,0.5,3.0]
Tensor X() { return f64({0.2, -1.0, 0.5, 1.5, 1.0, 0.3, -0.7, 0.0, -0.4, 0.8, 2.0, -1.2}, {3, 4}); }
Tensor T() { return i64({3, 0, 1}, {3}); }
Tensor W() { return f64({0.5, 1.0, 2.0, 1.5}, {4}); }
Tensor P() { return f64({0.1, 0.2, 0.3, 0.4, 0.7, 0.1, 0.1, 0.1, 0.0, 0.5, 0.5, 0.0}, {3, 4}); }
Tensor K() { return f64({0.3, -0.2, 1.1, 0.4, -0.5, 0.9, 0.0, 0.6, -1.3, 0.2, 0.7, -0.1}, {2, 3, 2}); }
Tensor KT() { return i64({0, 2, 1, 0}, {2, 2}); }
Tensor KW() { return f64({0.7, 1.3, 0.4}, {3}); }
Tensor Y() { return f64({0.5, -0.3, 1.2, 2.0, -1.5, 0.1}, {2, 3}); }
Tensor YT() { return f64({0.0, 0.2, 1.0, 1.0, -1.0, 0.6}, {2, 3}); }
Tensor B() { return f64({1.0, 0.0, 1.0, 0.3, 0.9, 0.0}, {2, 3}); }
Tensor BW() { return f64({0.5, 2.0, 1.0, 1.0, 1.0, 0.25}, {2, 3}); }
Tensor PW() { return f64({2.0, 0.5, 3.0}, {3}); }

struct ValueCase {
  const char* name;
  std::function<Tensor()> fn;
  std::vector<double> expected;
};

}  // namespace

TEST(Loss, MatchesPyTorchForEveryOptionCombination) {
  const std::vector<ValueCase> cases = {
      // F.cross_entropy(X, T, label_smoothing=0.25)
      {"ce_smooth_mean", [] { return cross_entropy(X(), T(), none, -100, Reduction::Mean, 0.25); }, {1.152421719718396}},
      // F.cross_entropy(X, T, reduction='sum', label_smoothing=0.25)
      {"ce_smooth_sum", [] { return cross_entropy(X(), T(), none, -100, Reduction::Sum, 0.25); }, {3.4572651591551877}},
      // F.cross_entropy(X, T, reduction='none', label_smoothing=0.25)
      {"ce_smooth_none", [] { return cross_entropy(X(), T(), none, -100, Reduction::None, 0.25); }, {0.8437745368666252, 0.9289477364036809, 1.6845428858848812}},
      // F.cross_entropy(X, T, ignore_index=0, label_smoothing=0.25)
      {"ce_smooth_ignore_mean", [] { return cross_entropy(X(), T(), none, 0, Reduction::Mean, 0.25); }, {1.264158711375753}},
      // F.cross_entropy(X, T, W, ignore_index=0, label_smoothing=0.25)
      {"ce_smooth_weight_ignore_mean", [] { return cross_entropy(X(), T(), W(), 0, Reduction::Mean, 0.25); }, {1.134226085199384}},
      // F.cross_entropy(X, T, W, ignore_index=0, reduction='none', label_smoothing=0.25)
      {"ce_smooth_weight_ignore_none", [] { return cross_entropy(X(), T(), W(), 0, Reduction::None, 0.25); }, {1.103550896745774, 0.0, 1.7320143162526862}},
      // F.cross_entropy(X, T, W, reduction='sum', label_smoothing=0.25)
      {"ce_smooth_weight_sum", [] { return cross_entropy(X(), T(), W(), -100, Reduction::Sum, 0.25); }, {3.678123031775991}},
      // F.cross_entropy(X, T, W)
      {"ce_weight_mean", [] { return cross_entropy(X(), T(), W()); }, {0.9111428531288865}},
      // F.cross_entropy(X, T, W, reduction='none')
      {"ce_weight_none", [] { return cross_entropy(X(), T(), W(), -100, Reduction::None); }, {0.8156618052999378, 0.35822386820184043, 1.5595428858848812}},
      // F.cross_entropy(X, T, ignore_index=1, reduction='sum')
      {"ce_ignore_sum", [] { return cross_entropy(X(), T(), none, 1, Reduction::Sum); }, {1.2602222732703061}},
      // F.cross_entropy(X, P, W, reduction='none')
      {"ce_probs_weight_none", [] { return cross_entropy(X(), P(), W(), -100, Reduction::None); }, {1.9534730784566068, 1.1331581891229447, 1.139314328827322}},
      // F.cross_entropy(X, P, W, reduction='sum')
      {"ce_probs_weight_sum", [] { return cross_entropy(X(), P(), W(), -100, Reduction::Sum); }, {4.2259455964068735}},
      // F.cross_entropy(X, P, reduction='none', label_smoothing=0.4)
      {"ce_probs_smooth_none", [] { return cross_entropy(X(), P(), none, -100, Reduction::None, 0.4); }, {1.5817745368666254, 1.2604477364036808, 1.3995428858848813}},
      // F.cross_entropy(K, KT, KW, ignore_index=2, label_smoothing=0.3)
      {"ce_kdim_smooth_weight_ignore_mean", [] { return cross_entropy(K(), KT(), KW(), 2, Reduction::Mean, 0.3); }, {1.5610511883476599}},
      // F.cross_entropy(K, KT, KW, ignore_index=2, reduction='none', label_smoothing=0.3)
      {"ce_kdim_smooth_weight_ignore_none", [] { return cross_entropy(K(), KT(), KW(), 2, Reduction::None, 0.3); }, {0.878107941926598, 0.0, 2.6922212347659857, 0.644509031846098}},
      // F.cross_entropy(K, torch.softmax(K * 2, 1), KW, reduction='none')
      {"ce_kdim_probs_weight_none", [] { return cross_entropy(K(), softmax(K() * 2.0, 1), KW(), -100, Reduction::None); }, {0.7002553137688642, 0.6475670110993867, 0.3641029554960189, 0.808992619366175}},
      // F.cross_entropy(X[1], T[1], reduction='none')
      {"ce_unbatched_none", [] { return cross_entropy(X()[1], T()[1], none, -100, Reduction::None); }, {0.7164477364036809}},
      // F.cross_entropy(X[1], P[1], label_smoothing=0.1)
      {"ce_unbatched_probs", [] { return cross_entropy(X()[1], P()[1], none, -100, Reduction::Mean, 0.1); }, {1.107447736403681}},
      // F.nll_loss(X[2], T[2], W)
      {"nll_unbatched_weight", [] { return nll_loss(X()[2], T()[2], W()); }, {-0.8}},
      // F.nll_loss(X, T, W, reduction='sum')
      {"nll_weight_sum", [] { return nll_loss(X(), T(), W(), -100, Reduction::Sum); }, {-3.55}},
      // F.nll_loss(K, KT, KW, ignore_index=2, reduction='sum')
      {"nll_kdim_weight_ignore_sum", [] { return nll_loss(K(), KT(), KW(), 2, Reduction::Sum); }, {1.0600000000000003}},
      // F.mse_loss(Y, YT[1])
      {"mse_broadcast_mean", [] { return mse_loss(Y(), YT()[1]); }, {0.43333333333333335}},
      // F.l1_loss(Y, YT[:, :1], reduction='none')
      {"l1_broadcast_none", [] { return l1_loss(Y(), YT().slice(1, 0, 1), Reduction::None); }, {0.5, 0.3, 1.2, 1.0, 2.5, 0.9}},
      // F.smooth_l1_loss(Y, YT, reduction='sum', beta=2.0)
      {"smooth_l1_beta2_sum", [] { return smooth_l1_loss(Y(), YT(), Reduction::Sum, 2.0); }, {0.51}},
      // F.smooth_l1_loss(Y, YT, reduction='none', beta=0.3)
      {"smooth_l1_beta03_none", [] { return smooth_l1_loss(Y(), YT(), Reduction::None, 0.3); }, {0.35, 0.35, 0.06666666666666664, 0.85, 0.35, 0.35}},
      // F.binary_cross_entropy_with_logits(Y, B, BW, reduction='none')
      {"bce_weight_none", [] { return binary_cross_entropy_with_logits(Y(), B(), BW(), none, Reduction::None); }, {0.23703849209005334, 1.108710488937054, 0.2632824673380313, 1.5269280110429726, 1.5514132779827525, 0.18609916501839271}},
      // F.binary_cross_entropy_with_logits(Y, B, pos_weight=PW, reduction='sum')
      {"bce_pos_weight_sum", [] { return binary_cross_entropy_with_logits(Y(), B(), none, PW(), Reduction::Sum); }, {5.387536992162783}},
      // F.binary_cross_entropy_with_logits(Y, B, pos_weight=PW)
      {"bce_pos_weight_mean", [] { return binary_cross_entropy_with_logits(Y(), B(), none, PW()); }, {0.8979228320271305}},
      // F.binary_cross_entropy_with_logits(torch.tensor([0.]), torch.tensor([1.]), pos_weight=torch.tensor([3.]))
      {"bce_zero_logit_pos_weight", [] { return binary_cross_entropy_with_logits(f64({0}, {1}), f64({1}, {1}), none, f64({3}, {1})); }, {2.0794415416798357}},
  };
  for (const ValueCase& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor r = c.fn();
    EXPECT_EQ(r.numel(), static_cast<int64_t>(c.expected.size()));
    EXPECT_ALL_CLOSE(r.reshape({r.numel()}), f64(c.expected, {static_cast<int64_t>(c.expected.size())}), 1e-12, 1e-10);
  }
}

TEST(Loss, ReductionShapesAndEmptyBatches) {
  EXPECT_EQ(cross_entropy(X(), T(), none, -100, Reduction::None).shape(), (Shape{3}));
  EXPECT_EQ(cross_entropy(K(), KT(), none, -100, Reduction::None).shape(), (Shape{2, 2}));
  EXPECT_EQ(cross_entropy(X()[0], T()[0], none, -100, Reduction::None).shape(), Shape{});
  EXPECT_EQ(cross_entropy(X(), P(), none, -100, Reduction::None).shape(), (Shape{3}));
  EXPECT_EQ(cross_entropy(X(), T()).shape(), Shape{});
  // F.nll_loss(zeros(0,4), zeros(0,long)) -> nan; reduction='sum' -> 0; cross_entropy with
  // probabilities on an empty batch -> nan; F.mse_loss(zeros(0), zeros(0)) -> nan
  Tensor e = zeros({0, 4}, {.dtype = kFloat64});
  Tensor et = zeros({0}, {.dtype = kInt64});
  EXPECT_TRUE(std::isnan(nll_loss(e, et).item()));
  EXPECT_EQ(nll_loss(e, et, none, -100, Reduction::Sum).item(), 0.0);
  EXPECT_TRUE(std::isnan(cross_entropy(e, et).item()));
  EXPECT_TRUE(std::isnan(cross_entropy(e, zeros({0, 4}, {.dtype = kFloat64})).item()));
  EXPECT_TRUE(std::isnan(mse_loss(zeros({0}), zeros({0})).item()));
  // All targets ignored: F.cross_entropy(X, tensor([1,1,1]), ignore_index=1[, label_smoothing=0.2]) -> nan
  Tensor ones_t = i64({1, 1, 1}, {3});
  EXPECT_TRUE(std::isnan(cross_entropy(X(), ones_t, none, 1).item()));
  EXPECT_TRUE(std::isnan(cross_entropy(X(), ones_t, W(), 1, Reduction::Mean, 0.2).item()));
  EXPECT_EQ(cross_entropy(X(), ones_t, none, 1, Reduction::Sum).item(), 0.0);
  EXPECT_EQ(cross_entropy(X(), ones_t, none, 1, Reduction::None).to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

TEST(Loss, Float32AndMixedDtypes) {
  Tensor x = X().to(kFloat32);
  Tensor r = cross_entropy(x, T(), W().to(kFloat32), -100, Reduction::Mean, 0.25);
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_NEAR(r.item(), cross_entropy(X(), T(), W(), -100, Reduction::Mean, 0.25).item(), 1e-6);
  EXPECT_EQ(mse_loss(x, YT().to(kInt64).reshape({6}).slice(0, 0, 4)).dtype(), kFloat32);  // int target promotes
  Tensor b = binary_cross_entropy_with_logits(Y().to(kFloat32), B().to(kFloat32));
  EXPECT_EQ(b.dtype(), kFloat32);
  EXPECT_NEAR(b.item(), binary_cross_entropy_with_logits(Y(), B()).item(), 1e-6);
  Tensor h = l1_loss(Y().to(kBFloat16), YT().to(kBFloat16));
  EXPECT_EQ(h.dtype(), kBFloat16);
  EXPECT_NEAR(h.item(), l1_loss(Y(), YT()).item(), 2e-2);
}

TEST(Loss, GradientsAtKinksAsPyTorch) {
  // x = [0., 50., -50.]; F.binary_cross_entropy_with_logits(x, [1., 0., 1.],
  //   pos_weight=[3., 2., .5], reduction='sum').backward() -> x.grad == [-1.5, 1.0, -0.5]
  Tensor x = f64({0, 50, -50}, {3}).requires_grad_();
  binary_cross_entropy_with_logits(x, f64({1, 0, 1}, {3}), none, f64({3, 2, 0.5}, {3}), Reduction::Sum).backward();
  EXPECT_ALL_CLOSE(x.grad(), f64({-1.5, 1.0, -0.5}, {3}), 1e-12, 1e-12);
  // F.smooth_l1_loss([1., 2., 3.], [1., 2.5, 0.], reduction='sum').backward() -> [0, -0.5, 1]
  Tensor s = f64({1, 2, 3}, {3}).requires_grad_();
  smooth_l1_loss(s, f64({1, 2.5, 0}, {3}), Reduction::Sum).backward();
  EXPECT_ALL_CLOSE(s.grad(), f64({0, -0.5, 1}, {3}));
  // F.l1_loss(..., reduction='sum').backward() -> [0, -1, 1]
  Tensor l = f64({1, 2, 3}, {3}).requires_grad_();
  l1_loss(l, f64({1, 2.5, 0}, {3}), Reduction::Sum).backward();
  EXPECT_ALL_CLOSE(l.grad(), f64({0, -1, 1}, {3}));
  // Extreme logits stay finite.
  Tensor big = binary_cross_entropy_with_logits(f64({-1000, 1000}, {2}), f64({1, 0}, {2}), none, none, Reduction::None);
  EXPECT_ALL_CLOSE(big, f64({1000, 1000}, {2}));
}

// ---- gradchecks ---------------------------------------------------------------------

TEST(LossGrad, CrossEntropyClassIndices) {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    SCOPED_TRACE(static_cast<int>(r));
    auto plain = [r](const Tensors& x) { return cross_entropy(x[0], T(), none, -100, r); };
    EXPECT_TRUE(gradcheck(plain, {X().requires_grad_()}));
    auto all = [r](const Tensors& x) { return cross_entropy(x[0], T(), x[1], 0, r, 0.25); };
    EXPECT_TRUE(gradcheck(all, {X().t().contiguous().t().requires_grad_(), W().requires_grad_()}));
    auto kdim = [r](const Tensors& x) { return cross_entropy(x[0], KT(), KW(), 2, r, 0.3); };
    EXPECT_TRUE(gradcheck(kdim, {K().requires_grad_()}));
  }
  auto second = [](const Tensors& x) { return cross_entropy(x[0], T(), W(), 1, Reduction::Mean, 0.2); };
  EXPECT_TRUE(gradcheck(second, {X().requires_grad_()}, {.second_order = true}));
  auto unbatched = [](const Tensors& x) { return cross_entropy(x[0], T()[0], none, -100, Reduction::None, 0.1); };
  EXPECT_TRUE(gradcheck(unbatched, {X()[0].detach().requires_grad_()}));
}

TEST(LossGrad, CrossEntropyProbabilities) {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    auto fn = [r](const Tensors& x) { return cross_entropy(x[0], x[1], x[2], -100, r, 0.3); };
    EXPECT_TRUE(gradcheck(fn, {X().requires_grad_(), P().requires_grad_(), W().requires_grad_()}));
  }
  auto kdim = [](const Tensors& x) { return cross_entropy(x[0], softmax(x[1], 1), KW()); };
  EXPECT_TRUE(gradcheck(kdim, {K().requires_grad_(), (K() * 0.5).requires_grad_()}, {.second_order = true}));
}

TEST(LossGrad, NllLoss) {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    auto fn = [r](const Tensors& x) { return nll_loss(x[0], KT(), x[1], 2, r); };
    EXPECT_TRUE(gradcheck(fn, {K().requires_grad_(), KW().requires_grad_()}));
  }
  auto second = [](const Tensors& x) { return nll_loss(log_softmax(x[0], 1), T()); };
  EXPECT_TRUE(gradcheck(second, {X().requires_grad_()}, {.second_order = true}));
}

TEST(LossGrad, RegressionLosses) {
  // Away from the kinks (|x - t| = 0 and = beta) finite differences are exact enough.
  Tensor a = Y().requires_grad_(), b = YT().requires_grad_();
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    SCOPED_TRACE(static_cast<int>(r));
    EXPECT_TRUE(gradcheck([r](const Tensors& x) { return mse_loss(x[0], x[1], r); }, {a, b}));
    EXPECT_TRUE(gradcheck([r](const Tensors& x) { return l1_loss(x[0], x[1], r); }, {a, b}));
    EXPECT_TRUE(gradcheck([r](const Tensors& x) { return smooth_l1_loss(x[0], x[1], r, 0.3); }, {a, b}));
    EXPECT_TRUE(gradcheck([r](const Tensors& x) { return smooth_l1_loss(x[0], x[1], r, 2.0); }, {a, b}));
  }
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return mse_loss(x[0], x[1][0]); }, {a, b}, {.second_order = true}));
  EXPECT_TRUE(gradcheck([](const Tensors& x) { return smooth_l1_loss(x[0], x[1], Reduction::Sum, 2.0); }, {a, b},
                        {.second_order = true}));
}

TEST(LossGrad, BinaryCrossEntropyWithLogits) {
  Tensor x = Y().requires_grad_(), t = B().requires_grad_(), w = BW().requires_grad_(), pw = PW().requires_grad_();
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    auto plain = [r](const Tensors& v) { return binary_cross_entropy_with_logits(v[0], v[1], none, none, r); };
    EXPECT_TRUE(gradcheck(plain, {x, t}));
    auto full = [r](const Tensors& v) { return binary_cross_entropy_with_logits(v[0], v[1], v[2], v[3], r); };
    EXPECT_TRUE(gradcheck(full, {x, t, w, pw}));
  }
  auto second = [](const Tensors& v) { return binary_cross_entropy_with_logits(v[0], v[1], BW(), v[2]); };
  EXPECT_TRUE(gradcheck(second, {x, t, pw}, {.second_order = true}));
}

// ---- errors ---------------------------------------------------------------------

TEST(LossErrors, ClassTargets) {
  EXPECT_TRUE(throws_error([] { nll_loss(X(), i64({0, 1}, {2})); }, {"nll_loss", "[3]", "[3, 4]", "[2]"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X(), i64({0, 1, 4}, {3})); }, {"nll_loss", "target 4", "4 classes"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X(), i64({0, 1, -1}, {3})); }, {"nll_loss", "target -1"}));
  EXPECT_NO_THROW(cross_entropy(X(), i64({0, 1, 7}, {3}), none, 7, Reduction::Mean, 0.1));  // the ignore_index
  EXPECT_TRUE(throws_error([] { nll_loss(X(), T().to(kInt32)); }, {"nll_loss", "int64", "int32"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X(), f64({0, 1, 2}, {3})); }, {"nll_loss", "int64", "float64"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X(), i64({0, 1, 2}, {1, 3})); }, {"nll_loss", "[1, 3]"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X()[0], i64({1}, {1})); }, {"nll_loss", "[4]", "[1]"}));
  EXPECT_TRUE(throws_error([] { nll_loss(scalar_tensor(1.0), scalar_tensor(0, {.dtype = kInt64})); },
                           {"nll_loss", "1 or more dimensions"}));
  EXPECT_TRUE(throws_error([] { nll_loss(K(), zeros({2, 5}, {.dtype = kInt64})); }, {"nll_loss", "[2, 2]", "[2, 5]"}));
  EXPECT_TRUE(throws_error([] { nll_loss(X(), T(), ones({3}, kF64)); },
                           {"nll_loss", "weight", "all 4 classes", "[3]"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), T(), ones({4, 1}, kF64)); }, {"cross_entropy", "[4, 1]"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X().to(kInt64), T()); }, {"cross_entropy", "floating-point", "int64"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), T(), none, -100, Reduction::Mean, 1.5); },
                           {"cross_entropy", "label_smoothing", "1.5"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), T(), none, -100, Reduction::Mean, -0.1); },
                           {"cross_entropy", "label_smoothing"}));
}

TEST(LossErrors, ProbabilityTargetsAndElementwise) {
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), zeros({3, 4}, {.dtype = kInt64})); },
                           {"cross_entropy", "class probabilities", "floating point", "int64"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), zeros({3, 5}, kF64)); }, {"cross_entropy", "[3, 5]"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), P(), none, 1); }, {"cross_entropy", "ignore_index"}));
  EXPECT_TRUE(throws_error([] { cross_entropy(X(), P(), ones({3}, kF64)); }, {"cross_entropy", "all 4 classes"}));
  EXPECT_TRUE(throws_error([] { mse_loss(Y(), zeros({5}, kF64)); }, {"[2, 3]", "[5]"}));
  EXPECT_TRUE(throws_error([] { mse_loss(Y().to(kInt64), YT().to(kInt64)); }, {"mse_loss", "floating-point", "int64"}));
  EXPECT_TRUE(throws_error([] { l1_loss(Y().to(kInt64), YT()); }, {"l1_loss", "int64"}));
  EXPECT_TRUE(throws_error([] { smooth_l1_loss(Y(), YT(), Reduction::Mean, -1.0); }, {"smooth_l1_loss", "beta", "-1"}));
  const char* bce = "binary_cross_entropy_with_logits";
  EXPECT_TRUE(throws_error([] { binary_cross_entropy_with_logits(Y(), zeros({3}, kF64)); }, {bce, "[3]", "[2, 3]"}));
  EXPECT_TRUE(throws_error([] { binary_cross_entropy_with_logits(Y(), B().to(kInt64)); }, {bce, "target", "int64"}));
  EXPECT_TRUE(throws_error([] { binary_cross_entropy_with_logits(Y(), B(), ones({5}, kF64)); }, {bce, "[5]", "[2, 3]"}));
  EXPECT_TRUE(throws_error([] { binary_cross_entropy_with_logits(Y(), B(), none, ones({4}, kF64)); },
                           {bce, "pos_weight", "[4]"}));
  EXPECT_TRUE(throws_error([] { binary_cross_entropy_with_logits(Y(), B(), ones({2, 2, 3}, kF64)); },
                           {bce, "weight", "[2, 2, 3]"}));
}
