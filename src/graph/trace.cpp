// The tracer: runs a function eagerly while recording every dispatched op (docs/architecture.md
// "How data flows"). It sits in dispatch's interceptor hook; each op runs for real (so the
// traced call returns its eager results, autograd included) and becomes a recorded op whose
// inputs are found by TensorImpl identity:
//   - the function's inputs              -> graph inputs
//   - results of earlier recorded ops    -> their values (views are ops too)
//   - anything else (parameters, buffers, optimizer state, scalars) -> "outside" tensors,
//     variables when named, requiring grad, written in place or fed by a host prologue,
//     constants otherwise.
// An in-place op becomes an op producing a new value; every handle on the same storage with
// the same geometry (detach(), the AccumulateGrad clone) follows it, other views of that
// storage go stale (reading one later is an Error), and a write into an outside tensor is
// recorded as an update (variable <- new value) applied at the end of each compiled run.
// Reading a traced value on the host (item(), to_vector(), data_ptr()) is an Error: its value
// would be baked into the graph.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

#include "../core/read_hook.h"
#include "tandem/autograd.h"
#include "tandem/graph/trace.h"
#include "tandem/ops.h"
#include "trace_record.h"

namespace tandem::graph {
namespace detail {
namespace {

using Kind = TraceRecord::Kind;

bool same_geometry(const TensorImpl* a, const TensorImpl* b) {
  return a->dtype == b->dtype && a->offset == b->offset && a->sizes == b->sizes &&
         a->strides == b->strides;
}

class Tracer;
thread_local Tracer* t_tracer = nullptr;

class Tracer final : public DispatchInterceptor, public tandem::detail::ValueReadHook {
 public:
  explicit Tracer(const TraceOptions& opts) : opts_(opts) {}

  TraceRecord rec;
  std::unordered_map<const TensorImpl*, std::string> extra_names;

  // Hooks off while an op (or a host prologue) really runs: its kernels read and write data.
  struct Suspend {
    DispatchInterceptor* interceptor;
    tandem::detail::ValueReadHook* hook;
    Tracer* tracer;
    Suspend()
        : interceptor(set_dispatch_interceptor(nullptr)),
          hook(tandem::detail::value_read_hook()),
          tracer(t_tracer) {
      tandem::detail::value_read_hook() = nullptr;
      t_tracer = nullptr;
    }
    ~Suspend() {
      set_dispatch_interceptor(interceptor);
      tandem::detail::value_read_hook() = hook;
      t_tracer = tracer;
    }
    Suspend(const Suspend&) = delete;
    Suspend& operator=(const Suspend&) = delete;
  };

  int add_input(const Tensor& t, int index) {
    int v = new_val(Kind::Input, index, t);
    bind(t, v);
    input_impls_.insert(t.impl());
    return v;
  }

  // The value a tensor holds now; tensors never seen become outside tensors.
  int lookup(const Tensor& t, const char* where) {
    if (!t.defined()) return -1;
    const TensorImpl* impl = t.impl();
    auto it = cur_.find(impl);
    if (it != cur_.end()) {
      check_fresh(impl, where);
      return it->second;
    }
    auto s = by_storage_.find(t.storage().get());
    if (s != by_storage_.end()) {
      for (const TensorImpl* j : s->second) {
        if (!same_geometry(j, impl) || stale_.count(j)) continue;
        int v = cur_.at(j);
        bind(t, v);  // an alias (detach(), a saved tensor) of a known tensor
        if (auto r = root_.find(j); r != root_.end()) root_[impl] = r->second;
        if (input_impls_.count(j)) input_impls_.insert(impl);
        return v;
      }
      for (const TensorImpl* j : s->second) {
        TANDEM_CHECK(rec.vals[cur_.at(j)].kind == Kind::Outside,
                     "compile: {} reads a {}{} tensor that views a traced value without a tandem "
                     "op (made with from_blob or by hand?); use the view ops (view, slice, "
                     "select, ...) inside a compiled function",
                     where, dtype_name(t.dtype()), tandem::shape_str(t.shape()));
      }
    }
    TraceRecord::Outside o;
    o.t = t;
    auto n = opts_.names.find(impl);
    if (n != opts_.names.end()) o.name = n->second;
    o.variable = !o.name.empty() || t.requires_grad();
    int index = static_cast<int>(rec.outside.size());
    int v = new_val(Kind::Outside, index, t);
    o.val = v;
    rec.outside.push_back(std::move(o));
    bind(t, v);
    root_[impl] = index;
    return v;
  }

