// Hooks for library code that tandem::compile traces (optimizers, stateful layers).
//
//   // In an optimizer's step(): host-computed scalars go through a small tensor that the
//   // traced op reads, refreshed by a prologue that runs now and before every compiled run,
//   // so a learning-rate schedule or a step count is never baked into the graph.
//   Tensor hyper = empty({2}, {.dtype = DType::Float64});
//   graph::trace_host_prologue([&, hyper]() mutable {
//     hyper.data<double>()[0] = lr(); hyper.data<double>()[1] = ++step; }, {hyper});
//   auto outs = dispatch(op("sgd_step"), {p, g, buf, hyper}, attrs);
//
// Outside tracing every function here is cheap: trace_host_prologue just runs fn, the others
// do nothing. Everything is per thread (tracing happens on the calling thread).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem::graph {

// True while this thread traces a function for tandem::compile.
bool is_tracing();

// Runs `fn` now with tracing off (outside tracing: just runs it). Its ops are not recorded;
// the tensors it makes enter the graph as constants. For values fixed for the traced graph
// only, such as arithmetic on its inputs' shapes (the graph is re-traced when those change).
void run_untraced(const std::function<void()>& fn);

// Runs `fn` now and, when tracing, again before every run of the compiled graph. `writes`
// are the tensors fn fills; they become graph variables (never constants, never folded).
// fn must only write tensors (no tandem ops); it may read host state (options, counters).
// The captured state must outlive the compiled function.
void trace_host_prologue(std::function<void()> fn, const std::vector<Tensor>& writes);

// When tracing: `check` runs before every run of the compiled graph; a non-empty result is
// the reason the graph no longer fits (an option baked into an attribute changed), and the
// function is traced again with that reason.
void trace_guard(std::function<std::string()> check);

// When tracing: fn clears param's .grad here (zero_grad(set_to_none)). When the trace has not
// produced that .grad yet, the graph does not depend on whether the .grad was defined at the
// call, so that is left out of the cache key (a training step then traces once).
void trace_grad_cleared(const Tensor& param);

// When tracing: names a tensor from outside the function for the graph text, as
// "<owner's name>.<suffix>" when `owner` is named (e.g. "fc1.weight.momentum_buffer"),
// else "<suffix>".
void trace_name(const Tensor& t, const Tensor& owner, const std::string& suffix);

}  // namespace tandem::graph
