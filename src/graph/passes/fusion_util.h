// Small helpers shared by the fusion passes (src/graph/passes/fold_batchnorm.cpp,
// fuse_matmul_act.cpp, fuse_elementwise.cpp).
#pragma once
#include <algorithm>
#include <set>

#include "tandem/graph/ir.h"

namespace tandem::graph::fusion_detail {

// True when v is a graph output or the new value of a variable update.
inline bool escapes(const Graph& g, const Value* v) {
  for (const Value* o : g.outputs())
    if (o == v) return true;
  for (const auto& [var, val] : g.updates())
    if (val == v) return true;
  return false;
}

// Nobody reads v (no node, no output, no update).
inline bool unused(const Graph& g, const Value* v) { return v->users.empty() && !escapes(g, v); }

// v's only reader is `node` (through exactly one input slot) and it does not escape.
inline bool only_user(const Graph& g, const Value* v, const Node* node) {
  return v->users.size() == 1 && v->users[0] == node && !escapes(g, v);
}

// Data that a run cannot change: a Constant, or a Variable no update writes.
inline bool frozen(const Graph& g, const Value* v) {
  if (v == nullptr) return true;
  if (v->kind == Value::Kind::Constant) return true;
  if (v->kind != Value::Kind::Variable) return false;
  for (const auto& [var, val] : g.updates())
    if (var == v) return false;
  return true;
}

}  // namespace tandem::graph::fusion_detail
