// ONNX export: trace a module (or take a traced graph) and write an ONNX model.
//
//   auto model = tandem::models::create("cnn");
//   tandem::onnx::export_model(model, randn({1, 1, 28, 28}), "cnn.onnx",
//                              {.opset = 17, .dynamic_batch = true});
//
//   // A compiled function's graph (any graph::Graph without in-place updates):
//   auto fwd = tandem::compile([&](const Tensor& x) { return (*model)(x); }, {.modules = {model}});
//   fwd(x);
//   tandem::onnx::export_graph(fwd.graph(), "fwd.onnx");
//
// The module is traced in eval mode under NoGradGuard (its mode is restored afterwards), with
// tandem::compile's tracer; each traced op is mapped to ONNX nodes by a table (op name ->
// emitter, src/onnx/export_ops.cpp). Parameters and buffers become initializers under their
// module names ("fc1.weight"); captured constants and scalars become initializers of the dtype
// the op computes in. The file is built with ONNX's own protobuf classes (libonnx-dev) and
// checked with onnx::checker::check_model (full check) and ONNX shape inference before it is
// written (ExportOptions::check).
//
// Dynamic dims: dynamic_batch makes dim 0 of every input "batch"; dynamic_axes names any
// dims. The exporter follows them through the graph, so reshapes (view, flatten, unsqueeze)
// copy or infer the dims that vary, slices to the end or counted from the end (x[:, -1]) stay
// relative, and sort / var / std use the runtime size. Output dims that follow an input's are
// named after it. NOTE: what a trace cannot tell stays the example's size: a dim that varies
// split into several (view(B, T, -1) of a [B*T, F] tensor varies in its first piece only),
// an expand of a size-1 dim to a dynamic size, and adaptive pooling to more than 1x1 over a
// dynamic image size (an Error).
//
// Recurrent layers (nn::LSTM, GRU, RNN: any layers, bidirectional, batch_first, initial
// states) become ONNX's LSTM / GRU / RNN operators, one node per layer, so with
// ExportOptions::dynamic_axes the file runs on any sequence length.
//
// Supported ops: supported_ops(); anything else is a tandem::Error naming the op.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/tensor.h"

namespace tandem {
namespace nn {
class Module;
}
namespace graph {
class Graph;
}

namespace onnx {

struct ExportOptions {
  int64_t opset = 17;                     // 13..17
  bool dynamic_batch = false;             // dim_param "batch" on dim 0 of inputs and outputs
  std::vector<std::string> input_names;   // default "input" (one input) or "input_<i>"
  std::vector<std::string> output_names;  // default "output" (one output) or "output_<i>"
  std::string doc_string;                 // prepended to "exported by tandem <version>"
  std::string graph_name = "tandem_graph";
  bool check = true;                      // onnx::checker full check + shape inference
  // Dims left symbolic, by input or output name (PyTorch's dynamic_axes):
  //   {{"input", {{0, "batch"}, {1, "seq"}}}, {"output", {{0, "batch"}, {1, "seq"}}}}
  // Each named dim is a dim_param in the file (see "Dynamic dims" above).
  std::map<std::string, std::map<int64_t, std::string>> dynamic_axes;
};

// Traces module->forward(example_input) (eval mode, no grad) and writes the model to `path`.
void export_model(const std::shared_ptr<nn::Module>& module, const Tensor& example_input,
                  const std::string& path, const ExportOptions& options = {});
// A function of several tensors; `modules` name the parameters it uses ("fc1.weight") and are
// put in eval mode while tracing.
void export_model(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                  const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options = {},
                  const std::vector<std::shared_ptr<nn::Module>>& modules = {});
// A traced graph (e.g. tandem::compile(...).graph()). It must have no variable updates.
void export_graph(const graph::Graph& g, const std::string& path, const ExportOptions& options = {});
// The serialized ModelProto instead of a file (tests, in-memory use).
std::string export_graph_to_string(const graph::Graph& g, const ExportOptions& options = {});

// Names of the tandem ops the exporter maps, sorted.
std::vector<std::string> supported_ops();

// Runs onnx::checker::check_model (full check) and strict shape inference on a serialized
// model; Error with the checker's message when it fails.
void check_model_bytes(const std::string& bytes);

}  // namespace onnx
}  // namespace tandem
