// Reductions: values against PyTorch 1.13 (hard-coded, with the torch expression),
// a naive float64 reference over many layouts and thread counts, dtype rules,
// error paths, the per-ISA kernels against each other, and gradchecks.
#include <cmath>
#include <limits>
#include <random>

#include "../../src/backend/cpu/isa.h"
#include "../../src/backend/cpu/reduce_table.h"
#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor f64(const std::vector<double>& v, const Shape& s) { return tensor(v, s, {.dtype = kFloat64}); }
Tensor f32(const std::vector<double>& v, const Shape& s) { return tensor(v, s).to(kFloat32); }
Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return tensor(v, s); }

// x = torch.tensor(X, dtype=torch.float64).reshape(2, 3, 4)
Tensor X() {
  return f64({0.5, -1.25, 2.0, 3.5, -0.75, 1.0, 0.0,  -2.5, 4.25, 1.5, -3.0, 0.25,
              2.75, -1.5, 0.125, -0.5, 3.0, -4.0, 1.75, 0.75, -2.0, 2.5, -0.25, 1.25},
             {2, 3, 4});
}

struct ThreadCount {
  int saved = get_num_threads();
  explicit ThreadCount(int n) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved); }
};

}  // namespace

// ---- values against PyTorch

TEST(Reduce, SumMeanProdMatchTorch) {
  Tensor x = X();
  EXPECT_ALL_CLOSE(sum(x, {0, 2}), f64({5.625, -0.75, 4.5}, {3}));  // x.sum((0,2))
  EXPECT_ALL_CLOSE(sum(x, {1}, true), f64({4.0, 1.25, -1.0, 1.25, 3.75, -3.0, 1.625, 1.5}, {2, 1, 4}));
  EXPECT_ALL_CLOSE(sum(x), scalar_tensor(9.375, {.dtype = kFloat64}));
  EXPECT_ALL_CLOSE(mean(x, {1, 2}), f64({0.4583333333333333, 0.3229166666666667}, {2}));
  EXPECT_ALL_CLOSE(prod(x, {2}),  // x.prod(2)
                   f64({-4.375, 0.0, -4.78125, 0.2578125, -15.75, 1.5625}, {2, 3}));
  EXPECT_ALL_CLOSE(sum(x, {-1}), sum(x, {2}));
  EXPECT_EQ(sum(x, {0}).dtype(), kFloat64);
}

TEST(Reduce, ExtremesMatchTorch) {
  Tensor x = X();
  EXPECT_ALL_CLOSE(amax(x, {1}), f64({4.25, 1.5, 2.0, 3.5, 3.0, 2.5, 1.75, 1.25}, {2, 4}));
  EXPECT_ALL_CLOSE(amin(x, {0, 2}), f64({-1.5, -4.0, -3.0}, {3}));
  auto [v, i] = max(x, 2);  // x.max(2)
  EXPECT_ALL_CLOSE(v, f64({3.5, 1.0, 4.25, 2.75, 3.0, 2.5}, {2, 3}));
  EXPECT_ALL_CLOSE(i, i64({3, 1, 0, 0, 0, 1}, {2, 3}));
  EXPECT_EQ(i.dtype(), kInt64);
  auto [v0, i0] = min(x, 0);  // x.min(0)
  EXPECT_ALL_CLOSE(v0, f64({0.5, -1.5, 0.125, -0.5, -0.75, -4.0, 0.0, -2.5, -2.0, 1.5, -3.0, 0.25},
                           {3, 4}));
  EXPECT_ALL_CLOSE(i0, i64({0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0}, {3, 4}));
  EXPECT_ALL_CLOSE(argmax(x, 1), i64({2, 2, 0, 0, 1, 2, 1, 2}, {2, 4}));  // x.argmax(1)
  EXPECT_EQ(argmin(x).item<int64_t>(), 17);                                // x.argmin()
  EXPECT_EQ(max(x).item(), 4.25);
  EXPECT_EQ(min(x).item(), -4.0);
  EXPECT_EQ(x.max().item(), 4.25);
}

TEST(Reduce, VarStdMatchTorch) {
  Tensor x = X();
  EXPECT_ALL_CLOSE(var(x, {2}),  // x.var(2)
                   f64({4.140625, 2.1822916666666665, 9.041666666666666, 3.2955729166666665,
                        9.354166666666666, 3.7708333333333335},
                       {2, 3}),
                   1e-12, 1e-12);
  EXPECT_ALL_CLOSE(var(x, {0, 1}, 0),  // torch.var(x, (0,1), correction=0)
                   f64({4.904513888888889, 4.800347222222222, 2.6792534722222228, 3.2795138888888893},
                       {4}),
                   1e-12, 1e-12);
  EXPECT_ALL_CLOSE(tandem::std(x, {1}),  // x.std(1)
                   f64({2.602082499332666, 1.4648663192705789, 2.5166114784235836, 3.003470215156683,
                        2.817356917396161, 3.278719262151, 1.063112568514423, 0.9013878188659973},
                       {2, 4}),
                   1e-12, 1e-12);
  // torch.var(torch.tensor([1.,2.]), dim=None, correction=2) -> inf; var of one element -> nan
  EXPECT_TRUE(std::isinf(var(f64({1, 2}, {2}), {}, 2).item()));
  EXPECT_TRUE(std::isnan(var(f64({1}, {1})).item()));
  EXPECT_EQ(tandem::std(f64({1, 1}, {2})).item(), 0.0);
}

