// graph::lower: Graph -> Plan (steps, pre-built tensor handles, buffers, liveness), then the
// planning passes (direct updates here, in-place in passes/inplace.cpp, arena offsets in
// passes/memory_plan.cpp) and the final binding of every handle to its arena slice.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "../ops/autocast_ops.h"
#include "plan_impl.h"
#include "tandem/autograd.h"

namespace tandem::graph {
namespace detail {

int find(std::vector<Buffer>& buffers, int b) {
  while (buffers[b].alias_of >= 0) b = buffers[b].alias_of;
  return b;
}

void merge_into(std::vector<Buffer>& buffers, int child, int parent) {
  int c = find(buffers, child), p = find(buffers, parent);
  if (c == p) return;
  buffers[c].alias_of = p;
  buffers[p].first = std::min(buffers[p].first, buffers[c].first);
  buffers[p].last = std::max(buffers[p].last, buffers[c].last);
}

namespace {

bool is_half(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

std::string node_str(const Node& n) {
  std::string s = fmt::format("%{} {}(", n.outputs.empty() ? n.id : n.outputs[0]->id, n.op->name);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i) s += ", ";
    s += n.inputs[i] ? fmt::format("%{}", n.inputs[i]->name.empty() ? std::to_string(n.inputs[i]->id)
                                                                     : n.inputs[i]->name)
                     : "_";
  }
  return s + ")";
}

std::string meta_str(const TensorMeta& m) {
  return fmt::format("{}{}", dtype_name(m.dtype), tandem::shape_str(m.shape));
}

size_t meta_bytes(const TensorMeta& m) { return shape_numel(m.shape) * itemsize(m.dtype); }

class Lowering {
 public:
  Lowering(Plan::Impl& p, const Graph& g, const LowerOptions& o) : p_(p), g_(g), o_(o) {}

  void run() {
    p_.placeholder = std::make_shared<Storage>(nullptr, 0, Device::CPU, std::function<void(void*)>());
    add_inputs();
    add_variables();
    add_constants();
    for (const Node* n : g_.nodes()) add_step(*n);
    mark_outputs_and_updates();
    compute_intervals();
    if (o_.direct_updates) p_.stats.num_direct_updates = plan_direct_updates();
    p_.stats.num_inplace = o_.inplace ? plan_inplace(p_) : 0;
    assign_output_roots();
    plan_memory(p_, o_.allocate);
    bind();
  }

 private:
  int new_buffer(Where where, int index, size_t bytes, bool from_step) {
    Buffer b;
    b.where = where;
    b.index = index;
    b.bytes = bytes;
    b.from_step = from_step;
    p_.buffers.push_back(std::move(b));
    return static_cast<int>(p_.buffers.size()) - 1;
  }
  int new_slot(std::shared_ptr<TensorImpl> impl, int buffer, int64_t rel) {
    p_.slots.push_back({std::move(impl), buffer, rel});
    return static_cast<int>(p_.slots.size()) - 1;
  }
  // A contiguous handle with offset 0 over the placeholder (bound later).
  std::shared_ptr<TensorImpl> contiguous_impl(const TensorMeta& m) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = p_.placeholder;
    impl->sizes = m.shape;
    impl->strides = contiguous_strides(m.shape);
    impl->numel = shape_numel(m.shape);
    impl->dtype = m.dtype;
    return impl;
  }
  int new_val(const Value* v, const TensorMeta& m, int slot) {
    Val val;
    val.value = v;
    val.meta = m;
    val.slot = slot;
    p_.vals.push_back(std::move(val));
    int id = static_cast<int>(p_.vals.size()) - 1;
    if (v) index_[v] = id;
    return id;
  }
  Tensor handle(int slot) { return Tensor(p_.slots[slot].impl); }

  void add_inputs() {
    const auto& ins = g_.inputs();
    TANDEM_CHECK(o_.input_shapes.empty() || o_.input_shapes.size() == ins.size(),
                 "graph::lower: {} input shapes given for a graph of {} inputs", o_.input_shapes.size(),
                 ins.size());
    for (size_t i = 0; i < ins.size(); ++i) {
      const Value* v = ins[i];
      TensorMeta m;
      m.dtype = v->dtype;
      if (!o_.input_shapes.empty()) {
        const Shape& s = o_.input_shapes[i];
        bool fits = s.size() == v->shape.size();
        for (size_t d = 0; fits && d < s.size(); ++d)
          fits = !v->shape[d].is_static() || v->shape[d].value == s[d];
        TANDEM_CHECK(fits, "graph::lower: input {} '{}' is {} but the shape {} was given to bind it", i,
                     v->name, shape_str(v->shape), tandem::shape_str(s));
        m.shape = s;
      } else {
        TANDEM_CHECK(is_static(v->shape),
                     "graph::lower: input {} '{}' has the symbolic shape {}; pass LowerOptions::input_shapes "
                     "to bind it", i, v->name, shape_str(v->shape));
        m.shape = static_shape(v->shape);
      }
      int b = new_buffer(Where::Input, static_cast<int>(i), meta_bytes(m), false);
      int s = new_slot(contiguous_impl(m), b, 0);
      p_.input_vals.push_back(new_val(v, m, s));
      p_.input_names.push_back(v->name);
      p_.input_metas.push_back(m);
    }
  }

