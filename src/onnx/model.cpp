// onnx::Model: parse a ModelProto, fold what is known at load time, run the rest as one
// traced plan, or split into traced plans around the nodes that cannot be traced (those run
// eagerly, node by node, through the converter table: src/onnx/import_*.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/shape_inference/implementation.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <set>
#include <unordered_set>
#include <unordered_map>

#include "importer.h"
#include "tandem/autograd.h"
#include "tandem/graph/compile.h"
#include "tandem/graph/fusion.h"
#include "tandem/graph/trace.h"

namespace tandem::onnx {

using namespace detail;

namespace {
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 17;  // what Debian's libonnx 1.12 defines

bool is_random(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
         op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli";
}

ValueInfo value_info(const ::onnx::ValueInfoProto& v) { return detail::value_info_of(v, true); }

// A node and the nodes of its subgraphs, recursively.
void for_each_node_of(const ::onnx::NodeProto& n, const std::function<void(const ::onnx::NodeProto&)>& fn) {
  fn(n);
  for (const auto& a : n.attribute()) {
    if (a.has_g())
      for (const auto& m : a.g().node()) for_each_node_of(m, fn);
    for (const auto& sub : a.graphs())
      for (const auto& m : sub.node()) for_each_node_of(m, fn);
  }
}
}  // namespace

struct Model::Impl {
  ::onnx::ModelProto proto;
  std::string base_dir;
  ModelInfo info;
  std::unordered_map<std::string, Tensor> consts;  // initializers + folded values
  std::vector<int> nodes;                          // nodes left to run, in order
  std::vector<std::vector<std::string>> frees;     // per remaining node: values dead after it
  std::vector<std::string> output_names;
  mutable bool eager_only = false;
  mutable std::shared_ptr<graph::CompiledVector> compiled;
  std::set<std::string> output_set;
  std::unordered_map<std::string, size_t> last_use;  // value -> position of its last reader

  // Partial planning, once the whole model failed to trace at a node: the node list split
  // into runs of traceable nodes (each traced and compiled, cached per input shapes) and the
  // nodes that run eagerly between them. A node goes eager when tracing it throws (it reads a
  // run-time value: NonZero's count, a data-dependent branch) and it then runs eagerly; a
  // plan that fails as a whole (re-trace limit, a value that is not a tensor) goes eager too.
  struct SegmentFn {
    using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&, const std::string&)>;
    std::vector<std::string> traced;                     // this call's traced inputs, in order
    std::vector<std::pair<std::string, Tensor>> fixed;   // this call's shape values (in the key)
    std::set<std::string> shape_outputs;                 // outputs that are shape values
    std::optional<graph::Compiled<Fn, std::vector<Tensor>(const std::vector<Tensor>&, const std::string&)>> compiled;
  };
  struct Segment {
    size_t begin = 0, end = 0;  // positions in `nodes`
    bool eager = false;
    std::vector<std::string> inputs;   // read in [begin, end), made before it
    std::vector<std::string> outputs;  // made in [begin, end), read after it or model outputs
    std::shared_ptr<SegmentFn> fn;     // null when eager
  };
  mutable bool segmented = false;
  mutable std::vector<Segment> segments;
  mutable int trace_failed_at = -1;  // position of the node whose trace threw, or -1
  // Initializers whose plain copy goes once packed (their prepacked copies serve the plan):
  // restored for good before anything else reads them (the eager path, to_graph).
  std::vector<Tensor> prepack_only;

  std::vector<Tensor> run_node(const ::onnx::NodeProto& n, std::vector<Tensor> inputs) const {
    return run_tensor_node(n, std::move(inputs), info.opset, base_dir);
  }
  bool has_value_io() const {  // an input or output that is a sequence or an optional
    for (const auto& v : info.inputs)
      if (!v.type.empty()) return true;
    for (const auto& v : info.outputs)
      if (!v.type.empty()) return true;
    return false;
  }

  void load(const std::string& bytes) {
    TANDEM_CHECK(!bytes.empty(), "ONNX model is empty (0 bytes)");
    TANDEM_CHECK(proto.ParseFromString(bytes),
                 "not a valid ONNX model: the protobuf does not parse (truncated or corrupt file?)");
    build();
  }

  // NOTE: parsing from the stream keeps no second copy of the file's bytes next to the proto.
  void load(std::istream& in, uintmax_t size) {
    TANDEM_CHECK(size > 0, "ONNX model is empty (0 bytes)");
    TANDEM_CHECK(proto.ParseFromIstream(&in),
                 "not a valid ONNX model: the protobuf does not parse (truncated or corrupt file?)");
    build();
  }

