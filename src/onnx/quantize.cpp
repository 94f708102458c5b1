// Static post-training quantization of an ONNX model into QDQ form (include/tandem/onnx/quantize.h):
// calibrate (run the float model with the tensors to measure as extra outputs), then rewrite
// the proto: int8 per-channel weights behind DequantizeLinear, and a QuantizeLinear ->
// DequantizeLinear pair after each measured activation, which all its readers then read.
#include "tandem/onnx/quantize.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "importer.h"
#include "quant/kernels.h"
#include "tandem/io/atomic_file.h"
#include "tandem/onnx/export.h"

namespace tandem::onnx {

using namespace detail;

namespace {

// A node to quantize: its weight's name and the axis of its output channels in the weight.
struct QuantTarget {
  int node = -1;
  std::string weight;
  int64_t channel_axis = 0;
  std::string act_in, act_out;  // the float activation read, and the one written (after a Relu)
};

bool quant_listed(const std::vector<std::string>& keep, const ::onnx::NodeProto& n) {
  return std::find(keep.begin(), keep.end(), n.name()) != keep.end() ||
         std::find(keep.begin(), keep.end(), n.op_type()) != keep.end();
}

int64_t quant_attr_i(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

::onnx::TensorProto quant_tensor_proto(const std::string& name, const Tensor& t) {
  ::onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  Tensor c = t.contiguous();
  p.set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  return p;
}

// Running range of one tensor over the calibration batches.
struct QuantRange {
  float lo = std::numeric_limits<float>::infinity(), hi = -std::numeric_limits<float>::infinity();
  double sum_lo = 0, sum_hi = 0;
  int batches = 0;
};

void quant_observe(QuantRange& r, const Tensor& t, const QuantizeOptions& o) {
  std::vector<float> v = t.to(DType::Float32).contiguous().to_vector<float>();
  if (v.empty()) return;
  if (o.method == Calibration::MinMax) {
    auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    r.lo = std::min(r.lo, *mn);
    r.hi = std::max(r.hi, *mx);
    return;
  }
  // NOTE: quantiles of each batch averaged over the batches, so that memory stays one
  // batch's activations whatever the number of calibration samples.
  const double q = std::clamp(o.percentile, 50.0, 100.0) / 100.0;
  auto at = [&](double frac) {
    size_t k = static_cast<size_t>(std::llround(frac * static_cast<double>(v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  };
  r.sum_hi += at(q);
  r.sum_lo += at(1.0 - q);
  r.batches++;
  r.lo = static_cast<float>(r.sum_lo / r.batches);
  r.hi = static_cast<float>(r.sum_hi / r.batches);
}

// Scale and zero point covering [lo, hi] (widened to include 0, as ONNX requires 0 to be exact).
std::pair<float, int32_t> quant_params(float lo, float hi, bool int8) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  float scale = (hi - lo) / 255.0f;
  if (!(scale > 0) || !std::isfinite(scale)) scale = 1.0f;
  const int32_t qmin = int8 ? -128 : 0, qmax = int8 ? 127 : 255;
  int32_t zp = static_cast<int32_t>(std::nearbyint(static_cast<float>(qmin) - lo / scale));
  return {scale, std::clamp(zp, qmin, qmax)};
}

}  // namespace

std::string QuantizeReport::str() const {
  int q = 0;
  for (const auto& n : nodes) q += n.quantized;
  std::string s = fmt::format("quantized {} of {} Conv/Gemm/MatMul nodes ({} calibration batches); weights {} -> {} bytes\n",
                              q, nodes.size(), calibration_batches, float_weight_bytes, int8_weight_bytes);
  for (const auto& n : nodes) s += fmt::format("  {:<32} {:<8} {}\n", n.name, n.op, n.quantized ? "int8" : "float (kept)");
  s += "activation ranges:\n";
  for (const auto& [name, r] : ranges) s += fmt::format("  {:<40} [{:.5g}, {:.5g}]\n", name, r.first, r.second);
  return s;
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const std::vector<std::map<std::string, Tensor>>& calibration,
                              const QuantizeOptions& options) {
  TANDEM_CHECK(!calibration.empty(), "quantize: no calibration batches given for '{}'", in_path);
  ::onnx::ModelProto m;
  {
    std::ifstream f(in_path, std::ios::binary);
    TANDEM_CHECK(f.good(), "quantize: cannot open ONNX model '{}'", in_path);
    TANDEM_CHECK(m.ParseFromIstream(&f), "quantize: '{}' is not a valid ONNX model (the protobuf does not parse)", in_path);
  }
  std::string dir = std::filesystem::path(in_path).parent_path().string();
  if (dir.empty()) dir = ".";
  int64_t opset = 0;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  TANDEM_CHECK(opset >= 13, "quantize: '{}' has opset {}; per-channel DequantizeLinear needs opset 13 or newer "
               "(re-export the model with a newer opset)", in_path, opset);
  ::onnx::GraphProto* g = m.mutable_graph();

  std::map<std::string, int> inits;
  for (int i = 0; i < g->initializer_size(); ++i) inits[g->initializer(i).name()] = i;
  std::map<std::string, std::vector<int>> readers;
  for (int i = 0; i < g->node_size(); ++i)
    for (const auto& in : g->node(i).input()) readers[in].push_back(i);
  std::set<std::string> graph_outputs;
  for (const auto& o : g->output()) graph_outputs.insert(o.name());

  QuantizeReport report;
  std::vector<QuantTarget> targets;
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& n = g->node(i);
    const std::string& op = n.op_type();
    if (op != "Conv" && op != "Gemm" && op != "MatMul") continue;
    if (n.input_size() < 2 || !inits.count(n.input(1))) continue;
    const auto& w = g->initializer(inits[n.input(1)]);
    if (w.data_type() != ::onnx::TensorProto::FLOAT || w.dims_size() < 2) continue;
    if (op == "Gemm" && quant_attr_i(n, "transA", 0) != 0) continue;
    report.nodes.push_back({n.name(), op, false});
    if (quant_listed(options.keep_float, n)) continue;
    QuantTarget t;
    t.node = i;
    t.weight = n.input(1);
    // Output channels: Conv weight [O, I, ...] and Gemm's transB weight [N, K] along dim 0,
    // MatMul's and plain Gemm's [K, N] along dim 1.
    t.channel_axis = (op == "Conv" || (op == "Gemm" && quant_attr_i(n, "transB", 0) != 0)) ? 0 : 1;
    if (op == "MatMul" && w.dims_size() != 2) continue;
    t.act_in = n.input(0);
    t.act_out = n.output(0);
    auto rd = readers.find(t.act_out);
    if (rd != readers.end() && rd->second.size() == 1 && g->node(rd->second[0]).op_type() == "Relu" &&
        !graph_outputs.count(t.act_out))
      t.act_out = g->node(rd->second[0]).output(0);
    report.nodes.back().quantized = true;
    targets.push_back(t);
  }

  // Calibration: the float model with every activation to measure as an extra output.
  std::vector<std::string> measured;
  for (const auto& t : targets)
    for (const std::string& a : {t.act_in, t.act_out})
      if (std::find(measured.begin(), measured.end(), a) == measured.end() && !inits.count(a)) measured.push_back(a);
  std::map<std::string, QuantRange> ranges;
  if (!measured.empty()) {
    ::onnx::ModelProto probe = m;
    size_t first_extra = static_cast<size_t>(probe.graph().output_size());
    for (const std::string& name : measured) {
      auto* o = probe.mutable_graph()->add_output();
      o->set_name(name);
      o->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
    }
    std::string bytes;
    TANDEM_CHECK(probe.SerializeToString(&bytes), "quantize: serializing the calibration model failed");
    Model model = Model::load_from_bytes(bytes, dir);
    for (const auto& batch : calibration) {
      std::vector<Tensor> outs = model.run(batch);
      TANDEM_CHECK(outs.size() == first_extra + measured.size(), "quantize: the calibration run gave {} outputs, expected {}",
                   outs.size(), first_extra + measured.size());
      for (size_t k = 0; k < measured.size(); ++k) quant_observe(ranges[measured[k]], outs[first_extra + k], options);
    }
  }
  report.calibration_batches = static_cast<int>(calibration.size());

  // The rewrite: new initializers for the weights, Q/DQ pairs after each measured activation.
  const DType act_dt = options.int8_activations ? DType::Int8 : DType::UInt8;
  std::vector<::onnx::NodeProto> head;  // weight DequantizeLinear nodes (their inputs are initializers)
  std::map<std::string, std::string> renamed;  // activation -> its dequantized copy
  std::map<std::string, std::vector<::onnx::NodeProto>> after;  // producer output -> Q/DQ nodes to add after it
  std::vector<::onnx::NodeProto> at_start;  // Q/DQ of graph inputs
  std::set<std::string> producers;
  for (const auto& n : g->node())
    for (const auto& o : n.output()) producers.insert(o);
  auto add_node = [](const std::string& op, const std::vector<std::string>& ins, const std::string& out,
                     const std::string& name, int64_t axis, bool with_axis) {
    ::onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(name);
    for (const auto& i : ins) n.add_input(i);
    n.add_output(out);
    if (with_axis) {
      auto* a = n.add_attribute();
      a->set_name("axis");
      a->set_type(::onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    return n;
  };
  for (const std::string& name : measured) {
    const QuantRange& r = ranges[name];
    float lo = std::isfinite(r.lo) ? r.lo : 0.0f, hi = std::isfinite(r.hi) ? r.hi : 0.0f;
    report.ranges[name] = {lo, hi};
    auto [scale, zp] = quant_params(lo, hi, options.int8_activations);
    std::string s = name + "_scale", z = name + "_zero_point", q = name + "_quantized", dq = name + "_dequantized";
    *g->add_initializer() = quant_tensor_proto(s, full({}, scale));
    *g->add_initializer() = quant_tensor_proto(z, full({}, zp, {.dtype = act_dt}));
    std::vector<::onnx::NodeProto> pair = {add_node("QuantizeLinear", {name, s, z}, q, name + "_QuantizeLinear", 0, false),
                                           add_node("DequantizeLinear", {q, s, z}, dq, name + "_DequantizeLinear", 0, false)};
    auto& dest = producers.count(name) ? after[name] : at_start;
    dest.insert(dest.end(), pair.begin(), pair.end());
    renamed[name] = dq;
  }
  for (const auto& t : targets) {
    ::onnx::TensorProto* wp = g->mutable_initializer(inits[t.weight]);
    Tensor w = tensor_from_proto(*wp, dir).to(DType::Float32).contiguous();
    const int64_t C = w.size(t.channel_axis);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < t.channel_axis; ++d) outer *= w.size(d);
    for (int64_t d = t.channel_axis + 1; d < w.dim(); ++d) inner *= w.size(d);
    // Symmetric per channel: scale = max |w| / 127 over the channel, zero point 0.
    std::vector<float> wv = w.to_vector<float>(), scales(static_cast<size_t>(C), 0.0f);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < inner; ++i) scales[c] = std::max(scales[c], std::abs(wv[(o * C + c) * inner + i]));
    for (float& s : scales) s = s > 0 ? s / 127.0f : 1.0f;
    std::vector<int32_t> zeros_i(static_cast<size_t>(C), 0);
    Tensor wq = empty(w.shape(), {.dtype = DType::Int8});
    quant::quantize_linear(wv.data(), outer, C, inner, scales.data(), zeros_i.data(), static_cast<int8_t*>(wq.data_ptr()));
    report.float_weight_bytes += w.nbytes();
    report.int8_weight_bytes += wq.nbytes();
    std::string q = t.weight + "_quantized", s = t.weight + "_scale", z = t.weight + "_zero_point";
    *wp = quant_tensor_proto(q, wq);
    *g->add_initializer() = quant_tensor_proto(s, tensor(scales));
    *g->add_initializer() = quant_tensor_proto(z, zeros({C}, {.dtype = DType::Int8}));
    // The DequantizeLinear's output keeps the weight's name: the node reading it is unchanged.
    head.push_back(add_node("DequantizeLinear", {q, s, z}, t.weight, t.weight + "_DequantizeLinear", t.channel_axis, true));
  }
  // A weight listed among the graph inputs (old exporters) is no longer an initializer name.
  std::set<std::string> weights;
  for (const auto& t : targets) weights.insert(t.weight);
  auto* gin = g->mutable_input();
  for (int i = gin->size() - 1; i >= 0; --i)
    if (weights.count(gin->Get(i).name())) gin->DeleteSubrange(i, 1);

  // New node order: weight DQs, graph-input Q/DQs, then each node followed by its outputs' Q/DQs;
  // every reader of a measured activation (other than its own QuantizeLinear) reads the copy.
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> out_nodes;
  for (auto& n : head) *out_nodes.Add() = n;
  for (auto& n : at_start) *out_nodes.Add() = n;
  for (const auto& n : g->node()) {
    ::onnx::NodeProto copy = n;
    for (int i = 0; i < copy.input_size(); ++i) {
      auto it = renamed.find(copy.input(i));
      if (it != renamed.end()) copy.set_input(i, it->second);
    }
    *out_nodes.Add() = copy;
    for (const auto& o : n.output()) {
      auto it = after.find(o);
      if (it != after.end())
        for (auto& qn : it->second) *out_nodes.Add() = qn;
    }
  }
  g->mutable_node()->Swap(&out_nodes);
  g->clear_value_info();  // shapes of renamed values are re-inferred by readers

  std::string bytes;
  TANDEM_CHECK(m.SerializeToString(&bytes), "quantize: serializing the quantized model failed");
  check_model_bytes(bytes);
  io::write_file_atomic(out_path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
  return report;
}

}  // namespace tandem::onnx
