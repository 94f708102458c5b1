// Dead-code elimination: removes nodes none of whose outputs reach a graph output or the
// new value of an update, directly or through other nodes.
//
// Leaves alone: nodes with side effects (has_side_effects: random ops, which advance the
// generator, so removing an unused dropout would change every later draw; ops marked with
// mark_side_effect_op), and everything they read. Inputs, variables and constants are never
// removed (they are part of the graph's signature or cheap); an unused constant is simply
// no longer printed.
#include <unordered_set>

#include "tandem/graph/passes.h"

namespace tandem::graph {

PassResult run_dce(Graph& g) {
  PassResult result;
  std::unordered_set<const Value*> live;
  for (const Value* v : g.outputs()) live.insert(v);
  for (const auto& u : g.updates()) live.insert(u.second);
  // Walk backwards: a node is live if it has side effects or a live output; a live node
  // makes its inputs live. One sweep suffices because the order is topological.
  std::vector<Node*> dead;
  const std::vector<Node*>& nodes = g.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    bool is_live = has_side_effects(*n);
    for (const Value* out : n->outputs) is_live = is_live || live.count(out) != 0;
    if (!is_live) {
      dead.push_back(n);  // reverse order: users before producers
      continue;
    }
    for (const Value* in : n->inputs)
      if (in) live.insert(in);
  }
  for (Node* n : dead) g.remove_node(n);
  result.add("removed_nodes", static_cast<int64_t>(dead.size()));
  return result;
}

}  // namespace tandem::graph