TEST(Reduce, LogsumexpNormMatchTorch) {
  Tensor x = X();
  EXPECT_ALL_CLOSE(logsumexp(x, {2}),  // x.logsumexp(2)
                   f64({3.7480850490038047, 1.4522537582311676, 4.329692191927871, 2.8682080109193566,
                        3.3313275276918413, 2.8086176273057126},
                       {2, 3}),
                   1e-12, 1e-12);
  EXPECT_ALL_CLOSE(logsumexp(x, {0, 1}),  // x.logsumexp((0,1))
                   f64({4.682964252846572, 2.9912429845283106, 2.779154313959605, 3.7061159487599706},
                       {4}),
                   1e-12, 1e-12);
  EXPECT_NEAR(norm(x).item(), 10.287279766779942, 1e-12);  // x.norm()
  EXPECT_ALL_CLOSE(norm(x, 1, {2}), f64({7.25, 4.25, 9.0, 4.875, 9.5, 6.0}, {2, 3}));
  EXPECT_ALL_CLOSE(norm(x, kInf, {1}), f64({4.25, 1.5, 3.0, 3.5, 3.0, 4.0, 1.75, 1.25}, {2, 4}));
  EXPECT_ALL_CLOSE(norm(x, -kInf, {1}), f64({0.5, 1.0, 0.0, 0.25, 2.0, 1.5, 0.125, 0.5}, {2, 4}));
  EXPECT_ALL_CLOSE(norm(x, 3, {0}),  // x.norm(3, 0)
                   f64({2.7554986399847716, 1.7465920069545264, 2.000162747172986, 3.503398060386724,
                        3.015544318941793, 4.020725758589058, 1.75, 2.522300483885317,
                        4.392784748373369, 2.668401648721945, 3.000578592106921, 1.2533244837411461},
                       {3, 4}),
                   1e-12, 1e-12);
  EXPECT_EQ(norm(x, 0).item(), 23.0);  // x.norm(0): non-zeros
  EXPECT_ALL_CLOSE(norm(x, 0.5, {2}),  // x.norm(0.5, 2)
                   f64({26.11397055611672, 11.882941255263088, 30.452170076612475, 15.552907233538868,
                        35.057671009976204, 21.283333902307877},
                       {2, 3}),
                   1e-12, 1e-12);
  EXPECT_ALL_CLOSE(norm(x, 2, {0}, true).squeeze(0), norm(x, 2, {0}));
}

TEST(Reduce, SoftmaxLogSoftmaxMatchTorch) {
  Tensor x = X();
  Tensor sm2 = f64({0.03884852967827135, 0.006750862199444865, 0.17410703085781265, 0.7802935772644711,
                    0.11055371602907661, 0.6361927101033019, 0.23404221867014813, 0.01921135519747333,
                    0.9234005327847585, 0.059031021098063866, 0.0006557754090273, 0.016912670708150383,
                    0.888511213356643, 0.012673931778087899, 0.06436353641776317, 0.03445131844750597,
                    0.7179699754775908, 0.0006547038724476333, 0.2057018419759228, 0.07567347867403881,
                    0.008159130865125108, 0.734461554384107, 0.04695255631032989, 0.21042675844043804},
                   {2, 3, 4});  // x.softmax(2)
  Tensor sm1 = f64({0.022827096243298196, 0.038269648965318044, 0.8756005950630876, 0.96038142354183,
                    0.006540072572094158, 0.36309231993310903, 0.11849965453500959, 0.002380547544034247,
                    0.9706328311846076, 0.598638031101573, 0.005899750401902781, 0.037238028914135954,
                    0.43617131902854833, 0.017959694304980102, 0.147804184469409, 0.09760910753232893,
                    0.5600550596628736, 0.0014742214823099348, 0.750611584184323, 0.3406892610595999,
                    0.003773621308578091, 0.98056608421271, 0.10158423134626793, 0.5617016314080712},
                   {2, 3, 4});  // x.softmax(1)
  Tensor lsm0 = f64({-2.350206558916747, -0.5759394198788437, -0.1426750576056016, -0.01814992791780978,
                     -3.773245464372425, -0.006715348489117967, -1.9102241504380872, -3.288041371687783,
                     -0.0019285932042193933, -1.3132616875182228, -2.8119675890031988, -1.3132616875182228,
                     -0.10020655891674712, -0.8259394198788437, -2.0176750576056017, -4.0181499279178094,
                     -0.023245464372425105, -5.006715348489118, -0.16022415043808716, -0.03804137168778304,
                     -6.2519285932042195, -0.31326168751822286, -0.061967589003198625, -0.31326168751822286},
                    {2, 3, 4});  // x.log_softmax(0)
  Tensor lsm2 = f64({-3.2480850490038047, -4.998085049003804, -1.7480850490038045, -0.24808504900380454,
                     -2.2022537582311674, -0.4522537582311676, -1.4522537582311676, -3.9522537582311674,
                     -0.07969219192787014, -2.82969219192787, -7.329692191927871, -4.079692191927871,
                     -0.11820801091935648, -4.368208010919356, -2.7432080109193566, -3.3682080109193566,
                     -0.33132752769184143, -7.331327527691841, -1.5813275276918415, -2.5813275276918413,
                     -4.808617627305712, -0.30861762730571257, -3.0586176273057126, -1.5586176273057126},
                    {2, 3, 4});  // x.log_softmax(2)
  for (DType t : {kFloat64, kFloat32}) {
    double tol = t == kFloat64 ? 1e-14 : 2e-7;
    Tensor xt = x.to(t);
    EXPECT_ALL_CLOSE(softmax(xt, 2), sm2, tol, tol);
    EXPECT_ALL_CLOSE(softmax(xt, -1), sm2, tol, tol);
    EXPECT_ALL_CLOSE(softmax(xt, 1), sm1, tol, tol);
    EXPECT_ALL_CLOSE(log_softmax(xt, 0), lsm0, tol, tol);
    EXPECT_ALL_CLOSE(log_softmax(xt, 2), lsm2, tol, tol);
    EXPECT_EQ(softmax(xt, 0).dtype(), t);
  }
}

TEST(Reduce, SoftmaxIsStableAndHandlesInfinities) {
  // Large logits would overflow a naive exp.
  EXPECT_ALL_CLOSE(softmax(f32({1000, 1001}, {2}), 0), f32({0.2689414213699951, 0.7310585786300049}, {2}),
                   1e-7, 1e-6);
  EXPECT_ALL_CLOSE(log_softmax(f32({-1000, 0}, {2}), 0), f32({-1000, 0}, {2}));
  // torch.softmax(torch.tensor([-inf, -inf]), 0) -> nan; [inf, 1] -> nan; log_softmax([-inf, 1]) -> [-inf, 0]
  EXPECT_ALL_CLOSE(softmax(f32({-kInf, -kInf}, {2}), 0), f32({kNaN, kNaN}, {2}));
  EXPECT_ALL_CLOSE(softmax(f32({kInf, 1}, {2}), 0), f32({kNaN, kNaN}, {2}));
  EXPECT_ALL_CLOSE(log_softmax(f32({-kInf, 1}, {2}), 0), f32({-kInf, 0}, {2}));
  EXPECT_ALL_CLOSE(softmax(f32({-kInf, 1, 1}, {3}), 0), f32({0, 0.5, 0.5}, {3}));
  EXPECT_EQ(softmax(scalar_tensor(2.0), 0).item(), 1.0);
  EXPECT_EQ(log_softmax(scalar_tensor(2.0), -1).item(), 0.0);
}

