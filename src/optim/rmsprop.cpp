#include "tandem/optim/rmsprop.h"

#include <cmath>

#include "step_ops.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"

namespace tandem::optim {

namespace {

std::map<std::string, double> to_map(const RMSpropOptions& o) {
  return {{"lr", o.lr},           {"alpha", o.alpha},       {"eps", o.eps},
          {"weight_decay", o.weight_decay}, {"momentum", o.momentum},
          {"centered", o.centered ? 1.0 : 0.0}};
}

template <typename T, bool WD, bool CENTERED, bool MOMENTUM>
void rmsprop_fused(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, double lr, double alpha,
                   double eps, double weight_decay, double momentum) {
  const T a = T(alpha), oma = T(1 - alpha), e = T(eps), wd = T(weight_decay), mom = T(momentum),
          neg_lr = T(-lr);
  detail::parallel_range(n, [&](int64_t b, int64_t end) {
#pragma omp simd
    for (int64_t i = b; i < end; ++i) {
      T pi = p[i], gi = g[i];
      if constexpr (WD) gi = gi + wd * pi;
      T si = sq[i] * a + oma * gi * gi;
      sq[i] = si;
      T avg;
      if constexpr (CENTERED) {
        T gai = ga[i] * a + oma * gi;
        ga[i] = gai;
        avg = std::sqrt(si + T(-1) * gai * gai);
      } else {
        avg = std::sqrt(si);
      }
      avg = avg + e;
      if constexpr (MOMENTUM) {
        T bi = buf[i] * mom + gi / avg;
        buf[i] = bi;
        p[i] = pi + neg_lr * bi;
      } else {
        p[i] = pi + neg_lr * gi / avg;
      }
    }
  });
}

// Input slot of each output of rmsprop_step: param' <- param, then each state' <- its state.
std::vector<int> rmsprop_sources(bool centered, bool momentum) {
  std::vector<int> src{0, 2};
  if (centered) src.push_back(3);
  if (momentum) src.push_back(4);
  return src;
}

// NOTE: while tandem::compile traces, step() goes through the "rmsprop_step" op: the fused
// loop above on copies of the param and its state, copied back (recorded as variable updates).
// The learning rate reaches it through a float64 tensor that a prologue refreshes before every
// compiled run, so schedules are not baked in.
void rmsprop_step_kernel(const KernelArgs& k) {
  const Attrs& a = k.attrs;
  const double alpha = a.get<double>("alpha"), eps = a.get<double>("eps"),
               weight_decay = a.get<double>("weight_decay"), momentum = a.get<double>("momentum");
  const bool centered = a.get<bool>("centered");
  const std::vector<int> src = rmsprop_sources(centered, momentum > 0);
  if (detail::begin_step(k, src, rmsprop_step_kernel)) return;
  const double lr = k.inputs[5].data<double>()[0];
  const Tensor& p = k.inputs[0];
  const Tensor* ga = centered ? &k.outputs[2] : nullptr;
  const Tensor* buf = momentum > 0 ? &k.outputs[centered ? 3 : 2] : nullptr;
  TANDEM_DISPATCH_FLOAT(p.dtype(), "rmsprop_step", [&] {
    detail::with_flags(
        [&](auto wd, auto cen, auto mom) {
          rmsprop_fused<scalar_t, decltype(wd)::value, decltype(cen)::value, decltype(mom)::value>(
              k.outputs[0].data<scalar_t>(), k.inputs[1].data<scalar_t>(),
              k.outputs[1].data<scalar_t>(), ga ? ga->data<scalar_t>() : nullptr,
              buf ? buf->data<scalar_t>() : nullptr, p.numel(), lr, alpha, eps, weight_decay,
              momentum);
        },
        weight_decay != 0, centered, momentum > 0);
  });
}

void traced_rmsprop_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                         Optimizer::ParamState& st) {
  const std::map<std::string, double> baked = opt.param_groups()[gi].options;
  const double momentum = baked.at("momentum");
  const bool centered = baked.at("centered") != 0;
  auto refresh = [](double* h, const std::map<std::string, double>& o, Optimizer::ParamState& s) {
    if (s.tensors.empty()) s.step = 0;  // fresh state, as in the eager step
    ++s.step;
    h[0] = o.at("lr");
  };
  auto state = [&] {
    return detail::NamedTensors{
        {"square_avg", detail::state_tensor(st, "square_avg", p)},
        {"grad_avg", centered ? detail::state_tensor(st, "grad_avg", p) : Tensor()},
        {"momentum_buffer", momentum > 0 ? detail::state_tensor(st, "momentum_buffer", p) : Tensor()}};
  };
  detail::traced_step(opt, gi, p, g, st, "rmsprop_step", 1, refresh, state,
                      {{"alpha", baked.at("alpha")}, {"eps", baked.at("eps")},
                       {"weight_decay", baked.at("weight_decay")}, {"momentum", momentum},
                       {"centered", centered}},
                      {"alpha", "eps", "weight_decay", "momentum", "centered"});
}

const detail::StepOpSpec kRMSpropStep{
    .name = "rmsprop_step",
    .doc = "One RMSprop update: rmsprop_step(param, grad, square_avg, grad_avg?, "
           "momentum_buffer?, hyper) -> (param', square_avg', grad_avg'?, momentum_buffer'?); "
           "hyper is float64 [lr]; attrs alpha, eps, weight_decay, momentum, centered "
           "(grad_avg when centered, momentum_buffer when momentum > 0). The optimizer's fused "
           "loop (tandem::compile).",
    .num_state = 3,
    .hyper_size = 1,
    .optional_inputs = {3, 4},
    .state_used =
        [](const Attrs& a) {
          return std::vector<bool>{true, a.get<bool>("centered"), a.get<double>("momentum") > 0};
        },
    .kernel = rmsprop_step_kernel,
};

}  // namespace

