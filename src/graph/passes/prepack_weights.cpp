// prepack_weights: marks linear / linear_act / conv2d / conv2d_act nodes whose weight (input 1)
// is fixed for the graph with attr `prepacked = 1`. Their CPU kernels then read the weight
// reordered once into the layout oneDNN prefers (src/backend/cpu/packed_weights.h) instead
// of converting it on every call.
// Fixed for the graph: a constant, or a variable that the graph does not update (not a key
// of g.updates(), and sharing no storage with one that is). A variable changed between runs
// (an eager optimizer step, another Plan's update, w.copy_) is re-packed on its next use:
// the cache compares the storage version, so marking is safe for any graph; it only pays
// where the weight stays put across runs.
// Leaves alone: training-step graphs' updated weights (packing them every step would only
// add a reorder), weights computed inside the graph, and the rest of the node (the attribute
// changes neither shapes, nor results, nor ONNX export).
#include <unordered_set>

#include "../../ops/weight_release.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

PassResult run_prepack_weights(Graph& g) {
  PassResult result;
  std::unordered_set<const Value*> updated;
  std::unordered_set<const Storage*> updated_storage;
  for (const auto& [var, value] : g.updates()) {
    updated.insert(var);
    if (var->data.defined()) updated_storage.insert(var->data.storage().get());
  }
  auto fixed = [&](const Value* w) {
    if (w == nullptr || !w->data.defined()) return false;
    if (w->kind == Value::Kind::Constant) return true;
    return w->kind == Value::Kind::Variable && !updated.count(w) && !updated_storage.count(w->data.storage().get());
  };
  for (Node* n : g.nodes()) {
    const std::string& op = n->op->name;
    if (op != "linear" && op != "linear_act" && op != "conv2d" && op != "conv2d_act") continue;
    if (n->inputs.size() < 2 || !fixed(n->inputs[1])) continue;
    if (n->attrs.get_or<int64_t>("prepacked", 0) == 1) continue;
    n->attrs.set("prepacked", int64_t{1});
    result.add(op == "linear" || op == "linear_act" ? "prepacked_linear" : "prepacked_conv2d");
  }
  return result;
}

void release_plain_when_packed(const std::vector<Tensor>& weights) {
  auto* release = ops::weight_release_hooks().release_when_packed;
  if (release != nullptr)
    for (const Tensor& w : weights) release(w);
}

void restore_plain_weights(const std::vector<Tensor>& weights) {
  auto* keep = ops::weight_release_hooks().keep_plain;
  if (keep != nullptr)
    for (const Tensor& w : weights) keep(w);
}

}  // namespace tandem::graph
