#include "tandem/optim/rmsprop.h"

#include <cmath>

#include "fused.h"
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
  if (detail::run_if_crossed(k, src, rmsprop_step_kernel)) return;
  const double lr = k.inputs[5].data<double>()[0];
  const Tensor& p = k.inputs[0];
  // An executor may hand the live parameter/state as the output (an in-place update).
  for (size_t i = 0; i < k.outputs.size(); ++i) {
    const Tensor& in = k.inputs[static_cast<size_t>(src[i])];
    if (k.outputs[i].data_ptr() != in.data_ptr()) cpu::copy_into(k.outputs[i], in);
  }
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
  const ParamGroup& group = opt.param_groups()[gi];
  detail::check_capturable(opt, p, g);
  const std::map<std::string, double> baked = group.options;
  const double momentum = baked.at("momentum");
  const bool centered = baked.at("centered") != 0;
  Tensor hyper = empty({1}, {.dtype = DType::Float64});
  Optimizer* o = &opt;
  graph::trace_host_prologue(
      [o, gi, &st, hyper] {
        if (st.tensors.empty()) st.step = 0;  // fresh state, as in the eager step
        ++st.step;
        hyper.data<double>()[0] = o->param_groups()[gi].options.at("lr");
      },
      {hyper});
  Tensor sq = detail::state_tensor(st, "square_avg", p);
  Tensor buf, ga;
  if (momentum > 0) buf = detail::state_tensor(st, "momentum_buffer", p);
  if (centered) ga = detail::state_tensor(st, "grad_avg", p);
  graph::trace_guard(detail::step_guard(opt, gi, {"alpha", "eps", "weight_decay", "momentum", "centered"}, st,
                                        {{"square_avg", sq}, {"momentum_buffer", buf}, {"grad_avg", ga}}));
  graph::trace_name(sq, p, "square_avg");
  graph::trace_name(ga, p, "grad_avg");
  graph::trace_name(buf, p, "momentum_buffer");
  graph::trace_name(hyper, p, "rmsprop_hyper");
  static const OpDef& def = op("rmsprop_step");
  std::vector<Tensor> outs =
      dispatch(def, {p, g, sq, ga, buf, hyper},
               {{"alpha", baked.at("alpha")}, {"eps", baked.at("eps")},
                {"weight_decay", baked.at("weight_decay")}, {"momentum", momentum},
                {"centered", centered}});
  Tensor dst = p;
  dst.copy_(outs[0]);
  sq.copy_(outs[1]);
  if (centered) ga.copy_(outs[2]);
  if (momentum > 0) buf.copy_(outs[centered ? 3 : 2]);
}

}  // namespace

namespace detail {
void register_rmsprop_step_op() {
  OpDef d;
  d.name = "rmsprop_step";
  d.no_onnx_export = "an optimizer update (training graphs only)";
  d.num_inputs = 6;
  d.optional_inputs = {3, 4};
  d.doc = "One RMSprop update: rmsprop_step(param, grad, square_avg, grad_avg?, momentum_buffer?, "
          "hyper) -> (param', square_avg', grad_avg'?, momentum_buffer'?); hyper is float64 [lr]; "
          "attrs alpha, eps, weight_decay, momentum, centered (grad_avg when centered, "
          "momentum_buffer when momentum > 0). The optimizer's fused loop (tandem::compile).";
  d.infer = [](const std::vector<TensorMeta>& in, const Attrs& a) {
    TANDEM_CHECK(in[5].dtype == DType::Float64 && in[5].shape == Shape{1},
                 "rmsprop_step: hyper must be float64 [1]");
    const bool centered = a.get<bool>("centered"), momentum = a.get<double>("momentum") > 0;
    TANDEM_CHECK(!centered || in[3].defined, "rmsprop_step: centered needs grad_avg (input 3)");
    TANDEM_CHECK(!momentum || in[4].defined,
                 "rmsprop_step: momentum > 0 needs momentum_buffer (input 4)");
    for (int i : {1, 2, 3, 4})
      TANDEM_CHECK(!in[i].defined || (in[i].shape == in[0].shape && in[i].dtype == in[0].dtype),
                   "rmsprop_step: input {} is {}{}, the param is {}{}", i, in[i].dtype,
                   shape_str(in[i].shape), in[0].dtype, shape_str(in[0].shape));
    const size_t n = 2 + (centered ? 1 : 0) + (momentum ? 1 : 0);
    return std::vector<TensorMeta>(n, TensorMeta{in[0].shape, in[0].dtype});
  };
  d.cpu = rmsprop_step_kernel;
  d.non_differentiable = true;
  d.elementwise = true;  // element i of the outputs reads element i of param, grad, state
  register_op(std::move(d));
}
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
