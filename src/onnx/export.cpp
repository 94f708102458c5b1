// ONNX export driver: traces the module, walks the graph in order and hands each node to its
// emitter (export_ops.cpp), then builds the ModelProto (opset import, inputs/outputs with
// dim_param "batch" in dynamic mode, initializers for variables and constants), checks it
// with ONNX's checker and shape inference, and writes it atomically.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "export_ctx.h"
#include "tandem/autograd.h"
#include "tandem/compile.h"
#include "tandem/error.h"
#include "tandem/io/atomic_file.h"
#include "tandem/nn/module.h"
#include "tandem/nn/recurrent_export.h"

namespace tandem::onnx {
namespace detail {

namespace {
constexpr const char* kTandemVersion = "0.1.0";
}

int32_t onnx_dtype(DType t) {
  using TP = ::onnx::TensorProto;
  switch (t) {
    case DType::Bool: return TP::BOOL;
    case DType::UInt8: return TP::UINT8;
    case DType::Int8: return TP::INT8;
    case DType::Int16: return TP::INT16;
    case DType::UInt16: return TP::UINT16;
    case DType::Int32: return TP::INT32;
    case DType::Int64: return TP::INT64;
    case DType::Float16: return TP::FLOAT16;
    case DType::BFloat16: return TP::BFLOAT16;
    case DType::Float32: return TP::FLOAT;
    case DType::Float64: return TP::DOUBLE;
  }
  TANDEM_FAIL("onnx export: unknown dtype");
}

void fill_tensor_proto(::onnx::TensorProto* p, const Tensor& t, const std::string& name) {
  Tensor c = t.contiguous();
  p->set_name(name);
  p->set_data_type(onnx_dtype(c.dtype()));
  for (int64_t d : c.shape()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
}

std::string node_str(const graph::Node& n) {
  std::string s = fmt::format("%{} {}(", n.id, n.op->name);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (i) s += ", ";
    const graph::Value* v = n.inputs[i];
    s += v ? fmt::format("{}{}", dtype_name(v->dtype), graph::shape_str(v->shape)) : "_";
  }
  std::string a = attrs_str(n.attrs);
  return s + (a.empty() ? ")" : "; " + a + ")");
}

std::string ExportCtx::fresh(const std::string& base) {
  std::string b = base.empty() ? "v" : base;
  if (used_.insert(b).second) return b;
  for (int i = 1;; ++i) {
    std::string n = fmt::format("{}_{}", b, i);
    if (used_.insert(n).second) return n;
  }
}

std::string ExportCtx::name(const graph::Value* v) {
  TANDEM_CHECK(v != nullptr, "onnx export: an omitted optional input has no name");
  auto it = names_.find(v);
  if (it != names_.end()) return it->second;
  if (v->kind == graph::Value::Kind::Constant || v->kind == graph::Value::Kind::Variable) {
    std::string n = init(v->data, v->name.empty() ? fmt::format("const_{}", v->id) : v->name);
    names_[v] = n;
    return n;
  }
  TANDEM_FAIL("onnx export: value %{} is used before it is defined", v->id);
}

std::string ExportCtx::input_as(const graph::Node& n, size_t i, DType to) {
  const graph::Value* v = n.inputs.at(i);
  if (v->dtype == to) return name(v);
  if (v->kind == graph::Value::Kind::Constant) {
    std::string base = v->name.empty() ? fmt::format("const_{}", v->id) : v->name;
    return init(v->data.to(to), fmt::format("{}_{}", base, dtype_name(to)));
  }
  return cast(name(v), to, base(n, "cast"));
}

std::string ExportCtx::output(const graph::Node& n, size_t i) {
  const graph::Value* v = n.outputs.at(i);
  auto it = names_.find(v);
  if (it != names_.end()) return it->second;
  std::string base = !v->name.empty() ? v->name : node_prefix;
  if (n.outputs.size() > 1) base += fmt::format("_{}", i);
  std::string nm = fresh(base);
  names_[v] = nm;
  return nm;
}

std::string ExportCtx::tmp(const graph::Node& n, const std::string& what) {
  return fresh(fmt::format("{}/{}", node_prefix, what));
}

::onnx::NodeProto* ExportCtx::add(const std::string& op_type, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs) {
  ::onnx::NodeProto* p = g_->add_node();
  p->set_op_type(op_type);
  p->set_name(fmt::format("{}/{}_{}", node_prefix, op_type, node_counter_++));
  for (const auto& s : inputs) p->add_input(s);
  for (const auto& s : outputs) p->add_output(s);
  if (current) p->set_doc_string(node_str(*current));
  return p;
}

std::string ExportCtx::init(const Tensor& t, const std::string& base) {
  std::string n = fresh(base);
  fill_tensor_proto(g_->add_initializer(), t, n);
  return n;
}

std::string ExportCtx::ints(const std::vector<int64_t>& v, const std::string& base) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, {.dtype = DType::Int64});
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(int64_t));
  return init(t, base);
}