TEST(Reduce, CumsumMatchesTorch) {
  Tensor x = X();
  EXPECT_ALL_CLOSE(cumsum(x, 2),  // x.cumsum(2)
                   f64({0.5, -0.75, 1.25, 4.75, -0.75, 0.25, 0.25, -2.25, 4.25, 5.75, 2.75, 3.0,
                        2.75, 1.25, 1.375, 0.875, 3.0, -1.0, 0.75, 1.5, -2.0, 0.5, 0.25, 1.5},
                       {2, 3, 4}));
  EXPECT_ALL_CLOSE(cumsum(x, 0),  // x.cumsum(0)
                   f64({0.5, -1.25, 2.0, 3.5, -0.75, 1.0, 0.0, -2.5, 4.25, 1.5, -3.0, 0.25,
                        3.25, -2.75, 2.125, 3.0, 2.25, -3.0, 1.75, -1.75, 2.25, 4.0, -3.25, 1.5},
                       {2, 3, 4}));
  Tensor ci = cumsum(tensor(std::vector<int32_t>{1, 2, 3}), 0);  // int32 -> int64
  EXPECT_EQ(ci.dtype(), kInt64);
  EXPECT_ALL_CLOSE(ci, i64({1, 3, 6}, {3}));
  EXPECT_ALL_CLOSE(cumsum(tensor({1, 1, 0}, {.dtype = kBool}), 0), i64({1, 2, 2}, {3}));
  // torch.tensor([2**63 - 1, 1, 1]).cumsum(0) -> [9223372036854775807, -9223372036854775808,
  // -9223372036854775807]: the running sum wraps around (and is no undefined behaviour).
  Tensor wrapped = cumsum(tensor(std::vector<int64_t>{INT64_MAX, 1, 1}), 0);
  EXPECT_EQ(wrapped[1].item<int64_t>(), INT64_MIN);
  EXPECT_EQ(wrapped[2].item<int64_t>(), INT64_MIN + 1);
  // torch.tensor([1e8]+[1.]*1000).cumsum(0)[-1] -> 100001000 (float32 accumulates in double)
  std::vector<double> big(1001, 1.0);
  big[0] = 1e8;
  EXPECT_EQ(cumsum(f32(big, {1001}), 0)[1000].item(), 100001000.0);
  EXPECT_ALL_CLOSE(cumsum(x.permute({2, 0, 1}), 1), cumsum(x, 0).permute({2, 0, 1}));
  EXPECT_EQ(cumsum(scalar_tensor(2.0), 0).item(), 2.0);
}

// ---- dtypes, special values, empty reductions

TEST(Reduce, IntegerAndBoolDtypes) {
  Tensor xi = tensor(std::vector<int32_t>{1, 5, 5, -2, 7, 0}, Shape{2, 3});
  EXPECT_EQ(sum(xi).dtype(), kInt64);  // torch: integer sums are int64
  EXPECT_EQ(sum(xi).item<int64_t>(), 16);
  EXPECT_ALL_CLOSE(sum(xi, {1}), i64({11, 5}, {2}));
  EXPECT_EQ(prod(xi, {1}).dtype(), kInt64);
  EXPECT_ALL_CLOSE(prod(xi, {1}), i64({25, 0}, {2}));
  EXPECT_EQ(amax(xi).dtype(), kInt32);
  EXPECT_EQ(amax(xi).item<int64_t>(), 7);
  EXPECT_ALL_CLOSE(amin(xi, {0}), tensor(std::vector<int32_t>{-2, 5, 0}));
  auto [v, i] = max(xi, 1);  // ties: first index, like PyTorch's CPU
  EXPECT_ALL_CLOSE(v, tensor(std::vector<int32_t>{5, 7}));
  EXPECT_ALL_CLOSE(i, i64({1, 1}, {2}));
  EXPECT_ALL_CLOSE(argmin(xi, 0), i64({1, 0, 1}, {3}));
  Tensor u8 = tensor(std::vector<uint8_t>{200, 100, 1});
  EXPECT_EQ(sum(u8).item<int64_t>(), 301);  // no uint8 wrap-around: int64 accumulation
  Tensor b = tensor({1, 0, 1}, {.dtype = kBool});
  EXPECT_EQ(sum(b).dtype(), kInt64);
  EXPECT_EQ(sum(b).item<int64_t>(), 2);
  EXPECT_EQ(prod(b).item<int64_t>(), 0);
  EXPECT_EQ(amax(b).dtype(), kBool);
  EXPECT_EQ(amax(b).item<bool>(), true);
  EXPECT_EQ(amin(b).item<bool>(), false);
  EXPECT_EQ(max(b, 0).second.item<int64_t>(), 0);
  // torch.logsumexp(torch.tensor([1,2], dtype=torch.int32), 0) -> 2.3133 (float32)
  Tensor l = logsumexp(tensor(std::vector<int32_t>{1, 2}), {0});
  EXPECT_EQ(l.dtype(), kFloat32);
  EXPECT_NEAR(l.item(), 2.3132617, 1e-6);
}

TEST(Reduce, HalfTypesComputeInFloat) {
  for (DType t : {kFloat16, kBFloat16}) {
    Tensor x = f32({1, 2, 3.5, -1}, {4}).to(t);
    EXPECT_EQ(sum(x).dtype(), t);
    EXPECT_EQ(sum(x).item(), 5.5);
    EXPECT_EQ(mean(x).item(), 1.375);
    EXPECT_EQ(amax(x).item(), 3.5);
    EXPECT_EQ(argmax(x).item<int64_t>(), 2);
    EXPECT_EQ(softmax(x, 0).dtype(), t);
    EXPECT_NEAR(var(x).item(), 3.5625, 0.02);
  }
}

