// onnx::inspect: describe any valid ONNX model (inputs, outputs, opset, ops, parameters)
// without importing it, naming the ops tandem's importer lacks; and the ValueInfo reader that
// the importer shares.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include "importer.h"

namespace tandem::onnx {

namespace detail {

std::string onnx_type_str(const ::onnx::TypeProto& t) {
  if (t.has_tensor_type()) {
    const int32_t e = t.tensor_type().elem_type();
    std::string name = ::onnx::TensorProto::DataType_IsValid(e)
                           ? ::onnx::TensorProto::DataType_Name(static_cast<::onnx::TensorProto::DataType>(e))
                           : fmt::format("type{}", e);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return fmt::format("tensor({})", name);
  }
  if (t.has_sequence_type()) return fmt::format("seq({})", onnx_type_str(t.sequence_type().elem_type()));
  if (t.has_optional_type()) return fmt::format("optional({})", onnx_type_str(t.optional_type().elem_type()));
  if (t.has_map_type()) return "map";
  if (t.has_sparse_tensor_type()) return "sparse_tensor";
  return "unknown";
}

ValueInfo value_info_of(const ::onnx::ValueInfoProto& v, bool strict) {
  ValueInfo info;
  info.name = v.name();
  const auto& type = v.type();
  if (type.has_sequence_type() || type.has_optional_type()) {
    info.type = onnx_type_str(type);
    info.has_shape = false;
    // The element dtype, where tandem has it (informational).
    const ::onnx::TypeProto* e = &type;
    while (e->has_sequence_type() || e->has_optional_type())
      e = e->has_sequence_type() ? &e->sequence_type().elem_type() : &e->optional_type().elem_type();
    if (e->has_tensor_type()) {
      try {
        info.dtype = dtype_from_onnx(e->tensor_type().elem_type(), "");
      } catch (const Error&) {
      }
    }
    return info;
  }
  if (!type.has_tensor_type()) {
    if (strict)
      throw Unsupported(fmt::format("graph value '{}' is of type {} (tandem has tensors, sequences and optionals)",
                                    v.name(), onnx_type_str(type)));
    info.type = onnx_type_str(type);
    info.has_shape = false;
    return info;
  }
  try {
    info.dtype = dtype_from_onnx(type.tensor_type().elem_type(), fmt::format("graph value '{}'", v.name()));
  } catch (const Unsupported&) {
    if (strict) throw;
    info.type = onnx_type_str(type);
  }
  if (!type.tensor_type().has_shape()) {
    info.has_shape = false;
    return info;
  }
  int unknown = 0;
  for (const auto& d : type.tensor_type().shape().dim()) {
    if (d.has_dim_value()) info.shape.push_back(graph::Dim(d.dim_value()));
    else if (d.has_dim_param() && !d.dim_param().empty()) info.shape.push_back(graph::Dim::sym(d.dim_param()));
    else info.shape.push_back(graph::Dim::sym(fmt::format("{}_dim{}", v.name(), unknown++)));
  }
  return info;
}

}  // namespace detail

namespace {

void inspect_count_ops(const ::onnx::GraphProto& g, ModelInfo& info) {
  for (const auto& n : g.node()) {
    const bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
    const std::string name = onnx_domain ? n.op_type() : fmt::format("{}::{}", n.domain(), n.op_type());
    info.op_histogram[name]++;
    if (!onnx_domain || (!detail::converters().count(n.op_type()) && !detail::is_value_op(n.op_type())))
      info.unsupported_ops[name]++;
    for (const auto& a : n.attribute()) {
      if (a.has_g()) inspect_count_ops(a.g(), info);
      for (const auto& sub : a.graphs()) inspect_count_ops(sub, info);
    }
  }
}

}  // namespace

ModelInfo inspect(const std::string& path) {
  detail::register_all_converters();
  std::ifstream f(path, std::ios::binary);
  TANDEM_CHECK(f.good(), "cannot open ONNX model '{}'", path);
  std::error_code ec;
  TANDEM_CHECK(std::filesystem::file_size(path, ec) > 0 || ec, "{}: ONNX model is empty (0 bytes)", path);
  ::onnx::ModelProto proto;
  TANDEM_CHECK(proto.ParseFromIstream(&f),
               "{}: not a valid ONNX model: the protobuf does not parse (truncated or corrupt file?)", path);
  TANDEM_CHECK(proto.has_graph(), "{}: not a valid ONNX model: it has no graph", path);
  ModelInfo info;
  info.ir_version = proto.ir_version();
  info.producer = proto.producer_name();
  for (const auto& op : proto.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") info.opset = op.version();
  const auto& g = proto.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) {
    inits.insert(t.name());
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    info.num_parameters += n;
  }
  for (const auto& v : g.input())
    if (!inits.count(v.name())) info.inputs.push_back(detail::value_info_of(v, false));
  for (const auto& v : g.output()) info.outputs.push_back(detail::value_info_of(v, false));
  inspect_count_ops(g, info);
  return info;
}

}  // namespace tandem::onnx