std::string ExportCtx::scalar(double v, DType dtype, const std::string& base) {
  return init(scalar_tensor(v, {.dtype = DType::Float64}).to(dtype), base);
}

std::string ExportCtx::cast(const std::string& x, DType to, const std::string& base) {
  std::string out = fresh(base);
  auto* p = add("Cast", {x}, {out});
  set_attr(p, "to", static_cast<int64_t>(onnx_dtype(to)));
  return out;
}

void set_attr(::onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
void set_attr(::onnx::NodeProto* n, const std::string& name, double v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void set_attr(::onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void set_attr(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}

namespace {

// params[i]: the dim_param of dim i, or empty for its static size.
void set_value_info(::onnx::ValueInfoProto* vi, const std::string& name, const graph::Value* v,
                    const std::vector<std::string>& params) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_dtype(v->dtype));
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < v->shape.size(); ++i) {
    auto* d = shape->add_dim();
    if (!params[i].empty())
      d->set_dim_param(params[i]);
    else
      d->set_dim_value(v->shape[i].value);
  }
}

}  // namespace

::onnx::ModelProto build_model(const graph::Graph& g, const ExportOptions& o) {
  TANDEM_CHECK(o.opset >= 13 && o.opset <= 17,
               "onnx export: opset {} is not supported; choose 13..17 (default 17)", o.opset);
  TANDEM_CHECK(g.updates().empty(),
               "onnx export: the graph updates {} variable(s) in place (a training step or "
               "batch-norm statistics in training mode); export an inference graph: call "
               "module->eval() and trace under NoGradGuard", g.updates().size());
  TANDEM_CHECK(!g.outputs().empty(), "onnx export: the graph has no outputs");

  // Example batch size: dim 0 of the first input (dynamic mode keys on it).
  int64_t batch = -1;
  if (!g.inputs().empty() && !g.inputs()[0]->shape.empty() && g.inputs()[0]->shape[0].is_static())
    batch = g.inputs()[0]->shape[0].value;
  if (o.dynamic_batch) {
    TANDEM_CHECK(batch >= 0 || (!g.inputs().empty() && !g.inputs()[0]->shape.empty()),
                 "onnx export: dynamic_batch needs an input with at least one dimension");
  }

  ::onnx::ModelProto model;
  model.set_ir_version(8);  // ONNX 1.10..1.12 write IR version 8 for opsets up to 17
  model.set_producer_name("tandem");
  model.set_producer_version(kTandemVersion);
  model.set_domain("org.tandem");
  model.set_model_version(1);
  std::string doc = fmt::format("exported by tandem {}", kTandemVersion);
  model.set_doc_string(o.doc_string.empty() ? doc : o.doc_string + "\n" + doc);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(o.opset);

  ::onnx::GraphProto* gp = model.mutable_graph();
  gp->set_name(o.graph_name);
  ExportCtx c(gp, o, batch);

  // dynamic_axes: every name must be an input or output, every axis within its rank.
  auto axes_of = [&](const std::string& name, const graph::Value* v) {
    static const std::map<int64_t, std::string> none;
    auto it = o.dynamic_axes.find(name);
    if (it == o.dynamic_axes.end()) return none;
    std::map<int64_t, std::string> axes;
    const int64_t rank = static_cast<int64_t>(v->shape.size());
    for (const auto& [axis, dim_name] : it->second) {
      TANDEM_CHECK(axis >= -rank && axis < rank && !dim_name.empty(),
                   "onnx export: dynamic_axes of '{}': axis {} is out of range for its {} dims "
                   "(or has an empty name)",
                   name, axis, rank);
      axes[axis < 0 ? axis + rank : axis] = dim_name;
    }
    return axes;
  };
  std::set<std::string> io_names;

  // Graph inputs.
  const auto& ins = g.inputs();
  TANDEM_CHECK(o.input_names.empty() || o.input_names.size() == ins.size(),
               "onnx export: {} input names given for {} inputs", o.input_names.size(), ins.size());
  for (size_t i = 0; i < ins.size(); ++i) {
    std::string n = !o.input_names.empty() ? o.input_names[i]
                    : ins.size() == 1      ? std::string("input")
                                           : fmt::format("input_{}", i);
    TANDEM_CHECK(!c.has_name(ins[i]), "onnx export: input {} is given twice", i);
    n = c.fresh(n);
    c.set_name(ins[i], n);
    // Symbols: the dims named in dynamic_axes, dim 0 with dynamic_batch, and dims the traced
    // graph already has symbolic; the emitters follow them (export_dims.cpp).
    auto named = axes_of(n, ins[i]);
    std::vector<std::string> params(ins[i]->shape.size());
    ExportCtx::DimSyms syms(params.size(), -1);
    for (size_t k = 0; k < params.size(); ++k) {
      auto it = named.find(static_cast<int64_t>(k));
      params[k] = it != named.end()                  ? it->second
                  : k == 0 && o.dynamic_batch         ? std::string("batch")
                  : !ins[i]->shape[k].is_static()     ? ins[i]->shape[k].symbol
                                                      : std::string();
      if (!params[k].empty()) syms[k] = c.symbol(params[k]);
    }
    c.set_dims(ins[i], syms);
    set_value_info(gp->add_input(), n, ins[i], params);
    io_names.insert(n);
  }

  // Graph outputs: the first time a node's output is a graph output it takes the name
  // directly; inputs, initializers and repeats go through an Identity.
  const auto& outs = g.outputs();
  TANDEM_CHECK(o.output_names.empty() || o.output_names.size() == outs.size(),
               "onnx export: {} output names given for {} outputs", o.output_names.size(), outs.size());
  std::vector<std::string> out_names(outs.size());
  std::vector<bool> via_identity(outs.size(), false);
  for (size_t i = 0; i < outs.size(); ++i) {
    std::string n = !o.output_names.empty() ? o.output_names[i]
                    : outs.size() == 1      ? std::string("output")
                                            : fmt::format("output_{}", i);
    out_names[i] = c.fresh(n);
    if (outs[i]->kind == graph::Value::Kind::Op && !c.has_name(outs[i]))
      c.set_name(outs[i], out_names[i]);
    else
      via_identity[i] = true;
  }

  // Nodes.
  for (const graph::Node* n : g.nodes()) {
    Emitter emit = find_emitter(*n->op);
    if (!emit) {
      // Fused kernels come from tandem::compile's passes (on by default).
      const std::string& op = n->op->name;
      bool fused = op.starts_with("fused_") || op.ends_with("_act");
      std::string hint = fused ? " (a fused op made by a graph pass: export a graph compiled with "
                               "CompileOptions{.passes = {}}, or use onnx::export_model)"
                             : "";
      if (!n->op->no_onnx_export.empty())
        TANDEM_FAIL("onnx export: op '{}' ({}) is not exportable: {}{}", op, node_str(*n),
                    n->op->no_onnx_export, hint);
      std::string names = fmt::format("{}", fmt::join(supported_ops(), ", "));
      TANDEM_FAIL("onnx export: op '{}' ({}) has no ONNX mapping{}; supported ops: {}", n->op->name,
                  node_str(*n), hint, names);
    }
    c.current = n;
    c.node_prefix = !n->name.empty() ? n->name : fmt::format("{}_{}", n->op->name, n->id);
    try {
      emit(c, *n);
      c.propagate(*n);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("onnx export", 0) == 0) throw;
      TANDEM_FAIL("onnx export: {}: {}", node_str(*n), msg);
    }
  }
  c.current = nullptr;
  c.node_prefix = "output";
  for (size_t i = 0; i < outs.size(); ++i) {
    if (via_identity[i]) c.add("Identity", {c.name(outs[i])}, {out_names[i]});
    bool dyn = o.dynamic_batch && !outs[i]->shape.empty() && outs[i]->shape[0].is_static() &&
               outs[i]->shape[0].value == batch;
    // Named dims, then dims that follow a dynamic input dim (named after it), then the rest.
    auto named = axes_of(out_names[i], outs[i]);
    ExportCtx::DimSyms syms = c.dims(outs[i]);
    std::vector<std::string> params(outs[i]->shape.size());
    for (size_t k = 0; k < params.size(); ++k) {
      auto it = named.find(static_cast<int64_t>(k));
      if (it != named.end())
        params[k] = it->second;
      else if (syms[k] >= 0)
        params[k] = !c.symbol_name(syms[k]).empty() ? c.symbol_name(syms[k]) : fmt::format("{}_dim{}", out_names[i], k);
      else if (k == 0 && dyn)
        params[k] = "batch";
      else if (!outs[i]->shape[k].is_static())
        params[k] = outs[i]->shape[k].symbol;
    }
    set_value_info(gp->add_output(), out_names[i], outs[i], params);
    io_names.insert(out_names[i]);
  }
  for (const auto& [name, axes] : o.dynamic_axes) {
    std::string known;
    for (const std::string& k : io_names) known += (known.empty() ? "" : ", ") + k;
    TANDEM_CHECK(io_names.count(name), "onnx export: dynamic_axes names '{}', which is neither an "
                 "input nor an output (they are: {})", name, known);
  }
  return model;
}

}  // namespace detail

