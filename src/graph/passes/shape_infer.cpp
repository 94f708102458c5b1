// Shape and dtype inference: binds symbolic dims of the graph inputs to sizes (when given)
// and re-infers the dtype and shape of every node's outputs, in order, from its OpDef.
// Run after a rewrite that changed an input's shape, or to specialize a dynamic-batch
// graph to one batch size (bind {"batch": 32}): every "batch" dim becomes 32.
//
// Leaves alone: the graph's structure (no node is added or removed), variables and
// constants (their shapes come from their tensors). A node whose rule cannot run on
// symbolic inputs keeps its recorded outputs; on static inputs a failing rule is an Error
// naming the node, its op and its input shapes.
#include <fmt/format.h>

#include <set>

#include "tandem/error.h"
#include "tandem/graph/passes.h"

namespace tandem::graph {

PassResult run_shape_infer(Graph& g, const std::map<std::string, int64_t>& bind) {
  PassResult result;
  std::set<std::string> symbols;
  for (Value* in : g.inputs())
    for (const Dim& d : in->shape)
      if (!d.is_static()) symbols.insert(d.symbol);
  for (const auto& [name, size] : bind) {
    TANDEM_CHECK(size >= 0, "shape_infer: symbolic dim '{}' bound to the negative size {}", name, size);
    if (!symbols.count(name)) {
      std::string known;
      for (const std::string& s : symbols) known += (known.empty() ? "" : ", ") + s;
      TANDEM_FAIL("shape_infer: no graph input has the symbolic dim '{}' (symbolic dims: {})", name,
                  known.empty() ? "none" : known);
    }
  }
  for (Value* in : g.inputs()) {
    for (Dim& d : in->shape) {
      if (d.is_static()) continue;
      auto it = bind.find(d.symbol);
      if (it == bind.end()) continue;
      d = Dim(it->second);
      result.add("bound_dims");
    }
  }

  for (Node* n : g.nodes()) {
    if (!n->op->infer) continue;
    bool all_static = true;
    for (const Value* in : n->inputs) all_static = all_static && (!in || is_static(in->shape));
    std::vector<std::pair<DType, SymShape>> outs;
    try {
      outs = infer_node(*n->op, n->inputs, n->attrs);
    } catch (const Error& e) {
      if (!all_static) {
        result.add("kept_symbolic");
        continue;
      }
      TANDEM_FAIL("shape_infer: node %{} ({}{}): {}", n->id, n->op->name,
                  n->name.empty() ? "" : ", " + n->name, e.what());
    }
    TANDEM_CHECK(outs.size() == n->outputs.size(),
                 "shape_infer: node %{} ({}) has {} outputs but its rule gives {}", n->id,
                 n->op->name, n->outputs.size(), outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      Value* out = n->outputs[i];
      if (out->dtype == outs[i].first && out->shape == outs[i].second) continue;
      out->dtype = outs[i].first;
      out->shape = std::move(outs[i].second);
      result.add("changed_values");
    }
  }

  for (const auto& [var, value] : g.updates()) {
    TANDEM_CHECK(var->dtype == value->dtype && var->shape == value->shape,
                 "shape_infer: the update of variable '{}' ({}{}) now gets a {}{} value", var->name,
                 dtype_name(var->dtype), shape_str(var->shape), dtype_name(value->dtype),
                 shape_str(value->shape));
  }
  return result;
}

}  // namespace tandem::graph
