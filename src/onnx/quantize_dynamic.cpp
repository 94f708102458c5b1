// Dynamic quantization of an ONNX model (include/tandem/onnx/quantize.h, quantize_dynamic):
// int8 weights of MatMul / Gemm, activations quantized at run time by DynamicQuantizeLinear,
// integer products by MatMulInteger, rescaled in float.
#include <onnx/onnx_pb.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "quant/kernels.h"
#include "quantize_proto.h"
#include "tandem/io/atomic_file.h"
#include "tandem/onnx/export.h"
#include "tandem/onnx/quantize.h"

namespace tandem::onnx {

using namespace detail;

namespace {

float dynq_float_attr(const ::onnx::NodeProto& n, const std::string& name, float fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return fallback;
}

}  // namespace

QuantizeReport quantize_dynamic(const std::string& in_path, const std::string& out_path,
                                const DynamicQuantizeOptions& options) {
  ::onnx::ModelProto m;
  {
    std::ifstream f(in_path, std::ios::binary);
    TANDEM_CHECK(f.good(), "quantize --dynamic: cannot open ONNX model '{}'", in_path);
    TANDEM_CHECK(m.ParseFromIstream(&f), "quantize --dynamic: '{}' is not a valid ONNX model (the protobuf does not parse)",
                 in_path);
  }
  const std::filesystem::path parent = std::filesystem::path(in_path).parent_path();
  const std::string dir = parent.empty() ? std::filesystem::path(".").string() : parent.string();
  int64_t opset = 0;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  TANDEM_CHECK(opset >= 11, "quantize --dynamic: '{}' has opset {}; DynamicQuantizeLinear needs opset 11 or newer", in_path,
               opset);
  ::onnx::GraphProto* g = m.mutable_graph();
  std::map<std::string, int> inits;
  for (int i = 0; i < g->initializer_size(); ++i) inits[g->initializer(i).name()] = i;
  auto float_2d_init = [&](const std::string& name) {
    auto it = inits.find(name);
    return it != inits.end() && g->initializer(it->second).data_type() == ::onnx::TensorProto::FLOAT &&
           g->initializer(it->second).dims_size() == 2;
  };
  // Transpose (perm [1, 0]) of a 2-D float initializer: exporters (tandem's included) write a
  // Linear on 3-D inputs as MatMul(x, Transpose(W)).
  std::map<std::string, std::pair<std::string, int>> transposed;  // output -> (initializer, node index)
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& n = g->node(i);
    if (n.op_type() != "Transpose" || n.input_size() != 1 || !float_2d_init(n.input(0))) continue;
    bool swap = true;
    for (const auto& at : n.attribute())
      if (at.name() == "perm") swap = at.ints_size() == 2 && at.ints(0) == 1 && at.ints(1) == 0;
    if (swap) transposed[n.output(0)] = {n.input(0), i};
  }
  std::map<std::string, int> readers;
  for (const auto& n : g->node())
    for (const auto& in : n.input()) readers[in]++;
  for (const auto& o : g->output()) readers[o.name()]++;