  void build() {
    TANDEM_CHECK(proto.has_graph(), "not a valid ONNX model: it has no graph");
    info.ir_version = proto.ir_version();
    info.producer = proto.producer_name();
    for (const auto& op : proto.opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx") info.opset = op.version();
    // No default-domain import (a model of training or ML ops only): its nodes are reported
    // as unsupported by domain below.
    bool has_default = false;
    for (const auto& op : proto.opset_import()) has_default = has_default || op.domain().empty() || op.domain() == "ai.onnx";
    if (!has_default) info.opset = kMaxOpset;
    if (info.opset < kMinOpset || info.opset > kMaxOpset)
      TANDEM_FAIL("ONNX opset {} is not supported: tandem imports opsets {} to {} of the default domain",
                  info.opset, kMinOpset, kMaxOpset);
    const auto& g = proto.graph();

    // ONNX's own shape inference tells which intermediate values have static shapes (for
    // folding Shape); a model it rejects is still imported, only without that knowledge. It
    // runs on the proto itself (it only adds value_info), before the initializers leave it:
    // a copy of the proto doubled the weights' memory during the load.
    try {
      ::onnx::shape_inference::InferShapes(proto);
    } catch (...) {
    }

    std::set<std::string> init_names;
    for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
      Tensor x = tensor_from_proto(t, base_dir);
      info.num_parameters += x.numel();
      consts[t.name()] = x;
      init_names.insert(t.name());
      // The tensor now holds the data: the proto's copy goes at once (swap frees the
      // capacity), so the load never holds a model's weights twice.
      std::string().swap(*t.mutable_raw_data());
    }
    google::protobuf::RepeatedPtrField<::onnx::TensorProto>().Swap(proto.mutable_graph()->mutable_initializer());
    if (g.sparse_initializer_size() > 0) throw Unsupported("sparse initializers are not supported");
    std::unordered_map<std::string, ValueInfo> known;  // static shapes for Shape folding
    for (const auto& v : g.input()) {
      if (init_names.count(v.name())) continue;
      ValueInfo vi = value_info(v);
      info.inputs.push_back(vi);
      known[vi.name] = vi;
    }
    for (const auto& v : g.output()) {
      output_names.push_back(v.name());
      info.outputs.push_back(value_info(v));
    }
    for (const auto& v : g.value_info()) {
      try {
        ValueInfo vi = value_info(v);
        if (vi.has_shape) known[vi.name] = vi;
      } catch (const Error&) {
      }
    }

    auto& table = converters();
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      std::string where = fmt::format("node '{}' ({})", n.name(), n.op_type());
      if (!n.domain().empty() && n.domain() != "ai.onnx")
        throw Unsupported(fmt::format("{}: op '{}' of domain '{}' is not supported (only the default ONNX domain)",
                                      where, n.op_type(), n.domain()));
      for_each_node_of(n, [&](const ::onnx::NodeProto& m) {
        info.op_histogram[m.op_type()]++;
        if (!m.domain().empty() && m.domain() != "ai.onnx")
          throw Unsupported(fmt::format("{}: op '{}' of domain '{}' (in a subgraph) is not supported", where,
                                        m.op_type(), m.domain()));
        if (!table.count(m.op_type()) && !is_value_op(m.op_type()))
          throw Unsupported(fmt::format("{}: op '{}' is not supported by tandem's ONNX importer", where, m.op_type()));
      });
      // DequantizeLinear of an int8 initializer stays a node: the graph's QDQ fusion
      // (graph::run_fuse_qdq) needs the int8 weight, which folding would replace by floats.
      // Sequence, optional and control-flow nodes run every time (their values are not
      // tensors, and subgraphs read outer values the node does not list).
      bool foldable = !is_random(n.op_type()) && n.op_type() != "DequantizeLinear" && !is_value_op(n.op_type()) &&
                      !has_subgraph(n);
      std::vector<Tensor> ins;
      for (const auto& name : n.input()) {
        if (name.empty()) {
          ins.emplace_back();
          continue;
        }
        auto it = consts.find(name);
        if (it == consts.end()) {
          foldable = false;
          break;
        }
        ins.push_back(it->second);
      }
      if (!foldable && (n.op_type() == "Shape" || n.op_type() == "Size") && n.input_size() == 1) {
        // Shape of a value whose shape is static: a constant.
        auto k = known.find(n.input(0));
        if (k != known.end() && k->second.has_shape && graph::is_static(k->second.shape)) {
          Tensor probe = empty(graph::static_shape(k->second.shape), {.dtype = k->second.dtype});
          ins = {probe};
          foldable = probe.numel() < (int64_t(1) << 28);
        }
      }
      if (foldable) {
        NoGradGuard ng;
        auto outs = run_node(n, ins);
        for (int o = 0; o < n.output_size() && o < static_cast<int>(outs.size()); ++o)
          if (!n.output(o).empty()) consts[n.output(o)] = outs[o];
        info.num_folded++;
        // Folded for good (run_eager never visits it): a Constant's tensor attribute goes.
        proto.mutable_graph()->mutable_node(i)->clear_attribute();
        continue;
      }
      nodes.push_back(i);
    }
    // Liveness: free each intermediate after its last reader.
    std::unordered_map<std::string, int> last;
    for (size_t k = 0; k < nodes.size(); ++k) {
      for (const auto& name : g.node(nodes[k]).input()) last[name] = static_cast<int>(k);
      if (has_subgraph(g.node(nodes[k])))
        for (const auto& name : captured_names(g.node(nodes[k]))) last[name] = static_cast<int>(k);
    }
    std::set<std::string> keep(output_names.begin(), output_names.end());
    output_set = keep;
    for (const auto& [name, k] : last) last_use[name] = static_cast<size_t>(k);
    frees.assign(nodes.size(), {});
    for (auto& [name, k] : last)
      if (!keep.count(name) && !consts.count(name) && !name.empty()) frees[k].push_back(name);
    for (const auto& name : output_names) {
      bool defined = consts.count(name) != 0;
      for (const auto& vi : info.inputs) defined = defined || vi.name == name;
      for (int k : nodes)
        for (const auto& o : g.node(k).output()) defined = defined || o == name;
      TANDEM_CHECK(defined, "graph output '{}' is not produced by any node, input or initializer", name);
    }
    mark_prepack_only_weights(keep);
  }

  // Runs nodes [begin, end) of `nodes` in `root` (eagerly, or recorded when tracing).
  // shape_values: the values computed from the inputs' shapes alone (see below), kept across
  // calls so that a range continues where the previous one stopped.
  void run_range(size_t begin, size_t end, Scope& root, std::unordered_set<std::string>& shape_values) const {
    const auto& g = proto.graph();
    auto& env = root.values;
    // Values computed from the inputs' shapes alone (Shape, Size, then arithmetic on those and
    // constants: what exporters emit for a Reshape to [batch, ...]). They are fixed for a traced
    // graph (it is re-traced when an input's shape changes), so they run untraced and enter the
    // graph as constants: the converters that read them on the host (Reshape's shape, Expand,
    // ConstantOfShape) then work in a traced model too.
    for (size_t k = begin; k < end; ++k) {
      const auto& n = g.node(nodes[k]);
      std::vector<onnx::Value> ins;
      ins.reserve(n.input_size());
      const bool shape_op = n.op_type() == "Shape" || n.op_type() == "Size";
      bool any_shape_value = false, all_fixed = true;  // fixed: a shape value or a constant
      for (const auto& name : n.input()) {
        if (name.empty()) {
          ins.emplace_back();
          continue;
        }
        auto it = env.find(name);
        if (it != env.end()) {
          const bool sv = shape_values.count(name) != 0;
          any_shape_value = any_shape_value || sv;
          all_fixed = all_fixed && sv;
          ins.push_back(it->second);
          continue;
        }
        auto c = consts.find(name);
        TANDEM_CHECK(c != consts.end(), "node '{}' ({}): input '{}' is not defined before it", n.name(),
                     n.op_type(), name);
        ins.push_back(onnx::Value(c->second));
      }
      // Nodes of constants alone were folded at load: at least one input is a shape value.
      // Random ops draw anew on every run: never baked. Control flow and sequences run as they
      // are (a subgraph reads more than the node's inputs).
      const bool random = n.op_type().rfind("Random", 0) == 0 || n.op_type() == "Bernoulli" ||
                          n.op_type() == "Multinomial";
      const bool value_op = is_value_op(n.op_type()) || has_subgraph(n);
      const bool untraced = !value_op && (shape_op || (any_shape_value && all_fixed && !random));
      std::vector<onnx::Value> outs;
      auto run = [&] { outs = run_any_node(n, std::move(ins), root, info.opset, base_dir); };
      try {
        if (untraced) graph::run_untraced(run);
        else run();
      } catch (...) {
        if (graph::is_tracing()) trace_failed_at = static_cast<int>(k);  // where a plan must split
        throw;
      }
      for (int o = 0; o < n.output_size(); ++o) {
        if (n.output(o).empty()) continue;
        if (untraced) shape_values.insert(n.output(o));
        TANDEM_CHECK(o < static_cast<int>(outs.size()), "node '{}' ({}): output {} is not produced", n.name(),
                     n.op_type(), o);
        env[n.output(o)] = outs[o];
      }
      for (const auto& name : frees[k]) env.erase(name);
    }
  }

  // Nodes [begin, end) as one segment: what it reads from before it, what it leaves for the
  // nodes after it, and (unless eager) its compiled function.
  Segment make_segment(size_t begin, size_t end, bool eager) const {
    const auto& g = proto.graph();
    Segment seg;
    seg.begin = begin;
    seg.end = end;
    seg.eager = eager;
    if (eager) return seg;
    std::unordered_set<std::string> made, seen;
    for (size_t k = begin; k < end; ++k) {
      const auto& n = g.node(nodes[k]);
      std::vector<std::string> reads(n.input().begin(), n.input().end());
      if (has_subgraph(n))
        for (auto& name : captured_names(n)) reads.push_back(name);
      for (const auto& name : reads)
        if (!name.empty() && !made.count(name) && !consts.count(name) && seen.insert(name).second)
          seg.inputs.push_back(name);
      for (const auto& o : n.output())
        if (!o.empty()) made.insert(o);
    }
    for (size_t k = begin; k < end; ++k)
      for (const auto& o : g.node(nodes[k]).output()) {
        auto last = last_use.find(o);
        if (!o.empty() && (output_set.count(o) || (last != last_use.end() && last->second >= end)))
          seg.outputs.push_back(o);
      }
    if (seg.outputs.empty()) {  // nothing it makes is read later: nothing worth a plan
      seg.eager = true;
      return seg;
    }
    auto fn = std::make_shared<SegmentFn>();
    SegmentFn* f = fn.get();
    SegmentFn::Fn body = [this, f, begin, end, outputs = seg.outputs](const std::vector<Tensor>& xs,
                                                                       const std::string&) {
      Scope scope;
      scope.consts = &consts;
      std::unordered_set<std::string> shape_values;
      for (size_t i = 0; i < xs.size(); ++i) scope.values[f->traced[i]] = xs[i];
      for (const auto& [name, t] : f->fixed) {
        scope.values[name] = t;
        shape_values.insert(name);
      }
      run_range(begin, end, scope, shape_values);
      std::vector<Tensor> outs;
      for (const auto& name : outputs) {
        auto it = scope.values.find(name);
        TANDEM_CHECK(it != scope.values.end() && it->second.is_tensor(), "value '{}' is not a tensor", name);
        outs.push_back(it->second.tensor);
        if (shape_values.count(name)) f->shape_outputs.insert(name);
      }
      return outs;
    };
    CompileOptions opts;
    // A segment after a data-dependent count is traced per count, and every cached plan keeps
    // its arena: past 8 counts the segment runs eagerly for good (bounded memory).
    opts.retrace_limit = 8;
    opts.freeze = true;
    f->compiled.emplace(tandem::compile(std::move(body), opts));
    seg.fn = std::move(fn);
    return seg;
  }

  // Runs a planned segment on the values in `root` and leaves its outputs there. Values from
  // the shapes alone enter the plan as constants, their contents part of the cache key.
  void run_planned(const Segment& seg, Scope& root, std::unordered_set<std::string>& shape_values) const {
    SegmentFn& f = *seg.fn;
    trace_failed_at = -1;  // an error before the trace (a value that is not a tensor) names no node
    f.traced.clear();
    f.fixed.clear();
    std::vector<Tensor> xs;
    std::string key;
    for (const auto& name : seg.inputs) {
      auto it = root.values.find(name);
      if (it == root.values.end()) continue;  // an outer value only a subgraph names: looked up there
      TANDEM_CHECK(it->second.is_tensor(), "value '{}' is not a tensor: the segment runs eagerly", name);
      const Tensor& t = it->second.tensor;
      if (shape_values.count(name)) {
        f.fixed.emplace_back(name, t);
        // Exact contents: integers as int64 (sizes, INT64_MAX slice ends), floats as double.
        key += fmt::format("{}={}{}:", name, dtype_name(t.dtype()), shape_str(t.shape()));
        if (is_floating(t.dtype()))
          key += fmt::format("{};", fmt::join(t.to(DType::Float64).contiguous().to_vector<double>(), ","));
        else
          key += fmt::format("{};", fmt::join(t.to(DType::Int64).contiguous().to_vector<int64_t>(), ","));
      } else {
        f.traced.push_back(name);
        xs.push_back(t);
      }
    }
    auto outs = (*f.compiled)(xs, key);
    for (size_t i = 0; i < outs.size(); ++i) {
      root.values[seg.outputs[i]] = outs[i];
      if (f.shape_outputs.count(seg.outputs[i])) shape_values.insert(seg.outputs[i]);
    }
    for (size_t k = seg.begin; k < seg.end; ++k)
      for (const auto& name : frees[k]) root.values.erase(name);
  }

  // Runs the model segment by segment. A planned segment whose trace throws at a node splits
  // around it (that node runs eagerly from now on) and runs again from its first part; one
  // that fails elsewhere runs eagerly from now on. An error of an eager node is the model's.
  std::vector<Tensor> run_segments(const std::map<std::string, Tensor>& inputs) const {
    if (segments.empty()) segments.push_back(make_segment(0, nodes.size(), false));
    Scope root;
    root.consts = &consts;
    for (const auto& [name, t] : inputs) root.values[name] = t;
    std::unordered_set<std::string> shape_values;
    NoGradGuard ng;
    for (size_t s = 0; s < segments.size();) {
      const Segment seg = segments[s];
      if (seg.eager) {
        run_range(seg.begin, seg.end, root, shape_values);
        ++s;
        continue;
      }
      try {
        run_planned(seg, root, shape_values);
        ++s;
        continue;
      } catch (const Error&) {
      }
      const size_t k = trace_failed_at >= 0 ? static_cast<size_t>(trace_failed_at) : seg.end;
      std::vector<Segment> parts;
      if (k >= seg.begin && k < seg.end) {
        if (k > seg.begin) parts.push_back(make_segment(seg.begin, k, false));
        parts.push_back(make_segment(k, k + 1, true));
        if (k + 1 < seg.end) parts.push_back(make_segment(k + 1, seg.end, false));
      } else {
        parts.push_back(make_segment(seg.begin, seg.end, true));
      }
      segments.erase(segments.begin() + static_cast<std::ptrdiff_t>(s));
      segments.insert(segments.begin() + static_cast<std::ptrdiff_t>(s), parts.begin(), parts.end());
    }
    std::vector<Tensor> result;
    for (const auto& name : output_names) {
      auto it = root.values.find(name);
      const Tensor* t = it != root.values.end() ? (it->second.is_tensor() ? &it->second.tensor : nullptr)
                                                : &consts.at(name);
      TANDEM_CHECK(t, "an output of the model is not a tensor: use Model::run_values");
      result.push_back(*t);
    }
    return result;
  }

  // Constants read only as the weight (input 1) of Conv / Gemm nodes: the plan's prepacked
  // kernels are their only readers, so once packed only the packed copy stays resident
  // (graph::release_plain_when_packed; run_eager and to_graph restore them first).
  void mark_prepack_only_weights(const std::set<std::string>& outputs) {
    const auto& g = proto.graph();
    std::unordered_map<std::string, bool> only_weight;
    for (int k : nodes) {
      const auto& n = g.node(k);
      const bool weight_op = n.op_type() == "Conv" || n.op_type() == "Gemm";
      for (int i = 0; i < n.input_size(); ++i) {
        if (!consts.count(n.input(i))) continue;
        auto [it, fresh] = only_weight.emplace(n.input(i), true);
        it->second = it->second && weight_op && i == 1;
      }
    }
    for (const auto& [name, ok] : only_weight)
      if (ok && !outputs.count(name)) prepack_only.push_back(consts.at(name));
    graph::release_plain_when_packed(prepack_only);
  }
};