namespace detail {
void register_rmsprop_step_op() { register_step_op<kRMSpropStep>(); }
}  // namespace detail

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions opts)
    : RMSprop(std::vector<ParamGroup>{{std::move(params), {}}}, opts) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults)
    : Optimizer("RMSprop", to_map(defaults)) {
  init_groups(std::move(groups));
}

void RMSprop::validate_options(const std::map<std::string, double>& o) const {
  TANDEM_CHECK(o.at("lr") >= 0, "RMSprop: invalid learning rate {} (must be >= 0)", o.at("lr"));
  TANDEM_CHECK(o.at("eps") >= 0, "RMSprop: invalid eps {} (must be >= 0)", o.at("eps"));
  TANDEM_CHECK(o.at("momentum") >= 0, "RMSprop: invalid momentum {} (must be >= 0)",
               o.at("momentum"));
  TANDEM_CHECK(o.at("weight_decay") >= 0, "RMSprop: invalid weight_decay {} (must be >= 0)",
               o.at("weight_decay"));
  TANDEM_CHECK(o.at("alpha") >= 0, "RMSprop: invalid alpha {} (must be >= 0)", o.at("alpha"));
}

std::vector<std::string> RMSprop::state_names(const std::map<std::string, double>& o) const {
  std::vector<std::string> names{"square_avg"};
  if (o.at("momentum") > 0) names.push_back("momentum_buffer");
  if (o.at("centered") != 0) names.push_back("grad_avg");
  return names;
}

void RMSprop::step() {
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    const double lr = opt(group, "lr"), alpha = opt(group, "alpha"), eps = opt(group, "eps"),
                 weight_decay = opt(group, "weight_decay"), momentum = opt(group, "momentum");
    const bool centered = opt(group, "centered") != 0;
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
      if (graph::is_tracing()) {
        traced_rmsprop_step(*this, static_cast<size_t>(&group - param_groups().data()), p, g, st);
        continue;
      }
      if (st.tensors.empty()) st.step = 0;
      Tensor& sq = detail::state_tensor(st, "square_avg", p);
      Tensor buf, ga;
      if (momentum > 0) buf = detail::state_tensor(st, "momentum_buffer", p);
      if (centered) ga = detail::state_tensor(st, "grad_avg", p);
      ++st.step;
      if (detail::fused_ok(p, g)) {
        TANDEM_DISPATCH_FLOAT(p.dtype(), "RMSprop.step", [&] {
          detail::with_flags(
              [&](auto wd, auto cen, auto mom) {
                rmsprop_fused<scalar_t, decltype(wd)::value, decltype(cen)::value, decltype(mom)::value>(
                    p.data<scalar_t>(), g.data<scalar_t>(), sq.data<scalar_t>(),
                    centered ? ga.data<scalar_t>() : nullptr,
                    momentum > 0 ? buf.data<scalar_t>() : nullptr, p.numel(), lr, alpha, eps,
                    weight_decay, momentum);
              },
              weight_decay != 0, centered, momentum > 0);
        });
        p.storage()->bump_version();
        continue;
      }
      // Generic path: PyTorch's _single_tensor_rmsprop, op for op.
      if (weight_decay != 0) g = add(g, p, weight_decay);
      sq.mul_(alpha).add_(g * (1 - alpha) * g);  // addcmul's order: (value * g) * g
      Tensor avg;
      if (centered) {
        ga.mul_(alpha).add_(g, 1 - alpha);
        avg = sqrt(sub(sq, mul(ga, ga)));
      } else {
        avg = sqrt(sq);
      }
      avg.add_(eps);
      if (momentum > 0) {
        buf.mul_(momentum).add_(div(g, avg));
        p.add_(buf, -lr);
      } else {
        p.add_(div(g, avg), -lr);
      }
    }
  }
}

}  // namespace tandem::optim
