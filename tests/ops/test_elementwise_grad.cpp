// Gradcheck cases for the elementwise OpDefs (run by test_registry.cpp), plus
// gradients at the points where PyTorch defines a convention (kinks, ties).
#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

const GradcheckOptions kSecond{.second_order = true};

// Random float64 inputs kept away from 0 (kinks of abs, relu, sign, ...).
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor r = randn(shape, kF64, &g);
  Tensor t = (r + sign(r) * 0.1).detach();
  t.requires_grad_();
  return t;
}
Tensor positive(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t = (rand(shape, kF64, &g) + 0.2).detach();
  t.requires_grad_();
  return t;
}
Tensor dispatch_named(const char* name, const Tensors& in, const Attrs& a = {}) {
  return dispatch1(op(name), in, a);
}

}  // namespace

// ---- arithmetic
TANDEM_GRAD_CASE(add, scalar_left_noncontiguous, [](const Tensors& x) { return 3.0 + x[0] + x[1]; },
                 [] { return Tensors{noncontiguous({3, 4}), randn({4}, kF64g)}; });
TANDEM_GRAD_CASE(sub, broadcast_alpha, [](const Tensors& x) { return sub(x[0], x[1], 1.5); },
                 [] { return Tensors{randn({2, 1, 3}, kF64g), noncontiguous({4, 3})}; }, kSecond);
TANDEM_GRAD_CASE(sub, scalar_left, [](const Tensors& x) { return 1.0 - x[0]; },
                 [] { return Tensors{randn({3}, kF64g)}; });