  void add_variables() {
    for (size_t j = 0; j < g_.variables().size(); ++j) {
      const Value* v = g_.variables()[j];
      const Tensor& live = v->data;
      TANDEM_CHECK(live.device() == Device::CPU, "graph::lower: variable '{}' is not on the CPU", v->name);
      TensorMeta m = TensorMeta::of(live);
      m.is_wrapped_number = false;
      int b = new_buffer(Where::Variable, static_cast<int>(j), live.nbytes(), false);
      auto impl = contiguous_impl(m);
      impl->strides = live.strides();  // rebinding keeps the layout; run() checks it is unchanged
      int s = new_slot(std::move(impl), b, 0);
      new_val(v, m, s);
      p_.variables.push_back(live);
      p_.variable_strides.push_back(live.strides());
      p_.variable_dtypes.push_back(live.dtype());
      p_.variable_names.push_back(v->name);
    }
  }

  void add_constants() {
    for (const Value* v : g_.constants()) {
      int b = new_buffer(Where::Constant, -1, v->data.nbytes(), false);
      p_.buffers[b].storage = v->data.storage();
      // The constant's own handle: fixed storage, never rebound (keeps is_wrapped_number).
      int s = new_slot(v->data.impl_ptr(), b, v->data.offset());
      new_val(v, TensorMeta::of(v->data), s);
    }
  }

  int val_of(const Value* v, const Node& n) {
    auto it = index_.find(v);
    TANDEM_CHECK(it != index_.end(), "graph::lower: {} reads %{} before it is defined", node_str(n), v->id);
    return it->second;
  }

  void add_step(const Node& n) {
    int s = static_cast<int>(p_.steps.size());
    Step st;
    st.op = n.op;
    st.node = &n;
    st.attrs = n.attrs;
    std::vector<TensorMeta> in_meta;
    bool has_half = false;
    for (const Value* v : n.inputs) {
      if (!v) {
        st.in_vals.push_back(-1);
        st.ins.emplace_back();
        in_meta.push_back(TensorMeta::of(Tensor()));
        continue;
      }
      int iv = val_of(v, n);
      st.in_vals.push_back(iv);
      st.ins.push_back(handle(p_.vals[iv].slot));
      in_meta.push_back(p_.vals[iv].meta);
      const DType dt = p_.vals[iv].meta.dtype;  // a half input the kernel does not take as it is
      has_half |= is_half(dt) && !n.op->supports_half && !(dt == DType::BFloat16 && ::tandem::detail::autocast_op(*n.op).bf16_kernel);
      p_.vals[iv].last_use = std::max(p_.vals[iv].last_use, s);
    }
    std::vector<TensorMeta> out_meta;
    try {
      TANDEM_CHECK(n.op->infer != nullptr, "op has no shape rule");
      out_meta = n.op->infer(in_meta, n.attrs);
    } catch (const Error& e) {
      std::string shapes;
      for (const TensorMeta& m : in_meta) shapes += (shapes.empty() ? "" : ", ") + (m.defined ? meta_str(m) : "_");
      TANDEM_FAIL("graph::lower: {} on ({}): {}", node_str(n), shapes, e.what());
    }
    TANDEM_CHECK(out_meta.size() == n.outputs.size(), "graph::lower: {} infers {} outputs, the node has {}",
                 node_str(n), out_meta.size(), n.outputs.size());
    for (size_t k = 0; k < out_meta.size(); ++k) {
      out_meta[k].is_wrapped_number = false;
      // The graph's own dtype and static dims must agree with the bound shapes' inference.
      const Value* v = n.outputs[k];
      bool same = v->dtype == out_meta[k].dtype && v->shape.size() == out_meta[k].shape.size();
      for (size_t d = 0; same && d < v->shape.size(); ++d)
        same = !v->shape[d].is_static() || v->shape[d].value == out_meta[k].shape[d];
      TANDEM_CHECK(same, "graph::lower: {} output {} is {}{} in the graph but {} for the bound input shapes",
                   node_str(n), k, dtype_name(v->dtype), shape_str(v->shape), meta_str(out_meta[k]));
    }

    if (n.op->view) {
      lower_view(n, st, out_meta, s);
    } else {
      st.kind = n.op->cpu && !has_half ? StepKind::Kernel : StepKind::Dispatch;
      if (st.kind == StepKind::Dispatch)
        st.note = n.op->cpu ? "dispatch: float16/bfloat16 inputs computed in float32" : "dispatch: no cpu kernel";
      for (size_t k = 0; k < out_meta.size(); ++k) {
        int b = new_buffer(Where::Arena, -1, meta_bytes(out_meta[k]), true);
        int sl = new_slot(contiguous_impl(out_meta[k]), b, 0);
        int ov = new_val(n.outputs[k], out_meta[k], sl);
        p_.vals[ov].def_step = s;
        st.out_vals.push_back(ov);
        st.outs.push_back(handle(sl));
        st.out_impls.push_back(p_.slots[sl].impl.get());
      }
    }
    p_.steps.push_back(std::move(st));
  }

