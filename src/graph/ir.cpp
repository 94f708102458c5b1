#include "tandem/graph/ir.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tandem/error.h"

namespace tandem::graph {

std::string Dim::str() const { return is_static() ? std::to_string(value) : symbol; }

SymShape sym_shape(const Shape& shape) { return SymShape(shape.begin(), shape.end()); }

bool is_static(const SymShape& shape) {
  return std::all_of(shape.begin(), shape.end(), [](const Dim& d) { return d.is_static(); });
}

Shape static_shape(const SymShape& shape) {
  Shape out;
  out.reserve(shape.size());
  for (const Dim& d : shape) {
    TANDEM_CHECK(d.is_static(), "shape {} has the symbolic dim '{}'; bind it to a size first",
                 shape_str(shape), d.symbol);
    out.push_back(d.value);
  }
  return out;
}

std::string shape_str(const SymShape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + shape[i].str();
  return s + "]";
}

TensorMeta Value::meta() const { return {static_shape(shape), dtype, Device::CPU, false, true}; }

Graph::Graph() = default;
Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

Value* Graph::new_value(Value::Kind kind) {
  values_.push_back(std::make_unique<Value>());
  Value* v = values_.back().get();
  v->id = next_value_id_++;
  v->kind = kind;
  return v;
}

Value* Graph::add_input(const std::string& name, DType dtype, SymShape shape) {
  Value* v = new_value(Value::Kind::Input);
  v->name = name;
  v->dtype = dtype;
  v->shape = std::move(shape);
  inputs_.push_back(v);
  return v;
}

Value* Graph::add_variable(const std::string& name, const Tensor& live) {
  TANDEM_CHECK(live.defined(), "graph variable '{}' needs a defined tensor", name);
  Value* v = new_value(Value::Kind::Variable);
  v->name = name;
  v->dtype = live.dtype();
  v->shape = sym_shape(live.shape());
  v->data = live;
  variables_.push_back(v);
  return v;
}

Value* Graph::add_constant(const Tensor& data, const std::string& name) {
  TANDEM_CHECK(data.defined(), "graph constant '{}' needs a defined tensor", name);
  Value* v = new_value(Value::Kind::Constant);
  v->name = name;
  v->dtype = data.dtype();
  v->shape = sym_shape(data.shape());
  v->data = data;
  constants_.push_back(v);
  return v;
}

namespace {

std::string inputs_str(const std::vector<Value*>& inputs) {
  std::string s;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i) s += ", ";
    s += inputs[i] ? fmt::format("{}{}", dtype_name(inputs[i]->dtype), shape_str(inputs[i]->shape))
                   : "_";
  }
  return s;
}

}  // namespace

std::vector<std::pair<DType, SymShape>> infer_node(const OpDef& def,
                                                   const std::vector<Value*>& inputs,
                                                   const Attrs& attrs) {
  TANDEM_CHECK(def.infer != nullptr, "op '{}' has no shape rule", def.name);
  // Symbols get distinct probe sizes unlikely to collide with real dims.
  std::unordered_map<std::string, int64_t> probe;
  auto probe_of = [&](const std::string& s) {
    auto it = probe.find(s);
    if (it != probe.end()) return it->second;
    int64_t p = 1000003 + 2 * static_cast<int64_t>(probe.size());
    probe.emplace(s, p);
    return p;
  };
  std::vector<TensorMeta> metas;
  metas.reserve(inputs.size());
  for (Value* v : inputs) {
    if (!v) {
      metas.push_back(TensorMeta::of(Tensor()));
      continue;
    }
    TensorMeta m;
    m.dtype = v->dtype;
    for (const Dim& d : v->shape) m.shape.push_back(d.is_static() ? d.value : probe_of(d.symbol));
    m.is_wrapped_number = v->data.defined() && v->data.impl()->is_wrapped_number;
    metas.push_back(std::move(m));
  }
  std::vector<TensorMeta> out;
  try {
    out = def.infer(metas, attrs);
  } catch (const Error& e) {
    TANDEM_FAIL("graph: op '{}' on ({}) [{}]: {}", def.name, inputs_str(inputs), attrs_str(attrs),
                e.what());
  }
  std::vector<std::pair<DType, SymShape>> result;
  for (const TensorMeta& m : out) {
    SymShape s;
    for (int64_t d : m.shape) {
      auto it = std::find_if(probe.begin(), probe.end(), [&](auto& kv) { return kv.second == d; });
      s.push_back(it != probe.end() ? Dim::sym(it->first) : Dim(d));
    }
    result.emplace_back(m.dtype, std::move(s));
  }
  return result;
}

