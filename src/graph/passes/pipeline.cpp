// The pass registry and the pipeline: which passes exist, in which order "all" runs them,
// the before/after dumps and the report.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_map>

#include "tandem/error.h"
#include "tandem/graph/fusion.h"
#include "tandem/graph/passes.h"
#include "tandem/graph/plan.h"

namespace tandem::graph {

namespace {

// The built-in passes. A new built-in pass adds one line here (see passes.h for why a
// static initializer in the pass's own file is not enough).
std::vector<Pass> builtin_passes() {
  return {
      {"shape_infer", [](Graph& g) { return run_shape_infer(g); }, false,
       "re-infers dtypes and shapes of every node"},
      {"fuse_qdq", run_fuse_qdq, true,
       "dequantize -> conv2d/linear (-> relu) -> quantize -> one int8 qlinear_conv2d/qlinear_linear"},
      {"const_fold", [](Graph& g) { return run_const_fold(g); }, false,
       "runs nodes whose inputs are all constants once"},
      {"simplify", run_simplify, false, "algebraic identities: x*1, x+0, neg(neg x), view chains"},
      {"cse", run_cse, false, "merges identical nodes and constants"},
      {"dce", run_dce, false, "removes nodes whose results are unused"},
      // Fusion, layout and planning passes:
      {"fold_batchnorm", run_fold_batchnorm, true,
       "folds eval-mode batch_norm into the preceding conv2d/linear (new constants)"},
      {"fuse_matmul_act", run_fuse_matmul_act, false,
       "linear/conv2d + activation -> linear_act/conv2d_act"},
      {"fuse_hardswish", run_fuse_hardswish, false,
       "linear/conv2d -> y * clamp(y / 6 + 0.5, 0, 1) -> linear_act/conv2d_act with act hardswish"},
      {"prepack_weights", run_prepack_weights, false,
       "marks linear/conv2d(+act) nodes whose weight the graph does not update: packed once"},
      {"blocked_layout", run_blocked_layout, false,
       "inference: conv2d/max_pool2d chains keep oneDNN's nChw16c layout between them"},
      {"fuse_elementwise", run_fuse_elementwise, false,
       "float32 elementwise regions (+ trailing sum/mean) -> one fused_elementwise kernel"},
      {"inplace", run_inplace, false, "reports the steps graph::lower runs in place (graph unchanged)"},
      {"memory_plan", run_memory_plan, false, "reports graph::lower's arena vs naive and eager bytes (graph unchanged)"},
  };
}

struct Registry {
  std::mutex mu;
  std::map<std::string, Pass, std::less<>> passes;
  Registry() {
    for (Pass& p : builtin_passes()) passes.emplace(p.name, std::move(p));
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

std::string known_names() {
  std::string s;
  for (const std::string& n : registered_passes()) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path);
  TANDEM_CHECK(f.good(), "graph dump: cannot write '{}'; check that the directory is writable",
               path.string());
  f << text;
  f.close();
  TANDEM_CHECK(f.good(), "graph dump: writing '{}' failed (disk full?)", path.string());
}

}  // namespace

void register_pass(Pass pass) {
  TANDEM_CHECK(!pass.name.empty() && pass.run, "register_pass: a pass needs a name and a function");
  TANDEM_CHECK(pass.name.find(',') == std::string::npos && pass.name[0] != '-',
               "register_pass: pass name '{}' may not contain ',' or start with '-'", pass.name);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.passes.insert_or_assign(pass.name, std::move(pass));
}

const Pass* find_pass(std::string_view name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.passes.find(name);
  // NOTE: std::map nodes are stable, so the pointer stays valid unless the pass is replaced.
  return it == r.passes.end() ? nullptr : &it->second;
}

std::vector<std::string> registered_passes() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (auto& kv : r.passes) names.push_back(kv.first);
  return names;
}

const std::vector<std::string>& default_pass_order() {
  static const std::vector<std::string> order = {
      // Binds symbolic dims first so every later pass sees final shapes (simplify's "same
      // shape" checks compare them).
      "shape_infer",
      // QDQ fusion before folding: const_fold would turn dequantize_linear(int8 weight) into a
      // float weight, and the int8 layer needs the int8 one.
      "fuse_qdq",
      // Folding before simplify: a folded constant (2 * 0.5 -> 1) is what makes x * c an
      // identity simplify can remove.
      "const_fold",
      // Simplify before cse: collapsed reshape/permute chains become identical nodes that
      // cse can then merge.
      "simplify",
      // cse after the rewrites above; it leaves the duplicates' inputs unused for dce.
      "cse",
      // dce sweeps what const_fold, simplify and cse left unused, so fusion sees fewer nodes.
      "dce",
      // Batch-norm folding (inference) before matmul/conv fusion: the folded conv/linear
      // is then fused with its activation like any other.
      "fold_batchnorm",
      // matmul/conv + bias + activation before elementwise fusion, so the activation goes
      // into the oneDNN post-op rather than into an elementwise kernel.
      "fuse_matmul_act",
      // Hard-swish: its conv/linear has two readers, which fuse_matmul_act leaves alone;
      // before prepack_weights like the other fused activations.
      "fuse_hardswish",
      // After fuse_matmul_act, so the fused linear_act/conv2d_act nodes are the ones marked.
      "prepack_weights",
      // After prepack_weights (the blocked convs keep the prepacked mark) and fusion of the
      // activations into conv2d_act (a relu between conv and pool would read NCHW); before
      // fuse_elementwise, which then sees the from_blocked values as ordinary inputs.
      "blocked_layout",
      "fuse_elementwise",
      // Fusion leaves the fused-away nodes unused.
      "dce",
      // Planning last, on the final set of nodes: in-place rewriting decides which buffers
      // are shared, then memory planning packs the rest (both also run by graph::lower).
      "inplace",
      "memory_plan",
  };
  return order;
}

PassPipeline PassPipeline::from_spec(const std::string& spec, bool inference) {
  PassPipeline p;
  std::vector<std::string> items = split_list(spec);
  if (items.empty() || (items.size() == 1 && items[0] == "none")) return p;
  std::vector<std::string> excluded;
  bool all = false;
  std::vector<std::string> listed;
  for (const std::string& item : items) {
    if (item == "all") {
      all = true;
    } else if (item[0] == '-') {
      excluded.push_back(item.substr(1));
    } else {
      listed.push_back(item);
    }
  }
  for (const std::string& name : excluded)
    TANDEM_CHECK(find_pass(name) != nullptr ||
                     std::count(default_pass_order().begin(), default_pass_order().end(), name),
                 "graph passes: unknown pass '{}' in '{}'; known passes: {}", name, spec, known_names());
  auto is_excluded = [&](const std::string& n) {
    return std::find(excluded.begin(), excluded.end(), n) != excluded.end();
  };
  if (all) {
    TANDEM_CHECK(listed.empty(), "graph passes: '{}' mixes 'all' with pass names; use 'all', "
                 "'all,-name' or a list of names", spec);
    for (const std::string& name : default_pass_order()) {
      const Pass* pass = find_pass(name);
      if (!pass || is_excluded(name) || (pass->inference_only && !inference)) continue;
      // A pass right after itself (dce twice when no fusion pass sits between) finds nothing.
      if (!p.names_.empty() && p.names_.back() == name) continue;
      p.names_.push_back(name);
    }
    return p;
  }
  TANDEM_CHECK(excluded.empty(), "graph passes: '-name' only makes sense after 'all' (got '{}')", spec);
  for (const std::string& name : listed) {
    const Pass* pass = find_pass(name);
    TANDEM_CHECK(pass != nullptr, "graph passes: unknown pass '{}' in '{}'; known passes: {}", name,
                 spec, known_names());
    TANDEM_CHECK(!pass->inference_only || inference,
                 "graph passes: '{}' is inference-only (it treats running statistics as "
                 "constants); enable inference mode to run it", name);
    p.names_.push_back(name);
  }
  return p;
}

PipelineReport PassPipeline::run(Graph& g, const PipelineOptions& options) const {
  PipelineReport report;
  report.nodes_before = report.nodes_after = g.num_nodes();
  std::string dir = options.dump_dir;
  if (dir.empty()) {
    if (const char* env = std::getenv("TANDEM_GRAPH_DUMP")) dir = env;
  }
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    TANDEM_CHECK(!ec, "graph dump: cannot create directory '{}': {}", dir, ec.message());
    report.dump_dir = dir;
  }
  int index = 0;
  for (const std::string& name : names_) {
    const Pass* pass = find_pass(name);
    TANDEM_CHECK(pass != nullptr, "graph passes: pass '{}' is no longer registered", name);
    std::string stem = fmt::format("{:02d}-{}", index++, name);
    if (!dir.empty()) {
      write_text(std::filesystem::path(dir) / (stem + "-before.txt"), g.str());
      write_text(std::filesystem::path(dir) / (stem + "-before.dot"), g.dot());
    }
    PassReport r;
    r.name = name;
    r.nodes_before = g.num_nodes();
    auto t0 = std::chrono::steady_clock::now();
    if (name == "shape_infer" && !options.bind.empty()) {
      r.result = run_shape_infer(g, options.bind);
    } else {
      r.result = pass->run(g);
    }
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.nodes_after = g.num_nodes();
    if (!dir.empty()) {
      write_text(std::filesystem::path(dir) / (stem + "-after.txt"), g.str());
      write_text(std::filesystem::path(dir) / (stem + "-after.dot"), g.dot());
    }
    if (options.verify_each) {
      try {
        g.verify();
      } catch (const Error& e) {
        TANDEM_FAIL("graph pass '{}' left an invalid graph (a bug in the pass; run without it "
                    "with passes=\"all,-{}\"): {}", name, name, e.what());
      }
    }
    report.passes.push_back(std::move(r));
  }
  report.nodes_after = g.num_nodes();
  return report;
}

