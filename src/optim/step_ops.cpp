// The optimizers' step ops: registration and tracing shared by SGD, Adam/AdamW, RMSprop and
// Adagrad (each passes its kernel, its state and how its host-side scalars are computed).
#include "step_ops.h"

#include "tandem/graph/trace.h"

namespace tandem::optim::detail {

std::vector<TensorMeta> step_infer(const StepOpSpec& spec, const std::vector<TensorMeta>& in,
                                   const Attrs& attrs) {
  const size_t hyper = in.size() - 1;
  TANDEM_CHECK(in[hyper].dtype == DType::Float64 && in[hyper].shape == Shape{spec.hyper_size},
               "{}: hyper (input {}) must be float64 [{}], got {}{}", spec.name, hyper,
               spec.hyper_size, in[hyper].dtype, shape_str(in[hyper].shape));
  std::vector<bool> used = spec.state_used ? spec.state_used(attrs)
                                           : std::vector<bool>(static_cast<size_t>(spec.num_state), true);
  std::vector<TensorMeta> out{{in[0].shape, in[0].dtype}};
  for (size_t i = 1; i < hyper; ++i) {
    if (i >= 2 && used[i - 2]) {
      TANDEM_CHECK(in[i].defined, "{}: these attributes need state input {}", spec.name, i);
      out.push_back({in[0].shape, in[0].dtype});
    }
    TANDEM_CHECK(!in[i].defined || (in[i].shape == in[0].shape && in[i].dtype == in[0].dtype),
                 "{}: input {} is {}{}, the param is {}{}", spec.name, i, in[i].dtype,
                 shape_str(in[i].shape), in[0].dtype, shape_str(in[0].shape));
  }
  return out;
}

void register_step_op(const StepOpSpec& spec, InferFn infer) {
  OpDef d;
  d.name = spec.name;
  d.doc = spec.doc;
  d.no_onnx_export = "an optimizer update (training graphs only)";
  d.num_inputs = 3 + spec.num_state;
  d.optional_inputs = spec.optional_inputs;
  d.infer = infer;
  d.cpu = spec.kernel;
  d.non_differentiable = true;
  d.elementwise = true;  // element i of the outputs reads element i of param, grad and state
  register_op(std::move(d));
}

void traced_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                 Optimizer::ParamState& st, const char* op_name, int64_t hyper_size,
                 HyperFn refresh, const std::function<NamedTensors()>& make_state, Attrs attrs,
                 std::vector<std::string> guard_keys, const std::string& state_what) {
  check_capturable(opt, p, g);
  Tensor hyper = empty({hyper_size}, {.dtype = DType::Float64});
  Optimizer* o = &opt;
  graph::trace_host_prologue(
      [o, gi, &st, hyper, refresh = std::move(refresh)] {
        refresh(hyper.data<double>(), o->param_groups()[gi].options, st);
      },
      {hyper});
  NamedTensors state = make_state();
  graph::trace_guard(step_guard(opt, gi, std::move(guard_keys), st, state, state_what));
  std::vector<Tensor> inputs{p, g};
  for (const auto& [name, t] : state) {
    graph::trace_name(t, p, name);
    inputs.push_back(t);
  }
  std::string op = op_name;
  graph::trace_name(hyper, p, op.substr(0, op.rfind("_step")) + "_hyper");
  inputs.push_back(hyper);
  std::vector<Tensor> outs = dispatch(tandem::op(op), inputs, attrs);
  Tensor dst = p;
  dst.copy_(outs[0]);
  size_t next = 1;
  for (auto& [name, t] : state)
    if (t.defined()) t.copy_(outs[next++]);
}

}  // namespace tandem::optim::detail
