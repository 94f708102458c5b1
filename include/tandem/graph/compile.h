// tandem::compile — capture eager code into a graph and run the graph on later calls.
//
//   auto model = tandem::models::create("mlp");
//   auto fwd = tandem::compile([&](const Tensor& x) { return (*model)(x); },
//                              {.modules = {model}});
//   Tensor y = fwd(x);                  // first call: traced (runs eagerly, records a Graph)
//   y = fwd(x2);                        // same dtype/shape: runs the cached graph
//   std::cout << fwd.graph().str();     // the last graph used, names from the module
//
//   // A whole training step: forward, loss, backward, optimizer step, zero_grad.
//   optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
//   auto step = tandem::compile([&](const Tensor& x, const Tensor& y) {
//     opt.zero_grad();
//     Tensor loss = nn::functional::cross_entropy((*model)(x), y);
//     loss.backward();
//     opt.step();
//     return loss;
//   }, {.modules = {model}});
//
// The function: takes tensors (const Tensor& or Tensor) and static arguments (numbers, bools,
// strings: any fmt-formattable type), returns a Tensor, a std::vector<Tensor> or a
// std::tuple of Tensors. Or use the erased form compile(std::function<std::vector<Tensor>(
// const std::vector<Tensor>&)>).
//
// Cache key (a call reuses a graph when all of these match the call that traced it):
//   - per tensor argument: dtype, device, shape (dim 0 symbolic in dynamic_batch mode once
//     confirmed, below), and which arguments are the same tensor;
//   - each static argument's formatted value;
//   - grad mode (is_grad_enabled());
//   - training/eval mode of every submodule of CompileOptions::modules, and whether each of
//     their parameters has a .grad (left out for parameters whose .grad fn clears with
//     zero_grad() before backward writes it: a training step traces once);
//   - dtype/shape of every graph variable (a model converted with to(dtype) re-traces);
//   - guards registered by traced library code (an optimizer's options other than lr).
// Every re-trace is counted with its reason (stats(); env TANDEM_LOG_RECOMPILES=1 prints it),
// and more than retrace_limit re-traces throw tandem::Error naming the last reason.
//
// What is captured, and what is not:
//   - Parameters, buffers and optimizer state used by fn are graph variables: the graph reads
//     their current contents on every run, and in-place updates (optimizer steps, batch-norm
//     running stats) are written back at the end of each run. Other tensors from outside fn
//     (captured by the lambda, made with ones()/zeros()/full() inside fn) are constants:
//     their contents at trace time (for a captured tensor: its live contents) are used.
//     With the default passes, linear/conv weights the graph does not update are kept packed
//     in oneDNN's preferred layout between runs and re-packed when the weight's version
//     changes (any tensor op or optimizer step bumps it; a write through data_ptr() does not:
//     call bump_version() on its storage after one).
//   - The .grad of each parameter is set to the run's gradient after a compiled step; a step
//     without zero_grad accumulates into the .grad present at each call, as eager does.
//   - Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) record their update as one op per
//     parameter (sgd_step, adam_step, rmsprop_step, adagrad_step) whose kernel is the eager
//     fused loop (bit-identical results); the learning rate, step count and Adagrad's
//     lr_decay are read from the optimizer before every run (schedules work); changing
//     another option re-traces with its name in the reason. Parameters the fused loop can't
//     take (16-bit floats, non-contiguous) make step() throw tandem::Error while tracing.
//   - With freeze, a call without grad traces shapes only: ops on values computed from the
//     inputs don't run their kernels (their outputs stay untouched, so the trace costs no
//     resident memory) and the call returns the Plan's results. fn that writes outside
//     tensors in place or registers a host prologue is traced eagerly instead.
//   - Host code in fn runs only when tracing. Reading a traced tensor's value on the host
//     (item(), to_vector(), data_ptr()) throws tandem::Error: the value would be baked into
//     the graph (no graph breaks yet). Random ops (dropout) draw fresh numbers on every run.
//   - fn must not write in place into its own arguments.
// A compiled function is not thread-safe; it keeps references to what fn captured (model,
// optimizer), which must outlive it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tandem/graph/ir.h"
#include "tandem/graph/model_state.h"
#include "tandem/tensor.h"