Node* Graph::add_node(const OpDef& def, const std::vector<Value*>& inputs, const Attrs& attrs,
                      const std::string& name) {
  return add_node_with_outputs(def, inputs, attrs, infer_node(def, inputs, attrs), name);
}

Node* Graph::add_node_with_outputs(const OpDef& def, const std::vector<Value*>& inputs,
                                   const Attrs& attrs,
                                   const std::vector<std::pair<DType, SymShape>>& outs,
                                   const std::string& name) {
  if (def.num_inputs >= 0) {
    TANDEM_CHECK(inputs.size() == static_cast<size_t>(def.num_inputs),
                 "graph: op '{}' takes {} inputs, got {}", def.name, def.num_inputs, inputs.size());
  }
  node_store_.push_back(std::make_unique<Node>());
  Node* n = node_store_.back().get();
  n->id = next_node_id_++;
  n->op = &def;
  n->attrs = attrs;
  n->inputs = inputs;
  n->name = name;
  for (Value* v : inputs)
    if (v) v->users.push_back(n);
  for (size_t i = 0; i < outs.size(); ++i) {
    Value* v = new_value(Value::Kind::Op);
    v->dtype = outs[i].first;
    v->shape = outs[i].second;
    v->producer = n;
    v->output_index = static_cast<int>(i);
    n->outputs.push_back(v);
  }
  order_.push_back(n);
  return n;
}

void Graph::set_outputs(std::vector<Value*> outputs) {
  for (Value* v : outputs) TANDEM_CHECK(v != nullptr, "graph: an output is undefined");
  outputs_ = std::move(outputs);
}

void Graph::add_update(Value* variable, Value* new_value) {
  TANDEM_CHECK(variable && variable->kind == Value::Kind::Variable,
               "graph: an update must target a variable");
  TANDEM_CHECK(new_value && new_value->dtype == variable->dtype &&
                   shape_str(new_value->shape) == shape_str(variable->shape),
               "graph: update of '{}' {}{} with a {}{} value", variable->name,
               dtype_name(variable->dtype), shape_str(variable->shape),
               new_value ? dtype_name(new_value->dtype) : "?",
               new_value ? shape_str(new_value->shape) : "");
  for (auto& u : updates_) {
    if (u.first == variable) {
      u.second = new_value;
      return;
    }
  }
  updates_.emplace_back(variable, new_value);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  for (Node* n : from->users) {
    for (Value*& in : n->inputs)
      if (in == from) in = to;
    to->users.push_back(n);
  }
  from->users.clear();
  for (Value*& o : outputs_)
    if (o == from) o = to;
  for (auto& u : updates_)
    if (u.second == from) u.second = to;
}

void Graph::remove_node(Node* node) {
  for (Value* out : node->outputs) {
    TANDEM_CHECK(out->users.empty(), "graph: cannot remove node %{} ({}): output %{} is still used",
                 node->id, node->op->name, out->id);
    for (Value* o : outputs_) TANDEM_CHECK(o != out, "graph: cannot remove node {}: its output is a graph output", node->op->name);
    for (auto& u : updates_) TANDEM_CHECK(u.second != out, "graph: cannot remove node {}: its output updates a variable", node->op->name);
  }
  for (Value* in : node->inputs) {
    if (!in) continue;
    auto it = std::find(in->users.begin(), in->users.end(), node);
    if (it != in->users.end()) in->users.erase(it);
  }
  order_.erase(std::find(order_.begin(), order_.end(), node));
  for (Value* out : node->outputs) out->producer = nullptr;
  // Values and nodes stay allocated (cheap) so pointers held by a pass never dangle.
}

void Graph::move_before(Node* node, Node* before) {
  auto it = std::find(order_.begin(), order_.end(), node);
  TANDEM_CHECK(it != order_.end(), "graph: move_before of a node not in the graph");
  order_.erase(it);
  auto pos = std::find(order_.begin(), order_.end(), before);
  TANDEM_CHECK(pos != order_.end(), "graph: move_before target not in the graph");
  order_.insert(pos, node);
}

