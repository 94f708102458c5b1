// ONNX import: load an .onnx model, run it, and run ONNX's own backend test cases.
//
//   auto model = tandem::onnx::Model::load("resnet.onnx");
//   std::vector<Tensor> y = model.run({{"input", x}});       // outputs in the model's order
//   fmt::print("{}\n", model.info().str());                  // inputs, outputs, opset, ops
//   graph::Graph g = tandem::onnx::load("mlp.onnx");         // the model as a tandem Graph
//
//   auto r = tandem::onnx::run_conformance({"/usr/share/libonnx-testdata/data/node"});
//   fmt::print("{}\n", r.summary());                         // passed / failed / unsupported
//
// Import maps every ONNX node to tandem ops (a table op name -> converter, one file per op
// family: src/onnx/import_*.cpp). Nodes whose inputs are all known at load time (initializers,
// Constant nodes, Shape of a statically shaped value, and everything computed from those,
// e.g. Shape -> Gather -> Concat -> Reshape's shape) are evaluated once at load.
// Errors (truncated or corrupt file, unsupported opset, unknown op, wrong input at run time)
// are tandem::Error naming the node and the problem; ops or dtypes that are not implemented
// throw onnx::Unsupported (a tandem::Error) naming them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/error.h"
#include "tandem/graph/ir.h"
#include "tandem/onnx/export.h"  // export_model / export_graph (src/onnx/export*.cpp)
#include "tandem/tensor.h"

namespace tandem::onnx {

// An op, attribute value or dtype that the importer does not implement.
class Unsupported : public Error {
 public:
  explicit Unsupported(const std::string& msg) : Error(msg) {}
};

// A value of an ONNX graph: a tensor, a sequence of tensors (Sequence* ops, SplitToSequence,
// Loop-carried sequences), or an empty optional. An optional that holds an element is that
// element itself (a Tensor or Sequence value), so OptionalGetElement is the identity on it.
// Copying a Value copies Tensor handles (shallow, like Tensor itself).
struct Value {
  enum class Kind { Tensor, Sequence, None };
  Kind kind = Kind::None;
  Tensor tensor;                  // Kind::Tensor
  std::vector<Tensor> sequence;   // Kind::Sequence (may be empty)

  Value() = default;
  Value(Tensor t) : kind(Kind::Tensor), tensor(std::move(t)) {}  // NOLINT: a tensor is a value
  static Value of_sequence(std::vector<Tensor> ts) {
    Value v;
    v.kind = Kind::Sequence;
    v.sequence = std::move(ts);
    return v;
  }
  static Value none() { return Value(); }
  bool is_tensor() const { return kind == Kind::Tensor; }
  bool is_sequence() const { return kind == Kind::Sequence; }
  bool is_none() const { return kind == Kind::None; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::Float32;  // a tensor's (or a sequence's / optional's element) dtype
  graph::SymShape shape;  // dim_param -> symbolic Dim; unknown rank -> empty with has_shape false
  bool has_shape = true;
  // The ONNX type as ONNX writes it: "tensor(float)", "seq(tensor(int64))",
  // "optional(seq(tensor(float)))"; non-empty only when the value is not a plain tensor of a
  // dtype tandem has (then dtype and shape mean nothing).
  std::string type;
};

struct ModelInfo {
  std::vector<ValueInfo> inputs;   // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  int64_t opset = 0;               // default ("" / "ai.onnx") domain
  int64_t ir_version = 0;
  std::string producer;
  std::map<std::string, int64_t> op_histogram;  // op_type -> node count (subgraphs' nodes included)
  std::map<std::string, int64_t> unsupported_ops;  // ops (as "domain::Op" outside ONNX's domain) not imported
  int64_t num_parameters = 0;      // elements in initializers
  int64_t num_folded = 0;          // nodes evaluated at load time
  std::string str() const;         // readable multi-line summary (tandem inspect)
};

// How run() executes a model's nodes (those left after folding at load): as one traced plan,
// as several plans with the nodes that cannot be traced (they read run-time values: NonZero,
// NonMaxSuppression, a data-dependent Loop or If) run eagerly between them, or all eagerly.
struct PlanSummary {
  bool has_run = false;            // false before the first run() (nothing decided yet)
  int64_t nodes = 0;               // nodes left after folding at load
  int64_t planned_segments = 0;    // traced plans
  int64_t planned_nodes = 0;       // nodes inside those plans
  int64_t eager_nodes = 0;         // nodes run eagerly, one by one
  std::vector<std::string> eager;  // "'name' (OpType)" per eager node (unnamed: its first output)
  // "planned segments: 3 (410 nodes), eager nodes: 5: 'a' (NonZero), ..."
  std::string str() const;
};

class Model {
 public:
  // Parses and imports the model; nodes whose inputs are all known are folded here.
  static Model load(const std::string& path);
  static Model load_from_bytes(const std::string& bytes, const std::string& base_dir = ".");
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  // Runs the model on named inputs (every graph input that has no initializer is required).
  // Error when an input is missing, unknown, or has the wrong dtype/shape (names the input).
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs) const;
  // The same for models whose inputs or outputs are sequences or optionals (any model: run()
  // is this for tensors). Runs eagerly when any input or output is not a tensor.
  std::vector<Value> run_values(const std::map<std::string, Value>& inputs) const;
  const ModelInfo& info() const;
  // True after a run() that went through one traced graph of the whole model (a Plan), false
  // when it runs eagerly in part or whole (not run yet, or nodes read run-time values).
  bool runs_compiled() const;
  // Which nodes the last run() ran in traced plans and which eagerly.
  PlanSummary plan_summary() const;
  // The model as a tandem Graph traced at these input shapes (symbolic dims default to 1).
  graph::Graph to_graph(const std::map<std::string, Shape>& input_shapes = {}) const;
  // The same with the graph passes of `passes` (CompileOptions::passes; {} = none, as traced).
  graph::Graph to_graph(const std::map<std::string, Shape>& input_shapes, const std::vector<std::string>& passes) const;