  // Pass 1: which nodes become integer, and their weight ([K, N] after `transpose`).
  struct DynTarget {
    std::string weight;
    bool transpose = false;
  };
  QuantizeReport report;
  std::map<int, DynTarget> targets;
  std::map<std::string, int> quantized_readers;
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& n = g->node(i);
    const std::string& op = n.op_type();
    if ((op != "MatMul" && op != "Gemm") || n.input_size() < 2) continue;
    DynTarget t;
    if (float_2d_init(n.input(1))) {
      t.weight = n.input(1);
      t.transpose = op == "Gemm" && quant_attr_i(n, "transB", 0) != 0;
    } else if (op == "MatMul" && transposed.count(n.input(1))) {
      t.weight = transposed.at(n.input(1)).first;
      t.transpose = true;
    } else {
      continue;
    }
    if (op == "Gemm" && (quant_attr_i(n, "transA", 0) != 0 || dynq_float_attr(n, "alpha", 1.0f) != 1.0f ||
                         dynq_float_attr(n, "beta", 1.0f) != 1.0f))
      continue;
    report.nodes.push_back({n.name(), op, false});
    if (quant_listed(options.keep_float, n)) continue;
    report.nodes.back().quantized = true;
    targets[i] = t;
    quantized_readers[n.input(1)]++;
  }
  // What nobody reads any more: Transposes read only by quantized nodes, then float weights
  // read only by those and by quantized nodes.
  std::set<int> dropped_nodes;
  for (const auto& [out, src] : transposed)
    if (quantized_readers[out] > 0 && quantized_readers[out] == readers[out]) {
      dropped_nodes.insert(src.second);
      quantized_readers[src.first]++;
    }
  std::set<std::string> replaced_weights;
  for (const auto& [name, count] : quantized_readers)
    if (inits.count(name) && count == readers[name]) replaced_weights.insert(name);

  // Pass 2: the new node list.
  std::map<std::string, std::array<std::string, 3>> dyn;  // activation -> (q, scale, zero point)
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> out_nodes;
  std::vector<::onnx::TensorProto> new_inits;
  int counter = 0;
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& n = g->node(i);
    if (dropped_nodes.count(i)) continue;
    auto target = targets.find(i);
    if (target == targets.end()) {
      *out_nodes.Add() = n;
      continue;
    }
    const std::string& op = n.op_type();
    const std::string tag = (n.name().empty() ? n.output(0) : n.name()) + "_dq" + std::to_string(counter++);
    Tensor w = tensor_from_proto(g->initializer(inits.at(target->second.weight)), dir).to(DType::Float32);
    if (target->second.transpose) w = w.t();
    w = w.contiguous();
    const int64_t K = w.size(0), N = w.size(1);
    std::vector<float> wv = w.to_vector<float>();
    // Symmetric: scale = max |w| / 127 per output column (or over the whole weight), zero point 0.
    std::vector<float> scales(static_cast<size_t>(options.per_channel ? N : 1), 0.0f);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < N; ++c) {
        float& sc = scales[options.per_channel ? static_cast<size_t>(c) : 0];
        sc = std::max(sc, std::abs(wv[k * N + c]));
      }
    for (float& sc : scales) sc = sc > 0 ? sc / 127.0f : 1.0f;
    std::vector<float> col_scales(static_cast<size_t>(N));
    for (int64_t c = 0; c < N; ++c) col_scales[c] = scales[options.per_channel ? static_cast<size_t>(c) : 0];
    std::vector<int32_t> zeros_i(static_cast<size_t>(N), 0);
    Tensor wq = empty({K, N}, {.dtype = DType::Int8});
    quant::quantize_linear(wv.data(), K, N, 1, col_scales.data(), zeros_i.data(), static_cast<int8_t*>(wq.data_ptr()));
    report.float_weight_bytes += w.nbytes();
    report.int8_weight_bytes += wq.nbytes();
    const std::string wq_name = tag + "_weight_quantized", ws_name = tag + "_weight_scale", wz_name = tag + "_weight_zero_point";
    new_inits.push_back(quant_tensor_proto(wq_name, wq));
    new_inits.push_back(quant_tensor_proto(ws_name, options.per_channel ? tensor(scales) : full({}, scales[0])));
    new_inits.push_back(quant_tensor_proto(wz_name, zeros({}, {.dtype = DType::Int8})));

    // One DynamicQuantizeLinear per activation, however many nodes read it.
    const std::string& x = n.input(0);
    if (!dyn.count(x)) {
      std::array<std::string, 3> names = {x + "_quantized", x + "_scale", x + "_zero_point"};
      ::onnx::NodeProto d;
      d.set_op_type("DynamicQuantizeLinear");
      d.set_name(x + "_DynamicQuantizeLinear");
      d.add_input(x);
      for (const auto& nm : names) d.add_output(nm);
      *out_nodes.Add() = d;
      dyn[x] = names;
    }
    const auto& [xq, xs, xz] = dyn.at(x);
    const bool bias = op == "Gemm" && n.input_size() >= 3 && !n.input(2).empty();
    const std::string& y = n.output(0);
    *out_nodes.Add() = quant_node("MatMulInteger", {xq, wq_name, xz, wz_name}, tag + "_int32", tag + "_MatMulInteger");
    ::onnx::NodeProto cast = quant_node("Cast", {tag + "_int32"}, tag + "_float", tag + "_Cast");
    auto* to = cast.add_attribute();
    to->set_name("to");
    to->set_type(::onnx::AttributeProto::INT);
    to->set_i(::onnx::TensorProto::FLOAT);
    *out_nodes.Add() = cast;
    *out_nodes.Add() = quant_node("Mul", {xs, ws_name}, tag + "_scale", tag + "_ScaleMul");
    *out_nodes.Add() = quant_node("Mul", {tag + "_float", tag + "_scale"}, bias ? tag + "_scaled" : y, tag + "_Mul");
    if (bias) *out_nodes.Add() = quant_node("Add", {tag + "_scaled", n.input(2)}, y, tag + "_Add");
  }
  // Float weights no node reads any more leave the file (and the graph inputs, for old exporters).
  auto* ginit = g->mutable_initializer();
  for (int i = ginit->size() - 1; i >= 0; --i)
    if (replaced_weights.count(ginit->Get(i).name())) ginit->DeleteSubrange(i, 1);
  auto* gin = g->mutable_input();
  for (int i = gin->size() - 1; i >= 0; --i)
    if (replaced_weights.count(gin->Get(i).name())) gin->DeleteSubrange(i, 1);
  for (auto& t : new_inits) *g->add_initializer() = t;
  g->mutable_node()->Swap(&out_nodes);
  g->clear_value_info();

  std::string bytes;
  TANDEM_CHECK(m.SerializeToString(&bytes), "quantize --dynamic: serializing the quantized model failed");
  check_model_bytes(bytes);
  io::write_file_atomic(out_path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
  return report;
}

}  // namespace tandem::onnx