TEST(Reduce, NaNWinsMaxMinAndArg) {
  Tensor x = f32({1, kNaN, 3, kNaN}, {4});
  // torch.max(torch.tensor([1., nan, 3, nan]), 0) -> (nan, 1)
  auto [v, i] = max(x, 0);
  EXPECT_TRUE(std::isnan(v.item()));
  EXPECT_EQ(i.item<int64_t>(), 1);
  EXPECT_EQ(argmin(f32({1, kNaN, 0, kNaN}, {4})).item<int64_t>(), 1);
  EXPECT_TRUE(std::isnan(amax(x).item()));
  EXPECT_TRUE(std::isnan(amin(f32({1, kNaN, 0}, {3})).item()));
  EXPECT_TRUE(std::isnan(sum(x).item()));
  // torch.logsumexp: nan propagates; +inf wins; all -inf -> -inf
  EXPECT_TRUE(std::isnan(logsumexp(f32({kNaN, 1}, {2}), {0}).item()));
  EXPECT_EQ(logsumexp(f32({kInf, 1}, {2}), {0}).item(), kInf);
  EXPECT_EQ(logsumexp(f32({kInf, -kInf}, {2}), {0}).item(), kInf);
  EXPECT_EQ(logsumexp(f32({-kInf, -kInf}, {2}), {0}).item(), -kInf);
}

TEST(Reduce, TiesPickTheFirstIndex) {
  Tensor x = f64({3, 1, 3, 2, 2, 0}, {2, 3});
  EXPECT_ALL_CLOSE(max(x, 1).second, i64({0, 0}, {2}));
  EXPECT_ALL_CLOSE(min(x, 1).second, i64({1, 2}, {2}));
  EXPECT_EQ(argmax(x).item<int64_t>(), 0);
  // Long rows tie across vector lanes and threads: still the first index.
  ThreadCount threads(2);
  Tensor ones_row = ones({3, 100000});
  EXPECT_ALL_CLOSE(argmax(ones_row, 1), i64({0, 0, 0}, {3}));
  EXPECT_ALL_CLOSE(argmin(ones_row, 0), zeros({100000}, {.dtype = kInt64}));
  EXPECT_EQ(argmax(ones_row).item<int64_t>(), 0);
}