Model::Model() : impl_(std::make_unique<Impl>()) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load_from_bytes(const std::string& bytes, const std::string& base_dir) {
  register_all_converters();
  Model m;
  m.impl_->base_dir = base_dir;
  try {
    m.impl_->load(bytes);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // never let a malformed model escape as another exception
    TANDEM_FAIL("invalid ONNX model: {}", e.what());
  }
  return m;
}

Model Model::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "cannot open ONNX model '{}'", path);
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  TANDEM_CHECK(!ec, "cannot open ONNX model '{}': {}", path, ec.message());
  std::string dir = std::filesystem::path(path).parent_path().string();
  try {
    register_all_converters();
    Model m;
    m.impl_->base_dir = dir.empty() ? "." : dir;
    try {
      m.impl_->load(f, size);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {  // never let a malformed model escape as another exception
      TANDEM_FAIL("invalid ONNX model: {}", e.what());
    }
    return m;
  } catch (const Unsupported& e) {
    throw Unsupported(fmt::format("{}: {}", path, e.what()));
  } catch (const Error& e) {
    TANDEM_FAIL("{}: {}", path, e.what());
  }
}

const ModelInfo& Model::info() const { return impl_->info; }
bool Model::runs_compiled() const {
  return !impl_->eager_only && !impl_->segmented && impl_->compiled != nullptr;
}

