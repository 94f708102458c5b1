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
#include "quantize_calib.h"
#include "quantize_proto.h"
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
  size_t report_index = 0;      // its row in QuantizeReport::nodes
};

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

// A parsed model, the nodes to quantize and their activations' calibrated ranges: what every
// rewrite (the whole model, or one node alone for the sensitivity report) starts from.
struct QuantPrepared {
  ::onnx::ModelProto m;
  std::string dir;
  std::vector<QuantTarget> targets;
  std::map<std::string, std::pair<float, float>> ranges;  // every activation a target reads or writes
  std::vector<std::vector<Tensor>> float_outputs;          // the model's own outputs per batch (keep_outputs)
  QuantizeReport report;                                   // nodes, ranges, batches
};

QuantPrepared quant_prepare(const std::string& in_path, const std::vector<std::map<std::string, Tensor>>& calibration,
                            const QuantizeOptions& options, bool keep_outputs) {
  TANDEM_CHECK(!calibration.empty(), "quantize: no calibration batches given for '{}'", in_path);
  QuantPrepared p;
  ::onnx::ModelProto& m = p.m;
  {
    std::ifstream f(in_path, std::ios::binary);
    TANDEM_CHECK(f.good(), "quantize: cannot open ONNX model '{}'", in_path);
    TANDEM_CHECK(m.ParseFromIstream(&f), "quantize: '{}' is not a valid ONNX model (the protobuf does not parse)", in_path);
  }
  const std::filesystem::path parent = std::filesystem::path(in_path).parent_path();
  p.dir = parent.empty() ? std::filesystem::path(".").string() : parent.string();
  int64_t opset = 0;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  TANDEM_CHECK(opset >= 13, "quantize: '{}' has opset {}; per-channel DequantizeLinear needs opset 13 or newer "
               "(re-export the model with a newer opset)", in_path, opset);
  const ::onnx::GraphProto* g = &m.graph();

  std::map<std::string, int> inits;
  for (int i = 0; i < g->initializer_size(); ++i) inits[g->initializer(i).name()] = i;
  std::map<std::string, std::vector<int>> readers;
  for (int i = 0; i < g->node_size(); ++i)
    for (const auto& in : g->node(i).input()) readers[in].push_back(i);
  std::set<std::string> graph_outputs;
  for (const auto& o : g->output()) graph_outputs.insert(o.name());

  QuantizeReport& report = p.report;
  std::vector<QuantTarget>& targets = p.targets;
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
    t.report_index = report.nodes.size() - 1;
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
  std::map<std::string, detail::QuantCalibrator> calibrators;
  for (const std::string& name : measured) calibrators.emplace(name, detail::QuantCalibrator(options));
  if (!measured.empty() || keep_outputs) {
    ::onnx::ModelProto probe = m;
    size_t first_extra = static_cast<size_t>(probe.graph().output_size());
    for (const std::string& name : measured) {
      auto* o = probe.mutable_graph()->add_output();
      o->set_name(name);
      o->mutable_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
    }
    std::string bytes;
    TANDEM_CHECK(probe.SerializeToString(&bytes), "quantize: serializing the calibration model failed");
    Model model = Model::load_from_bytes(bytes, p.dir);
    const bool second_pass = !measured.empty() && calibrators.begin()->second.needs_histogram();
    for (int pass = 0; pass < (second_pass ? 2 : 1); ++pass)
      for (const auto& batch : calibration) {
        std::vector<Tensor> outs = model.run(batch);
        TANDEM_CHECK(outs.size() == first_extra + measured.size(), "quantize: the calibration run gave {} outputs, expected {}",
                     outs.size(), first_extra + measured.size());
        for (size_t k = 0; k < measured.size(); ++k) {
          auto& c = calibrators.at(measured[k]);
          if (pass == 0)
            c.observe(outs[first_extra + k]);
          else
            c.observe_histogram(outs[first_extra + k]);
        }
        if (pass == 0 && keep_outputs) p.float_outputs.emplace_back(outs.begin(), outs.begin() + static_cast<std::ptrdiff_t>(first_extra));
      }
  }
  for (const std::string& name : measured) p.ranges[name] = calibrators.at(name).range();
  report.calibration_batches = static_cast<int>(calibration.size());
  return p;
}

