// ONNX control flow: If, Loop, Scan, and the machinery they share with the model's own run
// (scopes, running one node of any kind, running a subgraph). Subgraphs run eagerly: a branch
// or a trip count chosen by a run-time value is read on the host, so a model that reaches one
// while it is traced (Model::run's compiled path) falls back to eager execution.
#include <fmt/format.h>

#include <set>

#include "importer.h"

namespace tandem::onnx::detail {

const onnx::Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent) {
    auto it = s->values.find(name);
    if (it != s->values.end()) return &it->second;
    if (s->consts) {
      auto c = s->consts->find(name);
      if (c != s->consts->end()) {
        // Constants are Tensors; hand out a Value that lives as long as the scope's values.
        auto& cache = const_cast<Scope*>(s)->values;
        return &cache.emplace(name, onnx::Value(c->second)).first->second;
      }
    }
  }
  return nullptr;
}

namespace {

const char* flow_kind_name(const onnx::Value& v) {
  return v.is_tensor() ? "a tensor" : v.is_sequence() ? "a sequence" : "an empty optional";
}

}  // namespace

const Tensor& ValueCtx::tensor(size_t i) const {
  if (i >= inputs.size() || !inputs[i].is_tensor())
    attrs.fail(fmt::format("input {} must be a tensor, got {}", i,
                           i < inputs.size() ? flow_kind_name(inputs[i]) : "nothing"));
  return inputs[i].tensor;
}

const std::vector<Tensor>& ValueCtx::sequence(size_t i) const {
  if (i >= inputs.size() || !inputs[i].is_sequence())
    attrs.fail(fmt::format("input {} must be a sequence, got {}", i,
                           i < inputs.size() ? flow_kind_name(inputs[i]) : "nothing"));
  return inputs[i].sequence;
}

std::map<std::string, ValueConverter>& value_converters() {
  static std::map<std::string, ValueConverter> table;
  return table;
}

bool is_value_op(const std::string& op_type) { return value_converters().count(op_type) != 0; }

bool has_subgraph(const ::onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

namespace {

void flow_collect_captured(const ::onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& n : g.node()) {
    for (const auto& name : n.input())
      if (!name.empty()) out.insert(name);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) flow_collect_captured(a.g(), out);
      for (const auto& sub : a.graphs()) flow_collect_captured(sub, out);
    }
  }
}

}  // namespace

std::vector<std::string> captured_names(const ::onnx::NodeProto& n) {
  // Every name read inside (names defined inside too: keeping an outer value of the same name
  // alive a little longer is harmless).
  std::set<std::string> names;
  for (const auto& a : n.attribute()) {
    if (a.has_g()) flow_collect_captured(a.g(), names);
    for (const auto& sub : a.graphs()) flow_collect_captured(sub, names);
  }
  return {names.begin(), names.end()};
}

// Runs a converter, naming the node in its errors: Unsupported and errors that already name a
// node pass through; other Errors get the node's name in front; anything else (a malformed node,
// e.g. missing inputs) becomes an Error saying the node is invalid.
template <typename F>
auto convert_naming_node(const Ctx& ctx, F&& convert) -> decltype(convert()) {
  try {
    return convert();
  } catch (const Unsupported&) {
    throw;
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("node '", 0) == 0) throw;
    TANDEM_FAIL("{}: {}", ctx.where(), msg);
  } catch (const std::exception& e) {
    TANDEM_FAIL("{}: invalid node ({})", ctx.where(), e.what());
  }
}

std::vector<Tensor> run_tensor_node(const ::onnx::NodeProto& n, std::vector<Tensor> inputs, int64_t opset,
                                    const std::string& base_dir) {
  auto& table = converters();
  auto it = table.find(n.op_type());
  Ctx ctx{n, std::move(inputs), opset, static_cast<size_t>(n.output_size()), base_dir};
  if (it == table.end())
    throw Unsupported(fmt::format("{}: op '{}' is not supported by tandem's ONNX importer", ctx.where(), n.op_type()));
  return convert_naming_node(ctx, [&] { return it->second(ctx); });
}