  void lower_view(const Node& n, Step& st, const std::vector<TensorMeta>& out_meta, int s) {
    st.kind = StepKind::View;
    const Tensor& base = st.ins.at(0);
    int base_slot = p_.vals[st.in_vals[0]].slot;
    int base_buffer = p_.slots[base_slot].buffer;
    // reshape copies when its input's layout admits no view (known now: layouts are static).
    // Probed with Tensor::view, which refuses instead of copying (the handles here have no data).
    bool copies = false;
    if (n.op->name == "reshape") {
      DispatchInterceptor* saved = set_dispatch_interceptor(nullptr);
      try {
        (void)base.view(n.attrs.get<IntArray>("shape"));
      } catch (const Error&) {
        copies = true;
      }
      set_dispatch_interceptor(saved);
    }
    if (copies) {
      st.kind = StepKind::Copy;
      st.note = "reshape of a non-viewable layout: copy";
      const TensorMeta& m = out_meta.at(0);
      int b = new_buffer(Where::Arena, -1, meta_bytes(m), true);
      TensorMeta src = m;
      src.shape = base.shape();
      int dst = new_slot(contiguous_impl(src), b, 0);
      st.copy_dst = handle(dst);
      int sl = new_slot(contiguous_impl(m), b, 0);
      int ov = new_val(n.outputs[0], m, sl);
      p_.vals[ov].def_step = s;
      st.out_vals.push_back(ov);
      st.outs.push_back(handle(sl));
      return;
    }
    std::vector<Tensor> outs;
    try {
      outs = n.op->view(st.ins, n.attrs);
    } catch (const Error& e) {
      TANDEM_FAIL("graph::lower: {}: {}", node_str(n), e.what());
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      TANDEM_CHECK(outs[k].storage() == base.storage(),
                   "graph::lower: view op {} did not return a view of its input", node_str(n));
      TANDEM_CHECK(outs[k].shape() == out_meta[k].shape, "graph::lower: {} view has shape {}, its rule says {}",
                   node_str(n), tandem::shape_str(outs[k].shape()), tandem::shape_str(out_meta[k].shape));
      outs[k].impl()->is_view = true;
      int sl = new_slot(outs[k].impl_ptr(), base_buffer, outs[k].offset());
      int ov = new_val(n.outputs[k], out_meta[k], sl);
      p_.vals[ov].def_step = s;
      p_.vals[ov].is_view = true;
      st.out_vals.push_back(ov);
      st.outs.push_back(outs[k]);
    }
  }

  void mark_outputs_and_updates() {
    for (const Value* v : g_.outputs()) {
      auto it = index_.find(v);
      TANDEM_CHECK(it != index_.end(), "graph::lower: output %{} is not defined", v->id);
      p_.output_vals.push_back(it->second);
      p_.vals[it->second].graph_output = true;
      p_.output_metas.push_back(p_.vals[it->second].meta);
    }
    std::unordered_map<const Value*, int> var_index;
    for (size_t j = 0; j < g_.variables().size(); ++j) var_index[g_.variables()[j]] = static_cast<int>(j);
    for (const auto& [var, value] : g_.updates()) {
      auto it = index_.find(value);
      TANDEM_CHECK(it != index_.end(), "graph::lower: the update of '{}' reads an undefined value", var->name);
      int v = it->second;
      Where w = p_.buffers[p_.slots[p_.vals[v].slot].buffer].where;
      if (w != Where::Arena) v = materialize(v, fmt::format("update of '{}' reads a {}", var->name,
                                                          w == Where::Variable ? "variable" : "graph input/constant"));
      p_.vals[v].update_value = true;
      p_.updates.push_back({var_index.at(var), v, false});
    }
    p_.end_step = static_cast<int>(p_.steps.size());
    for (Val& v : p_.vals)
      if (v.graph_output || v.update_value) v.last_use = p_.end_step;
  }