PlanSummary Model::plan_summary() const {
  PlanSummary p;
  const auto& g = impl_->proto.graph();
  p.nodes = static_cast<int64_t>(impl_->nodes.size());
  auto eager = [&](size_t begin, size_t end) {
    for (size_t k = begin; k < end; ++k) {
      const auto& n = g.node(impl_->nodes[k]);
      // An unnamed node by its first output's name.
      const std::string& name = n.name().empty() && n.output_size() > 0 ? n.output(0) : n.name();
      p.eager.push_back(fmt::format("'{}' ({})", name, n.op_type()));
    }
    p.eager_nodes += static_cast<int64_t>(end - begin);
  };
  if (impl_->eager_only) {
    p.has_run = true;
    eager(0, impl_->nodes.size());
  } else if (impl_->segmented) {
    p.has_run = true;
    for (const auto& s : impl_->segments) {
      if (s.eager) {
        eager(s.begin, s.end);
      } else {
        p.planned_segments++;
        p.planned_nodes += static_cast<int64_t>(s.end - s.begin);
      }
    }
  } else if (impl_->compiled) {
    p.has_run = true;
    p.planned_segments = 1;
    p.planned_nodes = p.nodes;
  }
  return p;
}

std::string PlanSummary::str() const {
  if (!has_run) return fmt::format("{} nodes, not run yet", nodes);
  std::string s = fmt::format("planned segments: {} ({} nodes), eager nodes: {}", planned_segments, planned_nodes,
                              eager_nodes);
  if (!eager.empty()) s += fmt::format(": {}", fmt::join(eager, ", "));
  return s;
}