PipelineReport run_pipeline(Graph& g, const PipelineOptions& options) {
  return PassPipeline::from_spec(options.passes, options.inference).run(g, options);
}

std::string PipelineReport::str() const {
  size_t width = 4;
  for (const PassReport& p : passes) width = std::max(width, p.name.size());
  std::string s = fmt::format("{:<{}}  {:>11}  {:>8}  {}\n", "pass", width, "nodes", "time", "counts");
  for (const PassReport& p : passes) {
    std::vector<std::string> parts;
    for (auto& [k, v] : p.result.counts) parts.push_back(fmt::format("{}={}", k, v));
    std::string counts = parts.empty() ? std::string("-") : fmt::format("{}", fmt::join(parts, " "));
    s += fmt::format("{:<{}}  {:>11}  {:>6.2f}ms  {}\n", p.name, width,
                     fmt::format("{}->{}", p.nodes_before, p.nodes_after), p.ms, counts);
  }
  s += fmt::format("{:<{}}  {:>11}\n", "total", width, fmt::format("{}->{}", nodes_before, nodes_after));
  if (!dump_dir.empty()) s += fmt::format("graphs before/after each pass in {}\n", dump_dir);
  return s;
}

Graph copy_graph(const Graph& g) {
  Graph c;
  std::unordered_map<const Value*, Value*> map;
  auto copy_name = [](const Value* from, Value* to) { to->name = from->name; };
  for (Value* v : g.inputs()) map[v] = c.add_input(v->name, v->dtype, v->shape);
  for (Value* v : g.variables()) map[v] = c.add_variable(v->name, v->data);
  for (Value* v : g.constants()) map[v] = c.add_constant(v->data, v->name);
  for (const Node* n : g.nodes()) {
    std::vector<Value*> inputs;
    for (const Value* in : n->inputs) inputs.push_back(in ? map.at(in) : nullptr);
    std::vector<std::pair<DType, SymShape>> outs;
    for (const Value* out : n->outputs) outs.emplace_back(out->dtype, out->shape);
    Node* m = c.add_node_with_outputs(*n->op, inputs, n->attrs, outs, n->name);
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      copy_name(n->outputs[i], m->outputs[i]);
      map[n->outputs[i]] = m->outputs[i];
    }
  }
  std::vector<Value*> outputs;
  for (const Value* o : g.outputs()) outputs.push_back(map.at(o));
  c.set_outputs(outputs);
  for (const auto& [var, value] : g.updates()) c.add_update(map.at(var), map.at(value));
  return c;
}