// The QDQ rewrite of `p.targets[k]` for every k in `which`: int8 weights behind
// DequantizeLinear, a QuantizeLinear -> DequantizeLinear pair after each activation those
// nodes read or write. Returns the checked model's bytes.
std::string quant_rewrite(const QuantPrepared& p, const std::vector<size_t>& which, const QuantizeOptions& options,
                          QuantizeReport* report) {
  ::onnx::ModelProto m = p.m;
  ::onnx::GraphProto* g = m.mutable_graph();
  std::map<std::string, int> inits;
  for (int i = 0; i < g->initializer_size(); ++i) inits[g->initializer(i).name()] = i;
  std::vector<QuantTarget> targets;
  for (size_t k : which) targets.push_back(p.targets[k]);
  std::vector<std::string> measured;
  for (const auto& t : targets)
    for (const std::string& a : {t.act_in, t.act_out})
      if (std::find(measured.begin(), measured.end(), a) == measured.end() && !inits.count(a)) measured.push_back(a);
  const std::string& dir = p.dir;
  // The rewrite: new initializers for the weights, Q/DQ pairs after each measured activation.
  const DType act_dt = options.int8_activations ? DType::Int8 : DType::UInt8;
  std::vector<::onnx::NodeProto> head;  // weight DequantizeLinear nodes (their inputs are initializers)
  std::map<std::string, std::string> renamed;  // activation -> its dequantized copy
  std::map<std::string, std::vector<::onnx::NodeProto>> after;  // producer output -> Q/DQ nodes to add after it
  std::vector<::onnx::NodeProto> at_start;  // Q/DQ of graph inputs
  std::set<std::string> producers;
  for (const auto& n : g->node())
    for (const auto& o : n.output()) producers.insert(o);
  for (const std::string& name : measured) {
    auto [lo, hi] = p.ranges.at(name);
    if (report) report->ranges[name] = {lo, hi};
    auto [scale, zp] = quant_params(lo, hi, options.int8_activations);
    std::string s = name + "_scale", z = name + "_zero_point", q = name + "_quantized", dq = name + "_dequantized";
    *g->add_initializer() = quant_tensor_proto(s, full({}, scale));
    *g->add_initializer() = quant_tensor_proto(z, full({}, zp, {.dtype = act_dt}));
    std::vector<::onnx::NodeProto> pair = {quant_node("QuantizeLinear", {name, s, z}, q, name + "_QuantizeLinear", 0, false),
                                           quant_node("DequantizeLinear", {q, s, z}, dq, name + "_DequantizeLinear", 0, false)};
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
    if (report) {
      report->float_weight_bytes += w.nbytes();
      report->int8_weight_bytes += wq.nbytes();
    }
    std::string q = t.weight + "_quantized", s = t.weight + "_scale", z = t.weight + "_zero_point";
    *wp = quant_tensor_proto(q, wq);
    *g->add_initializer() = quant_tensor_proto(s, tensor(scales));
    *g->add_initializer() = quant_tensor_proto(z, zeros({C}, {.dtype = DType::Int8}));
    // The DequantizeLinear's output keeps the weight's name: the node reading it is unchanged.
    head.push_back(quant_node("DequantizeLinear", {q, s, z}, t.weight, t.weight + "_DequantizeLinear", t.channel_axis, true));
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
  return bytes;
}

// Each target alone quantized, run on the calibration batches, against the float outputs
// (p.float_outputs); worst first. `index` of each row is its target's index in p.targets.
std::vector<std::pair<LayerSensitivity, size_t>> quant_sensitivity(const QuantPrepared& p,
                                                                   const std::vector<std::map<std::string, Tensor>>& calibration,
                                                                   const QuantizeOptions& options) {
  std::vector<std::pair<LayerSensitivity, size_t>> rows;
  for (size_t k = 0; k < p.targets.size(); ++k) {
    const auto& node = p.m.graph().node(p.targets[k].node);
    LayerSensitivity row{.name = node.name().empty() ? "(" + node.output(0) + ")" : node.name(), .op = node.op_type()};
    Model model = Model::load_from_bytes(quant_rewrite(p, {k}, options, nullptr), p.dir);
    double diff2 = 0, ref2 = 0, got2 = 0, dot = 0;
    for (size_t b = 0; b < calibration.size(); ++b) {
      std::vector<Tensor> outs = model.run(calibration[b]);
      const auto& want = p.float_outputs[b];
      TANDEM_CHECK(outs.size() == want.size(), "quantize: the model with '{}' quantized gave {} outputs, the float one {}",
                   row.name, outs.size(), want.size());
      for (size_t o = 0; o < outs.size(); ++o) {
        if (!is_floating(want[o].dtype())) continue;
        auto q = outs[o].to(DType::Float64).contiguous().to_vector<double>();
        auto f = want[o].to(DType::Float64).contiguous().to_vector<double>();
        TANDEM_CHECK(q.size() == f.size(), "quantize: output {} of the model with '{}' quantized has {} values, the float one {}",
                     o, row.name, q.size(), f.size());
        for (size_t i = 0; i < q.size(); ++i) {
          diff2 += (q[i] - f[i]) * (q[i] - f[i]);
          ref2 += f[i] * f[i];
          got2 += q[i] * q[i];
          dot += q[i] * f[i];
          row.max_abs = std::max(row.max_abs, std::abs(q[i] - f[i]));
        }
      }
    }
    row.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    row.cosine = ref2 > 0 && got2 > 0 ? dot / std::sqrt(ref2 * got2) : (diff2 == 0 ? 1.0 : 0.0);
    rows.push_back({row, k});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first.rel_l2 > b.first.rel_l2; });
  return rows;
}

}  // namespace

