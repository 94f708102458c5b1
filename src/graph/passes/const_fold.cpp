// Constant folding: a node whose inputs are all constants (omitted optional inputs allowed)
// runs once, now, through dispatch with its own kernel (so the value is exactly what the
// node would compute), and its outputs become constants. Chains fold in one sweep because
// nodes are visited in order.
//
// Leaves alone: random ops and other ops with side effects, nodes reading an input or a
// variable (a variable's contents change between runs), nodes with symbolic output shapes,
// nodes producing a graph output or update (each run must return a fresh buffer the
// caller may write into), and nodes whose outputs would exceed ConstFoldOptions::max_bytes while also being larger
// than their inputs together (expand(scalar, [4096, 4096]) stays an expand).
#include "tandem/autograd.h"
#include "tandem/graph/passes.h"

namespace tandem::graph {

namespace {

// Runs dispatch for real even when a tracer is active on this thread.
class NoInterceptor {
 public:
  NoInterceptor() : prev_(set_dispatch_interceptor(nullptr)) {}
  ~NoInterceptor() { set_dispatch_interceptor(prev_); }
  NoInterceptor(const NoInterceptor&) = delete;
  NoInterceptor& operator=(const NoInterceptor&) = delete;

 private:
  DispatchInterceptor* prev_;
};

bool foldable(const Graph& g, const Node& n, const ConstFoldOptions& options) {
  if (has_side_effects(n) || n.outputs.empty()) return false;
  if (!n.op->cpu && !n.op->view) return false;
  int64_t in_bytes = 0, out_bytes = 0;
  for (const Value* in : n.inputs) {
    if (!in) continue;
    if (!in->is_constant()) return false;
    in_bytes += static_cast<int64_t>(in->data.nbytes());
  }
  for (const Value* out : n.outputs) {
    if (!is_static(out->shape)) return false;
    // A result must stay a fresh buffer per run: the caller may write into it.
    if (is_graph_result(g, out)) return false;
    out_bytes += shape_numel(static_shape(out->shape)) * static_cast<int64_t>(itemsize(out->dtype));
  }
  return out_bytes <= options.max_bytes || out_bytes <= in_bytes;
}

}  // namespace

PassResult run_const_fold(Graph& g, const ConstFoldOptions& options) {
  PassResult result;
  NoGradGuard no_grad;
  NoInterceptor no_interceptor;
  std::vector<Node*> order = g.nodes();
  for (Node* n : order) {
    if (!foldable(g, *n, options)) continue;
    std::vector<Tensor> inputs;
    for (const Value* in : n->inputs) inputs.push_back(in ? in->data : Tensor());
    std::vector<Tensor> outs;
    try {
      outs = dispatch(*n->op, inputs, n->attrs);
    } catch (const Error& e) {
      TANDEM_FAIL("const_fold: node %{} ({}) failed on its constant inputs: {}", n->id, n->op->name,
                  e.what());
    }
    bool ok = outs.size() == n->outputs.size();
    for (size_t i = 0; ok && i < outs.size(); ++i)
      ok = outs[i].dtype() == n->outputs[i]->dtype && sym_shape(outs[i].shape()) == n->outputs[i]->shape;
    if (!ok) continue;  // the graph's recorded types win; keep the node rather than guess
    for (size_t i = 0; i < outs.size(); ++i) {
      // A copy of its own (a view would alias another constant) and not a wrapped number:
      // an op's output never is one, and the flag changes type promotion downstream.
      Tensor data = outs[i].clone();
      data.impl()->is_wrapped_number = false;
      Value* c = g.add_constant(data, n->outputs[i]->name);
      g.replace_all_uses(n->outputs[i], c);
    }
    g.remove_node(n);
    result.add("folded_nodes");
  }
  return result;
}

}  // namespace tandem::graph
