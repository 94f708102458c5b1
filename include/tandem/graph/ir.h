// The graph IR: an SSA graph of OpDef calls. Capture (tandem::compile), the passes, the
// planner/executor and ONNX import/export all speak it (docs/architecture.md "How data flows").
//
//   graph::Graph g;
//   graph::Value* x = g.add_input("x", DType::Float32, {graph::Dim::sym("batch"), 784});
//   graph::Value* w = g.add_variable("fc.weight", weight);          // a live tensor, updated in place
//   graph::Value* y = g.add_node(op("linear"), {x, w, nullptr})->output();
//   y = g.add_node(op("relu"), {y})->output();
//   g.set_outputs({y});
//   std::cout << g.str();
//
//   graph(%x: f32[batch,784]) {
//     %1: f32[batch,512] = linear(%x, %fc.weight, _)
//     %2: f32[batch,512] = relu(%1)
//     return %2
//   }
//
// Ownership: the Graph owns its Nodes and Values (stable addresses until removed).
// A Variable or Constant Value holds a Tensor handle: a Variable aliases the live tensor
// (a parameter, a buffer, an optimizer state), so running the graph reads its current
// contents, and `updates` write new contents back into it at the end of a run. A Constant
// is captured data that the passes may fold.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tandem/opdef.h"
#include "tandem/tensor.h"

namespace tandem::graph {

// One dimension of a shape: a known size, or a named symbol (the batch dimension of a
// compiled function in dynamic-batch mode, ONNX's dim_param).
struct Dim {
  int64_t value = -1;   // >= 0 when known
  std::string symbol;   // non-empty when symbolic
  Dim() = default;
  Dim(int64_t v) : value(v) {}  // NOLINT: implicit, so {2, 3} reads as a shape
  static Dim sym(std::string name) {
    Dim d;
    d.symbol = std::move(name);
    return d;
  }
  bool is_static() const { return symbol.empty(); }
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
  std::string str() const;
};
using SymShape = std::vector<Dim>;

SymShape sym_shape(const Shape& shape);
bool is_static(const SymShape& shape);
Shape static_shape(const SymShape& shape);  // Error when a dim is symbolic
std::string shape_str(const SymShape& shape);

struct Node;

struct Value {
  enum class Kind { Input, Variable, Constant, Op };
  int id = -1;
  Kind kind = Kind::Op;
  std::string name;              // readable name ("fc.weight", "x", or empty)
  DType dtype = DType::Float32;
  SymShape shape;
  Node* producer = nullptr;      // Kind::Op only
  int output_index = 0;
  Tensor data;                   // Variable: the live tensor; Constant: the data
  std::vector<Node*> users;      // nodes reading this value (a node once per input slot)

  bool is_constant() const { return kind == Kind::Constant; }
  TensorMeta meta() const;       // static shape required
};

struct Node {
  int id = -1;
  const OpDef* op = nullptr;
  Attrs attrs;
  std::vector<Value*> inputs;    // nullptr for an omitted optional input
  std::vector<Value*> outputs;
  std::string name;              // optional readable name (ONNX node name, module path)

  Value* output(size_t i = 0) const { return outputs.at(i); }
};

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;

  Value* add_input(const std::string& name, DType dtype, SymShape shape);
  Value* add_variable(const std::string& name, const Tensor& live);
  Value* add_constant(const Tensor& data, const std::string& name = "");
  // Appends a node; output dtypes/shapes come from the OpDef's `infer` (symbolic dims
  // pass through where the rule allows, see infer_node). Error names the op and shapes.
  Node* add_node(const OpDef& def, const std::vector<Value*>& inputs, const Attrs& attrs = {},
                 const std::string& name = "");
  // Appends a node whose outputs are given (when `infer` cannot run, e.g. symbolic dims).
  Node* add_node_with_outputs(const OpDef& def, const std::vector<Value*>& inputs,
                              const Attrs& attrs, const std::vector<std::pair<DType, SymShape>>& outs,
                              const std::string& name = "");

  void set_outputs(std::vector<Value*> outputs);
  // At the end of a run, variable <- value (in place, the variable's handle stays valid).
  void add_update(Value* variable, Value* new_value);

  // Rewiring (passes).
  void replace_all_uses(Value* from, Value* to);  // also in outputs and updates
  void remove_node(Node* node);                   // its outputs must be unused
  // Moves `node` right before `before` in the order (passes that insert nodes).
  void move_before(Node* node, Node* before);

  // Nodes in execution order (a topological order, maintained by construction).
  const std::vector<Node*>& nodes() const { return order_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::vector<Value*>& variables() const { return variables_; }
  const std::vector<Value*>& constants() const { return constants_; }
  const std::vector<std::pair<Value*, Value*>>& updates() const { return updates_; }

  // Checks the invariants (topological order, use lists, outputs defined, dtypes/shapes
  // consistent with `infer` where static); Error with the offending node otherwise.
  void verify() const;
  // Readable text form (see the header comment) and GraphViz DOT.
  std::string str() const;
  std::string dot() const;
  size_t num_nodes() const { return order_.size(); }

 private:
  Value* new_value(Value::Kind kind);
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> node_store_;
  std::vector<Node*> order_;
  std::vector<Value*> inputs_, outputs_, variables_, constants_;
  std::vector<std::pair<Value*, Value*>> updates_;
  int next_value_id_ = 0;
  int next_node_id_ = 0;
};

// Output dtypes and shapes of `def` on these inputs. Static inputs: the OpDef's `infer`.
// Symbolic dims: `infer` runs with each symbol replaced by a distinct probe size and dims
// equal to the probe come back symbolic (works for every op whose output dims are input
// dims or constants; an op that computes with the batch size, e.g. a reshape to a fixed
// shape, keeps the static result).
std::vector<std::pair<DType, SymShape>> infer_node(const OpDef& def,
                                                   const std::vector<Value*>& inputs,
                                                   const Attrs& attrs);

}  // namespace tandem::graph
