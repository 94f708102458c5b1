// tandem::compile's cache: keys, re-trace reasons and limit, dynamic batch, running a cached
// graph (prologues, guards, .grad hand-back). The key is documented in tandem/graph/compile.h.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tandem/autocast.h"
#include "tandem/autograd.h"
#include "tandem/graph/compile.h"
#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"
#include "tandem/graph/trace.h"
#include "trace_record.h"

namespace tandem::graph::detail {

namespace {

struct Key {
  std::vector<DType> dtypes;
  std::vector<Device> devices;
  std::vector<Shape> shapes;
  std::vector<int> alias;  // per argument: index of the first argument with the same tensor
  std::string statics;
  bool grad_mode = true;
  bool autocast = false;  // traced inside an autocast scope: casts and bf16 ops in the graph
  std::vector<char> module_state;  // training flag per submodule, then .grad defined per param
};

std::string statics_str(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\x1f' ? std::string(", ") : std::string(1, c);
  if (out.size() >= 2) out.resize(out.size() - 2);
  return "(" + out + ")";
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

}  // namespace

struct CompiledCore::Impl {
  struct Entry {
    Key key;
    TraceRecord rec;
    Graph graph;
    std::vector<Value*> outside_values;
    std::vector<std::pair<Tensor, int>> grad_inputs;  // (param, outside index): bound per run
    bool symbolic = false;        // dim 0 of the batch inputs is symbolic
    bool batch_dependent = false; // dynamic_batch: confirmed to depend on the batch size
    int64_t batch = -1;
    std::vector<bool> batch_inputs;
    // Lowered plans by input shapes (one for a static graph); none when the interpreter runs it.
    std::vector<std::pair<std::vector<Shape>, std::unique_ptr<Plan>>> plans;
    bool interpret = false;
    // module_state positions the graph does not depend on (.grad cleared by fn first).
    std::vector<char> ignore;
  };

  CompileOptions opts;
  TraceOptions trace_opts;
  std::vector<std::pair<std::string, const ModelState*>> modules;
  std::vector<std::pair<std::string, Tensor>> params;
  std::vector<std::unique_ptr<Entry>> entries;
  Entry* last = nullptr;
  CompileStats stats;
  bool log = env_flag("TANDEM_LOG_RECOMPILES");
  Graph empty_graph;
  std::string pass_spec;  // CompileOptions::passes as a pipeline spec; empty: none
  bool shapes_only_refused = false;  // fn wrote outside state in a shapes-only trace

  // The pass pipeline on a freshly traced graph (dumps go to dump_dir/passes_<trace>).
  void optimize(Graph& g) {
    if (pass_spec.empty()) return;
    PipelineOptions po;
    po.passes = pass_spec;
    po.inference = opts.freeze;
    if (!opts.dump_dir.empty()) po.dump_dir = fmt::format("{}/passes_{}", opts.dump_dir, stats.traces + 1);
    run_pipeline(g, po);
  }

  explicit Impl(CompileOptions o) : opts(std::move(o)) {
    TANDEM_CHECK(opts.retrace_limit >= 0, "compile: retrace_limit must be >= 0, got {}",
                 opts.retrace_limit);
    if (!opts.passes.empty()) {
      pass_spec = fmt::format("{}", fmt::join(opts.passes, ","));
      PassPipeline::from_spec(pass_spec, opts.freeze);  // Error now for an unknown pass name
    }
    for (const auto& m : opts.modules) {
      TANDEM_CHECK(m != nullptr, "compile: CompileOptions::modules holds a null module");
      for (auto& [name, t] : m->state_parameters()) {
        trace_opts.names.emplace(t.impl(), name);
        params.emplace_back(name, t);
      }
      for (auto& [name, t] : m->state_buffers()) trace_opts.names.emplace(t.impl(), name);
      for (auto& [name, sub] : m->state_modules()) modules.emplace_back(name.empty() ? "<root>" : name, sub);
    }
    for (auto& [name, t] : opts.named_tensors)
      if (t.defined()) trace_opts.names[t.impl()] = name;
  }