void check_model_bytes(const std::string& bytes) {
  ::onnx::ModelProto m;
  TANDEM_CHECK(m.ParseFromString(bytes), "onnx check: the bytes do not parse as an ONNX ModelProto");
  try {
    // ONNX 1.12: check_model(proto) is the structural check; full_check = + strict shape inference.
    ::onnx::checker::check_model(m);
    ::onnx::ShapeInferenceOptions opts{/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false};
    ::onnx::shape_inference::InferShapes(m, ::onnx::OpSchemaRegistry::Instance(), opts);
  } catch (const std::exception& e) {
    TANDEM_FAIL("onnx check: the exported model fails ONNX's checker or shape inference: {}", e.what());
  }
}

std::string export_graph_to_string(const graph::Graph& g, const ExportOptions& options) {
  ::onnx::ModelProto m = detail::build_model(g, options);
  std::string bytes;
  TANDEM_CHECK(m.SerializeToString(&bytes), "onnx export: serializing the model failed (over 2 GB?)");
  if (options.check) check_model_bytes(bytes);
  return bytes;
}

void export_graph(const graph::Graph& g, const std::string& path, const ExportOptions& options) {
  std::string bytes = export_graph_to_string(g, options);
  io::write_file_atomic(path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

void export_model(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                  const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options, const std::vector<std::shared_ptr<nn::Module>>& modules) {
  // Eval mode while tracing (dropout off, batch norm on running stats), restored after.
  std::vector<std::pair<std::shared_ptr<nn::Module>, bool>> modes;
  for (const auto& m : modules) {
    TANDEM_CHECK(m != nullptr, "onnx export: a null module was given");
    for (const auto& [name, sub] : m->named_modules()) modes.emplace_back(sub, sub->is_training());
    m->eval();
  }
  struct Restore {
    std::vector<std::pair<std::shared_ptr<nn::Module>, bool>>& modes;
    ~Restore() {
      for (auto& [m, on] : modes) m->train(on);
    }
  } restore{modes};
  for (const auto& m : modules) m->eval();

  NoGradGuard no_grad;
  CompileOptions copts;
  copts.modules.assign(modules.begin(), modules.end());
  copts.use_plan = false;
  copts.passes = {};  // export the ops as traced: fused kernels have no ONNX form
  auto compiled = tandem::compile(fn, copts);
  {
    nn::RecurrentAsOneOp one_op;  // LSTM/GRU/RNN as one node per layer (ONNX operators)
    compiled(example_inputs);
  }
  export_graph(compiled.graph(), path, options);
}

void export_model(const std::shared_ptr<nn::Module>& module, const Tensor& example_input,
                  const std::string& path, const ExportOptions& options) {
  TANDEM_CHECK(module != nullptr, "onnx export: the module is null");
  nn::Module* m = module.get();
  export_model([m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{m->forward(xs.at(0))}; },
               {example_input}, path, options, {module});
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> out;
  for (const OpDef* d : all_ops())
    if (detail::find_emitter(*d)) out.push_back(d->name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tandem::onnx