std::vector<Tensor> Model::run(const std::map<std::string, Tensor>& inputs) const {
  if (impl_->has_value_io()) {
    std::map<std::string, onnx::Value> vs(inputs.begin(), inputs.end());
    std::vector<Tensor> out;
    auto values = run_values(vs);
    for (size_t i = 0; i < values.size(); ++i) {
      TANDEM_CHECK(values[i].is_tensor(), "output '{}' is {}, not a tensor: use Model::run_values",
                   impl_->output_names[i], values[i].is_sequence() ? "a sequence" : "an empty optional");
      out.push_back(values[i].tensor);
    }
    return out;
  }
  check_inputs(inputs);
  // Static-shape models run as a traced graph through tandem::compile (cached per input
  // shapes, executed as a graph::Plan). A model with nodes that read run-time values (NonZero,
  // a Reshape to a computed shape, Range, TopK's k from an input) cannot be traced whole: it
  // runs as plans around those nodes, which run eagerly (Impl::run_segments).
  const bool was_segmented = impl_->segmented;
  if (!impl_->eager_only && !impl_->segmented) {
    std::vector<Tensor> xs;
    for (const auto& vi : impl_->info.inputs) xs.push_back(inputs.at(vi.name));
    try {
      if (!impl_->compiled) {
        auto fn = [impl = impl_.get(), this](const std::vector<Tensor>& ts) {
          std::map<std::string, Tensor> named;
          for (size_t i = 0; i < ts.size(); ++i) named[impl->info.inputs[i].name] = ts[i];
          return run_eager(named);
        };
        CompileOptions opts;
        opts.retrace_limit = 64;
        opts.freeze = true;  // initializers are constants
        impl_->compiled = std::make_shared<graph::CompiledVector>(
            std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(fn), opts);
      }
      // No grad: inference only, and then the first call traces shapes only and runs the
      // plan (tandem/graph/compile.h), so it peaks no higher than later calls.
      NoGradGuard ng;
      impl_->trace_failed_at = -1;
      return (*impl_->compiled)(xs);
    } catch (const Error&) {
      // A node that cannot be traced: plan around it (below). Anything else: eager for good;
      // the eager run reports real errors.
      impl_->compiled.reset();
      if (impl_->trace_failed_at >= 0) {
        impl_->segmented = true;
        impl_->segments = {impl_->make_segment(0, static_cast<size_t>(impl_->trace_failed_at), false),
                           impl_->make_segment(static_cast<size_t>(impl_->trace_failed_at),
                                               static_cast<size_t>(impl_->trace_failed_at) + 1, true),
                           impl_->make_segment(static_cast<size_t>(impl_->trace_failed_at) + 1,
                                               impl_->nodes.size(), false)};
        std::erase_if(impl_->segments, [](const Impl::Segment& s) { return s.begin == s.end; });
      } else {
        impl_->eager_only = true;
      }
    }
  }
  if (impl_->segmented && !impl_->eager_only) {
    // Eager nodes read plain weights: they stay plain from now on.
    graph::restore_plain_weights(impl_->prepack_only);
    impl_->prepack_only.clear();
    auto saved = impl_->segments;
    try {
      return impl_->run_segments(inputs);
    } catch (const Error&) {
      // A node that fails when run eagerly has a real error (reported as it is); the split
      // made on the way is not kept, so the next run starts from the same plans as this one.
      impl_->segments = std::move(saved);
      if (!was_segmented) {
        impl_->segmented = false;
        impl_->segments.clear();
      }
      throw;
    }
  }
  graph::restore_plain_weights(impl_->prepack_only);
  impl_->prepack_only.clear();
  return run_eager(inputs);
}