  Key make_key(const std::vector<Tensor>& ts, const std::string& statics) const {
    Key k;
    for (size_t i = 0; i < ts.size(); ++i) {
      const Tensor& t = ts[i];
      TANDEM_CHECK(t.defined(), "compile: tensor argument {} is undefined", i);
      k.dtypes.push_back(t.dtype());
      k.devices.push_back(t.device());
      k.shapes.push_back(t.shape());
      int a = static_cast<int>(i);
      for (size_t j = 0; j < i; ++j)
        if (ts[j].impl() == t.impl()) {
          a = static_cast<int>(j);
          break;
        }
      k.alias.push_back(a);
    }
    k.statics = statics;
    k.grad_mode = is_grad_enabled();
    k.autocast = is_autocast_enabled();
    for (const auto& [name, m] : modules) k.module_state.push_back(m->state_training());
    for (const auto& [name, p] : params) k.module_state.push_back(p.grad().defined());
    return k;
  }

  // Which arguments carry the batch (dynamic mode): dim 0 equal to argument 0's.
  static std::vector<bool> batch_inputs_of(const Key& k, int64_t& batch) {
    std::vector<bool> b(k.shapes.size(), false);
    batch = -1;
    if (k.shapes.empty() || k.shapes[0].empty()) return b;
    batch = k.shapes[0][0];
    for (size_t i = 0; i < k.shapes.size(); ++i) b[i] = !k.shapes[i].empty() && k.shapes[i][0] == batch;
    return b;
  }

  static bool same_state(const Key& a, const Key& b, const std::vector<char>& ignore) {
    if (a.module_state.size() != b.module_state.size()) return false;
    for (size_t i = 0; i < a.module_state.size(); ++i)
      if (a.module_state[i] != b.module_state[i] && !(i < ignore.size() && ignore[i])) return false;
    return true;
  }

  // Same key, except possibly for the batch dim of the batch arguments.
  static bool same_but_batch(const Key& a, const Key& b, const std::vector<bool>& batch_inputs,
                             const std::vector<char>& ignore) {
    if (a.dtypes != b.dtypes || a.devices != b.devices || a.alias != b.alias ||
        a.statics != b.statics || a.grad_mode != b.grad_mode || a.autocast != b.autocast || !same_state(a, b, ignore) ||
        a.shapes.size() != b.shapes.size())
      return false;
    int64_t nb = -1;
    for (size_t i = 0; i < a.shapes.size(); ++i) {
      const Shape &x = a.shapes[i], &y = b.shapes[i];
      if (x.size() != y.size()) return false;
      for (size_t d = 0; d < x.size(); ++d) {
        if (d == 0 && batch_inputs[i]) {
          if (nb < 0) nb = y[0];
          if (y[0] != nb) return false;
          continue;
        }
        if (x[d] != y[d]) return false;
      }
    }
    return true;
  }

  bool matches(const Entry& e, const Key& k) const {
    if (!e.symbolic) {
      return e.key.dtypes == k.dtypes && e.key.devices == k.devices && e.key.shapes == k.shapes &&
             e.key.alias == k.alias && e.key.statics == k.statics &&
             e.key.grad_mode == k.grad_mode && e.key.autocast == k.autocast && same_state(e.key, k, e.ignore);
    }
    return same_but_batch(e.key, k, e.batch_inputs, e.ignore);
  }

  std::string module_state_diff(const Key& a, const Key& b) const {
    for (size_t i = 0; i < modules.size(); ++i)
      if (a.module_state[i] != b.module_state[i])
        return fmt::format("module '{}' changed from {} to {} mode", modules[i].first,
                           a.module_state[i] ? "training" : "eval",
                           b.module_state[i] ? "training" : "eval");
    for (size_t i = 0; i < params.size(); ++i) {
      size_t j = modules.size() + i;
      if (a.module_state[j] != b.module_state[j])
        return fmt::format("the .grad of parameter '{}' changed from {} to {}", params[i].first,
                           a.module_state[j] ? "defined" : "undefined",
                           b.module_state[j] ? "defined" : "undefined");
    }
    return "";
  }