  std::vector<Tensor> run(const OpDef& def, const std::vector<Tensor>& inputs,
                          const Attrs& attrs) override {
    release_unreachable();  // before this op's outputs are allocated
    std::vector<int> ids;
    ids.reserve(inputs.size());
    for (const Tensor& t : inputs) ids.push_back(lookup(t, def.name.c_str()));
    std::vector<Tensor> outs;
    if (opts_.shapes_only && def.view == nullptr && reads_traced(ids) && !autograd::needs_record(def, inputs)) {
      outs = shapes_only_outputs(def, inputs, attrs);
    } else {
      Suspend s;
      outs = dispatch(def, inputs, attrs);
    }
    TraceRecord::Op op{&def, attrs, std::move(ids), {}};
    int opi = static_cast<int>(rec.ops.size());
    for (const Tensor& o : outs) {
      if (!o.defined()) {
        op.outs.push_back(-1);
        continue;
      }
      int v = new_val(Kind::Op, opi, o);
      op.outs.push_back(v);
      // A fresh result (or a view): nothing else may claim this impl's old value.
      stale_.erase(o.impl());
      root_.erase(o.impl());
      bind(o, v);
    }
    rec.ops.push_back(std::move(op));
    return outs;
  }

  void run_inplace(const OpDef& def, Tensor& self, std::vector<Tensor>& others,
                   const Attrs& attrs) override {
    const std::string where = def.name + "_";
    int self_id = lookup(self, where.c_str());
    if (opts_.shapes_only) refuse_outside_write(self, where);
    std::vector<int> ids{self_id};
    for (const Tensor& t : others) ids.push_back(lookup(t, where.c_str()));
    check_not_input(self, where);
    bool alias_copy = def.name == "copy" && others.size() == 1 && others[0].defined() &&
                      others[0].dtype() == self.dtype() && others[0].shape() == self.shape();
    std::vector<TensorMeta> metas;
    for (size_t i = 0; i < others.size() + 1; ++i)
      metas.push_back(TensorMeta::of(i == 0 ? self : others[i - 1]));
    {
      Suspend s;
      dispatch_inplace(def, self, others, attrs);
    }
    int nv;
    if (alias_copy) {
      nv = ids[1];  // self now holds src's value: no op needed
    } else {
      TensorMeta out = def.infer(metas, attrs).at(0);
      int opi = static_cast<int>(rec.ops.size());
      nv = new_val(Kind::Op, opi, out.dtype, self.shape());
      rec.ops.push_back({&def, attrs, ids, {nv}});
      if (out.dtype != self.dtype()) {
        static const OpDef& to = op("to");
        int cv = new_val(Kind::Op, opi + 1, self.dtype(), self.shape());
        rec.ops.push_back({&to, Attrs{{"dtype", self.dtype()}}, {nv}, {cv}});
        nv = cv;
      }
    }
    // Every handle on this storage: same geometry follows the write, other views go stale.
    for (const TensorImpl* j : by_storage_.at(self.storage().get())) {
      if (j == self.impl() || same_geometry(j, self.impl())) {
        cur_[j] = nv;
        stale_.erase(j);
        if (auto r = root_.find(j); r != root_.end()) record_update(r->second, nv);
      } else {
        auto r = root_.find(j);
        if (r != root_.end())
          TANDEM_FAIL("compile: {} writes through a {}{} view into {} ({}{}); in-place writes into "
                      "part of a variable can't be captured yet: write the whole tensor "
                      "(copy_ of a full-size result) instead",
                      where, dtype_name(self.dtype()), tandem::shape_str(self.shape()),
                      describe_outside(r->second), dtype_name(j->dtype), tandem::shape_str(j->sizes));
        stale_.insert(j);
      }
    }
  }

  void refuse_outside_write(const Tensor& self, const std::string& where) const {
    for (const TensorImpl* j : by_storage_.at(self.storage().get()))
      if (root_.count(j) || rec.vals[cur_.at(j)].kind == Kind::Outside)
        throw TraceRefused(fmt::format("compile: {} writes into a tensor from outside the function", where));
  }

  // shapes_only: whether an op reads a value computed from the function's inputs (then its
  // kernel is skipped); ops on outside tensors alone run for real.
  bool reads_traced(const std::vector<int>& ids) const {
    for (int v : ids)
      if (v >= 0 && rec.vals[v].kind != Kind::Outside) return true;
    return false;
  }

