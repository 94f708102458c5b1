#include "grad_cases.h"

using namespace tandem;
using namespace tandem::testing;

TANDEM_GRAD_CASE(to, f64_to_f32_and_back,
                 [](const Tensors& x) { return x[0].to(kFloat32).to(kFloat64) * x[0]; },
                 [] { return Tensors{randn({4}, kF64g)}; }, GradcheckOptions{.eps = 1e-3, .atol = 1e-3});
TANDEM_GRAD_CASE(clone, noncontiguous, [](const Tensors& x) { return x[0].clone() * x[0]; },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(copy, broadcast_source,
                 [](const Tensors& x) {
                   Tensor dst = zeros({2, 3}, {.dtype = kFloat64});
                   dst.copy_(x[0]);
                   return dst * 2.0;
                 },
                 [] { return Tensors{randn({3}, kF64g)}; });
TANDEM_GRAD_CASE(fill, zero_gradient,
                 [](const Tensors& x) {
                   Tensor y = x[0] * 1.0;
                   y.fill_(2.0);
                   return y + x[0];
                 },
                 [] { return Tensors{randn({3}, kF64g)}; });
TANDEM_GRAD_CASE(reshape, noncontiguous_copy, [](const Tensors& x) { return x[0].reshape({12}); },
                 [] { return Tensors{noncontiguous({3, 4})}; });
TANDEM_GRAD_CASE(permute, three_d, [](const Tensors& x) { return x[0].permute({2, 0, 1}); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g)}; });
TANDEM_GRAD_CASE(slice, strided, [](const Tensors& x) { return x[0].slice(1, 1, std::nullopt, 2); },
                 [] { return Tensors{randn({3, 5}, kF64g)}; });
TANDEM_GRAD_CASE(slice_backward, double_backward,
                 [](const Tensors& x) {
                   Tensor g = tandem::grad({(x[0].slice(0, 1, 3) * x[0].slice(0, 1, 3)).sum()},
                                           {x[0]}, {}, true, true)[0];
                   return g;
                 },
                 [] { return Tensors{randn({4}, kF64g)}; });
TANDEM_GRAD_CASE(expand, broadcast_new_dims, [](const Tensors& x) { return x[0].expand({2, 3, 4}); },
                 [] { return Tensors{randn({3, 1}, kF64g)}; });
TANDEM_GRAD_CASE(add, broadcast, [](const Tensors& x) { return add(x[0], x[1], 2.5); },
                 [] { return Tensors{randn({2, 3}, kF64g), randn({3}, kF64g)}; });
TANDEM_GRAD_CASE(mul, noncontiguous, [](const Tensors& x) { return x[0] * x[1]; },
                 [] { return Tensors{noncontiguous({3, 4}), randn({3, 4}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(div, broadcast, [](const Tensors& x) { return x[0] / (x[1] * x[1] + 1.0); },
                 [] { return Tensors{randn({2, 3}, kF64g), randn({2, 1}, kF64g)}; },
                 GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(neg, basic, [](const Tensors& x) { return -x[0]; },
                 [] { return Tensors{randn({5}, kF64g)}; });
TANDEM_GRAD_CASE(sum, dims_keepdim, [](const Tensors& x) { return x[0].sum({0, 2}, true); },
                 [] { return Tensors{randn({2, 3, 4}, kF64g)}; });