void Graph::verify() const {
  std::unordered_set<const Value*> defined;
  for (Value* v : inputs_) defined.insert(v);
  for (Value* v : variables_) defined.insert(v);
  for (Value* v : constants_) defined.insert(v);
  for (Node* n : order_) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Value* in = n->inputs[i];
      if (!in) continue;
      TANDEM_CHECK(defined.count(in), "graph: node %{} ({}) reads %{} before it is defined", n->id,
                   n->op->name, in->id);
      TANDEM_CHECK(std::find(in->users.begin(), in->users.end(), n) != in->users.end(),
                   "graph: use list of %{} misses node %{} ({})", in->id, n->id, n->op->name);
    }
    for (Value* out : n->outputs) {
      TANDEM_CHECK(out->producer == n, "graph: output %{} of node %{} has another producer", out->id,
                   n->id);
      defined.insert(out);
    }
    bool all_static = std::all_of(n->inputs.begin(), n->inputs.end(),
                                  [](Value* v) { return !v || is_static(v->shape); });
    if (all_static && n->op->infer) {
      auto expect = infer_node(*n->op, n->inputs, n->attrs);
      TANDEM_CHECK(expect.size() == n->outputs.size(), "graph: node %{} ({}) has {} outputs, its rule gives {}",
                   n->id, n->op->name, n->outputs.size(), expect.size());
      for (size_t i = 0; i < expect.size(); ++i) {
        Value* out = n->outputs[i];
        TANDEM_CHECK(expect[i].first == out->dtype && expect[i].second == out->shape,
                     "graph: node %{} ({}) output {} is {}{}, its rule gives {}{}", n->id,
                     n->op->name, i, dtype_name(out->dtype), shape_str(out->shape),
                     dtype_name(expect[i].first), shape_str(expect[i].second));
      }
    }
  }
  for (Value* o : outputs_)
    TANDEM_CHECK(defined.count(o), "graph: output %{} is not defined by any node", o->id);
  for (auto& u : updates_)
    TANDEM_CHECK(defined.count(u.second), "graph: update of '{}' reads an undefined value",
                 u.first->name);
}

namespace {

std::string ref(const Value* v) {
  if (!v) return "_";
  return v->name.empty() ? fmt::format("%{}", v->id) : fmt::format("%{}", v->name);
}

std::string typed(const Value* v) {
  return fmt::format("{}: {}{}", ref(v), dtype_name(v->dtype), shape_str(v->shape));
}

}  // namespace

std::string Graph::str() const {
  std::string s = "graph(";
  for (size_t i = 0; i < inputs_.size(); ++i) s += (i ? ", " : "") + typed(inputs_[i]);
  s += ") {\n";
  for (Value* v : variables_) s += fmt::format("  var {}\n", typed(v));
  for (Value* v : constants_)
    if (!v->users.empty()) s += fmt::format("  const {}\n", typed(v));
  for (Node* n : order_) {
    std::string outs;
    for (size_t i = 0; i < n->outputs.size(); ++i) outs += (i ? ", " : "") + typed(n->outputs[i]);
    std::string ins;
    for (size_t i = 0; i < n->inputs.size(); ++i) ins += (i ? ", " : "") + ref(n->inputs[i]);
    std::string at = n->attrs.items().empty() ? "" : fmt::format(" [{}]", attrs_str(n->attrs));
    s += fmt::format("  {} = {}({}){}\n", outs, n->op->name, ins, at);
  }
  for (auto& u : updates_) s += fmt::format("  {} <- {}\n", ref(u.first), ref(u.second));
  std::string outs;
  for (size_t i = 0; i < outputs_.size(); ++i) outs += (i ? ", " : "") + ref(outputs_[i]);
  s += fmt::format("  return {}\n}}\n", outs);
  return s;
}

std::string Graph::dot() const {
  std::string s = "digraph tandem {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n";
  auto vid = [](const Value* v) { return fmt::format("v{}", v->id); };
  auto label = [](const Value* v) {
    return fmt::format("{}\\n{}{}", ref(v), dtype_name(v->dtype), shape_str(v->shape));
  };
  for (Value* v : inputs_) s += fmt::format("  {} [shape=ellipse, label=\"{}\"];\n", vid(v), label(v));
  for (Value* v : variables_)
    if (!v->users.empty())
      s += fmt::format("  {} [shape=ellipse, style=dashed, label=\"{}\"];\n", vid(v), label(v));
  for (Value* v : constants_)
    if (!v->users.empty())
      s += fmt::format("  {} [shape=ellipse, style=dotted, label=\"{}\"];\n", vid(v), label(v));
  for (Node* n : order_) {
    s += fmt::format("  n{} [shape=box, label=\"{}\"];\n", n->id, n->op->name);
    for (Value* in : n->inputs) {
      if (!in) continue;
      std::string from = in->producer ? fmt::format("n{}", in->producer->id) : vid(in);
      s += fmt::format("  {} -> n{} [label=\"{}{}\"];\n", from, n->id, dtype_name(in->dtype),
                       shape_str(in->shape));
    }
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    Value* o = outputs_[i];
    s += fmt::format("  out{} [shape=ellipse, label=\"output {}\"];\n", i, i);
    std::string from = o->producer ? fmt::format("n{}", o->producer->id) : vid(o);
    s += fmt::format("  {} -> out{};\n", from, i);
  }
  return s + "}\n";
}

}  // namespace tandem::graph