std::vector<onnx::Value> Model::run_values(const std::map<std::string, onnx::Value>& inputs) const {
  if (!impl_->has_value_io()) {
    std::map<std::string, Tensor> ts;
    for (const auto& [name, v] : inputs) {
      TANDEM_CHECK(v.is_tensor(), "input '{}' must be a tensor, got {}", name,
                   v.is_sequence() ? "a sequence" : "an empty optional");
      ts[name] = v.tensor;
    }
    auto out = run(ts);
    return {out.begin(), out.end()};
  }
  // Sequences and optionals cross the model's boundary: eager (a traced graph holds tensors).
  std::map<std::string, Tensor> ts;
  for (const auto& [name, v] : inputs) {
    const ValueInfo* vi = nullptr;
    for (const auto& x : impl_->info.inputs) vi = x.name == name ? &x : vi;
    TANDEM_CHECK(vi, "input '{}' is not an input of this model", name);
    if (vi->type.empty()) {
      TANDEM_CHECK(v.is_tensor(), "input '{}' must be a tensor", name);
      ts[name] = v.tensor;
    } else if (vi->type.rfind("seq(", 0) == 0) {
      TANDEM_CHECK(v.is_sequence(), "input '{}' must be a sequence ({})", name, vi->type);
    }
  }
  for (const auto& vi : impl_->info.inputs)
    TANDEM_CHECK(vi.type.rfind("optional(", 0) == 0 || inputs.count(vi.name), "input '{}' ({}) is missing", vi.name,
                 vi.type.empty() ? "a tensor" : vi.type);
  check_inputs(ts);
  graph::restore_plain_weights(impl_->prepack_only);
  impl_->prepack_only.clear();
  return run_eager_values(inputs);
}