 private:
  Model();
  void check_inputs(const std::map<std::string, Tensor>& inputs) const;
  std::vector<Tensor> run_eager(const std::map<std::string, Tensor>& inputs) const;
  std::vector<Value> run_eager_values(const std::map<std::string, Value>& inputs) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Model::load(path).to_graph().
graph::Graph load(const std::string& path);

// What `tandem inspect` prints: the model's inputs, outputs, opset, op histogram and
// parameter count for any valid ONNX model, whether tandem can run it or not; the ops it
// cannot import are listed in unsupported_ops. Nothing is run or folded (num_folded is 0).
ModelInfo inspect(const std::string& path);

// A TensorProto file (ONNX test data input_N.pb / output_N.pb) as a Tensor.
Tensor load_tensor_proto(const std::string& path);
// A TensorProto, SequenceProto or OptionalProto file (test data of sequence and optional
// cases) as a Value; `kind` is "tensor", "sequence" or "optional" (the file does not say).
Value load_value_proto(const std::string& path, const std::string& kind);

// ---- conformance (ONNX backend test cases: <case>/model.onnx + test_data_set_*/)
struct CaseResult {
  enum class Status { Passed, Failed, Unsupported };
  std::string name;      // case directory name, e.g. "test_add_bcast"
  std::string dir;
  std::string op;        // single-node cases: that node's op_type; otherwise "(model)"
  std::vector<std::string> ops;  // every op_type in the model (sorted, unique)
  Status status = Status::Unsupported;
  std::string message;   // failed: which output and the max error; unsupported: what is missing
  double max_abs_error = 0;
};
struct ConformanceReport {
  std::vector<CaseResult> cases;
  int passed() const;
  int failed() const;
  int unsupported() const;
  std::string summary() const;      // one line: "N cases: P passed (x%), F failed, U unsupported"
  // The same over the cases whose ops are all on the core op list (the ops real
  // classification, sequence and transformer exports use).
  std::string listed_summary() const;
  std::string op_table() const;     // per op: passed / failed / unsupported, then each non-pass
};
struct ConformanceOptions {
  double rtol = 1e-3;
  double atol = 1e-5;  // ONNX backend test tolerances; integer and bool outputs compare exactly
};
// Runs one case directory.
CaseResult run_case(const std::string& case_dir, const ConformanceOptions& options = {});
// Each dir is a case (contains model.onnx) or a suite of cases (its subdirectories).
ConformanceReport run_conformance(const std::vector<std::string>& dirs,
                                  const ConformanceOptions& options = {});

}  // namespace tandem::onnx
