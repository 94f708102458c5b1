// Helpers for the optimizers' fused per-parameter loops and their step ops (private to
// src/optim).
//
// NOTE: the fast path runs one loop per parameter over raw float/double data, in PyTorch's
// operation order (each `a.mul_(x).add_(y)` of the reference becomes the same two roundings),
// so float64 results agree with PyTorch to the last bits and float32 ones to an ulp or so.
// Anything else (16-bit floats, non-contiguous params or grads) takes a generic path written
// with tandem ops, which is slower but handles every layout and dtype.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/cpu/loops.h"
#include "tandem/opdef.h"
#include "tandem/optim/optimizer.h"
#include "tandem/tensor.h"

namespace tandem::optim::detail {

// Work per parameter below this many elements runs on one thread.
inline constexpr int64_t kGrain = 1 << 15;

// Whether (param, grad) can take the fused float loop.
inline bool fused_ok(const Tensor& p, const Tensor& g) {
  return (p.dtype() == DType::Float32 || p.dtype() == DType::Float64) && g.dtype() == p.dtype() &&
         p.is_contiguous() && g.is_contiguous() && g.numel() == p.numel();
}

// While tracing opt.step(): Error for a parameter its step op can't take (the op runs the
// fused loop above).
inline void check_capturable(const Optimizer& opt, const Tensor& p, const Tensor& g) {
  TANDEM_CHECK(fused_ok(p, g),
               "compile: {}.step on a {} parameter{} can't be captured yet (only contiguous "
               "float32/float64 parameters with same-dtype grads); call step() outside the "
               "compiled function for it",
               opt.name(), p.dtype(), p.is_contiguous() ? "" : " that is not contiguous");
}

// The guard of a traced step of parameter group `gi`: Error text (re-trace reason) when one of
// the options in `keys` (baked into the graph) changed, or one of the state tensors the graph
// reads (`state`: name and tensor, undefined = not used) is no longer the optimizer's;
// "" otherwise. `state_what` names the state in the message ("state", "momentum buffer").
inline std::function<std::string()> step_guard(const Optimizer& opt, size_t gi, std::vector<std::string> keys,
                                               Optimizer::ParamState& st,
                                               std::vector<std::pair<std::string, Tensor>> state,
                                               const std::string& state_what = "state") {
  const Optimizer* o = &opt;
  std::map<std::string, double> baked = opt.param_groups().at(gi).options;
  std::string replaced = fmt::format("the {} {} was replaced (load_state_dict?)", opt.name(), state_what);
  return [o, gi, keys = std::move(keys), baked = std::move(baked), &st, state = std::move(state),
          replaced]() -> std::string {
    const auto& now = o->param_groups().at(gi).options;
    for (const std::string& key : keys)
      if (now.at(key) != baked.at(key))
        return fmt::format("{} option '{}' of parameter group {} changed from {} to {}", o->name(), key, gi,
                           baked.at(key), now.at(key));
    for (const auto& [name, t] : state)
      if (t.defined() && (!st.tensors.count(name) || st.tensors.at(name).impl() != t.impl())) return replaced;
    return "";
  };
}

// The state tensor `name`, created (contiguous, param's dtype, filled with `init`) when missing,
// and brought to the param's dtype if the param was converted since (module.to(dtype)).
inline Tensor& state_tensor(Optimizer::ParamState& st, const std::string& name, const Tensor& p,
                            double init = 0.0) {
  auto it = st.tensors.find(name);
  if (it == st.tensors.end()) {
    return st.tensors[name] = full(p.shape(), init, {.dtype = p.dtype()});
  }
  if (it->second.dtype() != p.dtype() || !it->second.is_contiguous()) {
    Tensor c = empty(p.shape(), {.dtype = p.dtype()});
    c.copy_(it->second);
    it->second = c;
  }
  return it->second;
}

// Calls f(std::bool_constant<b>{}...) so that per-option branches become compile-time
// `if constexpr` and the loops vectorize (GCC does not vectorize loops with control flow).
template <typename F>
inline void with_flags(F&& f) {
  f();
}
template <typename F, typename... Rest>
inline void with_flags(F&& f, bool b, Rest... rest) {
  if (b)
    with_flags([&](auto... flags) { f(std::true_type{}, flags...); }, rest...);
  else
    with_flags([&](auto... flags) { f(std::false_type{}, flags...); }, rest...);
}

// The step ops are elementwise (an executor may hand an input's buffer as an output): output i
// may share memory with input corresponding[i] only (param -> param', state -> state'). Runs
// `kernel` on temporaries when an output shares memory with any other input (the in-place
// loops copy the old values into the outputs first, which would clobber that input).
template <typename K>
inline bool run_if_crossed(const KernelArgs& k, const std::vector<int>& corresponding, K kernel) {
  bool crossed = false;
  size_t i = 0;
  for (int c : corresponding) {
    if (i >= k.outputs.size()) break;
    for (size_t j = 0; j < k.inputs.size(); ++j)
      if (static_cast<int>(j) != c && k.inputs[j].defined() &&
          k.outputs[i].shares_storage(k.inputs[j]))
        crossed = true;
    ++i;
  }
  if (!crossed) return false;
  std::vector<Tensor> tmp;
  for (const Tensor& o : k.outputs) tmp.push_back(empty(o.shape(), {.dtype = o.dtype()}));
  kernel(KernelArgs{k.inputs, tmp, k.attrs});
  for (size_t o = 0; o < tmp.size(); ++o) cpu::copy_into(k.outputs[o], tmp[o]);
  return true;
}

// Start of a step op's kernel. Output i is the new value of input src[i] (param', state'...).
// Returns true when the kernel already ran (on temporaries, see run_if_crossed); otherwise
// copies each input into its output unless the executor handed the same buffer (an in-place
// update), and the kernel goes on to update the outputs in place.
template <typename K>
inline bool begin_step(const KernelArgs& k, const std::vector<int>& src, K kernel) {
  if (run_if_crossed(k, src, kernel)) return true;
  for (size_t i = 0; i < k.outputs.size(); ++i) {
    const Tensor& in = k.inputs[static_cast<size_t>(src[i])];
    if (k.outputs[i].data_ptr() != in.data_ptr()) cpu::copy_into(k.outputs[i], in);
  }
  return false;
}

// An optimizer's step op: inputs (param, grad, state..., hyper), outputs (param', the new
// values of the states in use...). hyper is a float64 [hyper_size] tensor of host-computed
// scalars (learning rate, bias corrections), refreshed before every compiled run.
struct StepOpSpec {
  const char* name = nullptr;
  const char* doc = nullptr;
  int num_state = 1;                        // state inputs between grad and hyper
  int64_t hyper_size = 1;
  std::vector<int> optional_inputs = {};    // optional state inputs (absent: not in use)
  // Which state inputs these attributes use (size num_state); default: all.
  std::function<std::vector<bool>(const Attrs&)> state_used = nullptr;
  KernelFn kernel = nullptr;
};
std::vector<TensorMeta> step_infer(const StepOpSpec& spec, const std::vector<TensorMeta>& in,
                                   const Attrs& attrs);
void register_step_op(const StepOpSpec& spec, InferFn infer);
// Registers the step op of `Spec` (a const StepOpSpec with static storage duration).
template <const StepOpSpec& Spec>
void register_step_op() {
  register_step_op(Spec, [](const std::vector<TensorMeta>& in, const Attrs& a) {
    return step_infer(Spec, in, a);
  });
}

// While tandem::compile traces opt.step(): one step of parameter p of group gi through the
// step op `op_name`. `refresh(hyper, options, st)` fills the hyper tensor (hyper_size doubles)
// now and before every compiled run; then `make_state()` gives the state tensors in the op's
// input order (undefined: not in use), creating new ones (after the first refresh, which may
// look at whether they exist). `attrs` are baked into the graph, and so are the options named
// in `guard_keys`: a change of one of them, or a state tensor replaced, re-traces. The results
// are copied back into p and the states (recorded as variable updates).
using HyperFn = std::function<void(double* hyper, const std::map<std::string, double>& options,
                                   Optimizer::ParamState& st)>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
void traced_step(Optimizer& opt, size_t gi, const Tensor& p, const Tensor& g,
                 Optimizer::ParamState& st, const char* op_name, int64_t hyper_size,
                 HyperFn refresh, const std::function<NamedTensors()>& make_state, Attrs attrs,
                 std::vector<std::string> guard_keys, const std::string& state_what = "state");

// OpDefs of the fused steps, used while tandem::compile traces a step (registered with the
// other ops by src/ops/defs/optim_ops.cpp).
void register_sgd_step_op();
void register_adam_step_op();
void register_rmsprop_step_op();
void register_adagrad_step_op();

template <typename F>
inline void parallel_range(int64_t n, F&& fn) {
  cpu::parallel_for(n, kGrain, std::forward<F>(fn));
}

}  // namespace tandem::optim::detail