std::string QuantizeReport::str() const {
  int q = 0;
  for (const auto& n : nodes) q += n.quantized;
  const std::string how = calibration_batches > 0 ? fmt::format("{} calibration batches", calibration_batches)
                                                  : std::string("dynamic: activations quantized at run time");
  std::string s = fmt::format("quantized {} of {} Conv/Gemm/MatMul nodes ({}); weights {} -> {} bytes\n", q, nodes.size(),
                              how, float_weight_bytes, int8_weight_bytes);
  for (const auto& n : nodes) s += fmt::format("  {:<32} {:<8} {}\n", n.name, n.op, n.quantized ? "int8" : "float (kept)");
  if (!sensitivity.empty()) s += "sensitivity (each node alone quantized, worst first):\n" + sensitivity_table(sensitivity);
  if (!ranges.empty()) s += "activation ranges:\n";
  for (const auto& [name, r] : ranges) s += fmt::format("  {:<40} [{:.5g}, {:.5g}]\n", name, r.first, r.second);
  return s;
}

QuantizeReport quantize_model(const std::string& in_path, const std::string& out_path,
                              const std::vector<std::map<std::string, Tensor>>& calibration,
                              const QuantizeOptions& options) {
  TANDEM_CHECK(options.keep_float_worst >= 0 && options.keep_float_above >= 0,
               "quantize: keep_float_worst ({}) and keep_float_above ({}) must not be negative", options.keep_float_worst,
               options.keep_float_above);
  const bool sensitive = options.keep_float_worst > 0 || options.keep_float_above > 0;
  QuantPrepared p = quant_prepare(in_path, calibration, options, sensitive);
  QuantizeReport report = p.report;
  std::vector<bool> keep(p.targets.size(), false);
  if (sensitive) {
    auto rows = quant_sensitivity(p, calibration, options);
    for (size_t r = 0; r < rows.size(); ++r) {
      auto& [row, k] = rows[r];
      row.kept_float = static_cast<int64_t>(r) < options.keep_float_worst ||
                       (options.keep_float_above > 0 && row.rel_l2 > options.keep_float_above);
      if (row.kept_float) {
        keep[k] = true;
        report.nodes[p.targets[k].report_index].quantized = false;
      }
      report.sensitivity.push_back(row);
    }
  }
  std::vector<size_t> all;
  for (size_t k = 0; k < p.targets.size(); ++k)
    if (!keep[k]) all.push_back(k);
  std::string bytes = quant_rewrite(p, all, options, &report);
  io::write_file_atomic(out_path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
  return report;
}

std::vector<LayerSensitivity> quantization_sensitivity(const std::string& in_path,
                                                       const std::vector<std::map<std::string, Tensor>>& calibration,
                                                       const QuantizeOptions& options) {
  QuantPrepared p = quant_prepare(in_path, calibration, options, true);
  std::vector<LayerSensitivity> out;
  for (auto& [row, k] : quant_sensitivity(p, calibration, options)) out.push_back(row);
  return out;
}

std::string sensitivity_table(const std::vector<LayerSensitivity>& rows) {
  std::string s = fmt::format("  {:<32} {:<8} {:>10} {:>10} {:>10}\n", "node", "op", "rel L2", "cosine", "max |err|");
  for (const auto& r : rows)
    s += fmt::format("  {:<32} {:<8} {:>10.4g} {:>10.6f} {:>10.4g}{}\n", r.name, r.op, r.rel_l2, r.cosine, r.max_abs,
                     r.kept_float ? "  kept float" : "");
  return s;
}

}  // namespace tandem::onnx