  // A Copy step at the end: an update's value that lives in a variable (or input) is copied
  // out first, so that the updates, applied one after the other, all read the old values.
  int materialize(int v, const std::string& why) {
    int s = static_cast<int>(p_.steps.size());
    Step st;
    st.kind = StepKind::Copy;
    st.note = why;
    st.in_vals.push_back(v);
    st.ins.push_back(handle(p_.vals[v].slot));
    p_.vals[v].last_use = std::max(p_.vals[v].last_use, s);
    const TensorMeta& m = p_.vals[v].meta;
    int b = new_buffer(Where::Arena, -1, meta_bytes(m), true);
    int sl = new_slot(contiguous_impl(m), b, 0);
    st.copy_dst = handle(sl);
    int ov = new_val(nullptr, m, sl);
    p_.vals[ov].def_step = s;
    st.out_vals.push_back(ov);
    st.outs.push_back(handle(sl));
    p_.steps.push_back(std::move(st));
    return ov;
  }

  void compute_intervals() {
    for (Buffer& b : p_.buffers) {
      b.first = b.from_step ? p_.end_step : 0;
      b.last = -1;
    }
    for (const Val& v : p_.vals) {
      Buffer& b = p_.buffers[p_.slots[v.slot].buffer];
      if (v.def_step >= 0) b.first = std::min(b.first, v.def_step);
      b.last = std::max({b.last, v.last_use, v.def_step});
    }
    for (Buffer& b : p_.buffers) b.own_last = b.last;
  }

  // variable <- value written by the value's producer straight into the variable: the value
  // is a kernel output nobody else aliases, the variable (and every view of it) is read for
  // the last time before that step, or by that step itself as an elementwise operand of the
  // output's shape (the optimizer pattern w <- w - lr * g). Each output of a multi-output
  // elementwise kernel (a fused optimizer step: param and state) may go to its own variable.
  int plan_direct_updates() {
    int count = 0;
    std::vector<bool> taken(p_.vals.size(), false);
    for (Update& u : p_.updates) {
      const Val& v = p_.vals[u.val];
      if (v.is_view || v.graph_output || v.def_step < 0 || taken[u.val]) continue;
      Step& st = p_.steps[v.def_step];
      if (st.kind != StepKind::Kernel) continue;
      size_t k = std::find(st.out_vals.begin(), st.out_vals.end(), u.val) - st.out_vals.begin();
      int var_val = index_.at(g_.variables()[u.variable]);
      int var_buf = find(p_.buffers, p_.slots[p_.vals[var_val].slot].buffer);
      const Tensor& live = p_.variables[u.variable];
      if (k >= st.out_vals.size() || !live.is_contiguous()) continue;
      const Buffer& vb = p_.buffers[var_buf];
      bool ok = vb.last < v.def_step;
      if (vb.last == v.def_step && st.op->elementwise) {
        ok = true;
        for (int iv : st.in_vals) {
          if (iv < 0 || find(p_.buffers, p_.slots[p_.vals[iv].slot].buffer) != var_buf) continue;
          ok &= iv == var_val && p_.vals[iv].meta.shape == v.meta.shape;
        }
      }
      if (!ok) continue;
      merge_into(p_.buffers, p_.slots[v.slot].buffer, var_buf);
      st.direct_updates.resize(st.out_vals.size(), -1);
      st.direct_updates[k] = u.variable;
      taken[u.val] = true;
      u.direct = true;
      ++count;
    }
    return count;
  }

  // A graph output produced by a kernel is written straight into the output tensor.
  void assign_output_roots() {
    for (size_t k = 0; k < p_.output_vals.size(); ++k) {
      const Val& v = p_.vals[p_.output_vals[k]];
      int b = find(p_.buffers, p_.slots[v.slot].buffer);
      bool direct = !v.is_view && v.def_step >= 0 && p_.buffers[b].where == Where::Arena &&
                    p_.slots[v.slot].rel == 0;
      if (direct) {
        p_.buffers[b].where = Where::Output;
        p_.buffers[b].index = static_cast<int>(k);
      }
      p_.output_copies.push_back(!direct);
    }
  }

