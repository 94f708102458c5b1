#include "tandem/optim/sgd.h"

#include "step_ops.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/opdef.h"
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

// NOTE: tandem::compile can't see the fused loop above (it is not a dispatched op), so while
// tracing, step() goes through the "sgd_step" op instead: the same loop on copies of the
// parameter and buffer, whose results are copied back (the tracer records those copies as
// variable updates). Host-side values (lr, whether the buffer is new) reach the op through a
// small float64 tensor refreshed before every compiled run, so schedules are not baked in.
void sgd_step_kernel(const KernelArgs& k) {
  if (detail::begin_step(k, {0, 2}, sgd_step_kernel)) return;
  const Attrs& a = k.attrs;
  const double momentum = a.get<double>("momentum"), dampening = a.get<double>("dampening"),
               weight_decay = a.get<double>("weight_decay");
  const bool nesterov = a.get<bool>("nesterov");
  const double* h = k.inputs[3].data<double>();
  const double lr = h[0];
  const bool first = h[1] != 0;
  const Tensor &p = k.inputs[0], &g = k.inputs[1];
  Tensor buf = momentum != 0 ? k.outputs[1] : Tensor();
  TANDEM_DISPATCH_FLOAT(p.dtype(), "sgd_step", [&] {
    detail::with_flags(
        [&](auto wd, auto mom, auto fst, auto nes) {
          sgd_fused<scalar_t, decltype(wd)::value, decltype(mom)::value, decltype(fst)::value,
                    decltype(nes)::value>(k.outputs[0].data<scalar_t>(), g.data<scalar_t>(),
                                          buf.defined() ? buf.data<scalar_t>() : nullptr, p.numel(),
                                          lr, momentum, dampening, weight_decay);
        },
        weight_decay != 0, momentum != 0, first && momentum != 0, nesterov);
  });
}

void traced_sgd_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                     Optimizer::ParamState& st) {
  const std::map<std::string, double> baked = opt.param_groups()[gi].options;
  const double momentum = baked.at("momentum");
  auto refresh = [momentum](double* h, const std::map<std::string, double>& o,
                            Optimizer::ParamState& s) {
    ++s.step;
    h[0] = o.at("lr");
    h[1] = momentum != 0 && !s.tensors.count("momentum_buffer") ? 1.0 : 0.0;
  };
  auto state = [&] {
    return detail::NamedTensors{
        {"momentum_buffer", momentum != 0 ? detail::state_tensor(st, "momentum_buffer", p) : Tensor()}};
  };
  detail::traced_step(opt, gi, p, g, st, "sgd_step", 2, refresh, state,
                      {{"momentum", momentum}, {"dampening", baked.at("dampening")},
                       {"weight_decay", baked.at("weight_decay")},
                       {"nesterov", baked.at("nesterov") != 0}},
                      {"momentum", "dampening", "weight_decay", "nesterov"}, "momentum buffer");
}

const detail::StepOpSpec kSGDStep{
    .name = "sgd_step",
    .doc = "One SGD update of a parameter: sgd_step(param, grad, momentum_buffer?, hyper) -> "
           "(param', momentum_buffer'?); hyper is float64 [lr, first step]; attrs momentum, "
           "dampening, weight_decay, nesterov. The optimizer's fused loop (tandem::compile).",
    .num_state = 1,
    .hyper_size = 2,
    .optional_inputs = {2},
    .state_used = [](const Attrs& a) { return std::vector<bool>{a.get<double>("momentum") != 0}; },
    .kernel = sgd_step_kernel,
};

}  // namespace

namespace detail {
void register_sgd_step_op() { register_step_op<kSGDStep>(); }
}  // namespace detail

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
      if (graph::is_tracing()) {
        traced_sgd_step(*this, static_cast<size_t>(&group - param_groups().data()), p, g, st);
        continue;
      }
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