void Model::check_inputs(const std::map<std::string, Tensor>& inputs) const {
  std::map<std::string, int64_t> symbols;
  for (const auto& [name, t] : inputs) {
    bool found = false;
    for (const auto& vi : impl_->info.inputs) found = found || vi.name == name;
    TANDEM_CHECK(found, "input '{}' is not an input of this model", name);
  }
  for (const auto& vi : impl_->info.inputs) {
    if (!vi.type.empty()) continue;  // a sequence or optional input (run_values checks it)
    auto it = inputs.find(vi.name);
    TANDEM_CHECK(it != inputs.end() && it->second.defined(), "input '{}' ({} {}) is missing", vi.name, vi.dtype,
                 graph::shape_str(vi.shape));
    const Tensor& t = it->second;
    TANDEM_CHECK(t.dtype() == vi.dtype, "input '{}': expected dtype {}, got {}", vi.name, vi.dtype, t.dtype());
    if (vi.has_shape) {
      TANDEM_CHECK(t.dim() == static_cast<int64_t>(vi.shape.size()), "input '{}': expected shape {}, got {}",
                   vi.name, graph::shape_str(vi.shape), shape_str(t.shape()));
      for (size_t d = 0; d < vi.shape.size(); ++d) {
        const auto& dim = vi.shape[d];
        if (dim.is_static()) {
          TANDEM_CHECK(dim.value == t.size(d), "input '{}': expected shape {}, got {} (dim {})", vi.name,
                       graph::shape_str(vi.shape), shape_str(t.shape()), d);
        } else {
          auto [s, fresh] = symbols.emplace(dim.symbol, t.size(d));
          TANDEM_CHECK(fresh || s->second == t.size(d),
                       "input '{}': dim {} ('{}') is {} but another input binds '{}' to {}", vi.name, d,
                       dim.symbol, t.size(d), dim.symbol, s->second);
        }
      }
    }
  }
}