  // Every arena slot gets its slice; the others are listed for rebinding at run time.
  void bind() {
    for (size_t i = 0; i < p_.slots.size(); ++i) {
      Slot& sl = p_.slots[i];
      int b = find(p_.buffers, sl.buffer);
      sl.buffer = b;
      const Buffer& buf = p_.buffers[b];
      if (buf.where == Where::Arena) {
        sl.impl->storage = buf.storage;
        sl.impl->offset = sl.rel;
      } else if (buf.where != Where::Constant) {
        p_.rebind.push_back(static_cast<int>(i));
      }
    }
    p_.roots.assign(p_.buffers.size(), nullptr);
    p_.contiguous_inputs.resize(p_.input_vals.size());
    p_.fresh_outputs.resize(p_.output_vals.size());
  }

  Plan::Impl& p_;
  const Graph& g_;
  const LowerOptions& o_;
  std::unordered_map<const Value*, int> index_;
};

}  // namespace
}  // namespace detail

std::string Plan::Impl::val_name(int v) const {
  if (v < 0) return "_";
  const detail::Val& val = vals[v];
  if (!val.value) return fmt::format("%copy{}", v);
  return val.value->name.empty() ? fmt::format("%{}", val.value->id) : "%" + val.value->name;
}

Plan lower(const Graph& g, const LowerOptions& options) {
  NoGradGuard no_grad;
  auto impl = std::make_unique<Plan::Impl>();
  detail::Lowering(*impl, g, options).run();
  return Plan(std::move(impl));
}

std::string Plan::str() const {
  using namespace detail;
  const Impl& p = *impl_;
  std::string s = fmt::format("plan: {} steps, arena {} bytes\n", p.steps.size(), p.stats.arena_bytes);
  auto where = [&](int v) {
    const Val& val = p.vals[v];
    const Slot& sl = p.slots[val.slot];
    const Buffer& b = p.buffers[sl.buffer];
    std::string t = fmt::format("{}{}", dtype_name(val.meta.dtype), tandem::shape_str(val.meta.shape));
    switch (b.where) {
      case Where::Arena:
        return fmt::format("{} arena[+{}, {}B]{}", t, b.offset + sl.rel * itemsize(val.meta.dtype), b.bytes,
                           val.is_view ? " view" : "");
      case Where::Input: return fmt::format("{} input {}{}", t, b.index, val.is_view ? " view" : "");
      case Where::Variable:
        return fmt::format("{} variable '{}'{}", t, p.variable_names[b.index], val.is_view ? " view" : "");
      case Where::Constant: return fmt::format("{} constant{}", t, val.is_view ? " view" : "");
      case Where::Output: return fmt::format("{} output {}{}", t, b.index, val.is_view ? " view" : "");
    }
    return t;
  };
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const Step& st = p.steps[i];
    std::string ins;
    for (int v : st.in_vals) ins += (ins.empty() ? "" : ", ") + p.val_name(v);
    std::string outs;
    for (int v : st.out_vals) outs += (outs.empty() ? "" : ", ") + p.val_name(v) + ": " + where(v);
    const char* kind = st.kind == StepKind::View ? " (view)" : st.kind == StepKind::Dispatch ? " (dispatch)" : "";
    s += fmt::format("  #{} {} = {}({}){}", i, outs, st.op ? st.op->name : "copy", ins, kind);
    if (st.inplace_input >= 0) s += fmt::format(" in place of {}", p.val_name(st.in_vals[st.inplace_input]));
    for (size_t k = 0; k < st.direct_updates.size(); ++k)
      if (st.direct_updates[k] >= 0)
        s += fmt::format(" {} writes variable '{}'", p.val_name(st.out_vals[k]), p.variable_names[st.direct_updates[k]]);
    if (!st.note.empty()) s += "  # " + st.note;
    s += "\n";
  }
  for (const Update& u : p.updates)
    s += fmt::format("  update '{}' <- {}{}\n", p.variable_names[u.variable], p.val_name(u.val),
                     u.direct ? " (written in place)" : "");
  const MemoryStats& m = p.stats;
  s += fmt::format("memory: arena {} B in {} buffers (live peak {} B), naive {} B, eager peak {} B, {} in place, "
                   "{} direct updates\n",
                   m.arena_bytes, m.num_buffers, m.live_peak_bytes, m.naive_bytes, m.eager_peak_bytes,
                   m.num_inplace, m.num_direct_updates);
  return s;
}

}  // namespace tandem::graph
