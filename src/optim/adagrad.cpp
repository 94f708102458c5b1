#include "tandem/optim/adagrad.h"

#include <cmath>

#include "fused.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/ops.h"

namespace tandem::optim {

namespace {

std::map<std::string, double> to_map(const AdagradOptions& o) {
  return {{"lr", o.lr},
          {"lr_decay", o.lr_decay},
          {"weight_decay", o.weight_decay},
          {"initial_accumulator_value", o.initial_accumulator_value},
          {"eps", o.eps}};
}

template <typename T, bool WD>
void adagrad_fused(T* p, const T* g, T* sum, int64_t n, double clr, double eps,
                   double weight_decay) {
  const T e = T(eps), wd = T(weight_decay), neg_clr = T(-clr);
  detail::parallel_range(n, [&](int64_t b, int64_t end) {
#pragma omp simd
    for (int64_t i = b; i < end; ++i) {
      T pi = p[i], gi = g[i];
      if constexpr (WD) gi = gi + wd * pi;
      T si = sum[i] + gi * gi;
      sum[i] = si;
      p[i] = pi + neg_clr * gi / (std::sqrt(si) + e);
    }
  });
}

}  // namespace

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions opts)
    : Adagrad(std::vector<ParamGroup>{{std::move(params), {}}}, opts) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults)
    : Optimizer("Adagrad", to_map(defaults)) {
  init_groups(std::move(groups));
}

void Adagrad::validate_options(const std::map<std::string, double>& o) const {
  TANDEM_CHECK(o.at("lr") >= 0, "Adagrad: invalid learning rate {} (must be >= 0)", o.at("lr"));
  TANDEM_CHECK(o.at("lr_decay") >= 0, "Adagrad: invalid lr_decay {} (must be >= 0)",
               o.at("lr_decay"));
  TANDEM_CHECK(o.at("weight_decay") >= 0, "Adagrad: invalid weight_decay {} (must be >= 0)",
               o.at("weight_decay"));
  TANDEM_CHECK(o.at("initial_accumulator_value") >= 0,
               "Adagrad: invalid initial_accumulator_value {} (must be >= 0)",
               o.at("initial_accumulator_value"));
  TANDEM_CHECK(o.at("eps") >= 0, "Adagrad: invalid eps {} (must be >= 0)", o.at("eps"));
}

std::vector<std::string> Adagrad::state_names(const std::map<std::string, double>&) const {
  return {"sum"};
}

void Adagrad::step() {
  // Its fused loop is not an op: a traced step would silently leave the update out.
  TANDEM_CHECK(!graph::is_tracing(),
               "compile: Adagrad.step() can't be captured yet (its update is not an op); use SGD, "
               "Adam or AdamW in a compiled step, or call step() outside the compiled function");
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    const double lr = opt(group, "lr"), lr_decay = opt(group, "lr_decay"), eps = opt(group, "eps"),
                 weight_decay = opt(group, "weight_decay"),
                 init = opt(group, "initial_accumulator_value");
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
      if (st.tensors.empty()) st.step = 0;
      Tensor& sum = detail::state_tensor(st, "sum", p, init);
      const int64_t t = ++st.step;
      const double clr = lr / (1 + static_cast<double>(t - 1) * lr_decay);
      if (detail::fused_ok(p, g)) {
        TANDEM_DISPATCH_FLOAT(p.dtype(), "Adagrad.step", [&] {
          detail::with_flags(
              [&](auto wd) {
                adagrad_fused<scalar_t, decltype(wd)::value>(p.data<scalar_t>(), g.data<scalar_t>(),
                                                             sum.data<scalar_t>(), p.numel(), clr,
                                                             eps, weight_decay);
              },
              weight_decay != 0);
        });
        p.storage()->bump_version();
        continue;
      }
      // Generic path: PyTorch's _single_tensor_adagrad, op for op.
      if (weight_decay != 0) g = add(g, p, weight_decay);
      sum.add_(mul(g, g));
      Tensor std = sqrt(sum).add_(eps);
      p.add_(div(g, std), -clr);
    }
  }
}

}  // namespace tandem::optim