std::vector<Tensor> Model::run_eager(const std::map<std::string, Tensor>& inputs) const {
  std::map<std::string, onnx::Value> vs(inputs.begin(), inputs.end());
  std::vector<Tensor> result;
  for (auto& v : run_eager_values(vs)) {
    TANDEM_CHECK(v.is_tensor(), "an output of the model is not a tensor: use Model::run_values");
    result.push_back(std::move(v.tensor));
  }
  return result;
}

std::vector<onnx::Value> Model::run_eager_values(const std::map<std::string, onnx::Value>& inputs) const {
  Scope root;
  root.consts = &impl_->consts;
  auto& env = root.values;
  for (const auto& vi : impl_->info.inputs) {
    auto it = inputs.find(vi.name);
    env[vi.name] = it != inputs.end() ? it->second : onnx::Value::none();  // an optional input may be left out
  }
  NoGradGuard ng;
  std::unordered_set<std::string> shape_values;
  impl_->run_range(0, impl_->nodes.size(), root, shape_values);
  std::vector<onnx::Value> result;
  for (const auto& name : impl_->output_names) {
    auto it = env.find(name);
    if (it != env.end()) result.push_back(it->second);
    else result.push_back(onnx::Value(impl_->consts.at(name)));
  }
  return result;
}

graph::Graph Model::to_graph(const std::map<std::string, Shape>& input_shapes) const {
  return to_graph(input_shapes, {"all"});
}

graph::Graph Model::to_graph(const std::map<std::string, Shape>& input_shapes,
                             const std::vector<std::string>& passes) const {
  std::vector<Tensor> example;
  for (const auto& vi : impl_->info.inputs) {
    Shape s;
    auto it = input_shapes.find(vi.name);
    if (it != input_shapes.end()) s = it->second;
    else
      for (const auto& d : vi.shape) s.push_back(d.is_static() ? d.value : 1);
    example.push_back(zeros(s, {.dtype = vi.dtype}));
  }
  auto fn = [this](const std::vector<Tensor>& xs) {
    std::map<std::string, Tensor> named;
    for (size_t i = 0; i < xs.size(); ++i) named[impl_->info.inputs[i].name] = xs[i];
    return run_eager(named);
  };
  // The graph shares the initializers and may be run by anything: they stay plain for good.
  graph::restore_plain_weights(impl_->prepack_only);
  impl_->prepack_only.clear();
  CompileOptions options;
  options.passes = passes;
  auto compiled = tandem::compile(std::function<std::vector<Tensor>(const std::vector<Tensor>&)>(fn), options);
  compiled(example);
  // The compiled function is local and dies here: its traced graph can be moved out.
  return std::move(const_cast<graph::Graph&>(compiled.graph()));
}

graph::Graph load(const std::string& path) { return Model::load(path).to_graph(); }

std::string ModelInfo::str() const {
  std::string s = fmt::format("opset {} (ir_version {}, producer '{}')\ninputs:\n", opset, ir_version, producer);
  auto line = [](const ValueInfo& v) {
    if (!v.type.empty()) return fmt::format("  {}: {}\n", v.name, v.type);
    return fmt::format("  {}: {} {}\n", v.name, v.dtype, v.has_shape ? graph::shape_str(v.shape) : "(shape unknown)");
  };
  for (const auto& v : inputs) s += line(v);
  s += "outputs:\n";
  for (const auto& v : outputs) s += line(v);
  const int64_t nodes = [&] { int64_t n = 0; for (auto& [k, c] : op_histogram) n += c; return n; }();
  // A model described without being imported (onnx::inspect) folded nothing: no count then.
  if (unsupported_ops.empty()) s += fmt::format("parameters: {}\nops ({} nodes, {} folded at load):\n", num_parameters, nodes, num_folded);
  else s += fmt::format("parameters: {}\nops ({} nodes):\n", num_parameters, nodes);
  for (const auto& [op, c] : op_histogram) s += fmt::format("  {:<24} {}\n", op, c);
  if (!unsupported_ops.empty()) {
    s += fmt::format("unsupported ops ({} kinds; tandem cannot run this model):\n", unsupported_ops.size());
    for (const auto& [op, c] : unsupported_ops) s += fmt::format("  {:<24} {}\n", op, c);
  }
  return s;
}

}  // namespace tandem::onnx