  // Why `k` does not match `e` (the graph used last).
  std::string explain(const Entry& e, const Key& k) const {
    const Key& a = e.key;
    if (a.shapes.size() != k.shapes.size())
      return fmt::format("the number of tensor arguments changed from {} to {}", a.shapes.size(),
                         k.shapes.size());
    for (size_t i = 0; i < k.shapes.size(); ++i) {
      if (a.dtypes[i] != k.dtypes[i])
        return fmt::format("input {} dtype changed from {} to {}", i, dtype_name(a.dtypes[i]),
                           dtype_name(k.dtypes[i]));
      if (a.devices[i] != k.devices[i])
        return fmt::format("input {} device changed from {} to {}", i, device_name(a.devices[i]),
                           device_name(k.devices[i]));
      if (a.shapes[i] != k.shapes[i]) {
        std::string from = tandem::shape_str(a.shapes[i]);
        if (e.symbolic && e.batch_inputs[i] && !a.shapes[i].empty()) {
          SymShape s = sym_shape(a.shapes[i]);
          s[0] = Dim::sym("batch");
          from = graph::shape_str(s);
        }
        return fmt::format("input {} shape changed from {} to {}", i, from, tandem::shape_str(k.shapes[i]));
      }
      if (a.alias[i] != k.alias[i])
        return a.alias[i] == static_cast<int>(i)
                   ? fmt::format("input {} is now the same tensor as input {}", i, k.alias[i])
                   : fmt::format("input {} is no longer the same tensor as input {}", i, a.alias[i]);
    }
    if (a.statics != k.statics)
      return fmt::format("static arguments changed from {} to {}", statics_str(a.statics),
                         statics_str(k.statics));
    if (a.grad_mode != k.grad_mode)
      return fmt::format("grad mode changed from {} to {}", a.grad_mode ? "enabled" : "disabled",
                         k.grad_mode ? "enabled" : "disabled");
    if (a.autocast != k.autocast)
      return fmt::format("autocast changed from {} to {}", a.autocast ? "on" : "off", k.autocast ? "on" : "off");
    std::string m = module_state_diff(a, k);
    return m.empty() ? "the cache key changed" : m;
  }

  // Empty when the entry can run now; otherwise why it must be traced again.
  std::string check(Entry& e) {
    for (const Value* v : e.graph.variables()) {
      const Tensor& t = v->data;
      if (t.dtype() != v->dtype || sym_shape(t.shape()) != v->shape)
        return fmt::format("variable '{}' changed from {}{} to {}{}", v->name, dtype_name(v->dtype),
                           graph::shape_str(v->shape), dtype_name(t.dtype()), tandem::shape_str(t.shape()));
    }
    for (auto& [p, o] : e.grad_inputs) {
      Tensor g = p.grad();
      Value* v = e.outside_values[o];
      if (!g.defined() || g.dtype() != v->dtype || sym_shape(g.shape()) != v->shape)
        return fmt::format("the traced step reads the .grad of a parameter ({}{}), which is now {}",
                           dtype_name(v->dtype), graph::shape_str(v->shape),
                           g.defined() ? fmt::format("{}{}", dtype_name(g.dtype()), tandem::shape_str(g.shape()))
                                       : std::string("undefined"));
    }
    for (auto& guard : e.rec.guards) {
      std::string r = guard();
      if (!r.empty()) return r;
    }
    return "";
  }

