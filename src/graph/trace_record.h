// What the tracer records while a function runs eagerly (src/graph/trace.cpp), and how
// compile.cpp turns a record into a Graph. Private to src/graph.
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/error.h"
#include "tandem/graph/ir.h"
#include "tandem/opdef.h"

namespace tandem::graph::detail {

struct TraceRecord {
  enum class Kind { Input, Outside, Op };
  struct Val {
    Kind kind = Kind::Op;
    int index = 0;  // Input: input index; Outside: index in `outside`; Op: producing op
    DType dtype = DType::Float32;
    Shape shape;
  };
  struct Op {
    const OpDef* def = nullptr;
    Attrs attrs;
    std::vector<int> ins;   // value ids, -1 for an undefined optional input
    std::vector<int> outs;  // value ids
  };
  // A tensor from outside the function (parameter, buffer, optimizer state, constant).
  struct Outside {
    Tensor t;
    bool variable = false;  // mutated, requires grad, named or written by a host prologue
    std::string name;
    int val = -1;
  };
  std::vector<Val> vals;
  std::vector<Op> ops;
  std::vector<Outside> outside;
  std::vector<int> inputs;                    // value id per function input
  std::vector<int> outputs;                   // value id per function output
  std::vector<std::pair<int, int>> updates;   // (outside index, value id), in first-write order
  std::vector<std::pair<Tensor, int>> grads;  // (parameter, value id of its final .grad)
  std::vector<const TensorImpl*> grads_cleared;  // params whose .grad fn cleared before writing it
  std::vector<std::function<void()>> prologue;
  std::vector<std::function<std::string()>> guards;
};

struct TraceOptions {
  std::unordered_map<const TensorImpl*, std::string> names;  // parameters and buffers
  // Record without computing: ops that read a value of the function's inputs get fresh,
  // uninitialized outputs of the inferred shape instead of running their kernel (views and
  // ops on outside tensors only still run, so values the function reads on the host stay
  // right). The traced call's results are then garbage: the caller runs the graph for them.
  // Why: the eager run's intermediates (never touched here, so never resident) made the first
  // call of a large inference model peak far above its planned run. Refused (TraceRefused,
  // thrown before anything changed) when fn writes an outside tensor in place or registers a
  // host prologue: that state would change once in the trace and again in the graph's run.
  bool shapes_only = false;
};

// Thrown by a shapes_only trace that can't go on without running fn for real (see above).
class TraceRefused : public Error {
 public:
  explicit TraceRefused(const std::string& msg) : Error(msg) {}
};

// Runs fn(inputs) eagerly while recording every dispatched op. `outputs` receives fn's
// results (the eager values of this call). Error when fn reads a traced value on the host.
TraceRecord trace(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                  const std::vector<Tensor>& inputs, const TraceOptions& options,
                  std::vector<Tensor>& outputs);

// Graph of a record. `sym` (optional): per value id, per dim, whether the dim is the
// symbolic batch dim.
// `outside_values` (optional) receives the graph value of each outside tensor.
Graph build_graph(const TraceRecord& rec, const std::vector<std::vector<bool>>* sym = nullptr,
                  std::vector<Value*>* outside_values = nullptr);

// Whether two records of the same function at batch sizes b1 != b2 are the same graph up to
// the batch size; fills `sym` (as for build_graph) or returns the reason they differ.
// A reshape whose target shape holds the batch size (Flatten: [N, C*H*W]) differs only there;
// it is rewritten in `b` to infer that dim (-1).
std::string compare_for_batch(const TraceRecord& a, int64_t b1, TraceRecord& b, int64_t b2,
                              std::vector<std::vector<bool>>& sym);

}  // namespace tandem::graph::detail