std::vector<onnx::Value> run_any_node(const ::onnx::NodeProto& n, std::vector<onnx::Value> inputs, const Scope& scope,
                                int64_t opset, const std::string& base_dir) {
  auto& table = value_converters();
  auto it = table.find(n.op_type());
  // Identity passes any value through (a sequence or an optional as well as a tensor).
  if (n.op_type() == "Identity" && inputs.size() == 1 && !inputs[0].is_tensor()) return {inputs[0]};
  if (it == table.end()) {
    std::vector<Tensor> ts;
    ts.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].is_sequence())
        TANDEM_FAIL("node '{}' ({}): input {} ('{}') is a sequence; {} takes tensors", n.name(), n.op_type(), i,
                    n.input(static_cast<int>(i)), n.op_type());
      ts.push_back(inputs[i].tensor);  // an empty optional is an omitted input
    }
    auto outs = run_tensor_node(n, std::move(ts), opset, base_dir);
    return {outs.begin(), outs.end()};
  }
  Ctx attrs{n, {}, opset, static_cast<size_t>(n.output_size()), base_dir};
  ValueCtx ctx{attrs, std::move(inputs), scope};
  return convert_naming_node(attrs, [&] { return it->second(ctx); });
}

std::vector<onnx::Value> run_subgraph(const ::onnx::GraphProto& g, const std::vector<onnx::Value>& inputs, const Scope& outer,
                                int64_t opset, const std::string& base_dir) {
  Scope scope;
  scope.parent = &outer;
  TANDEM_CHECK(static_cast<size_t>(g.input_size()) == inputs.size(), "subgraph '{}' takes {} inputs, got {}",
               g.name(), g.input_size(), inputs.size());
  for (int i = 0; i < g.input_size(); ++i) scope.values[g.input(i).name()] = inputs[i];
  for (const auto& t : g.initializer()) scope.values[t.name()] = onnx::Value(tensor_from_proto(t, base_dir));
  for (const auto& n : g.node()) {
    std::vector<onnx::Value> ins;
    ins.reserve(n.input_size());
    for (const auto& name : n.input()) {
      if (name.empty()) {
        ins.emplace_back();
        continue;
      }
      const onnx::Value* v = scope.find(name);
      TANDEM_CHECK(v, "subgraph '{}': node '{}' ({}): input '{}' is not defined before it", g.name(), n.name(),
                   n.op_type(), name);
      ins.push_back(*v);
    }
    auto outs = run_any_node(n, std::move(ins), scope, opset, base_dir);
    for (int o = 0; o < n.output_size(); ++o) {
      if (n.output(o).empty()) continue;
      TANDEM_CHECK(o < static_cast<int>(outs.size()), "node '{}' ({}): output {} is not produced", n.name(),
                   n.op_type(), o);
      scope.values[n.output(o)] = outs[o];
    }
  }
  std::vector<onnx::Value> result;
  for (const auto& o : g.output()) {
    const onnx::Value* v = scope.find(o.name());
    TANDEM_CHECK(v, "subgraph '{}': output '{}' is not produced", g.name(), o.name());
    result.push_back(*v);
  }
  return result;
}

namespace {

using Vs = std::vector<onnx::Value>;

const ::onnx::GraphProto& flow_graph_attr(const ValueCtx& c, const std::string& name) {
  const auto* a = c.attrs.attr(name);
  if (!a || !a->has_g()) c.attrs.fail(fmt::format("graph attribute '{}' is missing", name));
  return a->g();
}

bool flow_scalar_bool(const ValueCtx& c, const Tensor& t, const char* what) {
  if (t.numel() != 1) c.attrs.fail(fmt::format("{} must have one element, got shape {}", what, shape_str(t.shape())));
  // NOTE: read in place (no op first): a condition computed from shapes alone is then an
  // outside value that a trace may read, and the branch it picks is traced.
  return t.item<double>() != 0;
}

Vs if_(ValueCtx& c) {
  bool cond = flow_scalar_bool(c, c.tensor(0), "the condition");
  const auto& branch = flow_graph_attr(c, cond ? "then_branch" : "else_branch");
  Vs outs = run_subgraph(branch, {}, c.scope, c.attrs.opset, c.attrs.base_dir);
  if (outs.size() < c.attrs.num_outputs)
    c.attrs.fail(fmt::format("branch '{}' gives {} outputs, the node has {}", branch.name(), outs.size(),
                             c.attrs.num_outputs));
  return outs;
}

// The scan outputs of a loop that ran no iteration: empty along the new axis, with the dtype
// (and static dims) the body declares.
Tensor flow_empty_scan_output(const ValueCtx& c, const ::onnx::ValueInfoProto& v) {
  DType dt = DType::Float32;
  Shape shape{0};
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    if (tt.elem_type() != 0) dt = dtype_from_onnx(tt.elem_type(), c.attrs.where());
    if (tt.has_shape())
      for (const auto& d : tt.shape().dim()) shape.push_back(d.has_dim_value() ? d.dim_value() : 0);
  }
  return empty(shape, {.dtype = dt});
}

