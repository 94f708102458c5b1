#include "tandem/optim/adagrad.h"

#include <cmath>

#include "fused.h"
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
  if (detail::run_if_crossed(k, {0, 2}, adagrad_step_kernel)) return;
  const double eps = k.attrs.get<double>("eps"), weight_decay = k.attrs.get<double>("weight_decay");
  const double clr = k.inputs[3].data<double>()[0];
  const Tensor& p = k.inputs[0];
  // An executor may hand the live parameter/sum as the output (an in-place update).
  for (size_t i = 0; i < 2; ++i) {
    const Tensor& in = k.inputs[i == 0 ? 0 : 2];
    if (k.outputs[i].data_ptr() != in.data_ptr()) cpu::copy_into(k.outputs[i], in);
  }
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
  const ParamGroup& group = opt.param_groups()[gi];
  detail::check_capturable(opt, p, g);
  const std::map<std::string, double> baked = group.options;
  Tensor hyper = empty({1}, {.dtype = DType::Float64});
  Optimizer* o = &opt;
  // lr and lr_decay are read here, on every run: neither is baked into the graph.
  graph::trace_host_prologue(
      [o, gi, &st, hyper] {
        const auto& opts = o->param_groups()[gi].options;
        if (st.tensors.empty()) st.step = 0;  // fresh state, as in the eager step
        const int64_t t = ++st.step;
        hyper.data<double>()[0] = adagrad_clr(opts.at("lr"), opts.at("lr_decay"), t);
      },
      {hyper});
  // initial_accumulator_value only fills a new sum (here, at trace time), as in eager steps.
  Tensor sum = detail::state_tensor(st, "sum", p, baked.at("initial_accumulator_value"));
  graph::trace_guard(detail::step_guard(opt, gi, {"eps", "weight_decay"}, st, {{"sum", sum}}));
  graph::trace_name(sum, p, "sum");
  graph::trace_name(hyper, p, "adagrad_hyper");
  static const OpDef& def = op("adagrad_step");
  std::vector<Tensor> outs =
      dispatch(def, {p, g, sum, hyper},
               {{"eps", baked.at("eps")}, {"weight_decay", baked.at("weight_decay")}});
  Tensor dst = p;
  dst.copy_(outs[0]);
  sum.copy_(outs[1]);
}

}  // namespace

namespace detail {
void register_adagrad_step_op() {
  OpDef d;
  d.name = "adagrad_step";
  d.no_onnx_export = "an optimizer update (training graphs only)";
  d.num_inputs = 4;
  d.doc = "One Adagrad update: adagrad_step(param, grad, sum, hyper) -> (param', sum'); hyper is "
          "float64 [lr / (1 + (step - 1) * lr_decay)]; attrs eps, weight_decay. The optimizer's "
          "fused loop (tandem::compile).";
  d.infer = [](const std::vector<TensorMeta>& in, const Attrs&) {
    TANDEM_CHECK(in[3].dtype == DType::Float64 && in[3].shape == Shape{1},
                 "adagrad_step: hyper must be float64 [1]");
    for (int i : {1, 2})
      TANDEM_CHECK(in[i].shape == in[0].shape && in[i].dtype == in[0].dtype,
                   "adagrad_step: input {} is {}{}, the param is {}{}", i, in[i].dtype,
                   shape_str(in[i].shape), in[0].dtype, shape_str(in[0].shape));
    return std::vector<TensorMeta>(2, TensorMeta{in[0].shape, in[0].dtype});
  };
  d.cpu = adagrad_step_kernel;
  d.non_differentiable = true;
  d.elementwise = true;  // element i of the outputs reads element i of param, grad, sum
  register_op(std::move(d));
}
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
