// In-place rewriting (a planning-time pass of graph::lower): an elementwise kernel step writes
// its output into the buffer of an input that dies at that step (relu after linear, the add of
// a residual), so the two values share one arena buffer and the planner packs one fewer.
//
// A step qualifies when
//   - its op is marked OpDef::elementwise (its kernel reads element i of every operand before
//     writing element i of the output, dispatch_inplace relies on the same property), it has
//     one output and runs as a direct kernel call (not a dispatch fallback);
//   - the input has the output's dtype and shape (no broadcast: same elements, same order),
//     is not a view and lives in an arena buffer (not a graph input, variable or constant);
//   - that buffer, through every value and view sharing it, is read for the last time by this
//     step, and this step reads it only through that one value (x * x is fine; x + x.t() is
//     not);
// Graph outputs and update values live to the end, so they are never overwritten.
// The first qualifying input slot wins. Steps whose output is written straight into a
// variable (direct updates) are left alone.
#include "../plan_impl.h"
#include "tandem/graph/passes.h"

namespace tandem::graph::detail {

bool has_symbolic_inputs(const Graph& g) {
  for (const Value* v : g.inputs())
    if (!is_static(v->shape)) return true;
  return false;
}

int plan_inplace(Plan::Impl& p) {
  int count = 0;
  for (size_t s = 0; s < p.steps.size(); ++s) {
    Step& st = p.steps[s];
    if (st.kind != StepKind::Kernel || !st.op || !st.op->elementwise || st.out_vals.size() != 1 ||
        !st.direct_updates.empty())
      continue;
    const Val& out = p.vals[st.out_vals[0]];
    int out_buf = find(p.buffers, p.slots[out.slot].buffer);
    for (size_t i = 0; i < st.in_vals.size(); ++i) {
      int iv = st.in_vals[i];
      if (iv < 0) continue;
      const Val& in = p.vals[iv];
      if (in.is_view || in.meta.dtype != out.meta.dtype || in.meta.shape != out.meta.shape) continue;
      if (p.slots[in.slot].rel != 0 || !p.slots[in.slot].impl->storage) continue;
      int b = find(p.buffers, p.slots[in.slot].buffer);
      if (b == out_buf || p.buffers[b].where != Where::Arena) continue;
      if (p.buffers[b].last != static_cast<int>(s)) continue;
      bool only_here = true;
      for (int other : st.in_vals)
        if (other >= 0 && other != iv && find(p.buffers, p.slots[p.vals[other].slot].buffer) == b) only_here = false;
      if (!only_here) continue;
      merge_into(p.buffers, out_buf, b);
      st.inplace_input = static_cast<int>(i);
      ++count;
      break;
    }
  }
  return count;
}

}  // namespace tandem::graph::detail

namespace tandem::graph {

PassResult run_inplace(Graph& g) {
  PassResult r;  // reports only: the graph is unchanged
  if (detail::has_symbolic_inputs(g)) {
    r.counts["symbolic_inputs"] = 1;
    return r;
  }
  LowerOptions stats_only;
  stats_only.allocate = false;
  const MemoryStats m = lower(g, stats_only).memory();  // a copy: the lowered plan is a temporary
  r.counts["inplace_steps"] = m.num_inplace;
  r.counts["direct_updates"] = m.num_direct_updates;
  return r;
}

}  // namespace tandem::graph