  std::vector<Tensor> run_entry(Entry& e, const std::vector<Tensor>& ts) {
    for (auto& [p, o] : e.grad_inputs) {
      Value* v = e.outside_values[o];
      v->data = p.grad();
    }
    for (auto& fn : e.rec.prologue) fn();
    std::vector<Tensor> outs;
    if (Plan* plan = plan_for(e, ts))
      outs = plan->run(ts);
    else
      outs = graph::run(e.graph, ts);
    size_t n = e.rec.outputs.size();
    for (size_t k = 0; k < e.rec.grads.size(); ++k) e.rec.grads[k].first.set_grad(outs[n + k]);
    outs.resize(n);
    return outs;
  }

  // The Plan for these input shapes (lowered on first use), or null to interpret: when
  // use_plan is off, or the step reads .grad tensors bound per run (a Plan binds variables by
  // handle at lowering).
  Plan* plan_for(Entry& e, const std::vector<Tensor>& ts) {
    if (!opts.use_plan || e.interpret || !e.grad_inputs.empty()) return nullptr;
    std::vector<Shape> shapes;
    shapes.reserve(ts.size());
    for (const Tensor& t : ts) shapes.push_back(t.shape());
    for (auto& [s, p] : e.plans)
      if (s == shapes) return p.get();
    if (e.plans.size() >= 16) e.plans.erase(e.plans.begin());  // dynamic batch: keep a few
    std::unique_ptr<Plan> plan;
    try {
      plan = std::make_unique<Plan>(lower(e.graph, {.input_shapes = shapes}));
    } catch (const Error& err) {
      // Same results either way: the interpreter runs the same kernels; say so in the stats.
      e.interpret = true;
      stats.notes.push_back(fmt::format("graph of trace {} runs in the interpreter: {}",
                                        stats.traces, err.what()));
      return nullptr;
    }
    e.plans.emplace_back(shapes, std::move(plan));
    return e.plans.back().second.get();
  }

  void note_trace(const std::string& reason) {
    stats.traces++;
    stats.reasons.push_back(reason);
    if (log) fmt::print(stderr, "tandem.compile: trace #{}: {}\n", stats.traces, reason);
  }

  void dump(const Entry& e) const {
    if (opts.dump_dir.empty()) return;
    std::filesystem::create_directories(opts.dump_dir);
    std::string base = fmt::format("{}/graph_{}", opts.dump_dir, stats.traces);
    std::ofstream(base + ".txt") << e.graph.str();
    std::ofstream(base + ".dot") << e.graph.dot();
  }

  std::unique_ptr<Entry> trace_entry(const Key& k, const std::vector<Tensor>& ts,
                                     const CompiledCore::Fn& fn, std::vector<Tensor>& outs) {
    auto e = std::make_unique<Entry>();
    e->key = k;
    e->batch_inputs = batch_inputs_of(k, e->batch);
    std::vector<std::pair<Tensor, Tensor>> grads_before;  // (param, its .grad at the call)
    for (const auto& [name, p] : params)
      if (p.grad().defined()) grads_before.emplace_back(p, p.grad());
    e->rec = trace(fn, ts, trace_opts, outs);
    for (size_t i = 0; i < e->rec.outside.size(); ++i)
      for (const auto& [p, g] : grads_before)
        if (e->rec.outside[i].t.impl() == g.impl()) e->grad_inputs.emplace_back(p, static_cast<int>(i));
    e->graph = build_graph(e->rec, nullptr, &e->outside_values);
    optimize(e->graph);
    e->ignore.assign(modules.size() + params.size(), 0);
    for (size_t i = 0; i < params.size(); ++i)
      for (const TensorImpl* c : e->rec.grads_cleared)
        if (c == params[i].second.impl()) e->ignore[modules.size() + i] = 1;
    return e;
  }

