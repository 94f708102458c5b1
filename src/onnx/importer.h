// Internal: the converter table and the per-node context the converters read.
// One file per op family (import_elementwise.cpp, import_nn.cpp, import_shape.cpp,
// import_reduce.cpp, import_rnn.cpp) fills the table through its register_*() function.
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/onnx.h"
#include "tandem/ops.h"
#include "tandem/tensor.h"

namespace tandem::onnx::detail {

DType dtype_from_onnx(int32_t elem_type, const std::string& where);  // Unsupported if unknown
int32_t dtype_to_onnx(DType dtype);
// A TensorProto (raw or typed data; external data read relative to base_dir) as a Tensor.
Tensor tensor_from_proto(const ::onnx::TensorProto& t, const std::string& base_dir);

// A graph input/output/value_info entry. Sequences and optionals get `type` set; a tensor of
// an element type tandem lacks (or a map) throws Unsupported when `strict`, else gets `type`.
ValueInfo value_info_of(const ::onnx::ValueInfoProto& v, bool strict);
std::string onnx_type_str(const ::onnx::TypeProto& t);  // "tensor(float)", "seq(tensor(int64))", ...

// What a converter sees of one node.
struct Ctx {
  const ::onnx::NodeProto& node;
  std::vector<Tensor> inputs;   // undefined Tensor for an omitted optional input
  int64_t opset = 0;
  size_t num_outputs = 1;       // outputs the model uses (names given in the node)
  std::string base_dir;

  std::string where() const;    // "node 'name' (Op)" for messages
  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].defined(); }
  const Tensor& in(size_t i) const;  // Error if missing

  const ::onnx::AttributeProto* attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t i(const std::string& name, int64_t fallback) const;
  double f(const std::string& name, double fallback) const;
  std::string s(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<double> floats(const std::string& name, std::vector<double> fallback = {}) const;
  std::optional<Tensor> t(const std::string& name) const;

  // Attribute in old opsets, input in newer ones (Squeeze axes, ReduceSum axes, Split sizes):
  // input slot `input` when present, else attribute `name`; nullopt when neither.
  std::optional<std::vector<int64_t>> ints_attr_or_input(const std::string& name, size_t input) const;
  [[noreturn]] void unsupported(const std::string& what) const;
  [[noreturn]] void fail(const std::string& what) const;
};

using Converter = std::vector<Tensor> (*)(Ctx& ctx);

// Values by name while a graph runs. A subgraph's scope (If branch, Loop/Scan body) sees the
// values of the scopes around it (ONNX lets a subgraph read any outer value by name); the
// model's scope falls back to its constants (initializers and values folded at load).
struct Scope {
  const Scope* parent = nullptr;
  const std::unordered_map<std::string, Tensor>* consts = nullptr;
  std::unordered_map<std::string, onnx::Value> values;
  const onnx::Value* find(const std::string& name) const;  // nullptr when no scope has it
};

// What a converter of sequence, optional and control-flow ops sees of one node: its inputs as
// Values, the node's attributes through `attrs` (whose tensor inputs are left empty), and the
// scope it runs in (for subgraphs).
struct ValueCtx {
  Ctx& attrs;
  std::vector<onnx::Value> inputs;  // onnx::Value::none() for an omitted optional input
  const Scope& scope;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].is_none(); }
  const Tensor& tensor(size_t i) const;               // Error unless input i is a tensor
  const std::vector<Tensor>& sequence(size_t i) const;  // Error unless input i is a sequence
};
using ValueConverter = std::vector<onnx::Value> (*)(ValueCtx& ctx);
std::map<std::string, ValueConverter>& value_converters();  // filled by register_all_converters
void register_sequence(std::map<std::string, ValueConverter>& t);  // import_sequence.cpp
void register_flow(std::map<std::string, ValueConverter>& t);      // import_flow.cpp
bool is_value_op(const std::string& op_type);  // in value_converters()
// Ops that never fold at load: their subgraphs read outer values the node does not list.
bool has_subgraph(const ::onnx::NodeProto& n);
// Names a node's subgraphs read from outside themselves (recursively), for liveness.
std::vector<std::string> captured_names(const ::onnx::NodeProto& n);

// Runs one node of any kind: tensor converters get tensors (Error when an input is a sequence
// or an empty optional), value converters get Values.
std::vector<onnx::Value> run_any_node(const ::onnx::NodeProto& n, std::vector<onnx::Value> inputs, const Scope& scope,
                                int64_t opset, const std::string& base_dir);
std::vector<Tensor> run_tensor_node(const ::onnx::NodeProto& n, std::vector<Tensor> inputs, int64_t opset,
                                    const std::string& base_dir);
// Runs a subgraph: its formal inputs bound to `inputs` (in order), its initializers, its nodes
// in order; returns its outputs. Outer values are read through `outer`.
std::vector<onnx::Value> run_subgraph(const ::onnx::GraphProto& g, const std::vector<onnx::Value>& inputs, const Scope& outer,
                                int64_t opset, const std::string& base_dir);
std::map<std::string, Converter>& converters();  // filled once, by register_all_converters
void register_all_converters();
void register_elementwise(std::map<std::string, Converter>& t);
void register_nn(std::map<std::string, Converter>& t);
void register_shape(std::map<std::string, Converter>& t);
void register_reduce(std::map<std::string, Converter>& t);
void register_rnn(std::map<std::string, Converter>& t);
void register_extra(std::map<std::string, Converter>& t);
void register_resize(std::map<std::string, Converter>& t);
void register_quant(std::map<std::string, Converter>& t);  // import_quant.cpp
void register_detection(std::map<std::string, Converter>& t);  // import_detection.cpp

// Shared helpers.
std::vector<int64_t> to_int64s(const Tensor& t);           // any integer tensor -> values
int64_t norm_axis(int64_t axis, int64_t rank, const Ctx& c);
Tensor flip(const Tensor& x, int64_t dim);                  // reversed along dim
Tensor as_dtype(const Tensor& x, DType dtype);              // no-op when equal
Tensor fix_negative(const Tensor& idx, int64_t n);          // int64 indices, negatives wrapped
Tensor onnx_unary(const Tensor& x, const char* fn);         // the onnx_unary op (erf, floor, ...)
Tensor int_div(const Tensor& a, const Tensor& b, const char* fn);  // onnx_int_div: div, mod, fmod (broadcasts)

}  // namespace tandem::onnx::detail
