#include "tandem/optim/sgd.h"

#include "fused.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem::optim {

namespace {

std::map<std::string, double> to_map(const SGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov ? 1.0 : 0.0}};
}

template <typename T, bool WD, bool MOMENTUM, bool FIRST, bool NESTEROV>
void sgd_fused(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
               double weight_decay) {
  const T wd = T(weight_decay), mom = T(momentum), keep = T(1 - dampening), neg_lr = T(-lr);
  detail::parallel_range(n, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T d = g[i];
      if constexpr (WD) d = d + wd * p[i];
      if constexpr (MOMENTUM) {
        T bi;
        if constexpr (FIRST) bi = d;
        else bi = buf[i] * mom + keep * d;
        buf[i] = bi;
        if constexpr (NESTEROV) d = d + mom * bi;
        else d = bi;
      }
      p[i] = p[i] + neg_lr * d;
    }
  });
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions opts) : SGD(std::vector<ParamGroup>{{std::move(params), {}}}, opts) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions defaults) : Optimizer("SGD", to_map(defaults)) {
  init_groups(std::move(groups));
}

void SGD::validate_options(const std::map<std::string, double>& o) const {
  TANDEM_CHECK(o.at("lr") >= 0, "SGD: invalid learning rate {} (must be >= 0)", o.at("lr"));
  TANDEM_CHECK(o.at("momentum") >= 0, "SGD: invalid momentum {} (must be >= 0)", o.at("momentum"));
  TANDEM_CHECK(o.at("weight_decay") >= 0, "SGD: invalid weight_decay {} (must be >= 0)",
               o.at("weight_decay"));
  TANDEM_CHECK(!(o.at("nesterov") != 0 && (o.at("momentum") <= 0 || o.at("dampening") != 0)),
               "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum "
               "{}, dampening {})",
               o.at("momentum"), o.at("dampening"));
}

std::vector<std::string> SGD::state_names(const std::map<std::string, double>& o) const {
  if (o.at("momentum") != 0) return {"momentum_buffer"};
  return {};
}

void SGD::step() {
  NoGradGuard guard;
  for (auto& group : param_groups()) {
    const double lr = opt(group, "lr"), momentum = opt(group, "momentum"),
                 dampening = opt(group, "dampening"), weight_decay = opt(group, "weight_decay");
    const bool nesterov = opt(group, "nesterov") != 0;
    for (auto& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      ParamState& st = state_for(p);
      ++st.step;
      bool first = momentum != 0 && !st.tensors.count("momentum_buffer");
      if (detail::fused_ok(p, g)) {
        Tensor buf;
        if (momentum != 0) buf = detail::state_tensor(st, "momentum_buffer", p);
        TANDEM_DISPATCH_FLOAT(p.dtype(), "SGD.step", [&] {
          detail::with_flags(
              [&](auto wd, auto mom, auto fst, auto nes) {
                sgd_fused<scalar_t, decltype(wd)::value, decltype(mom)::value, decltype(fst)::value,
                          decltype(nes)::value>(p.data<scalar_t>(), g.data<scalar_t>(),
                                                buf.defined() ? buf.data<scalar_t>() : nullptr,
                                                p.numel(), lr, momentum, dampening, weight_decay);
              },
              weight_decay != 0, momentum != 0, first, nesterov);
        });
        p.storage()->bump_version();
        continue;
      }
      // Generic path: PyTorch's _single_tensor_sgd, op for op.
      Tensor d = g;
      if (weight_decay != 0) d = add(d, p, weight_decay);
      if (momentum != 0) {
        Tensor buf;
        if (first) {
          buf = empty(p.shape(), {.dtype = p.dtype()});
          buf.copy_(d);
          st.tensors["momentum_buffer"] = buf;
        } else {
          buf = detail::state_tensor(st, "momentum_buffer", p);
          buf.mul_(momentum).add_(d, 1 - dampening);
        }
        d = nesterov ? add(d, buf, momentum) : buf;
      }
      p.add_(d, -lr);
    }
  }
}

}  // namespace tandem::optim