Vs loop_(ValueCtx& c) {
  const auto& body = flow_graph_attr(c, "body");
  std::optional<int64_t> trip;
  if (c.has_input(0)) {
    const Tensor& m = c.tensor(0);
    if (m.numel() != 1) c.attrs.fail("the trip count M must be a scalar");
    trip = to_int64s(m).at(0);
  }
  bool cond = c.has_input(1) ? flow_scalar_bool(c, c.tensor(1), "the condition") : true;
  Vs carried(c.inputs.begin() + std::min<size_t>(2, c.inputs.size()), c.inputs.end());
  const size_t n_carried = carried.size();
  if (body.input_size() != static_cast<int>(n_carried) + 2)
    c.attrs.fail(fmt::format("the body takes {} inputs, the node gives {} loop-carried values (+2)",
                             body.input_size(), n_carried));
  if (body.output_size() < static_cast<int>(n_carried) + 1)
    c.attrs.fail(fmt::format("the body gives {} outputs, needs at least {} (condition + loop-carried values)",
                             body.output_size(), n_carried + 1));
  const size_t n_scan = static_cast<size_t>(body.output_size()) - 1 - n_carried;
  std::vector<std::vector<Tensor>> scans(n_scan);
  for (int64_t i = 0; (!trip || i < *trip) && cond; ++i) {
    Vs ins;
    ins.push_back(onnx::Value(full({}, static_cast<double>(i), {.dtype = DType::Int64})));
    ins.push_back(onnx::Value(full({}, 1.0, {.dtype = DType::Bool})));
    ins.insert(ins.end(), carried.begin(), carried.end());
    Vs outs = run_subgraph(body, ins, c.scope, c.attrs.opset, c.attrs.base_dir);
    if (!outs[0].is_tensor()) c.attrs.fail("the body's condition output is not a tensor");
    cond = flow_scalar_bool(c, outs[0].tensor, "the body's condition output");
    for (size_t k = 0; k < n_carried; ++k) carried[k] = outs[1 + k];
    for (size_t k = 0; k < n_scan; ++k) {
      const onnx::Value& s = outs[1 + n_carried + k];
      if (!s.is_tensor()) c.attrs.fail(fmt::format("scan output {} is not a tensor", k));
      scans[k].push_back(s.tensor);
    }
  }
  Vs result = carried;
  for (size_t k = 0; k < n_scan; ++k)
    result.push_back(scans[k].empty() ? flow_empty_scan_output(c, body.output(static_cast<int>(1 + n_carried + k)))
                                      : stack(scans[k], 0));
  return result;
}

// One Scan over scan inputs without a batch axis (opset 9+, and each batch row of opset 8).
Vs flow_scan_once(const ValueCtx& c, const ::onnx::GraphProto& body, Vs state, const std::vector<Tensor>& xs,
                  const std::vector<int64_t>& in_axes, const std::vector<int64_t>& in_dirs,
                  const std::vector<int64_t>& out_axes, const std::vector<int64_t>& out_dirs) {
  const size_t n_state = state.size(), n_in = xs.size();
  if (n_in == 0) c.attrs.fail("Scan needs at least one scan input");
  int64_t steps = xs[0].size(in_axes[0]);
  for (size_t k = 1; k < n_in; ++k)
    if (xs[k].size(in_axes[k]) != steps)
      c.attrs.fail(fmt::format("scan inputs have different lengths ({} and {})", steps, xs[k].size(in_axes[k])));
  if (body.input_size() != static_cast<int>(n_state + n_in))
    c.attrs.fail(fmt::format("the body takes {} inputs, the node gives {} states and {} scan inputs",
                             body.input_size(), n_state, n_in));
  if (body.output_size() < static_cast<int>(n_state))
    c.attrs.fail(fmt::format("the body gives {} outputs, fewer than its {} states", body.output_size(), n_state));
  const size_t n_out = static_cast<size_t>(body.output_size()) - n_state;
  std::vector<std::vector<Tensor>> scans(n_out);
  for (int64_t t = 0; t < steps; ++t) {
    Vs ins = state;
    for (size_t k = 0; k < n_in; ++k) ins.push_back(onnx::Value(xs[k].select(in_axes[k], in_dirs[k] ? steps - 1 - t : t).contiguous()));
    Vs outs = run_subgraph(body, ins, c.scope, c.attrs.opset, c.attrs.base_dir);
    for (size_t k = 0; k < n_state; ++k) state[k] = outs[k];
    for (size_t k = 0; k < n_out; ++k) {
      if (!outs[n_state + k].is_tensor()) c.attrs.fail(fmt::format("scan output {} is not a tensor", k));
      scans[k].push_back(outs[n_state + k].tensor);
    }
  }
  Vs result = state;
  for (size_t k = 0; k < n_out; ++k) {
    if (scans[k].empty()) {
      result.push_back(flow_empty_scan_output(c, body.output(static_cast<int>(n_state + k))));
      continue;
    }
    if (out_dirs[k]) std::reverse(scans[k].begin(), scans[k].end());
    int64_t axis = out_axes[k];
    int64_t rank = scans[k][0].dim() + 1;
    if (axis < -rank || axis >= rank) c.attrs.fail(fmt::format("scan_output_axes {} out of range for rank {}", axis, rank));
    result.push_back(stack(scans[k], axis < 0 ? axis + rank : axis).contiguous());
  }
  return result;
}

