#include "tandem/optim/adam.h"

#include <cmath>

#include "step_ops.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"
#include "tandem/ops.h"

namespace tandem::optim {

namespace {

template <class O>
std::map<std::string, double> to_map(const O& o) {
  return {{"lr", o.lr},       {"beta1", o.beta1},
          {"beta2", o.beta2}, {"eps", o.eps},
          {"weight_decay", o.weight_decay}, {"amsgrad", o.amsgrad ? 1.0 : 0.0}};
}

struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay, step_size, bc2_sqrt;
  bool amsgrad, decoupled;
};

template <typename T, bool L2, bool DECOUPLED, bool AMSGRAD>
void adam_fused(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s) {
  const T b1 = T(s.beta1), omb1 = T(1 - s.beta1), b2 = T(s.beta2), omb2 = T(1 - s.beta2);
  const T wd = T(s.weight_decay), decay = T(1 - s.lr * s.weight_decay);
  const T bc2s = T(s.bc2_sqrt), eps = T(s.eps), neg_step = T(-s.step_size);
  detail::parallel_range(n, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T pi = p[i], gi = g[i];
      if constexpr (DECOUPLED) pi = pi * decay;
      if constexpr (L2) gi = gi + wd * pi;
      T mi = m[i] * b1 + omb1 * gi;
      T vi = v[i] * b2 + omb2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      T vh = vi;
      if constexpr (AMSGRAD) {
        T mx = vmax[i];
        vh = ((vi > mx) | (vi != vi)) ? vi : mx;  // torch.maximum: NaN propagates
        vmax[i] = vh;
      }
      T den = std::sqrt(vh) / bc2s + eps;
      p[i] = pi + neg_step * mi / den;
    }
  });
}

// NOTE: while tandem::compile traces, step() goes through the "adam_step" op: the fused loop
// above on copies of param and moments, copied back (recorded as variable updates). The
// host-side scalars (lr, lr / bias_correction1, sqrt(bias_correction2), from the step count)
// reach it through a float64 tensor that a prologue refreshes before every compiled run.
void adam_step_kernel(const KernelArgs& k) {
  if (detail::begin_step(k, {0, 2, 3, 4}, adam_step_kernel)) return;
  const Attrs& a = k.attrs;
  const double* h = k.inputs[5].data<double>();
  AdamScalars s{};
  s.lr = h[0];
  s.step_size = h[1];
  s.bc2_sqrt = h[2];
  s.beta1 = a.get<double>("beta1");
  s.beta2 = a.get<double>("beta2");
  s.eps = a.get<double>("eps");
  s.weight_decay = a.get<double>("weight_decay");
  s.amsgrad = a.get<bool>("amsgrad");
  s.decoupled = a.get<bool>("decoupled");
  const Tensor& p = k.inputs[0];
  TANDEM_DISPATCH_FLOAT(p.dtype(), "adam_step", [&] {
    detail::with_flags(
        [&](auto l2, auto dec, auto ams) {
          adam_fused<scalar_t, decltype(l2)::value, decltype(dec)::value, decltype(ams)::value>(
              k.outputs[0].data<scalar_t>(), k.inputs[1].data<scalar_t>(),
              k.outputs[1].data<scalar_t>(), k.outputs[2].data<scalar_t>(),
              s.amsgrad ? k.outputs[3].data<scalar_t>() : nullptr, p.numel(), s);
        },
        !s.decoupled && s.weight_decay != 0, s.decoupled, s.amsgrad);
  });
}

void traced_adam_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                      Optimizer::ParamState& st, bool decoupled) {
  const std::map<std::string, double> baked = opt.param_groups()[gi].options;
  auto refresh = [](double* h, const std::map<std::string, double>& o, Optimizer::ParamState& s) {
    if (s.tensors.empty()) s.step = 0;  // fresh state, as in the eager step
    const auto t = static_cast<double>(++s.step);
    h[0] = o.at("lr");
    h[1] = o.at("lr") / (1 - std::pow(o.at("beta1"), t));
    h[2] = std::sqrt(1 - std::pow(o.at("beta2"), t));
  };
  const bool amsgrad = baked.at("amsgrad") != 0;
  auto state = [&] {
    return detail::NamedTensors{
        {"exp_avg", detail::state_tensor(st, "exp_avg", p)},
        {"exp_avg_sq", detail::state_tensor(st, "exp_avg_sq", p)},
        {"max_exp_avg_sq", amsgrad ? detail::state_tensor(st, "max_exp_avg_sq", p) : Tensor()}};
  };
  detail::traced_step(opt, gi, p, g, st, "adam_step", 3, refresh, state,
                      {{"beta1", baked.at("beta1")}, {"beta2", baked.at("beta2")},
                       {"eps", baked.at("eps")}, {"weight_decay", baked.at("weight_decay")},
                       {"amsgrad", amsgrad}, {"decoupled", decoupled}},
                      {"beta1", "beta2", "eps", "weight_decay", "amsgrad"});
}

