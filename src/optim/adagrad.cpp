#include "tandem/optim/adagrad.h"

#include <cmath>

#include "step_ops.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"
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

// The step's learning rate, lr / (1 + (t - 1) * lr_decay) for step t (counted from 1).
double adagrad_clr(double lr, double lr_decay, int64_t t) {
  return lr / (1 + static_cast<double>(t - 1) * lr_decay);
}

// NOTE: while tandem::compile traces, step() goes through the "adagrad_step" op: the fused
// loop above on copies of the param and its sum, copied back (recorded as variable updates).
// The step's learning rate (from lr, lr_decay and the step count) reaches it through a float64
// tensor that a prologue refreshes before every compiled run, so schedules are not baked in.
void adagrad_step_kernel(const KernelArgs& k) {
  if (detail::begin_step(k, {0, 2}, adagrad_step_kernel)) return;
  const double eps = k.attrs.get<double>("eps"), weight_decay = k.attrs.get<double>("weight_decay");
  const double clr = k.inputs[3].data<double>()[0];
  const Tensor& p = k.inputs[0];
  TANDEM_DISPATCH_FLOAT(p.dtype(), "adagrad_step", [&] {
    detail::with_flags(
        [&](auto wd) {
          adagrad_fused<scalar_t, decltype(wd)::value>(
              k.outputs[0].data<scalar_t>(), k.inputs[1].data<scalar_t>(),
              k.outputs[1].data<scalar_t>(), p.numel(), clr, eps, weight_decay);
        },
        weight_decay != 0);
  });
}

void traced_adagrad_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                         Optimizer::ParamState& st) {
  const std::map<std::string, double> baked = opt.param_groups()[gi].options;
  // lr and lr_decay are read on every run: neither is baked into the graph.
  auto refresh = [](double* h, const std::map<std::string, double>& o, Optimizer::ParamState& s) {
    if (s.tensors.empty()) s.step = 0;  // fresh state, as in the eager step
    h[0] = adagrad_clr(o.at("lr"), o.at("lr_decay"), ++s.step);
  };
  // initial_accumulator_value only fills a new sum (here, at trace time), as in eager steps.
  auto state = [&] {
    return detail::NamedTensors{
        {"sum", detail::state_tensor(st, "sum", p, baked.at("initial_accumulator_value"))}};
  };
  detail::traced_step(opt, gi, p, g, st, "adagrad_step", 1, refresh, state,
                      {{"eps", baked.at("eps")}, {"weight_decay", baked.at("weight_decay")}},
                      {"eps", "weight_decay"});
}

const detail::StepOpSpec kAdagradStep{
    .name = "adagrad_step",
    .doc = "One Adagrad update: adagrad_step(param, grad, sum, hyper) -> (param', sum'); hyper "
           "is float64 [lr / (1 + (step - 1) * lr_decay)]; attrs eps, weight_decay. The "
           "optimizer's fused loop (tandem::compile).",
    .num_state = 1,
    .hyper_size = 1,
    .kernel = adagrad_step_kernel,
};

}  // namespace

namespace detail {
void register_adagrad_step_op() { register_step_op<kAdagradStep>(); }
}  // namespace detail

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
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    const double lr = opt(group, "lr"), lr_decay = opt(group, "lr_decay"), eps = opt(group, "eps"),
                 weight_decay = opt(group, "weight_decay"),
                 init = opt(group, "initial_accumulator_value");
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
      if (graph::is_tracing()) {
        traced_adagrad_step(*this, static_cast<size_t>(&group - param_groups().data()), p, g, st);
        continue;
      }
      if (st.tensors.empty()) st.step = 0;
      Tensor& sum = detail::state_tensor(st, "sum", p, init);
      const int64_t t = ++st.step;
      const double clr = adagrad_clr(lr, lr_decay, t);
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