  // Uninitialized outputs of the shapes and dtypes def's shape rule gives (never written, so
  // their pages are never touched).
  static std::vector<Tensor> shapes_only_outputs(const OpDef& def, const std::vector<Tensor>& inputs,
                                                 const Attrs& attrs) {
    std::vector<TensorMeta> metas;
    metas.reserve(inputs.size());
    for (const Tensor& t : inputs) metas.push_back(TensorMeta::of(t));
    std::vector<Tensor> outs;
    for (const TensorMeta& m : def.infer(metas, attrs)) outs.push_back(empty(m.shape, {.dtype = m.dtype}));
    return outs;
  }

  void on_read(const TensorImpl* impl, const char* what) override {
    int v = -1;
    auto it = cur_.find(impl);
    if (it != cur_.end()) {
      v = it->second;
    } else if (auto s = by_storage_.find(impl->storage.get()); s != by_storage_.end()) {
      for (const TensorImpl* j : s->second)
        if (rec.vals[cur_.at(j)].kind != Kind::Outside) v = cur_.at(j);
    }
    if (v < 0) return;
    const auto& val = rec.vals[v];
    if (val.kind == Kind::Outside && !rec.outside[val.index].variable) return;
    TANDEM_FAIL(
        "compile: fn reads the value of a traced tensor ({} of {}, {}{}) after {}; data-dependent "
        "control flow can't be captured (the value would be baked into the graph) — move it out "
        "of the compiled function, or compute with tensor ops (where, masked_fill, ...) instead",
        what, describe(v), dtype_name(val.dtype), tandem::shape_str(val.shape), last_op());
  }

  void mark_variable(const Tensor& t) {
    int v = lookup(t, "trace_host_prologue");
    TANDEM_CHECK(rec.vals[v].kind == Kind::Outside,
                 "trace_host_prologue: a written tensor must come from outside the function");
    rec.outside[rec.vals[v].index].variable = true;
  }

  void finish(const std::vector<Tensor>& outputs) {
    for (const Tensor& t : outputs) {
      TANDEM_CHECK(t.defined(), "compile: the function returned an undefined tensor");
      rec.outputs.push_back(lookup(t, "the function's result"));
    }
    for (auto& o : rec.outside) {
      auto n = extra_names.find(o.t.impl());
      if (n != extra_names.end() && o.name.empty()) {
        o.name = n->second;
        o.variable = true;
      }
    }
    // Final .grad of each parameter, when this function computed it.
    for (size_t i = 0; i < rec.outside.size(); ++i) {
      const Tensor& p = rec.outside[i].t;
      if (!rec.outside[i].variable || !p.requires_grad()) continue;
      Tensor g = p.grad();
      if (!g.defined()) continue;
      auto it = cur_.find(g.impl());
      if (it == cur_.end() || rec.vals[it->second].kind != Kind::Op) continue;
      check_fresh(g.impl(), "the gradient");
      rec.grads.emplace_back(p, it->second);
    }
  }

  void grad_cleared(const Tensor& p) {
    Tensor g = p.grad();
    if (g.defined()) {
      auto it = cur_.find(g.impl());
      if (it != cur_.end() && rec.vals[it->second].kind == Kind::Op) return;  // made in this trace
    }
    rec.grads_cleared.push_back(p.impl());
  }

  bool shapes_only() const { return opts_.shapes_only; }

  std::string name_of(const TensorImpl* impl) const {
    auto n = opts_.names.find(impl);
    if (n != opts_.names.end()) return n->second;
    auto e = extra_names.find(impl);
    return e != extra_names.end() ? e->second : "";
  }

 private:
  int new_val(Kind kind, int index, const Tensor& t) { return new_val(kind, index, t.dtype(), t.shape()); }
  int new_val(Kind kind, int index, DType dtype, const Shape& shape) {
    rec.vals.push_back({kind, index, dtype, shape});
    return static_cast<int>(rec.vals.size()) - 1;
  }

  void bind(const Tensor& t, int v) {
    const TensorImpl* impl = t.impl();
    if (!cur_.count(impl)) {
      keep_.push_back(t);  // NOTE: holds the impl so its address is not reused while tracing
      by_storage_[t.storage().get()].push_back(impl);
    }
    cur_[impl] = v;
  }