  std::vector<Tensor> call(const std::vector<Tensor>& ts, const std::string& statics,
                           const CompiledCore::Fn& fn) {
    if (graph::is_tracing()) return fn(ts);  // inside another trace: inline
    stats.calls++;
    Key k = make_key(ts, statics);
    std::string reason;
    for (size_t i = 0; i < entries.size(); ++i) {
      Entry& e = *entries[i];
      if (!matches(e, k)) continue;
      reason = check(e);
      if (reason.empty()) {
        stats.cache_hits++;
        last = &e;
        return run_entry(e, ts);
      }
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));  // stale: replaced below
      if (last == &e) last = nullptr;
      break;
    }
    if (reason.empty())
      reason = entries.empty() ? (stats.traces == 0 ? "first call" : "no cached graph")
                               : explain(last ? *last : *entries.back(), k);
    // Dynamic batch: a graph traced at one batch size, called at another.
    Entry* candidate = nullptr;
    if (opts.dynamic_batch)
      for (auto& e : entries)
        if (!e->symbolic && !e->batch_dependent && e->batch >= 0 &&
            same_but_batch(e->key, k, e->batch_inputs, e->ignore)) {
          candidate = e.get();
          break;
        }
    if (stats.traces >= 1 + static_cast<int64_t>(opts.retrace_limit))
      TANDEM_FAIL("compile: the function was traced {} times (retrace_limit {}) and would be traced "
                  "again because {}; earlier reasons: {}. Make the cause stable (e.g. "
                  "dynamic_batch for varying batch sizes) or raise retrace_limit",
                  stats.traces, opts.retrace_limit, reason,
                  fmt::join(stats.reasons.end() - std::min<int64_t>(3, stats.reasons.size()),
                            stats.reasons.end(), "; "));
    std::vector<Tensor> outs;
    // A frozen function called without grad: trace shapes only (no eager run whose
    // intermediates would peak above the planned run), then run the graph for the results.
    trace_opts.shapes_only = opts.freeze && !k.grad_mode && !shapes_only_refused;
    std::unique_ptr<Entry> e;
    try {
      e = trace_entry(k, ts, fn, outs);
    } catch (const TraceRefused& refused) {
      shapes_only_refused = true;  // nothing ran for real yet: trace again, eagerly
      stats.notes.push_back(fmt::format("traced eagerly: {}", refused.what()));
      trace_opts.shapes_only = false;
      e = trace_entry(k, ts, fn, outs);
    }
    const bool run_graph = trace_opts.shapes_only;
    if (candidate) {
      std::vector<std::vector<bool>> sym;
      std::string diff = compare_for_batch(candidate->rec, candidate->batch, e->rec, e->batch, sym);
      if (diff.empty()) {
        reason += fmt::format(" (dynamic_batch: traced at a second batch size; the graph does "
                              "not depend on it, dim 0 is now symbolic)");
        e->outside_values.clear();
        e->graph = build_graph(e->rec, &sym, &e->outside_values);
        optimize(e->graph);
        e->symbolic = true;
        for (auto it = entries.begin(); it != entries.end(); ++it)
          if (it->get() == candidate) {
            if (last == candidate) last = nullptr;
            entries.erase(it);
            break;
          }
      } else {
        reason += fmt::format(" (dynamic_batch: the graph depends on the batch size: {}; one graph "
                              "per batch size)", diff);
        candidate->batch_dependent = true;
        e->batch_dependent = true;
      }
    }
    note_trace(reason);
    dump(*e);
    entries.push_back(std::move(e));
    last = entries.back().get();
    if (run_graph) outs = run_entry(*last, ts);
    return outs;
  }
};

CompiledCore::CompiledCore(CompileOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
CompiledCore::~CompiledCore() = default;

std::vector<Tensor> CompiledCore::call(const std::vector<Tensor>& tensors,
                                       const std::string& static_key, const Fn& fn) {
  return impl_->call(tensors, static_key, fn);
}

const CompileStats& CompiledCore::stats() const { return impl_->stats; }

const Graph& CompiledCore::graph() const {
  return impl_->last ? impl_->last->graph : impl_->empty_graph;
}

}  // namespace tandem::graph::detail
