// ONNX (or a tandem Graph) -> a .tlite file for tandem-lite (docs/tlite-format.md).
//
//   auto r = tandem::onnx::convert_to_lite("mobilenet.onnx", "mobilenet.tlite");
//   std::cout << r.str();                    // passes run, lite ops and their counts, file size
//
// The model is imported, traced to a Graph (a dynamic batch dim stays dynamic in the file),
// run through the backend-independent inference passes (shape inference, constant folding,
// simplify, cse, dce, batch-norm folding, conv/linear + activation fusion; not the CPU
// backend's prepacking or blocked layouts) and each remaining node is mapped to a lite op.
// A node the lite runtime lacks is an Error that names every such op at once.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tandem/graph/ir.h"

namespace tandem::onnx {

struct LiteConvertReport {
  std::string passes;                      // the pass pipeline's report table
  std::map<std::string, int64_t> lite_ops; // lite op -> node count in the file
  int64_t graph_nodes = 0;                 // graph nodes after the passes
  int64_t constants_bytes = 0;             // weight bytes in the file
  int64_t file_bytes = 0;
  std::string str() const;
};

// The tandem graph ops the converter maps (some become no node at all: views, casts to float32).
std::vector<std::string> lite_supported_ops();

// `g` (a traced inference graph; consumed: the passes rewrite it) to the bytes of a .tlite file.
// `dynamic_batch[i]`: graph input i's dim 0 is left dynamic. Output names default to output_<i>.
std::string convert_graph_to_lite(graph::Graph& g, const std::vector<bool>& dynamic_batch,
                                  const std::vector<std::string>& output_names, LiteConvertReport* report = nullptr);

// An ONNX file to a .tlite file (written atomically).
LiteConvertReport convert_to_lite(const std::string& onnx_path, const std::string& tlite_path);

}  // namespace tandem::onnx
