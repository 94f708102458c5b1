// Internal to the ONNX exporter (src/onnx/export*.cpp): the emission context that the op
// emitters (export_ops.cpp) write ONNX nodes through.
#pragma once
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tandem/graph/ir.h"
#include "tandem/onnx/export.h"

namespace tandem::onnx::detail {

int32_t onnx_dtype(DType t);                        // TensorProto_DataType
void fill_tensor_proto(::onnx::TensorProto* p, const Tensor& t, const std::string& name);

class ExportCtx {
 public:
  ExportCtx(::onnx::GraphProto* g, const ExportOptions& o, int64_t batch) : g_(g), opts_(o), batch_(batch) {}

  int64_t opset() const { return opts_.opset; }
  bool dynamic() const { return opts_.dynamic_batch && batch_ >= 0; }
  int64_t batch() const { return batch_; }

  // A unique name based on `base`.
  std::string fresh(const std::string& base);
  // The ONNX name of a tandem value (inputs, initializers and earlier outputs).
  std::string name(const graph::Value* v);
  void set_name(const graph::Value* v, const std::string& n) { names_[v] = n; }
  bool has_name(const graph::Value* v) const { return names_.count(v) != 0; }

  // The name of input i of `n`, converted to dtype `to` (a constant is re-materialized as an
  // initializer of that dtype; another value goes through a Cast).
  std::string input_as(const graph::Node& n, size_t i, DType to);
  std::string input(const graph::Node& n, size_t i) { return name(n.inputs.at(i)); }
  // The name output i of `n` gets (set before the node that produces it is emitted).
  std::string output(const graph::Node& n, size_t i = 0);

  ::onnx::NodeProto* add(const std::string& op_type, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs);
  // A fresh intermediate name for a node's helper output.
  std::string tmp(const graph::Node& n, const std::string& what);
  // The same name unreserved: for init/ints/scalar/cast, which reserve their own name.
  std::string base(const graph::Node& n, const std::string& what) { return node_prefix + "/" + what; }

  // Initializers.
  std::string init(const Tensor& t, const std::string& base);
  std::string ints(const std::vector<int64_t>& v, const std::string& base);   // 1-D int64
  std::string scalar(double v, DType dtype, const std::string& base);          // 0-dim
  std::string cast(const std::string& x, DType to, const std::string& base);

  // Dynamic dims (ExportOptions::dynamic_axes, dynamic_batch): per value one entry per dim,
  // -1 for a dim fixed in the file, else a symbol id (one id: one runtime size). Emitters of
  // ops whose attributes hold sizes (reshape, expand, slice) read them and set their outputs'
  // (export_dims.cpp); propagate() fills in the rest by probing the op's shape inference.
  using DimSyms = std::vector<int>;
  DimSyms dims(const graph::Value* v) const;
  bool any_dynamic(const graph::Value* v) const;
  void set_dims(const graph::Value* v, DimSyms d) { dims_[v] = std::move(d); }
  int symbol(const std::string& name);  // the id of a named symbol (created on first use)
  int derived_symbol() {  // a size computed from others (no name of its own)
    symbols_.emplace_back();
    return static_cast<int>(symbols_.size()) - 1;
  }
  const std::string& symbol_name(int id) const { return symbols_.at(static_cast<size_t>(id)); }
  void propagate(const graph::Node& n);

  // Current node being emitted (for node names and error messages).
  const graph::Node* current = nullptr;
  std::string node_prefix;

 private:
  ::onnx::GraphProto* g_;
  const ExportOptions& opts_;
  int64_t batch_;
  std::unordered_map<const graph::Value*, std::string> names_;
  std::unordered_map<const graph::Value*, DimSyms> dims_;
  std::vector<std::string> symbols_;
  std::set<std::string> used_;
  int node_counter_ = 0;
};

void set_attr(::onnx::NodeProto* n, const std::string& name, int64_t v);
void set_attr(::onnx::NodeProto* n, const std::string& name, double v);
void set_attr(::onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v);
void set_attr(::onnx::NodeProto* n, const std::string& name, const std::string& v);

using Emitter = void (*)(ExportCtx& c, const graph::Node& n);
void emit_rnn_layer(ExportCtx& c, const graph::Node& n);  // export_rnn.cpp
void emit_reshape(ExportCtx& c, const graph::Node& n);    // export_dims.cpp
void emit_expand(ExportCtx& c, const graph::Node& n);
void emit_slice(ExportCtx& c, const graph::Node& n);
// The emitters of ops with attributes or decompositions (export_ops.cpp's table).
const std::map<std::string, Emitter>& emitters();
// The emitter for `op`: its table entry, or the one-to-one emitter when the OpDef names an ONNX
// operator (OpDef::onnx_op); nullptr when the op has no export.
Emitter find_emitter(const OpDef& op);

// "%3 conv2d(f32[1,1,28,28], ...)" for messages.
std::string node_str(const graph::Node& n);

}  // namespace tandem::onnx::detail