// ---- Op properties shared by the passes ----

namespace {

struct OpMarks {
  std::mutex mu;
  std::vector<std::string> random = {"dropout"};
  std::vector<std::string> side_effects;
};

OpMarks& marks() {
  static OpMarks m;
  return m;
}

}  // namespace

bool is_random_op(const OpDef& def) {
  const std::string& n = def.name;
  for (const char* prefix : {"rand", "bernoulli", "multinomial", "normal_", "uniform_"})
    if (n.rfind(prefix, 0) == 0) return true;
  OpMarks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  return std::find(m.random.begin(), m.random.end(), n) != m.random.end();
}

void mark_random_op(const std::string& name) {
  OpMarks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  m.random.push_back(name);
}

bool has_side_effects(const Node& node) {
  if (is_random_op(*node.op)) return true;
  OpMarks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  return std::find(m.side_effects.begin(), m.side_effects.end(), node.op->name) != m.side_effects.end();
}

void mark_side_effect_op(const std::string& name) {
  OpMarks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  m.side_effects.push_back(name);
}

bool is_graph_result(const Graph& g, const Value* v) {
  for (const Value* o : g.outputs())
    if (o == v) return true;
  for (const auto& u : g.updates())
    if (u.second == v) return true;
  return false;
}

bool can_forward(const Graph& g, const Value* from, const Value* to) {
  if (from == to) return false;
  if (from->dtype != to->dtype || !(from->shape == to->shape)) return false;
  if (!is_graph_result(g, from)) return true;
  // A result must stay a buffer of its own: not an input or variable (the caller, or the
  // update, would see it change), not a view of one, and not another result.
  if (to->kind != Value::Kind::Op || !to->producer || to->producer->op->view) return false;
  return !is_graph_result(g, to);
}

}  // namespace tandem::graph