const detail::StepOpSpec kAdamStep{
    .name = "adam_step",
    .doc = "One Adam/AdamW update: adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq?, "
           "hyper) -> (param', exp_avg', exp_avg_sq', max_exp_avg_sq'?); hyper is float64 [lr, "
           "lr / bias_correction1, sqrt(bias_correction2)]; attrs beta1, beta2, eps, "
           "weight_decay, amsgrad, decoupled. The optimizer's fused loop (tandem::compile).",
    .num_state = 3,
    .hyper_size = 3,
    .optional_inputs = {4},
    .state_used = [](const Attrs& a) { return std::vector<bool>{true, true, a.get<bool>("amsgrad")}; },
    .kernel = adam_step_kernel,
};

}  // namespace

namespace detail {
void register_adam_step_op() { register_step_op<kAdamStep>(); }
}  // namespace detail

Adam::Adam(std::vector<Tensor> params, AdamOptions opts)
    : Adam(std::vector<ParamGroup>{{std::move(params), {}}}, opts) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions defaults) : Optimizer("Adam", to_map(defaults)) {
  init_groups(std::move(groups));
}

Adam::Adam(std::string name, std::map<std::string, double> defaults)
    : Optimizer(std::move(name), std::move(defaults)) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions opts)
    : AdamW(std::vector<ParamGroup>{{std::move(params), {}}}, opts) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions defaults) : Adam("AdamW", to_map(defaults)) {
  init_groups(std::move(groups));
}

void Adam::validate_options(const std::map<std::string, double>& o) const {
  const std::string& n = name();
  TANDEM_CHECK(o.at("lr") >= 0, "{}: invalid learning rate {} (must be >= 0)", n, o.at("lr"));
  TANDEM_CHECK(o.at("eps") >= 0, "{}: invalid eps {} (must be >= 0)", n, o.at("eps"));
  TANDEM_CHECK(o.at("beta1") >= 0 && o.at("beta1") < 1,
               "{}: invalid beta1 {} (betas must be in [0, 1))", n, o.at("beta1"));
  TANDEM_CHECK(o.at("beta2") >= 0 && o.at("beta2") < 1,
               "{}: invalid beta2 {} (betas must be in [0, 1))", n, o.at("beta2"));
  TANDEM_CHECK(o.at("weight_decay") >= 0, "{}: invalid weight_decay {} (must be >= 0)", n,
               o.at("weight_decay"));
}

std::vector<std::string> Adam::state_names(const std::map<std::string, double>& o) const {
  if (o.at("amsgrad") != 0) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

void Adam::step() { step_impl(false); }
void AdamW::step() { step_impl(true); }

void Adam::step_impl(bool decoupled) {
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    AdamScalars s{};
    s.lr = opt(group, "lr");
    s.beta1 = opt(group, "beta1");
    s.beta2 = opt(group, "beta2");
    s.eps = opt(group, "eps");
    s.weight_decay = opt(group, "weight_decay");
    s.amsgrad = opt(group, "amsgrad") != 0;
    s.decoupled = decoupled;
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
      if (graph::is_tracing()) {
        traced_adam_step(*this, static_cast<size_t>(&group - param_groups().data()), p, g, st,
                         decoupled);
        continue;
      }
      if (st.tensors.empty()) st.step = 0;  // fresh state, as PyTorch's lazy init
      Tensor& m = detail::state_tensor(st, "exp_avg", p);
      Tensor& v = detail::state_tensor(st, "exp_avg_sq", p);
      Tensor vmax;
      if (s.amsgrad) vmax = detail::state_tensor(st, "max_exp_avg_sq", p);
      const int64_t t = ++st.step;
      const double bc1 = 1 - std::pow(s.beta1, static_cast<double>(t));
      const double bc2 = 1 - std::pow(s.beta2, static_cast<double>(t));
      s.step_size = s.lr / bc1;
      s.bc2_sqrt = std::sqrt(bc2);
      if (detail::fused_ok(p, g)) {
        TANDEM_DISPATCH_FLOAT(p.dtype(), name().c_str(), [&] {
          detail::with_flags(
              [&](auto l2, auto dec, auto ams) {
                adam_fused<scalar_t, decltype(l2)::value, decltype(dec)::value, decltype(ams)::value>(
                    p.data<scalar_t>(), g.data<scalar_t>(), m.data<scalar_t>(), v.data<scalar_t>(),
                    s.amsgrad ? vmax.data<scalar_t>() : nullptr, p.numel(), s);
              },
              !decoupled && s.weight_decay != 0, decoupled, s.amsgrad);
        });
        p.storage()->bump_version();
        continue;
      }
      // Generic path: PyTorch's _single_tensor_adam(w), op for op.
      if (decoupled) {
        p.mul_(1 - s.lr * s.weight_decay);
      } else if (s.weight_decay != 0) {
        g = add(g, p, s.weight_decay);
      }
      m.mul_(s.beta1).add_(g, 1 - s.beta1);
      v.mul_(s.beta2).add_(g * (1 - s.beta2) * g);  // addcmul's order: (value * g) * g
      Tensor vh = v;
      if (s.amsgrad) {
        vmax.copy_(maximum(vmax, v));
        vh = vmax;
      }
      Tensor den = (sqrt(vh) / s.bc2_sqrt).add_(s.eps);
      p.add_(div(m, den), -s.step_size);
    }
  }
}

}  // namespace tandem::optim