TANDEM_GRAD_CASE(mul, outer_broadcast, [](const Tensors& x) { return x[0] * x[1]; },
                 [] { return Tensors{randn({3, 1}, kF64g), randn({1, 4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(div, noncontiguous_scalar, [](const Tensors& x) { return x[0] / (x[1] * x[1] + 0.5) / 3.0; },
                 [] { return Tensors{noncontiguous({2, 3}), randn({3}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(pow, tensor_exponent, [](const Tensors& x) { return pow(x[0], x[1]); },
                 [] { return Tensors{positive({2, 3}, 1), randn({3}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(pow, scalar_exponent, [](const Tensors& x) { return pow(x[0], 2.5); },
                 [] { return Tensors{positive({4}, 2)}; }, kSecond);
TANDEM_GRAD_CASE(pow, integer_exponent_negative_base, [](const Tensors& x) { return pow(x[0], 3.0); },
                 [] { return Tensors{noncontiguous({2, 3})}; }, kSecond);
TANDEM_GRAD_CASE(pow, scalar_base, [](const Tensors& x) { return pow(wrap_scalar(2.0), x[0]); },
                 [] { return Tensors{randn({4}, kF64g)}; });
TANDEM_GRAD_CASE(minimum, broadcast, [](const Tensors& x) { return minimum(x[0], x[1]); },
                 [] { return Tensors{randn({2, 3}, kF64g), randn({3}, kF64g)}; });
TANDEM_GRAD_CASE(maximum, noncontiguous, [](const Tensors& x) { return maximum(x[0], x[1]); },
                 [] { return Tensors{noncontiguous({3, 2}), randn({3, 2}, kF64g)}; });
TANDEM_GRAD_CASE(where, broadcast_condition,
                 [](const Tensors& x) { return where(tensor({1.0, 0.0, 1.0}, {.dtype = kBool}), x[0], x[1]); },
                 [] { return Tensors{randn({2, 3}, kF64g), randn({2, 1}, kF64g)}; }, kSecond);

// ---- math functions
TANDEM_GRAD_CASE(exp, basic, [](const Tensors& x) { return exp(x[0]); },
                 [] { return Tensors{noncontiguous({3, 2})}; }, kSecond);
TANDEM_GRAD_CASE(log, basic, [](const Tensors& x) { return log(x[0]); },
                 [] { return Tensors{positive({5}, 3)}; }, kSecond);
TANDEM_GRAD_CASE(log1p, basic, [](const Tensors& x) { return log1p(x[0]); },
                 [] { return Tensors{positive({5}, 4)}; }, kSecond);
TANDEM_GRAD_CASE(sqrt, basic, [](const Tensors& x) { return sqrt(x[0]); },
                 [] { return Tensors{positive({5}, 5)}; }, kSecond);
TANDEM_GRAD_CASE(rsqrt, basic, [](const Tensors& x) { return rsqrt(x[0]); },
                 [] { return Tensors{positive({5}, 6)}; }, kSecond);
TANDEM_GRAD_CASE(abs, away_from_zero, [](const Tensors& x) { return abs(x[0]); },
                 [] { return Tensors{away_from_zero({6}, 7)}; });
TANDEM_GRAD_CASE(sign, zero_gradient, [](const Tensors& x) { return sign(x[0]) * x[0]; },
                 [] { return Tensors{away_from_zero({5}, 8)}; });
TANDEM_GRAD_CASE(sin, basic, [](const Tensors& x) { return sin(x[0]); },
                 [] { return Tensors{randn({5}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(cos, basic, [](const Tensors& x) { return cos(x[0]); },
                 [] { return Tensors{noncontiguous({2, 3})}; }, kSecond);
TANDEM_GRAD_CASE(tanh, basic, [](const Tensors& x) { return tanh(x[0]); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, kSecond);
TANDEM_GRAD_CASE(sigmoid, basic, [](const Tensors& x) { return sigmoid(x[0]); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, kSecond);

// ---- activations
TANDEM_GRAD_CASE(relu, away_from_zero, [](const Tensors& x) { return relu(x[0]); },
                 [] { return Tensors{away_from_zero({3, 4}, 9)}; }, kSecond);
TANDEM_GRAD_CASE(leaky_relu, away_from_zero, [](const Tensors& x) { return leaky_relu(x[0], 0.2); },
                 [] { return Tensors{away_from_zero({3, 4}, 10)}; }, kSecond);
TANDEM_GRAD_CASE(gelu, exact, [](const Tensors& x) { return gelu(x[0]); },
                 [] { return Tensors{noncontiguous({3, 4})}; }, kSecond);
TANDEM_GRAD_CASE(gelu, tanh_approximation, [](const Tensors& x) { return gelu(x[0], "tanh"); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(silu, basic, [](const Tensors& x) { return silu(x[0]); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(softplus, beta_and_threshold, [](const Tensors& x) { return softplus(x[0] * 3.0, 2.0, 4.0); },
                 [] { return Tensors{randn({3, 4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(clamp, both_bounds, [](const Tensors& x) { return clamp(x[0], -0.55, 0.65); },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(clamp, min_only, [](const Tensors& x) { return clamp(x[0], 0.05, std::nullopt); },
                 [] { return Tensors{randn({6}, kF64g)}; });

// ---- fused backward ops, dispatched directly (their own gradients give double backward)
TANDEM_GRAD_CASE(tanh_backward, direct, [](const Tensors& x) { return dispatch_named("tanh_backward", x); },
                 [] { return Tensors{randn({3, 4}, kF64g), noncontiguous({3, 4})}; }, kSecond);
TANDEM_GRAD_CASE(sigmoid_backward, direct,
                 [](const Tensors& x) { return dispatch_named("sigmoid_backward", x); },
                 [] { return Tensors{randn({3, 4}, kF64g), randn({4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(relu_backward, direct, [](const Tensors& x) { return dispatch_named("relu_backward", x); },
                 [] { return Tensors{randn({3, 4}, kF64g), away_from_zero({3, 4}, 11)}; });
TANDEM_GRAD_CASE(gelu_backward, exact, [](const Tensors& x) { return dispatch_named("gelu_backward", x); },
                 [] { return Tensors{randn({3, 4}, kF64g), noncontiguous({3, 4})}; }, kSecond);
TANDEM_GRAD_CASE(gelu_backward, tanh_approximation,
                 [](const Tensors& x) {
                   return dispatch_named("gelu_backward", x, {{"approximate", std::string("tanh")}});
                 },
                 [] { return Tensors{randn({3, 4}, kF64g), randn({3, 4}, kF64g)}; }, kSecond);
TANDEM_GRAD_CASE(silu_backward, direct, [](const Tensors& x) { return dispatch_named("silu_backward", x); },
                 [] { return Tensors{randn({3, 4}, kF64g), randn({3, 4}, kF64g)}; }, kSecond);

// ---- conventions at kinks and ties (values from PyTorch 1.13 autograd)

TEST(ElementwiseGrad, KinksFollowPyTorch) {
  auto grad_of = [](Tensor (*f)(const Tensor&), std::vector<double> v) {
    Tensor x = tensor(v, std::nullopt, kF64g);
    return tandem::grad({f(x).sum()}, {x})[0].to_vector<double>();
  };
  using V = std::vector<double>;
  // torch.relu(tensor([0., 1., 2.])).sum().backward() -> [0, 1, 1]
  EXPECT_EQ(grad_of([](const Tensor& x) { return relu(x); }, {0.0, 1.0, 2.0}), (V{0.0, 1.0, 1.0}));
  // torch.abs(tensor([0., -1., 2.])) -> [0, -1, 1]
  EXPECT_EQ(grad_of([](const Tensor& x) { return abs(x); }, {0.0, -1.0, 2.0}), (V{0.0, -1.0, 1.0}));
  // F.leaky_relu(tensor([0., -1., 2.]), 0.1) -> [0.1, 0.1, 1]
  EXPECT_EQ(grad_of([](const Tensor& x) { return leaky_relu(x, 0.1); }, {0.0, -1.0, 2.0}), (V{0.1, 0.1, 1.0}));
  // torch.clamp(tensor([1., 2.]), 1., 2.): both bounds inclusive -> [1, 1]
  EXPECT_EQ(grad_of([](const Tensor& x) { return clamp(x, 1.0, 2.0); }, {1.0, 2.0, 3.0}), (V{1.0, 1.0, 0.0}));
  // torch.pow(tensor([0., -1., 2.]), 0.) -> zero gradient; pow(x, 2.) -> 2x
  EXPECT_EQ(grad_of([](const Tensor& x) { return pow(x, 0.0); }, {0.0, -1.0, 2.0}), (V{0.0, 0.0, 0.0}));
  EXPECT_EQ(grad_of([](const Tensor& x) { return pow(x, 2.0); }, {0.0, -1.0, 2.0}), (V{0.0, -2.0, 4.0}));
  // torch.sqrt(tensor([0.])) -> inf
  EXPECT_EQ(grad_of([](const Tensor& x) { return sqrt(x); }, {0.0}), (V{std::numeric_limits<double>::infinity()}));
}

TEST(ElementwiseGrad, TiesSplitAndPowAtZeroBase) {
  // torch.maximum(tensor([0., 1.]), tensor([0., 0.])).sum().backward() -> [0.5, 1]
  Tensor x = tensor({0.0, 1.0}, kF64g), y = tensor({0.0, 0.0}, kF64g);
  Tensors g = tandem::grad({maximum(x, y).sum()}, {x, y});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{0.5, 0.0}));
  g = tandem::grad({minimum(x, y).sum()}, {x, y});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{0.5, 0.0}));
  // x=[0,1,2], e=[0,2,-1]: torch gives dx = [0, 2, -0.25], de = [0, 0, log(2)/2]
  Tensor b = tensor({0.0, 1.0, 2.0}, kF64g), e = tensor({0.0, 2.0, -1.0}, kF64g);
  g = tandem::grad({pow(b, e).sum()}, {b, e});
  EXPECT_ALL_CLOSE(g[0], tensor({0.0, 2.0, -0.25}, kF64));
  EXPECT_ALL_CLOSE(g[1], tensor({0.0, 0.0, std::log(2.0) / 2}, kF64));
}

TEST(ElementwiseGrad, FloatGradientsOfMixedDtypes) {
  // A float32 leaf times an int tensor: the gradient is float32, shaped like the leaf.
  Tensor w = tensor({1.0, 2.0}, {.dtype = kFloat32, .requires_grad = true});
  Tensor k = tensor(std::vector<int64_t>{3, 4});
  Tensor g = tandem::grad({(w * k).sum()}, {w})[0];
  EXPECT_EQ(g.dtype(), kFloat32);
  EXPECT_ALL_CLOSE(g, tensor({3.0, 4.0}, {.dtype = kFloat32}));
  // In-place ops on a tensor with history are recorded.
  Tensor a = tensor({1.0, 2.0}, kF64g);
  Tensor b = a * 2.0;
  b.mul_(a);
  b.add_(a, 3.0);
  g = tandem::grad({b.sum()}, {a})[0];  // d/da (2a^2 + 3a) = 4a + 3
  EXPECT_ALL_CLOSE(g, tensor({7.0, 11.0}, kF64));
}