namespace tandem {


struct CompileOptions {
  // Dim 0 of the tensor arguments is the batch: a second batch size traces once more to
  // confirm the graph does not depend on it; from then on any batch size reuses the graph.
  // A graph that does depend on it (e.g. a mean's 1/N in a training step) keeps one graph
  // per batch size, with the reason in stats().
  bool dynamic_batch = false;
  int retrace_limit = 8;
  // When set: each traced graph is written there as graph_<n>.txt and graph_<n>.dot (after
  // the passes; the pipeline's before/after dumps go to passes_<n>/).
  std::string dump_dir;
  // Graph passes run on each traced graph: {"all"} (the default: tandem/graph/passes.h's
  // order; batch-norm folding only with `freeze`), "all,-name", or names in order.
  // Empty: none (the graph runs as traced).
  std::vector<std::string> passes = {"all"};
  // The parameters and buffers will not change after tracing (as torch.jit.freeze): the
  // inference-only passes (batch-norm folding into the preceding conv/linear) read their
  // current values into constants. Leave false when the model may still be trained or loaded.
  bool freeze = false;
  // Modules whose parameters and buffers fn uses: names for the graph ("fc1.weight") and
  // cache guards (train/eval mode, .grad presence).
  std::vector<std::shared_ptr<const ModelState>> modules;
  // More names for tensors from outside fn.
  std::vector<std::pair<std::string, Tensor>> named_tensors;
  // Run graphs through graph::lower's Plan (pre-planned memory, direct kernel calls; one Plan
  // per batch size in dynamic mode); false: the graph::run interpreter.
  bool use_plan = true;
};

struct CompileStats {
  int64_t calls = 0;
  int64_t traces = 0;
  int64_t cache_hits = 0;
  std::vector<std::string> reasons;       // one per trace: why it happened
  std::vector<std::string> graph_breaks;  // none: data-dependent reads are errors for now
  std::vector<std::string> notes;         // executor choices (a graph run by the interpreter, why)
};

namespace graph {

// Runs a graph (no autograd): inputs in order, returns its outputs; applies the variable
// updates at the end. One dispatch per node; intermediates are freed after their last use.
std::vector<Tensor> run(const Graph& g, const std::vector<Tensor>& inputs);

namespace detail {
// The type-erased core of a compiled function (src/graph/compile.cpp).
class CompiledCore {
 public:
  using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
  explicit CompiledCore(CompileOptions options);
  ~CompiledCore();
  // Runs the cached graph for this key, or traces fn (with these exact tensors).
  std::vector<Tensor> call(const std::vector<Tensor>& tensors, const std::string& static_key,
                           const Fn& fn);
  const CompileStats& stats() const;
  const Graph& graph() const;  // the graph the last call ran or traced
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <class T>
struct is_tensor_arg : std::is_same<std::decay_t<T>, Tensor> {};

template <class R>
struct Results;
template <>
struct Results<Tensor> {
  static std::vector<Tensor> flatten(Tensor t) { return {std::move(t)}; }
  static Tensor unflatten(std::vector<Tensor>& v) { return std::move(v.at(0)); }
};
template <>
struct Results<std::vector<Tensor>> {
  static std::vector<Tensor> flatten(std::vector<Tensor> t) { return t; }
  static std::vector<Tensor> unflatten(std::vector<Tensor>& v) { return std::move(v); }
};
template <class... Ts>
struct Results<std::tuple<Ts...>> {
  static_assert((std::is_same_v<Ts, Tensor> && ...), "compile: a tuple result must hold Tensors");
  static std::vector<Tensor> flatten(std::tuple<Ts...> t) {
    return std::apply([](auto&... x) { return std::vector<Tensor>{x...}; }, t);
  }
  static std::tuple<Ts...> unflatten(std::vector<Tensor>& v) {
    return unflatten_impl(v, std::index_sequence_for<Ts...>{});
  }
  template <size_t... I>
  static std::tuple<Ts...> unflatten_impl(std::vector<Tensor>& v, std::index_sequence<I...>) {
    return std::tuple<Ts...>{std::move(v.at(I))...};
  }
};

template <class Sig>
struct Signature;
template <class C, class R, class... A>
struct Signature<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct Signature<R (C::*)(A...)> {
  using type = R(A...);
};
template <class R, class... A>
struct Signature<R (*)(A...)> {
  using type = R(A...);
};
}  // namespace detail

// The callable that compile returns: same signature as the function.
template <class F, class Sig>
class Compiled;
template <class F, class R, class... A>
class Compiled<F, R(A...)> {
 public:
  Compiled(F fn, CompileOptions options)
      : fn_(std::make_shared<F>(std::move(fn))),
        core_(std::make_shared<detail::CompiledCore>(std::move(options))) {}

  R operator()(A... args) const {
    std::vector<Tensor> tensors;
    std::string key;
    (collect(args, tensors, key), ...);
    auto erased = [&](const std::vector<Tensor>&) {
      return detail::Results<R>::flatten((*fn_)(args...));
    };
    std::vector<Tensor> outs = core_->call(tensors, key, erased);
    return detail::Results<R>::unflatten(outs);
  }
  const CompileStats& stats() const { return core_->stats(); }
  const Graph& graph() const { return core_->graph(); }

 private:
  template <class T>
  static void collect(const T& a, std::vector<Tensor>& tensors, std::string& key) {
    if constexpr (detail::is_tensor_arg<T>::value) {
      tensors.push_back(a);
    } else if constexpr (std::is_same_v<std::decay_t<T>, std::vector<Tensor>>) {
      tensors.insert(tensors.end(), a.begin(), a.end());
      key += fmt::format("[{} tensors]\x1f", a.size());
    } else {
      key += fmt::format("{}\x1f", a);
    }
  }
  std::shared_ptr<F> fn_;
  std::shared_ptr<detail::CompiledCore> core_;
};

// The erased form: std::vector<Tensor>(const std::vector<Tensor>&).
class CompiledVector {
 public:
  using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
  CompiledVector(Fn fn, CompileOptions options)
      : fn_(std::move(fn)), core_(std::make_shared<detail::CompiledCore>(std::move(options))) {}
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs) const {
    return core_->call(inputs, "", fn_);
  }
  const CompileStats& stats() const { return core_->stats(); }
  const Graph& graph() const { return core_->graph(); }

 private:
  Fn fn_;
  std::shared_ptr<detail::CompiledCore> core_;
};

}  // namespace graph

template <class F>
auto compile(F fn, CompileOptions options = {}) {
  using Sig = typename graph::detail::Signature<decltype(&F::operator())>::type;
  return graph::Compiled<F, Sig>(std::move(fn), std::move(options));
}
template <class R, class... A>
auto compile(R (*fn)(A...), CompileOptions options = {}) {
  return graph::Compiled<R (*)(A...), R(A...)>(fn, std::move(options));
}
inline graph::CompiledVector compile(
    std::function<std::vector<Tensor>(const std::vector<Tensor>&)> fn, CompileOptions options = {}) {
  return graph::CompiledVector(std::move(fn), std::move(options));
}

}  // namespace tandem
