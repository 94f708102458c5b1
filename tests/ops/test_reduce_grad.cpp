// Gradients of the reductions: gradchecks (first and second order) for every op,
// and hand/PyTorch checks of how max-like gradients are shared.
#include <cmath>
#include <functional>
#include <limits>

#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
Tensor f64(const std::vector<double>& v, const Shape& s) { return tensor(v, s, {.dtype = kFloat64}); }
}  // namespace

TANDEM_GRAD_CASE(sum, noncontiguous_all, [](const Tensors& x) { return sum(x[0]); },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(mean, noncontiguous_keepdim, [](const Tensors& x) { return mean(x[0], {0, 2}, true); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; });
TANDEM_GRAD_CASE(mean, dims_no_keepdim, [](const Tensors& x) { return mean(x[0], {1}) * x[0].select(1, 0); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(prod, noncontiguous_dims, [](const Tensors& x) { return prod(x[0], {0, 2}); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; });
TANDEM_GRAD_CASE(prod, zeros, [](const Tensors& x) { return prod(x[0], {1}, true); },
                 [] {
                   // Row 0: no zero; row 1: one zero; row 2: two zeros.
                   return Tensors{tensor(std::vector<double>{1.5, -2, 0.5, 3, 0, 2, 0, 0.7, 0}, Shape{3, 3}, kF64g)};
                 });
TANDEM_GRAD_CASE(amax, noncontiguous_dims, [](const Tensors& x) { return amax(x[0], {0, 2}); },
                 [] { return Tensors{noncontiguous({3, 2, 4})}; });
TANDEM_GRAD_CASE(amax, all_via_max, [](const Tensors& x) { return max(x[0]) * x[0]; },
                 [] { return Tensors{randn({5}, kF64g)}; });
TANDEM_GRAD_CASE(amin, keepdim, [](const Tensors& x) { return amin(x[0], {1}, true); },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(max, noncontiguous, [](const Tensors& x) { return max(x[0], 0).first; },
                 [] { return Tensors{noncontiguous({4, 3})}; });
TANDEM_GRAD_CASE(max, keepdim, [](const Tensors& x) { return max(x[0], -1, true).first * x[0]; },
                 [] { return Tensors{randn({2, 3, 4}, kF64g)}; });
TANDEM_GRAD_CASE(min, dim1, [](const Tensors& x) { return min(x[0], 1).first; },
                 [] { return Tensors{noncontiguous({2, 5, 3})}; });
TANDEM_GRAD_CASE(var, noncontiguous_dims, [](const Tensors& x) { return var(x[0], {0, 2}); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(var, correction0_keepdim, [](const Tensors& x) { return var(x[0], {1}, 0, true); },
                 [] { return Tensors{randn({3, 5}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(std, dims, [](const Tensors& x) { return tandem::std(x[0], {1}); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(std, all_keepdim, [](const Tensors& x) { return tandem::std(x[0], {}, 1, true); },
                 [] { return Tensors{randn({2, 3}, kF64g)}; });
TANDEM_GRAD_CASE(logsumexp, noncontiguous_dims, [](const Tensors& x) { return logsumexp(x[0], {0, 2}); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(logsumexp, keepdim, [](const Tensors& x) { return logsumexp(x[0], {1}, true); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(norm, p2_noncontiguous, [](const Tensors& x) { return norm(x[0], 2, {0, 2}); },
                 [] { return Tensors{noncontiguous({2, 3, 4})}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(norm, p1, [](const Tensors& x) { return norm(x[0], 1, {1}, true); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; });
TANDEM_GRAD_CASE(norm, inf, [](const Tensors& x) { return norm(x[0], kInf, {1}); },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(softmax, last_dim, [](const Tensors& x) { return softmax(x[0], -1); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(softmax, middle_dim, [](const Tensors& x) { return softmax(x[0], 1); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(log_softmax, last_dim, [](const Tensors& x) { return log_softmax(x[0], 1); },
                 [] { return Tensors{noncontiguous({3, 5})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(log_softmax, first_dim, [](const Tensors& x) { return log_softmax(x[0], 0); },
                 [] { return Tensors{randn({3, 2, 2}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(cumsum, noncontiguous, [](const Tensors& x) { return cumsum(x[0], 0); },
                 [] { return Tensors{noncontiguous({4, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(cumsum, last_dim, [](const Tensors& x) { return cumsum(x[0], -1) * x[0]; },
                 [] { return Tensors{randn({2, 3, 4}, kF64g)}; }, GradcheckOptions{.second_order = true});

TEST(ReduceGrad, AmaxSharesTiesEvenlyMaxDimPicksTheIndex) {
  // torch: x=[1,3,3]; x.amax().backward() -> [0, .5, .5]; x.max(0).values.backward() -> [0, 1, 0]
  Tensor x = tensor({1, 3, 3}, {.dtype = kFloat64, .requires_grad = true});
  amax(x).backward();
  EXPECT_ALL_CLOSE(x.grad(), f64({0, 0.5, 0.5}, {3}));
  Tensor y = tensor({1, 3, 3}, {.dtype = kFloat64, .requires_grad = true});
  max(y, 0).first.backward();
  EXPECT_ALL_CLOSE(y.grad(), f64({0, 1, 0}, {3}));
  Tensor z = tensor({1, 3, 3}, {.dtype = kFloat64, .requires_grad = true});
  max(z).backward();
  EXPECT_ALL_CLOSE(z.grad(), f64({0, 0.5, 0.5}, {3}));
}

TEST(ReduceGrad, StdOfConstantHasZeroGradient) {
  // torch.tensor([2.,2.], requires_grad=True).tandem::std().backward() -> grad [0, 0]
  Tensor x = tensor({2, 2}, {.dtype = kFloat64, .requires_grad = true});
  tandem::std(x).backward();
  EXPECT_ALL_CLOSE(x.grad(), f64({0, 0}, {2}));
  Tensor z = tensor({0, 0}, {.dtype = kFloat64, .requires_grad = true});
  norm(z).backward();
  EXPECT_ALL_CLOSE(z.grad(), f64({0, 0}, {2}));
}

TEST(ReduceGrad, Float32GradientsKeepTheirDtype) {
  Tensor x = randn({4, 5}).requires_grad_();
  (softmax(x, 1) * log_softmax(x, 0)).sum().backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  EXPECT_EQ(x.grad().shape(), (Shape{4, 5}));
}

// The fused softmax gradients, through double and triple differentiation.
TANDEM_GRAD_CASE(softmax_backward, via_grad,
                 [](const Tensors& x) {
                   return tandem::grad({softmax(x[0], 1)}, {x[0]}, {x[1]}, true, true)[0];
                 },
                 [] { return Tensors{noncontiguous({3, 4}), randn({3, 4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(softmax_backward, middle_dim,
                 [](const Tensors& x) {
                   return tandem::grad({softmax(x[0], 1)}, {x[0]}, {x[1]}, true, true)[0];
                 },
                 [] { return Tensors{randn({2, 3, 4}, kF64g), randn({2, 3, 4}, kF64g)}; });
TANDEM_GRAD_CASE(log_softmax_backward, via_grad,
                 [](const Tensors& x) {
                   return tandem::grad({log_softmax(x[0], -1)}, {x[0]}, {x[1]}, true, true)[0];
                 },
                 [] { return Tensors{noncontiguous({3, 4}), randn({3, 4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(log_softmax_backward, first_dim,
                 [](const Tensors& x) {
                   return tandem::grad({log_softmax(x[0], 0)}, {x[0]}, {x[1]}, true, true)[0];
                 },
                 [] { return Tensors{randn({3, 2, 5}, kF64g), noncontiguous({3, 2, 5})}; });

TEST(ReduceGrad, SoftmaxGradientsMatchTorch) {
  // x = torch.tensor([[0.5,-1.,2.],[0.,3.,-2.]], requires_grad=True); g = [[1.,2.,-1.],[0.5,0.,1.]]
  // torch.autograd.grad(torch.softmax(x,1), x, g) and (torch.log_softmax(x,0), x, g)
  for (DType t : {kFloat64, kFloat32}) {
    Tensor x = f64({0.5, -1, 2, 0, 3, -2}, {2, 3}).to(t).requires_grad_();
    Tensor g = f64({1, 2, -1, 0.5, 0, 1}, {2, 3}).to(t);
    double tol = t == kFloat64 ? 1e-12 : 1e-6;
    EXPECT_ALL_CLOSE(tandem::grad({softmax(x, 1)}, {x}, {g})[0],
                     f64({0.26855916620818354, 0.09903622303604824, -0.3675953892442318,
                          0.022150872322435566, -0.02833739736335158, 0.00618652504091601},
                         {2, 3}),
                     tol, tol);
    EXPECT_ALL_CLOSE(tandem::grad({log_softmax(x, 0)}, {x}, {g})[0],
                     f64({0.06631100319721811, 1.964027580075817, -1.0, -0.06631100319721811,
                          -1.964027580075817, 1.0},
                         {2, 3}),
                     tol, tol);
  }
}
TANDEM_GRAD_CASE(norm, p3, [](const Tensors& x) { return norm(x[0], 3, {0}); },
                 [] { return Tensors{noncontiguous({4, 3})}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(norm, p1_5_all, [](const Tensors& x) { return norm(x[0], 1.5); },
                 [] { return Tensors{randn({2, 3}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(norm, p0_5, [](const Tensors& x) { return norm(x[0], 0.5, {1}); },
                 [] { return Tensors{randn({2, 3}, kF64g)}; });

TEST(ReduceGrad, NormAndProdGradientsAtZerosAndTiesMatchTorch) {
  auto grad_of = [](std::vector<double> v, const std::function<Tensor(const Tensor&)>& f) {
    Tensor x = tensor(v, Shape{static_cast<int64_t>(v.size())}, kF64g);
    f(x).backward();
    return x.grad();
  };
  // x = torch.tensor(v, dtype=torch.float64, requires_grad=True); torch.norm(x, p).backward(); x.grad
  EXPECT_ALL_CLOSE(grad_of({0, 3, -4}, [](const Tensor& x) { return norm(x, 0.5); }),
                   f64({0.0, 2.154700538379252, -1.8660254037844386}, {3}), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(grad_of({3, -3, 1}, [](const Tensor& x) { return norm(x, kInf); }), f64({0.5, -0.5, 0}, {3}));
  EXPECT_ALL_CLOSE(grad_of({0, 3, -4}, [](const Tensor& x) { return norm(x, 1.5); }),
                   f64({0.0, 0.7329564758289748, -0.8463452372482761}, {3}), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(grad_of({0, 0}, [](const Tensor& x) { return norm(x, 3); }), f64({0, 0}, {2}));
  EXPECT_ALL_CLOSE(grad_of({0, 2, -1}, [](const Tensor& x) { return norm(x, 1); }), f64({0, 1, -1}, {3}));
  // x.prod().backward(): two zeros -> all 0; one zero -> the product of the others there
  EXPECT_ALL_CLOSE(grad_of({0, 2, 0}, [](const Tensor& x) { return prod(x); }), f64({0, 0, 0}, {3}));
  EXPECT_ALL_CLOSE(grad_of({1, 2, 0}, [](const Tensor& x) { return prod(x); }), f64({0, 0, 2}, {3}));
}
