// Common-subexpression elimination: a node with the same op, the same attributes and the
// same inputs (the same Values, slot by slot) as an earlier node is replaced by it; constants
// with the same dtype, shape, wrapped-number flag and bytes become one constant first, so
// `x * 2.0` written twice merges too.
//
// Leaves alone: random ops (two dropouts of x are two different masks) and other ops with
// side effects; a duplicate whose output is a graph result (output or update) when the
// kept node's output is one too, so two results never alias one buffer. Commuted inputs
// merge only for add (alpha 1) and mul, which are bit-exact either way round
// (maximum/minimum are not: max(-0, +0) depends on the order).
#include <fmt/format.h>

#include <cstring>
#include <unordered_map>

#include "tandem/graph/passes.h"

namespace tandem::graph {

namespace {

bool same_constant(const Value* a, const Value* b) {
  if (a->dtype != b->dtype || !(a->shape == b->shape)) return false;
  if (a->data.impl()->is_wrapped_number != b->data.impl()->is_wrapped_number) return false;
  Tensor x = a->data.contiguous(), y = b->data.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

uint64_t constant_hash(const Value* v) {
  Tensor x = v->data.contiguous();
  const auto* p = static_cast<const unsigned char*>(x.data_ptr());
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < x.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h ^ (static_cast<uint64_t>(v->dtype) << 56) ^ v->shape.size();
}

// Replaces every use of dup's outputs by kept's, unless that would make two results alias.
bool merge(Graph& g, const std::vector<Value*>& dup, const std::vector<Value*>& kept) {
  for (size_t i = 0; i < dup.size(); ++i)
    if (is_graph_result(g, dup[i]) && is_graph_result(g, kept[i])) return false;
  for (size_t i = 0; i < dup.size(); ++i) g.replace_all_uses(dup[i], kept[i]);
  return true;
}

// The inputs in a canonical order: sorted by id for commutative ops.
std::vector<Value*> canonical_inputs(const Node& n) {
  std::vector<Value*> in = n.inputs;
  bool commutative = n.op->name == "mul" ||
                     (n.op->name == "add" && n.attrs.get_or<double>("alpha", 1.0) == 1.0);
  if (commutative && in.size() == 2 && in[0] && in[1] && in[1]->id < in[0]->id) std::swap(in[0], in[1]);
  return in;
}

}  // namespace

PassResult run_cse(Graph& g) {
  PassResult result;

  // Constants: bucket by content hash, then compare bytes.
  std::unordered_map<uint64_t, std::vector<Value*>> constants;
  for (Value* c : g.constants()) {
    if (c->users.empty() && !is_graph_result(g, c)) continue;
    auto& bucket = constants[constant_hash(c)];
    Value* same = nullptr;
    for (Value* k : bucket)
      if (same_constant(k, c)) same = k;
    if (!same) {
      bucket.push_back(c);
    } else if (merge(g, {c}, {same})) {
      result.add("merged_constants");
    }
  }

  // Nodes: the key narrows candidates; Attrs::operator== and input identity decide.
  std::unordered_map<std::string, std::vector<Node*>> seen;
  std::vector<Node*> order = g.nodes();
  for (Node* n : order) {
    if (has_side_effects(*n) || n->outputs.empty()) continue;
    std::vector<Value*> inputs = canonical_inputs(*n);
    std::string key = n->op->name + "|" + attrs_str(n->attrs);
    for (const Value* in : inputs) key += fmt::format("|{}", in ? in->id : -1);
    auto& bucket = seen[key];
    Node* same = nullptr;
    for (Node* k : bucket)
      if (k->op == n->op && k->attrs == n->attrs && canonical_inputs(*k) == inputs) same = k;
    if (!same) {
      bucket.push_back(n);
      continue;
    }
    if (merge(g, n->outputs, same->outputs)) {
      g.remove_node(n);
      result.add("merged_nodes");
    }
  }
  return result;
}

}  // namespace tandem::graph
