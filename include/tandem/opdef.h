// OpDef: the one definition of an operator, read by every layer (docs/architecture.md).
//
// An op family file (src/ops/defs/*.cpp) defines OpDefs and registers them:
//
//   OpDef def;
//   def.name = "exp";
//   def.num_inputs = 1;
//   def.infer = infer_unary_float;                       // shapes and dtype of the outputs
//   def.cpu = [](const KernelArgs& a) { ... };            // fill a.outputs
//   def.backward = [](const BackwardContext& c) {         // written with tandem ops
//     return grads(mul(c.grad(0), c.output(0)));
//   };
//   def.save_inputs = false; def.save_outputs = true;     // what backward reads
//   register_op(std::move(def));
//
// and the public function calls `dispatch(op("exp"), {x})`.
#pragma once
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "tandem/tensor.h"

namespace tandem {

using AttrValue =
    std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<double>, DType>;

// Named attributes of one op call (stride, dim, eps, ...). Small and ordered.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : items_(init) {}
  Attrs& set(const std::string& name, AttrValue v) {
    items_[name] = std::move(v);
    return *this;
  }
  bool has(const std::string& name) const { return items_.count(name) != 0; }
  template <typename T>
  const T& get(const std::string& name) const {
    auto it = items_.find(name);
    TANDEM_CHECK(it != items_.end(), "op attribute '{}' is missing", name);
    const T* v = std::get_if<T>(&it->second);
    TANDEM_CHECK(v != nullptr, "op attribute '{}' has the wrong type", name);
    return *v;
  }
  template <typename T>
  T get_or(const std::string& name, T fallback) const {
    auto it = items_.find(name);
    if (it == items_.end()) return fallback;
    const T* v = std::get_if<T>(&it->second);
    return v ? *v : fallback;
  }
  const std::map<std::string, AttrValue>& items() const { return items_; }
  bool operator==(const Attrs& o) const { return items_ == o.items_; }

 private:
  std::map<std::string, AttrValue> items_;
};
std::string attrs_str(const Attrs& attrs);  // "dim=1, keepdim=true"

// What the shape/dtype rule sees of a tensor.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  bool is_wrapped_number = false;
  bool defined = true;  // false for an omitted optional input
  static TensorMeta of(const Tensor& t) {
    if (!t.defined()) return {{}, DType::Float32, Device::CPU, false, false};
    return {t.shape(), t.dtype(), t.device(), t.impl()->is_wrapped_number, true};
  }
};

struct KernelArgs {
  const std::vector<Tensor>& inputs;
  std::vector<Tensor>& outputs;  // allocated by dispatch from `infer` (contiguous)
  const Attrs& attrs;
};

class BackwardContext {
 public:
  const Tensor& input(size_t i) const;   // Error if the op did not save inputs
  const Tensor& output(size_t i) const;  // Error if the op did not save outputs
  // Gradient flowing into output i (zeros if nothing flowed there).
  const Tensor& grad(size_t i = 0) const { return grads_.at(i); }
  const TensorMeta& input_meta(size_t i) const { return input_meta_.at(i); }
  size_t num_inputs() const { return input_meta_.size(); }
  bool needs_input_grad(size_t i) const { return needs_.at(i); }
  const Attrs& attrs() const { return *attrs_; }

  // Filled by the autograd engine.
  std::vector<Tensor> inputs_, outputs_, grads_;
  std::vector<TensorMeta> input_meta_;
  std::vector<bool> needs_;
  const Attrs* attrs_ = nullptr;
  const char* op_name_ = "";
};

using InferFn = std::vector<TensorMeta> (*)(const std::vector<TensorMeta>& inputs,
                                            const Attrs& attrs);
