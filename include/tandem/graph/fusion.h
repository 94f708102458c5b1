// Fusion passes over the graph IR: fewer, fatter kernels for the same result.
//
//   graph::Graph g = ...;                       // e.g. traced by tandem::compile, model in eval()
//   graph::run_fold_batchnorm(g);               // conv2d/linear + eval batch_norm -> conv2d/linear
//   graph::run_fuse_matmul_act(g);              // linear/conv2d + relu/gelu/... -> linear_act/conv2d_act
//   graph::run_fuse_hardswish(g);               // conv2d -> y * clamp(y / 6 + 0.5, 0, 1) -> conv2d_act
//   graph::run_fuse_elementwise(g);             // gelu(x*w+b)*y -> one fused_elementwise kernel
//   graph::run_prepack_weights(g);              // weights fixed for the graph: reordered once
//   graph::run_blocked_layout(g);               // conv -> pool -> conv stay in oneDNN's nChw16c
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
#include <vector>

#include "tandem/graph/ir.h"
#include "tandem/graph/passes.h"

namespace tandem::graph {

PassResult run_fold_batchnorm(Graph& g);
PassResult run_fuse_matmul_act(Graph& g);
// y * clamp(y * (1/6) + 0.5, 0, 1) on a linear/conv2d output y -> linear_act/conv2d_act, act "hardswish".
PassResult run_fuse_hardswish(Graph& g);
PassResult run_fuse_qdq(Graph& g);  // QDQ conv2d/linear (+ relu) -> qlinear_conv2d/qlinear_linear
PassResult run_fuse_elementwise(Graph& g);
// Marks linear/linear_act/conv2d/conv2d_act nodes whose weight is a constant or a variable the
// graph does not update with attr prepacked = 1 (counts "prepacked_linear", "prepacked_conv2d"):
// their kernels reorder the weight once (re-packed when its storage version changes).
PassResult run_prepack_weights(Graph& g);
// For inference models that own their weights (onnx::Model's initializers): each of these
// weights, once a prepacked kernel has packed it, keeps only its packed copy (the plain
// copy's pages go back to the OS; src/backend/cpu/packed_weights.h). Kernels that need a
// released weight plain (another batch size picking another packed layout, a fallback path)
// restore it from the packed copy first. Give only weights that nothing else reads (no
// host code, eager op or non-prepacked node); restore_plain_weights puts their values back
// for good, before anything else reads them.
void release_plain_when_packed(const std::vector<Tensor>& weights);
void restore_plain_weights(const std::vector<Tensor>& weights);
// Graphs without updates (inference): float32 conv2d/conv2d_act -> max_pool2d -> conv chains
// keep oneDNN's channel-blocked layout [N, C/16, H, W, 16] between them (conv2d_blocked,
// max_pool2d_blocked; a from_blocked in front of every other reader). Counts
// "blocked_conv2d", "blocked_max_pool2d", "from_blocked". See src/graph/passes/blocked_layout.cpp.
PassResult run_blocked_layout(Graph& g);

}  // namespace tandem::graph