  // NOTE: keep_ holds every tensor the trace has seen, so that no address in the maps is
  // reused while tracing; holding them to the end made the trace's peak memory the sum of
  // all intermediates (every activation of a model at once). A storage that only keep_'s
  // handles reach (keep_ is each handle's one owner, and the storage has no owner but them)
  // can never be read or aliased again: its handles are forgotten and released after each
  // op, before their addresses can be reused. The scan is a pass of use counts over keep_.
  void release_unreachable() {
    std::unordered_map<const Storage*, std::pair<size_t, long>> only_ours;  // (handles, storage owners)
    for (const Tensor& t : keep_) {
      if (t.impl_ptr().use_count() != 1) continue;
      auto& c = only_ours[t.storage().get()];
      c.first++;
      c.second = t.storage().use_count();
    }
    if (only_ours.empty()) return;
    std::unordered_set<const Storage*> gone;
    for (const auto& [storage, c] : only_ours) {
      auto s = by_storage_.find(storage);
      if (s != by_storage_.end() && s->second.size() == c.first && c.second == static_cast<long>(c.first))
        gone.insert(storage);
    }
    if (gone.empty()) return;
    std::vector<Tensor> kept, released;
    kept.reserve(keep_.size());
    for (Tensor& t : keep_) {
      if (!gone.count(t.storage().get())) {
        kept.push_back(std::move(t));
        continue;
      }
      const TensorImpl* impl = t.impl();
      cur_.erase(impl);
      stale_.erase(impl);
      root_.erase(impl);
      input_impls_.erase(impl);
      extra_names.erase(impl);
      released.push_back(std::move(t));
    }
    for (const Storage* storage : gone) by_storage_.erase(storage);
    keep_ = std::move(kept);
    // `released` dies here: only now may the addresses be reused.
  }

  void check_fresh(const TensorImpl* impl, const char* where) const {
    TANDEM_CHECK(!stale_.count(impl),
                 "compile: {} reads a {}{} view whose storage was written in place through "
                 "another view after it was taken; the graph can't follow that aliasing — take "
                 "the view after the in-place write (or clone() first)",
                 where, dtype_name(impl->dtype), tandem::shape_str(impl->sizes));
  }

  void check_not_input(const Tensor& self, const std::string& where) const {
    for (const TensorImpl* j : by_storage_.at(self.storage().get())) {
      if (!input_impls_.count(j)) continue;
      TANDEM_FAIL("compile: {} writes in place into input {} of the compiled function; in-place "
                  "changes of the arguments can't be captured — clone() the input first",
                  where, rec.vals[cur_.at(j)].index);
    }
  }

  void record_update(int outside_index, int v) {
    rec.outside[outside_index].variable = true;
    for (auto& u : rec.updates)
      if (u.first == outside_index) {
        u.second = v;
        return;
      }
    rec.updates.emplace_back(outside_index, v);
  }

  std::string describe_outside(int i) const {
    const auto& o = rec.outside[i];
    if (!o.name.empty()) return fmt::format("variable '{}'", o.name);
    std::string n = name_of(o.t.impl());
    return n.empty() ? fmt::format("an outside tensor #{}", i) : fmt::format("variable '{}'", n);
  }

  std::string describe(int v) const {
    const auto& val = rec.vals[v];
    switch (val.kind) {
      case Kind::Input: return fmt::format("input {}", val.index);
      case Kind::Outside: return describe_outside(val.index);
      case Kind::Op:
        return fmt::format("the result of op #{} '{}'", val.index, rec.ops[val.index].def->name);
    }
    return "?";
  }

  std::string last_op() const {
    if (rec.ops.empty()) return "no op yet";
    const auto& op = rec.ops.back();
    return fmt::format("op #{} '{}'", rec.ops.size() - 1, op.def->name);
  }