std::vector<int64_t> flow_per_input(const ValueCtx& c, const char* name, size_t n, bool axes,
                                    const std::vector<int64_t>& ranks) {
  std::vector<int64_t> v = c.attrs.ints(name);
  if (v.empty()) v.assign(n, 0);
  if (v.size() != n) c.attrs.fail(fmt::format("'{}' has {} entries, expected {}", name, v.size(), n));
  if (axes && !ranks.empty())
    for (size_t k = 0; k < n; ++k) v[k] = norm_axis(v[k], ranks[k], c.attrs);
  return v;
}

Vs scan_(ValueCtx& c) {
  const auto& body = flow_graph_attr(c, "body");
  const int64_t n_in = c.attrs.i("num_scan_inputs", 0);
  const bool v8 = c.attrs.opset < 9;
  const size_t first = v8 ? 1 : 0;  // opset 8: input 0 is the optional sequence_lens
  if (n_in <= 0 || first + static_cast<size_t>(n_in) > c.inputs.size())
    c.attrs.fail(fmt::format("num_scan_inputs {} does not fit the node's {} inputs", n_in, c.inputs.size()));
  const size_t n_state = c.inputs.size() - first - static_cast<size_t>(n_in);
  Vs state(c.inputs.begin() + static_cast<long>(first), c.inputs.begin() + static_cast<long>(first + n_state));
  std::vector<Tensor> xs;
  std::vector<int64_t> ranks;
  for (size_t k = first + n_state; k < c.inputs.size(); ++k) {
    xs.push_back(c.tensor(k));
    ranks.push_back(xs.back().dim() - (v8 ? 1 : 0));
  }
  const size_t n_out = static_cast<size_t>(std::max(0, body.output_size() - static_cast<int>(n_state)));
  if (!v8) {
    auto in_axes = flow_per_input(c, "scan_input_axes", xs.size(), true, ranks);
    auto in_dirs = flow_per_input(c, "scan_input_directions", xs.size(), false, {});
    auto out_axes = flow_per_input(c, "scan_output_axes", n_out, false, {});
    auto out_dirs = flow_per_input(c, "scan_output_directions", n_out, false, {});
    return flow_scan_once(c, body, state, xs, in_axes, in_dirs, out_axes, out_dirs);
  }
  // Opset 8: axis 0 of every state and scan input is a batch; each row is one scan over axis 1.
  if (c.has_input(0)) {
    auto lens = to_int64s(c.tensor(0));
    for (size_t b = 0; b < lens.size(); ++b)
      if (lens[b] != xs[0].size(1)) c.attrs.unsupported("Scan (opset 8) with sequence_lens shorter than the inputs");
  }
  auto in_dirs = flow_per_input(c, "directions", xs.size(), false, {});
  std::vector<int64_t> zeros_in(xs.size(), 0), zeros_out(n_out, 0);
  int64_t batch = xs[0].size(0);
  std::vector<std::vector<Tensor>> rows(n_state + n_out);
  for (int64_t b = 0; b < batch; ++b) {
    Vs st;
    for (const auto& s : state) {
      if (!s.is_tensor()) c.attrs.fail("Scan states must be tensors");
      st.push_back(onnx::Value(s.tensor.select(0, b).contiguous()));
    }
    std::vector<Tensor> xb;
    for (const auto& x : xs) xb.push_back(x.select(0, b).contiguous());
    Vs outs = flow_scan_once(c, body, st, xb, zeros_in, in_dirs, zeros_out, zeros_out);
    for (size_t k = 0; k < outs.size(); ++k) rows[k].push_back(outs[k].tensor);
  }
  Vs result;
  for (auto& r : rows) result.push_back(onnx::Value(stack(r, 0)));
  return result;
}

}  // namespace

void register_flow(std::map<std::string, ValueConverter>& t) {
  t["If"] = if_;
  t["Loop"] = loop_;
  t["Scan"] = scan_;
}

}  // namespace tandem::onnx::detail