using KernelFn = void (*)(const KernelArgs& args);
using ViewFn = std::vector<Tensor> (*)(const std::vector<Tensor>& inputs, const Attrs& attrs);
// Returns one gradient per input (undefined = no gradient). The engine sums a
// gradient over broadcast dims and casts it to the input's dtype, so a formula
// may return a gradient of the broadcast shape.
using BackwardFn = std::vector<Tensor> (*)(const BackwardContext& ctx);

struct OpDef {
  std::string name;
  int num_inputs = 1;  // -1: any number (cat, stack)
  // Inputs that may be undefined Tensors (optional bias, weight, ...).
  std::vector<int> optional_inputs;
  InferFn infer = nullptr;
  KernelFn cpu = nullptr;
  KernelFn cuda = nullptr;
  // View ops return tensors that share storage with input 0 instead of running a kernel.
  ViewFn view = nullptr;
  BackwardFn backward = nullptr;
  // No gradient exists (comparisons, argmax, integer outputs). The completeness
  // test requires either this mark or a backward formula.
  bool non_differentiable = false;
  // Inputs that never get a gradient (indices, masks) even when the op is differentiable.
  std::vector<int> nondiff_inputs;
  // What backward reads; saving less keeps less memory alive.
  bool save_inputs = true;
  bool save_outputs = false;
  // The kernel handles float16/bfloat16 itself; otherwise dispatch computes in float32.
  bool supports_half = false;
  // Elementwise kernels may write into one of their inputs (in-place ops, fusion).
  bool elementwise = false;
  // ONNX export. onnx_op: the ONNX operator a one-to-one op becomes (no attributes, every input
  // converted to the output's dtype: Neg, Exp, Mul, ...). An op with attributes or a
  // decomposition has an emitter of its own in src/onnx/export_ops.cpp instead. An op that
  // cannot be exported leaves both empty and says why in no_onnx_export (a gradient op, an
  // optimizer update, a kernel that only graph passes create). The registry test requires one
  // of the three for every op.
  std::string onnx_op;
  std::string no_onnx_export;
  std::string doc;
};

// Registry: every op, by name.
const OpDef& register_op(OpDef def);
const OpDef& op(std::string_view name);  // Error if unknown
const OpDef* find_op(std::string_view name);
std::vector<const OpDef*> all_ops();

// Runs an op: infer, allocate, kernel, record autograd (docs/architecture.md "How data flows").
std::vector<Tensor> dispatch(const OpDef& def, std::vector<Tensor> inputs, const Attrs& attrs = {});
Tensor dispatch1(const OpDef& def, std::vector<Tensor> inputs, const Attrs& attrs = {});
// Runs an op and writes its (single) output into `self`, bumping its version.
Tensor& dispatch_inplace(const OpDef& def, Tensor& self, std::vector<Tensor> others,
                         const Attrs& attrs = {});

// Interceptor for graph capture: when set on this thread, dispatch hands every
// op call to it instead of running kernels (src/graph/trace.cpp). The interceptor decides
// how the op runs; to run it for real it clears itself (set_dispatch_interceptor(nullptr))
// and calls dispatch / dispatch_inplace again.
struct DispatchInterceptor {
  virtual ~DispatchInterceptor() = default;
  virtual std::vector<Tensor> run(const OpDef& def, const std::vector<Tensor>& inputs,
                                  const Attrs& attrs) = 0;
  // dispatch_inplace(def, self, others, attrs): must leave the result in `self`.
  virtual void run_inplace(const OpDef& def, Tensor& self, std::vector<Tensor>& others,
                           const Attrs& attrs) = 0;
};
DispatchInterceptor* set_dispatch_interceptor(DispatchInterceptor* interceptor);  // returns old

// Helpers for shape rules.
std::vector<TensorMeta> infer_same_as_input(const std::vector<TensorMeta>& in, const Attrs&);
// Result dtype of an elementwise op over these inputs, PyTorch's rules
// (dimensioned tensors > 0-dim tensors > wrapped numbers, by category).
DType result_type(const std::vector<TensorMeta>& in);

}  // namespace tandem