  const TraceOptions& opts_;
  std::unordered_map<const TensorImpl*, int> cur_;
  std::unordered_set<const TensorImpl*> stale_;
  std::unordered_map<const Storage*, std::vector<const TensorImpl*>> by_storage_;
  std::unordered_map<const TensorImpl*, int> root_;  // impl -> outside index it aliases fully
  std::unordered_set<const TensorImpl*> input_impls_;
  std::vector<Tensor> keep_;
};

}  // namespace

TraceRecord trace(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                  const std::vector<Tensor>& inputs, const TraceOptions& options,
                  std::vector<Tensor>& outputs) {
  TANDEM_CHECK(t_tracer == nullptr, "compile: already tracing on this thread");
  Tracer tracer(options);
  for (size_t i = 0; i < inputs.size(); ++i) {
    TANDEM_CHECK(inputs[i].defined(), "compile: input {} is an undefined tensor", i);
    tracer.rec.inputs.push_back(tracer.add_input(inputs[i], static_cast<int>(i)));
  }
  struct Install {
    DispatchInterceptor* interceptor;
    tandem::detail::ValueReadHook* hook;
    explicit Install(Tracer* t)
        : interceptor(set_dispatch_interceptor(t)), hook(tandem::detail::value_read_hook()) {
      tandem::detail::value_read_hook() = t;
      t_tracer = t;
    }
    ~Install() {
      set_dispatch_interceptor(interceptor);
      tandem::detail::value_read_hook() = hook;
      t_tracer = nullptr;
    }
  };
  {
    Install install(&tracer);
    outputs = fn(inputs);
    tracer.finish(outputs);
  }
  return std::move(tracer.rec);
}

namespace {

SymShape to_sym(const Shape& shape, const std::vector<bool>* sym) {
  SymShape s;
  for (size_t d = 0; d < shape.size(); ++d)
    s.push_back(sym && d < sym->size() && (*sym)[d] ? Dim::sym("batch") : Dim(shape[d]));
  return s;
}

bool same_data(const Tensor& a, const Tensor& b) {
  if (a.impl() == b.impl()) return true;
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.numel() > (1 << 20)) return false;
  // Integers compare as integers: int64 values above 2^53 differ where their doubles do not.
  if (!is_floating(a.dtype())) return a.to_vector<int64_t>() == b.to_vector<int64_t>();
  return a.to_vector<double>() == b.to_vector<double>();
}

}  // namespace

Graph build_graph(const TraceRecord& rec, const std::vector<std::vector<bool>>* sym,
                  std::vector<Value*>* outside_values) {
  Graph g;
  std::vector<Value*> map(rec.vals.size(), nullptr);
  auto sym_of = [&](int v) { return sym ? &(*sym)[v] : nullptr; };
  for (size_t i = 0; i < rec.inputs.size(); ++i) {
    int v = rec.inputs[i];
    const auto& val = rec.vals[v];
    std::string name = rec.inputs.size() == 1 ? "x" : fmt::format("x{}", i);
    map[v] = g.add_input(name, val.dtype, to_sym(val.shape, sym_of(v)));
  }
  for (size_t i = 0; i < rec.outside.size(); ++i) {
    const auto& o = rec.outside[i];
    map[o.val] = o.variable
                     ? g.add_variable(o.name.empty() ? fmt::format("state{}", i) : o.name, o.t)
                     : g.add_constant(o.t, o.name);
    if (outside_values) outside_values->push_back(map[o.val]);
  }
  for (const auto& op : rec.ops) {
    std::vector<Value*> ins;
    for (int v : op.ins) ins.push_back(v < 0 ? nullptr : map[v]);
    std::vector<std::pair<DType, SymShape>> outs;
    for (int v : op.outs) outs.emplace_back(rec.vals[v].dtype, to_sym(rec.vals[v].shape, sym_of(v)));
    Node* n = g.add_node_with_outputs(*op.def, ins, op.attrs, outs);
    for (size_t k = 0; k < op.outs.size(); ++k) map[op.outs[k]] = n->outputs[k];
  }
  std::vector<Value*> outs;
  for (int v : rec.outputs) outs.push_back(map[v]);
  for (const auto& [p, v] : rec.grads) outs.push_back(map[v]);
  g.set_outputs(std::move(outs));
  for (const auto& [o, v] : rec.updates) g.add_update(map[rec.outside[o].val], map[v]);
  return g;
}

namespace {

// reshape(shape=[.., b1, ..]) vs reshape(shape=[.., b2, ..]) with the batch in one place and no
// -1 elsewhere: the same op as reshape(shape=[.., -1, ..]) at every batch size.
bool batch_reshape(const TraceRecord::Op& x, TraceRecord::Op& y, int64_t b1, int64_t b2) {
  if (x.def->name != "reshape" || !x.attrs.has("shape") || !y.attrs.has("shape")) return false;
  if (x.attrs.items().size() != 1 || y.attrs.items().size() != 1) return false;
  auto sx = x.attrs.get<std::vector<int64_t>>("shape");
  auto sy = y.attrs.get<std::vector<int64_t>>("shape");
  if (sx.size() != sy.size()) return false;
  int pos = -1;
  for (size_t i = 0; i < sx.size(); ++i) {
    if (sx[i] == -1 || sy[i] == -1) return false;
    if (sx[i] == sy[i]) continue;
    if (sx[i] != b1 || sy[i] != b2 || pos >= 0) return false;
    pos = static_cast<int>(i);
  }
  if (pos < 0) return false;
  sy[pos] = -1;
  y.attrs.set("shape", sy);
  return true;
}

}  // namespace

std::string compare_for_batch(const TraceRecord& a, int64_t b1, TraceRecord& b, int64_t b2,
                              std::vector<std::vector<bool>>& sym) {
  if (a.ops.size() != b.ops.size() || a.vals.size() != b.vals.size() ||
      a.outside.size() != b.outside.size())
    return fmt::format("the traces at batch {} and {} differ in length ({} and {} ops)", b1, b2,
                       a.ops.size(), b.ops.size());
  if (a.outputs != b.outputs || a.updates != b.updates || a.inputs != b.inputs ||
      a.grads.size() != b.grads.size())
    return fmt::format("the traces at batch {} and {} have different outputs or updates", b1, b2);
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const auto& x = a.ops[i];
    auto& y = b.ops[i];
    if (x.def != y.def || x.ins != y.ins || x.outs != y.outs)
      return fmt::format("op #{} is '{}' at batch {} and '{}' at batch {}", i, x.def->name, b1,
                         y.def->name, b2);
    if (!(x.attrs == y.attrs) && !batch_reshape(x, y, b1, b2))
      return fmt::format("op #{} '{}' has attributes [{}] at batch {} and [{}] at batch {}", i,
                         x.def->name, attrs_str(x.attrs), b1, attrs_str(y.attrs), b2);
  }
  for (size_t i = 0; i < a.outside.size(); ++i) {
    const auto &x = a.outside[i], &y = b.outside[i];
    bool same = x.variable == y.variable &&
                (x.variable ? x.t.impl() == y.t.impl() : same_data(x.t, y.t));
    if (!same)
      return fmt::format("{} #{} ({}{}) differs between batch {} and {} (a value computed from the "
                         "batch size, e.g. a mean's 1/N, is baked into it)",
                         x.variable ? "variable" : "constant", i, dtype_name(x.t.dtype()),
                         tandem::shape_str(x.t.shape()), b1, b2);
  }
  sym.assign(a.vals.size(), {});
  for (size_t v = 0; v < a.vals.size(); ++v) {
    const auto &x = a.vals[v], &y = b.vals[v];
    if (x.kind != y.kind || x.dtype != y.dtype || x.shape.size() != y.shape.size())
      return fmt::format("value #{} differs between the traces", v);
    sym[v].assign(x.shape.size(), false);
    for (size_t d = 0; d < x.shape.size(); ++d) {
      if (x.shape[d] == y.shape[d]) continue;
      if (x.shape[d] == b1 && y.shape[d] == b2) {
        sym[v][d] = true;
        continue;
      }
      std::string what = x.kind == TraceRecord::Kind::Op
                             ? fmt::format("the result of op #{} '{}'", x.index, a.ops[x.index].def->name)
                             : fmt::format("value #{}", v);
      return fmt::format("{} has shape {} at batch {} and {} at batch {}: a dim that is neither "
                         "fixed nor the batch size",
                         what, tandem::shape_str(x.shape), b1, tandem::shape_str(y.shape), b2);
    }
  }
  return "";
}

}  // namespace detail

