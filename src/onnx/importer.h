// Internal: the converter table and the per-node context the converters read.
// One file per op family (import_elementwise.cpp, import_nn.cpp, import_shape.cpp,
// import_reduce.cpp, import_rnn.cpp) fills the table through its register_*() function.
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/onnx.h"
#include "tandem/ops.h"
#include "tandem/tensor.h"

namespace tandem::onnx::detail {

DType dtype_from_onnx(int32_t elem_type, const std::string& where);  // Unsupported if unknown
int32_t dtype_to_onnx(DType dtype);
// A TensorProto (raw or typed data; external data read relative to base_dir) as a Tensor.
Tensor tensor_from_proto(const ::onnx::TensorProto& t, const std::string& base_dir);

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

// Shared helpers.
std::vector<int64_t> to_int64s(const Tensor& t);           // any integer tensor -> values
int64_t norm_axis(int64_t axis, int64_t rank, const Ctx& c);
Tensor flip(const Tensor& x, int64_t dim);                  // reversed along dim
Tensor as_dtype(const Tensor& x, DType dtype);              // no-op when equal
Tensor fix_negative(const Tensor& idx, int64_t n);          // int64 indices, negatives wrapped
Tensor onnx_unary(const Tensor& x, const char* fn);         // the onnx_unary op (erf, floor, ...)
Tensor int_div(const Tensor& a, const Tensor& b, const char* fn);  // onnx_int_div: div, mod, fmod (broadcasts)

}  // namespace tandem::onnx::detail
