#include "tandem/optim/rmsprop.h"

#include <cmath>

#include "fused.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
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

}  // namespace

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
  // Its fused loop is not an op: a traced step would silently leave the update out.
  TANDEM_CHECK(!graph::is_tracing(),
               "compile: RMSprop.step() can't be captured yet (its update is not an op); use SGD, "
               "Adam or AdamW in a compiled step, or call step() outside the compiled function");
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    const double lr = opt(group, "lr"), alpha = opt(group, "alpha"), eps = opt(group, "eps"),
                 weight_decay = opt(group, "weight_decay"), momentum = opt(group, "momentum");
    const bool centered = opt(group, "centered") != 0;
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
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