bool is_tracing() { return detail::t_tracer != nullptr; }

void trace_host_prologue(std::function<void()> fn, const std::vector<Tensor>& writes) {
  detail::Tracer* t = detail::t_tracer;
  if (!t) {
    fn();
    return;
  }
  if (t->shapes_only()) throw detail::TraceRefused("compile: the function registers a host prologue");
  for (const Tensor& w : writes) t->mark_variable(w);
  {
    detail::Tracer::Suspend s;
    fn();
  }
  t->rec.prologue.push_back(std::move(fn));
}

void run_untraced(const std::function<void()>& fn) {
  if (!detail::t_tracer) {
    fn();
    return;
  }
  detail::Tracer::Suspend off;
  fn();
}

void trace_guard(std::function<std::string()> check) {
  if (detail::t_tracer) detail::t_tracer->rec.guards.push_back(std::move(check));
}

void trace_grad_cleared(const Tensor& param) {
  if (detail::t_tracer && param.defined()) detail::t_tracer->grad_cleared(param);
}

void trace_name(const Tensor& t, const Tensor& owner, const std::string& suffix) {
  detail::Tracer* tr = detail::t_tracer;
  if (!tr || !t.defined()) return;
  std::string base = owner.defined() ? tr->name_of(owner.impl()) : "";
  tr->extra_names[t.impl()] = base.empty() ? suffix : base + "." + suffix;
}

}  // namespace tandem::graph