TEST(Reduce, EmptyReductions) {
  Tensor e = zeros({0, 3});
  // torch: sum -> 0, prod -> 1, mean -> nan, logsumexp -> -inf, var -> nan, norm -> 0
  EXPECT_ALL_CLOSE(sum(e, {0}), zeros({3}));
  EXPECT_ALL_CLOSE(prod(e, {0}), ones({3}));
  EXPECT_ALL_CLOSE(mean(e, {0}), full({3}, kNaN));
  EXPECT_ALL_CLOSE(logsumexp(e, {0}), full({3}, -kInf));
  EXPECT_ALL_CLOSE(var(e, {0}), full({3}, kNaN));
  EXPECT_ALL_CLOSE(norm(e, 2, {0}), zeros({3}));
  EXPECT_ALL_CLOSE(norm(e, kInf, {0}), zeros({3}));
  EXPECT_TRUE(std::isnan(mean(zeros({0})).item()));
  EXPECT_EQ(sum(zeros({0}, {.dtype = kInt32})).item<int64_t>(), 0);
  // Reducing a non-empty dim of an empty tensor is fine.
  EXPECT_EQ(amax(e, {1}).shape(), Shape{0});
  EXPECT_EQ(max(e, 1).second.shape(), Shape{0});
  EXPECT_EQ(softmax(e, 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(cumsum(e, 0).shape(), (Shape{0, 3}));
}

TEST(Reduce, ZeroDimAndKeepdimShapes) {
  Tensor s = scalar_tensor(3.0);
  EXPECT_EQ(sum(s, {0}).item(), 3.0);
  EXPECT_EQ(sum(s, {-1}, true).shape(), Shape{});
  auto [v, i] = max(s, 0);
  EXPECT_EQ(v.item(), 3.0);
  EXPECT_EQ(i.item<int64_t>(), 0);
  EXPECT_EQ(argmax(s, 0, true).shape(), Shape{});
  Tensor x = X();
  EXPECT_EQ(argmax(x, std::nullopt, true).shape(), (Shape{1, 1, 1}));  // torch: [[[5]]]-like
  EXPECT_EQ(argmax(x, std::nullopt, true).item<int64_t>(), 8);
  EXPECT_EQ(sum(x, {0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(amax(x, {}, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(max(x, 1, true).first.shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(var(x, {1}, 1, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(norm(x, 2, {0, 1}, true).shape(), (Shape{1, 1, 4}));
  EXPECT_EQ(logsumexp(x, {}, false).shape(), Shape{});  // empty dims: all dims
}

TEST(Reduce, Errors) {
  Tensor x = X();
  EXPECT_TRUE(throws_error([&] { sum(x, {3}); }, {"sum", "out of range"}));
  EXPECT_TRUE(throws_error([&] { sum(x, {0, -3}); }, {"sum", "more than once"}));
  EXPECT_TRUE(throws_error([&] { mean(arange(3)); }, {"mean", "floating point", "int64"}));
  EXPECT_TRUE(throws_error([&] { var(arange(3)); }, {"var", "floating point"}));
  EXPECT_TRUE(throws_error([&] { tandem::std(arange(3)); }, {"std", "floating point"}));
  EXPECT_TRUE(throws_error([&] { norm(arange(3)); }, {"norm", "floating point"}));
  EXPECT_TRUE(throws_error([&] { softmax(arange(3), 0); }, {"softmax", "floating point", "int64"}));
  EXPECT_TRUE(throws_error([&] { log_softmax(arange(3), 0); }, {"log_softmax", "floating point"}));
  EXPECT_TRUE(throws_error([&] { softmax(x, 3); }, {"softmax", "out of range"}));
  EXPECT_TRUE(throws_error([&] { cumsum(x, -4); }, {"cumsum", "out of range"}));
  EXPECT_TRUE(throws_error([&] { max(x, 5); }, {"max", "out of range"}));
  EXPECT_TRUE(throws_error([&] { argmax(tensor({1, 0}, {.dtype = kBool})); }, {"argmax", "bool"}));
  Tensor e = zeros({0, 2});
  // torch: max(): Expected reduction dim to be specified for input.numel() == 0 ...
  EXPECT_TRUE(throws_error([&] { max(e); }, {"max()", "numel() == 0", "[0, 2]"}));
  EXPECT_TRUE(throws_error([&] { min(e); }, {"min()", "numel() == 0"}));
  EXPECT_TRUE(throws_error([&] { amax(e); }, {"amax()", "numel() == 0"}));
  EXPECT_TRUE(throws_error([&] { amin(e, {0}); }, {"amin()", "dim 0", "non-zero size"}));
  EXPECT_TRUE(throws_error([&] { max(e, 0); }, {"max()", "dim 0", "non-zero size"}));
  EXPECT_TRUE(throws_error([&] { argmax(e); }, {"argmax()", "numel() == 0"}));
  EXPECT_TRUE(throws_error([&] { argmin(e, 0); }, {"argmin()", "dim 0", "non-zero size"}));
}

TEST(Reduce, FloatSumsAreAccurate) {
  // A float32 sum of many terms stays close to the float64 sum of the same values.
  Generator g(11);
  Tensor x = randn({1 << 20}, {}, &g) + 3.0;
  double ref = sum(x.to(kFloat64)).item();
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    EXPECT_NEAR(sum(x).item(), ref, std::abs(ref) * 2e-7);
    EXPECT_NEAR(mean(x.reshape({1024, 1024}), {0}).sum().item(), ref / 1024, std::abs(ref) * 1e-6);
    EXPECT_NEAR(var(x).item(), var(x.to(kFloat64)).item(), 1e-6);
  }
  // 2^20 times 0.1f: a running float sum drifts by about 1e-3 relative; exact = 0.1f * 2^20.
  // torch.full((2**20,), 0.1).sum() -> 104857.6171875 (2 float ulps off, like ours).
  const double exact = static_cast<double>(0.1f) * (1 << 20);
  EXPECT_NEAR(sum(full({1 << 20}, 0.1)).item(), exact, exact * 2e-7);
  // A large mean with a small spread: two-pass variance keeps its digits.
  Tensor y = randn({4096}, {}, &g) * 0.01 + 1000.0;
  EXPECT_NEAR(var(y).item(), var(y.to(kFloat64)).item(), 1e-8);
}

// ---- every layout and thread count against a naive float64 reference

namespace {

// The elements of x grouped by output (dims in `mask` reduced), each group in
// row-major order of the reduced dims.
std::vector<std::vector<double>> groups_of(const Tensor& x, const std::vector<bool>& mask) {
  std::vector<double> v = x.to_vector<double>();
  int64_t nout = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!mask[d]) nout *= x.size(d);
  std::vector<std::vector<double>> g(nout);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0, mult = 1;
    for (int64_t d = x.dim() - 1; d >= 0; --d) {
      int64_t k = rem % x.size(d);
      rem /= x.size(d);
      if (!mask[d]) {
        o += k * mult;
        mult *= x.size(d);
      }
    }
    g[o].push_back(v[i]);
  }
  return g;
}

struct RefStats {
  double sum = 0, abs_sum = 0, max = -kInf, min = kInf, lse = 0, var = 0, sq = 0, max_abs = 0;
  double prod = 1;
  int64_t argmax = 0, argmin = 0;
};
// Sums in long double, so that the reference is far more exact than the result.
RefStats stats_of(const std::vector<double>& v) {
  RefStats s;
  long double sum = 0, abs_sum = 0, sq = 0, var = 0, lse = 0, prod = 1;
  bool nan = false;
  for (size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    prod *= v[i];
    abs_sum += std::abs(v[i]);
    sq += static_cast<long double>(v[i]) * v[i];
    s.max_abs = std::max(s.max_abs, std::abs(v[i]));
    if (std::isnan(v[i])) {
      if (!nan) s.argmax = s.argmin = static_cast<int64_t>(i);
      nan = true;
      continue;
    }
    if (nan) continue;
    if (v[i] > s.max) s.max = v[i], s.argmax = static_cast<int64_t>(i);
    if (v[i] < s.min) s.min = v[i], s.argmin = static_cast<int64_t>(i);
  }
  if (nan) s.max = s.min = kNaN;
  long double mean = sum / static_cast<long double>(v.size());
  for (double e : v) {
    var += (e - mean) * (e - mean);
    lse += std::exp(static_cast<long double>(e) - s.max);
  }
  s.sum = static_cast<double>(sum);
  s.abs_sum = static_cast<double>(abs_sum);
  s.sq = static_cast<double>(sq);
  s.prod = static_cast<double>(prod);
  s.var = static_cast<double>(var / (static_cast<long double>(v.size()) - 1));
  s.lse = static_cast<double>(std::log(lse) + s.max);
  return s;
}

::testing::AssertionResult near(double a, double e, double tol) {
  if (std::isnan(e) && std::isnan(a)) return ::testing::AssertionSuccess();
  if (std::abs(a - e) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a << " vs expected " << e << " (tol " << tol << ")";
}

// Inputs of one shape in several layouts: contiguous, permuted, sliced, expanded.
std::vector<std::pair<std::string, Tensor>> layouts(const Shape& shape, DType dt, bool ties,
                                                    Generator& g) {
  auto make = [&](const Shape& s) {
    return ties ? randint(-2, 3, s, {.dtype = kInt64}, &g).to(dt) : randn(s, {.dtype = dt}, &g);
  };
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("contiguous", make(shape));
  Shape rev(shape.rbegin(), shape.rend());
  IntArray perm;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) perm.push_back(d);
  out.emplace_back("permuted", make(rev).permute(perm));
  Shape wide = shape;
  wide.back() *= 2;
  out.emplace_back("sliced", make(wide).slice(static_cast<int64_t>(shape.size()) - 1, 1, std::nullopt, 2));
  Shape one = shape;
  one[0] = 1;
  out.emplace_back("expanded", make(one).expand(shape));
  return out;
}

}  // namespace

TEST(Reduce, AllLayoutsMatchNaiveReference) {
  // Shapes of 32768 elements or more take the parallel paths (at 2 threads).
  const std::vector<Shape> shapes = {{7},         {1000},    {3, 5},       {40, 1000}, {300, 20},
                                     {3, 1, 200}, {12000, 3}, {5, 2, 3, 7}, {2, 33, 17}};
  Generator g(5);
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (DType dt : {kFloat32, kFloat64}) {
      const double eps = dt == kFloat32 ? 2e-6 : 1e-12;
      for (const Shape& shape : shapes) {
        const bool big = shape_numel(shape) >= 32768;
        if ((big && threads == 1) || (!big && threads == 2)) continue;
        const int64_t rank = static_cast<int64_t>(shape.size());
        for (bool ties : {false, true}) {
          for (auto& [what, x] : layouts(shape, dt, ties, g)) {
            // Big inputs: a sample of layouts (they run the same paths as small ones, in parallel).
            if (big && (what == "expanded" || (what == "sliced") != ties)) continue;
            for (int64_t bits = 1; bits < (1 << rank); ++bits) {
              if (rank == 4 && bits % 3 != 0) continue;  // a sample of the 15 masks
              std::vector<bool> mask(rank);
              IntArray dims;
              for (int64_t d = 0; d < rank; ++d)
                if ((mask[d] = (bits >> d) & 1)) dims.push_back(d);
              SCOPED_TRACE(fmt::format("threads {} {} {} {} dims {} ties {}", threads, dtype_name(dt),
                                       shape_str(shape), what, shape_str(dims), ties));
              auto groups = groups_of(x, mask);
              std::vector<RefStats> ref(groups.size());
              for (size_t o = 0; o < groups.size(); ++o) ref[o] = stats_of(groups[o]);
              std::vector<double> s = sum(x, dims).to_vector<double>();
              std::vector<double> mn = mean(x, dims).to_vector<double>();
              std::vector<double> mx = amax(x, dims).to_vector<double>();
              std::vector<double> mi = amin(x, dims).to_vector<double>();
              std::vector<double> vr = var(x, dims).to_vector<double>();
              std::vector<double> ls = logsumexp(x, dims).to_vector<double>();
              std::vector<double> n2 = norm(x, 2, dims).to_vector<double>();
              std::vector<double> n1 = norm(x, 1, dims).to_vector<double>();
              std::vector<double> ni = norm(x, kInf, dims).to_vector<double>();
              std::vector<double> pr = prod(x, dims).to_vector<double>();
              for (size_t o = 0; o < groups.size(); ++o) {
                const RefStats& r = ref[o];
                double n = static_cast<double>(groups[o].size());
                ASSERT_TRUE(near(s[o], r.sum, eps * (r.abs_sum + 1))) << "sum, output " << o;
                ASSERT_TRUE(near(mn[o], r.sum / n, eps * (r.abs_sum / n + 1))) << "mean " << o;
                ASSERT_EQ(mx[o], r.max) << "amax " << o;
                ASSERT_EQ(mi[o], r.min) << "amin " << o;
                ASSERT_TRUE(near(vr[o], r.var, 4 * eps * (r.var + 1))) << "var " << o;
                ASSERT_TRUE(near(ls[o], r.lse, 4 * eps * (std::abs(r.lse) + 1))) << "logsumexp " << o;
                ASSERT_TRUE(near(n2[o], std::sqrt(r.sq), eps * (std::sqrt(r.sq) + 1))) << "norm2 " << o;
                ASSERT_TRUE(near(n1[o], r.abs_sum, eps * (r.abs_sum + 1))) << "norm1 " << o;
                ASSERT_EQ(ni[o], r.max_abs) << "norm inf " << o;
                double pr_ref = dt == kFloat32 ? static_cast<float>(r.prod) : r.prod;  // may overflow
                if (std::isinf(pr_ref)) ASSERT_EQ(pr[o], pr_ref) << "prod " << o;
                else ASSERT_TRUE(near(pr[o], pr_ref, eps * (n + 10) * std::abs(pr_ref) + 1e-36)) << "prod " << o;
              }
              if (dims.size() != 1) continue;
              int64_t d = dims[0];
              auto [vals, idx] = max(x, d);
              std::vector<double> v = vals.to_vector<double>();
              std::vector<int64_t> ix = idx.to_vector<int64_t>();
              std::vector<int64_t> am = argmin(x, d).to_vector<int64_t>();
              for (size_t o = 0; o < groups.size(); ++o) {
                const RefStats& r = ref[o];
                ASSERT_EQ(v[o], r.max) << "max values " << o;
                ASSERT_EQ(ix[o], r.argmax) << "max indices " << o;
                ASSERT_EQ(am[o], r.argmin) << "argmin " << o;
              }
              // softmax / cumsum along d, element by element (groups in the same order).
              auto sm_groups = groups_of(softmax(x, d), mask);
              auto lsm_groups = groups_of(log_softmax(x, d), mask);
              auto cs_groups = groups_of(cumsum(x, d), mask);
              for (size_t o = 0; o < groups.size(); ++o) {
                const RefStats& r = ref[o];
                double run = 0;
                for (size_t k = 0; k < groups[o].size(); ++k) {
                  double e = groups[o][k];
                  run += e;
                  ASSERT_TRUE(near(sm_groups[o][k], std::exp(e - r.lse), 2 * eps)) << "softmax " << o;
                  ASSERT_TRUE(near(lsm_groups[o][k], e - r.lse, 4 * eps * (std::abs(e - r.lse) + 1)))
                      << "log_softmax " << o;
                  ASSERT_TRUE(near(cs_groups[o][k], run, eps * (std::abs(run) + 1))) << "cumsum " << o;
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(Reduce, NaNAnywhereInLongRows) {
  // NaN in the vector body, the tail, and across the thread split.
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (int64_t pos : {0, 17, 40000, 99999}) {
      Tensor x = ones({100000});
      x.data<float>()[pos] = static_cast<float>(kNaN);
      x.data<float>()[50] = 5.0f;
      EXPECT_EQ(argmax(x).item<int64_t>(), pos);
      EXPECT_EQ(argmin(x).item<int64_t>(), pos);
      EXPECT_TRUE(std::isnan(amax(x).item()));
      EXPECT_TRUE(std::isnan(sum(x).item()));
      Tensor cols = x.reshape({1000, 100});
      EXPECT_EQ(max(cols, 0).second[pos % 100].item<int64_t>(), pos / 100);
      EXPECT_TRUE(std::isnan(amin(cols, {0})[pos % 100].item()));
    }
  }
}

// ---- the per-ISA kernels (each is built for baseline, AVX2 and AVX-512)

namespace {

// The reduction table of every ISA level this CPU runs, as the library picks it when the level
// is forced (cpu::set_isa); the automatic choice is restored on return.
std::vector<const cpu::ReduceTable*> tables_here() {
  std::vector<const cpu::ReduceTable*> t;
  for (cpu::Isa level : cpu::supported_isas()) {
    cpu::set_isa(cpu::isa_name(level));
    t.push_back(&cpu::reduce_table());
  }
  cpu::set_isa("");
  return t;
}

template <typename T>
void check_kernels(const cpu::ReduceKernels<T>& k, const char* isa) {
  std::mt19937 rng(7);
  std::normal_distribution<double> nd;
  const double eps = sizeof(T) == 4 ? 1e-6 : 1e-14;
  for (int64_t n : {1, 2, 15, 16, 17, 63, 64, 65, 200, 4099}) {
    SCOPED_TRACE(fmt::format("{} {} n={}", isa, sizeof(T) == 4 ? "f32" : "f64", n));
    std::vector<T> x(n);
    for (T& v : x) v = static_cast<T>(std::round(nd(rng) * 4) / 4);  // quarter steps: ties
    double s = 0, a = 0, sq = 0, se = 0, mx = -kInf, mn = kInf, mxa = 0, mna = kInf;
    int64_t imx = 0, imn = 0;
    for (int64_t i = 0; i < n; ++i) {
      double v = x[i];
      s += v, a += std::abs(v), sq += (v - 0.5) * (v - 0.5);
      if (v > mx) mx = v, imx = i;
      if (v < mn) mn = v, imn = i;
      mxa = std::max(mxa, std::abs(v)), mna = std::min(mna, std::abs(v));
    }
    for (T v : x) se += std::exp(static_cast<double>(v) - mx);
    EXPECT_TRUE(near(k.sum[cpu::kSumPlain](x.data(), n, 0, 1, T(0)), s, eps * (a + 1)));
    EXPECT_TRUE(near(k.sum[cpu::kSumAbs](x.data(), n, 0, 1, T(0)), a, eps * (a + 1)));
    EXPECT_TRUE(near(k.sum[cpu::kSumSqDev](x.data(), n, 0, 1, T(0.5)), sq, eps * (sq + 1)));
    EXPECT_TRUE(near(k.sum[cpu::kSumExpDev](x.data(), n, 0, 1, T(mx)), se, 4 * eps * se));
    std::vector<T> near_one(n);
    long double pr = 1;
    for (int64_t i = 0; i < n; ++i) pr *= near_one[i] = static_cast<T>(1 + x[i] / 64);
    EXPECT_TRUE(near(k.prod(near_one.data(), n), static_cast<double>(pr), eps * (n + 1) * static_cast<double>(pr)));
    EXPECT_EQ(k.ext[cpu::kExtMax](x.data(), n, 0, 1), T(mx));
    EXPECT_EQ(k.ext[cpu::kExtMin](x.data(), n, 0, 1), T(mn));
    EXPECT_EQ(k.ext[cpu::kExtMaxAbs](x.data(), n, 0, 1), T(mxa));
    EXPECT_EQ(k.ext[cpu::kExtMinAbs](x.data(), n, 0, 1), T(mna));
    EXPECT_EQ(k.arg_ext[0](x.data(), n), imx);
    EXPECT_EQ(k.arg_ext[1](x.data(), n), imn);
    std::vector<T> y(n);
    k.cumsum_row[0](x.data(), y.data(), n);
    double run = 0;
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(near(y[i], run += x[i], eps * (a + 1))) << "cumsum " << i;
    k.cumsum_row[1](x.data(), y.data(), n);
    run = 0;
    for (int64_t i = n - 1; i >= 0; --i)
      ASSERT_TRUE(near(y[i], run += x[i], eps * (a + 1))) << "reverse cumsum " << i;
    k.softmax_row(x.data(), y.data(), n, false);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(near(y[i], std::exp(x[i] - mx) / se, 2 * eps)) << "softmax " << i;
    k.softmax_row(x.data(), y.data(), n, true);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(near(y[i], x[i] - mx - std::log(se), 8 * eps)) << "log_softmax " << i;
    // Gradients, with y the log-softmax above and p = exp(y) the softmax.
    std::vector<T> gx(n), p(n), out(n);
    double sg = 0, sgp = 0;
    for (int64_t i = 0; i < n; ++i) {
      gx[i] = static_cast<T>(std::round(nd(rng) * 8) / 8);
      p[i] = static_cast<T>(std::exp(static_cast<double>(y[i])));
      sg += gx[i], sgp += static_cast<double>(gx[i]) * p[i];
    }
    k.softmax_bwd_row[1](gx.data(), y.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(near(out[i], gx[i] - std::exp(static_cast<double>(y[i])) * sg, 8 * eps * (std::abs(sg) + 1)))
          << "log_softmax backward " << i;
    k.softmax_bwd_row[0](gx.data(), p.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(near(out[i], p[i] * (gx[i] - sgp), 8 * eps * (std::abs(sgp) + 1))) << "softmax backward " << i;
    // A NaN late in the row wins max/argmax; the first of two NaNs wins.
    if (n > 3) {
      x[n - 2] = x[n - 1] = static_cast<T>(kNaN);
      EXPECT_TRUE(std::isnan(k.ext[cpu::kExtMax](x.data(), n, 0, 1)));
      EXPECT_TRUE(std::isnan(k.ext[cpu::kExtMinAbs](x.data(), n, 0, 1)));
      EXPECT_EQ(k.arg_ext[0](x.data(), n), n - 2);
      EXPECT_EQ(k.arg_ext[1](x.data(), n), n - 2);
    }
  }
  // Row kernels over a [rows, w] block with row stride w + 3.
  for (int64_t w : {1, 5, 16, 47, 64, 130}) {
    for (int64_t rows : {1, 3, 70}) {
      SCOPED_TRACE(fmt::format("{} rows={} w={}", isa, rows, w));
      const int64_t rs = w + 3;
      std::vector<T> x(rows * rs), c(w);
      for (T& v : x) v = static_cast<T>(std::round(nd(rng) * 4) / 4);
      for (T& v : c) v = static_cast<T>(nd(rng));
      std::vector<double> acc(w, 1.0);
      k.sum_rows[cpu::kSumSqDev](x.data(), rs, rows, w, c.data(), acc.data());
      // The whole block as `rows` runs of w: sums and extremes over all of it.
      double bs = 0, babs = 0, bmax = -kInf;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < w; ++j) {
          bs += x[r * rs + j];
          babs += std::abs(x[r * rs + j]);
          bmax = std::max(bmax, static_cast<double>(x[r * rs + j]));
        }
      EXPECT_TRUE(near(k.sum[cpu::kSumPlain](x.data(), w, rs, rows, T(0)), bs, eps * (babs + 1)));
      EXPECT_TRUE(near(k.sum[cpu::kSumAbs](x.data(), w, rs, rows, T(0)), babs, eps * (babs + 1)));
      EXPECT_EQ(k.ext[cpu::kExtMax](x.data(), w, rs, rows), T(bmax));
      std::vector<double> pacc(w, 2.0);
      k.prod_rows(x.data(), rs, rows, w, pacc.data());
      std::vector<T> ext(w, -std::numeric_limits<T>::infinity());
      k.ext_rows[cpu::kExtMax](x.data(), rs, rows, w, ext.data());
      std::vector<cpu::ValIdx<T>> arg(w, cpu::ValIdx<T>{T(0), -1});
      // Two calls (rows split in halves) must equal one pass: later rows only win when better.
      int64_t half = rows / 2;
      k.arg_ext_rows[1](x.data(), rs, half, w, 0, arg.data());
      k.arg_ext_rows[1](x.data() + half * rs, rs, rows - half, w, half, arg.data());
      std::vector<T> sm(rows * rs, T(0)), sb(rows * rs, T(0));
      k.softmax_cols(x.data(), sm.data(), rows, rs, w, false);
      // softmax backward down the columns with g = x and y = sm.
      k.softmax_bwd_cols[0](x.data(), sm.data(), sb.data(), rows, rs, w);
      for (int64_t j = 0; j < w; ++j) {
        double sq = 1.0, mx = -kInf, mn = kInf, se = 0, pr = 2.0;
        int64_t imn = 0;
        for (int64_t r = 0; r < rows; ++r) {
          double v = x[r * rs + j];
          pr *= v;
          sq += (v - c[j]) * (v - c[j]);
          if (v > mx) mx = v;
          if (v < mn) mn = v, imn = r;
        }
        for (int64_t r = 0; r < rows; ++r) se += std::exp(x[r * rs + j] - mx);
        ASSERT_TRUE(near(acc[j], sq, eps * sq)) << "sum_rows " << j;
        ASSERT_EQ(ext[j], T(mx)) << "ext_rows " << j;
        ASSERT_TRUE(near(pacc[j], pr, eps * rows * std::abs(pr))) << "prod_rows " << j;
        ASSERT_EQ(arg[j].i, imn) << "arg_ext_rows " << j;
        ASSERT_EQ(arg[j].v, T(mn)) << "arg_ext_rows " << j;
        double sgy = 0;
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_TRUE(near(sm[r * rs + j], std::exp(x[r * rs + j] - mx) / se, 2 * eps)) << "softmax_cols";
          sgy += static_cast<double>(x[r * rs + j]) * sm[r * rs + j];
        }
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_TRUE(near(sb[r * rs + j], sm[r * rs + j] * (x[r * rs + j] - sgy), 8 * eps * (std::abs(sgy) + 1)))
              << "softmax_bwd_cols";
      }
    }
  }
}

}  // namespace

TEST(Reduce, EveryIsaKernelMatchesScalarReference) {
  for (const cpu::ReduceTable* t : tables_here()) {
    check_kernels(t->f32, t->name);
    check_kernels(t->f64, t->name);
  }
  EXPECT_GE(tables_here().size(), 1u);
}

// Forcing a level switches the reduction ops to that level's kernels, and every level gives the
// float64 reference's results through the ops (sum, var, amax, softmax over rows and columns).
TEST(Reduce, OpsRunAtEveryForcedIsaLevel) {
  Generator g(11);
  Tensor x = randn({37, 301}, {.dtype = kFloat32}, &g);
  Tensor x64 = x.to(kFloat64);
  struct Ref {
    Tensor sum_rows, sum_cols, var_rows, amax_cols, softmax_rows;
  };
  // The float64 reference, written out with plain loops.
  std::vector<double> v = x64.to_vector<double>();
  const int64_t R = 37, C = 301;
  std::vector<double> srow(R), scol(C), vrow(R), mcol(C, -INFINITY), sm(R * C);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) {
      srow[r] += v[r * C + c];
      scol[c] += v[r * C + c];
      mcol[c] = std::max(mcol[c], v[r * C + c]);
    }
  for (int64_t r = 0; r < R; ++r) {
    double mean = srow[r] / C, ss = 0, mx = -INFINITY, se = 0;
    for (int64_t c = 0; c < C; ++c) {
      ss += (v[r * C + c] - mean) * (v[r * C + c] - mean);
      mx = std::max(mx, v[r * C + c]);
    }
    vrow[r] = ss / (C - 1);
    for (int64_t c = 0; c < C; ++c) se += std::exp(v[r * C + c] - mx);
    for (int64_t c = 0; c < C; ++c) sm[r * C + c] = std::exp(v[r * C + c] - mx) / se;
  }
  auto t64 = [](const std::vector<double>& d, const Shape& s) { return tensor(d, s, {.dtype = kFloat64}); };
  for (cpu::Isa level : cpu::supported_isas()) {
    SCOPED_TRACE(std::string(cpu::isa_name(level)));
    cpu::set_isa(cpu::isa_name(level));
    EXPECT_EQ(std::string(cpu::reduce_table().name), std::string(cpu::isa_name(level)));
    EXPECT_ALL_CLOSE(sum(x, {1}).to(kFloat64), t64(srow, {R}), 1e-4, 1e-5);
    EXPECT_ALL_CLOSE(sum(x, {0}).to(kFloat64), t64(scol, {C}), 1e-4, 1e-5);
    EXPECT_ALL_CLOSE(var(x, {1}).to(kFloat64), t64(vrow, {R}), 1e-5, 1e-5);
    EXPECT_ALL_CLOSE(amax(x, {0}).to(kFloat64), t64(mcol, {C}), 0, 0);
    EXPECT_ALL_CLOSE(softmax(x, 1).to(kFloat64), t64(sm, {R, C}), 1e-7, 1e-5);
    EXPECT_ALL_CLOSE(sum(x64, {1}), t64(srow, {R}), 1e-12, 1e-12);
  }
  cpu::set_isa("");
}
