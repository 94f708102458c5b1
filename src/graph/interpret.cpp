// graph::run — the reference executor: one dispatch per node, in the graph's order, with
// autograd off. Intermediates are dropped after their last use; variable updates are applied
// after every node ran (so every node saw the variables' values from the start of the run).
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "../backend/cpu/loops.h"
#include "tandem/autograd.h"
#include "tandem/graph/compile.h"

namespace tandem::graph {

std::vector<Tensor> run(const Graph& g, const std::vector<Tensor>& inputs) {
  TANDEM_CHECK(inputs.size() == g.inputs().size(), "graph::run: the graph takes {} inputs, got {}",
               g.inputs().size(), inputs.size());
  int max_id = -1;
  auto see = [&](const Value* v) { max_id = std::max(max_id, v->id); };
  for (const Value* v : g.inputs()) see(v);
  for (const Value* v : g.variables()) see(v);
  for (const Value* v : g.constants()) see(v);
  for (const Node* n : g.nodes())
    for (const Value* v : n->outputs) see(v);
  std::vector<Tensor> vals(static_cast<size_t>(max_id + 1));

  // Last reader of each value (graph outputs and update sources stay until the end).
  constexpr int kKeep = std::numeric_limits<int>::max();
  std::vector<int> last(vals.size(), -1);
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value* v : nodes[i]->inputs)
      if (v) last[v->id] = static_cast<int>(i);
  for (const Value* v : g.outputs()) last[v->id] = kKeep;
  for (const auto& u : g.updates()) last[u.second->id] = kKeep;

  std::unordered_map<std::string, int64_t> symbols;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = g.inputs()[i];
    const Tensor& t = inputs[i];
    TANDEM_CHECK(t.defined(), "graph::run: input {} ('{}') is undefined", i, v->name);
    bool ok = t.dtype() == v->dtype && t.dim() == static_cast<int64_t>(v->shape.size());
    for (size_t d = 0; ok && d < v->shape.size(); ++d) {
      const Dim& dim = v->shape[d];
      if (dim.is_static()) {
        ok = dim.value == t.size(static_cast<int64_t>(d));
      } else {
        auto [it, fresh] = symbols.emplace(dim.symbol, t.size(static_cast<int64_t>(d)));
        ok = fresh || it->second == t.size(static_cast<int64_t>(d));
      }
    }
    TANDEM_CHECK(ok, "graph::run: input {} ('{}') is {}{}, the graph expects {}{}", i, v->name,
                 dtype_name(t.dtype()), tandem::shape_str(t.shape()), dtype_name(v->dtype),
                 shape_str(v->shape));
    vals[v->id] = t;
  }
  for (const Value* v : g.variables()) vals[v->id] = v->data;
  for (const Value* v : g.constants()) vals[v->id] = v->data;

  NoGradGuard no_grad;
  std::vector<Tensor> ins;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node* n = nodes[i];
    ins.clear();
    for (const Value* v : n->inputs) ins.push_back(v ? vals[v->id] : Tensor());
    std::vector<Tensor> outs;
    try {
      outs = dispatch(*n->op, ins, n->attrs);
    } catch (const Error& e) {
      std::string shapes;
      for (const Tensor& t : ins)
        shapes += (shapes.empty() ? "" : ", ") +
                  (t.defined() ? fmt::format("{}{}", dtype_name(t.dtype()), tandem::shape_str(t.shape())) : "_");
      TANDEM_FAIL("graph::run: node %{} {}({}): {}", n->id, n->op->name, shapes, e.what());
    }
    for (size_t k = 0; k < n->outputs.size() && k < outs.size(); ++k) {
      const Value* o = n->outputs[k];
      if (last[o->id] >= 0) vals[o->id] = std::move(outs[k]);
    }
    for (const Value* v : n->inputs)
      if (v && v->kind == Value::Kind::Op && last[v->id] == static_cast<int>(i)) vals[v->id] = Tensor();
  }

  std::vector<Tensor> result;
  result.reserve(g.outputs().size());
  for (const Value* v : g.outputs()) result.push_back(vals[v->id]);

  // Updates: sources that alias a target are copied first, so the order of the writes does
  // not matter (a <- b, b <- a swaps).
  const auto& updates = g.updates();
  std::vector<Tensor> srcs;
  srcs.reserve(updates.size());
  for (const auto& [var, val] : updates) {
    Tensor s = vals[val->id];
    for (const auto& u : updates)
      if (s.shares_storage(u.first->data)) {
        s = s.clone();
        break;
      }
    srcs.push_back(std::move(s));
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    const Tensor& dst = updates[i].first->data;
    if (srcs[i].impl() == dst.impl()) continue;
    cpu::copy_into(dst, srcs[i]);
    dst.storage()->bump_version();
  }
  return result;
}

}  // namespace tandem::graph
