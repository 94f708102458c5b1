// Fusion passes over the graph IR (issue 4): fewer, fatter kernels for the same result.
//
//   graph::Graph g = ...;                       // e.g. traced by tandem::compile, model in eval()
//   graph::run_fold_batchnorm(g);               // conv2d/linear + eval batch_norm -> conv2d/linear
//   graph::run_fuse_matmul_act(g);              // linear/conv2d + relu/gelu/... -> linear_act/conv2d_act
//   graph::run_fuse_elementwise(g);             // gelu(x*w+b)*y -> one fused_elementwise kernel
//   graph::Plan plan = graph::lower(g);
//
// Each returns a PassResult (changed + counts such as "folded_batch_norms", "fused_nodes").
// fold_batchnorm is inference-only: it bakes the current running statistics and weights
// into new Constants, so later changes of those variables no longer reach the graph.
// The fused OpDefs ("linear_act", "conv2d_act", "fused_elementwise") are forward-only
// (no backward formula); the passes only create them where no backward node reads the
// values they hide.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#if __has_include("tandem/graph/passes.h")
#include "tandem/graph/passes.h"
#endif
#include "tandem/graph/ir.h"

namespace tandem::graph {

#if !__has_include("tandem/graph/passes.h")
struct PassResult {
  bool changed = false;
  std::map<std::string, int64_t> counts;
  void add(const std::string& what, int64_t n = 1) {
    if (n == 0) return;
    counts[what] += n;
    changed = true;
  }
};
#endif

PassResult run_fold_batchnorm(Graph& g);
PassResult run_fuse_matmul_act(Graph& g);
PassResult run_fuse_elementwise(Graph& g);

}  // namespace tandem::graph
