// Proto helpers shared by the quantizers (src/onnx/quantize.cpp, quantize_dynamic.cpp).
#pragma once
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <string>
#include <vector>

#include "importer.h"

namespace tandem::onnx::detail {

// The node is listed by name or op type.
inline bool quant_listed(const std::vector<std::string>& keep, const ::onnx::NodeProto& n) {
  return std::find(keep.begin(), keep.end(), n.name()) != keep.end() ||
         std::find(keep.begin(), keep.end(), n.op_type()) != keep.end();
}

inline int64_t quant_attr_i(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

inline ::onnx::TensorProto quant_tensor_proto(const std::string& name, const Tensor& t) {
  ::onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  Tensor c = t.contiguous();
  p.set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  return p;
}

// A node `op` reading `ins`, writing `out`, with an optional int attribute `axis`.
inline ::onnx::NodeProto quant_node(const std::string& op, const std::vector<std::string>& ins, const std::string& out,
                                    const std::string& name, int64_t axis = 0, bool with_axis = false) {
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
}

}  // namespace tandem::onnx::detail
