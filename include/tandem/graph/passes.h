// Graph passes: small rewrites of a Graph that never change what it computes, and the
// pipeline that runs them in order (one pass per file in src/graph/passes/).
//
//   graph::Graph g = ...;                                   // traced or hand-built
//   graph::PassResult r = graph::run_cse(g);                // one pass: changed? what did it do?
//   // r.changed == true, r.counts == {{"merged_nodes", 2}}
//
//   graph::PipelineReport rep = graph::run_pipeline(g, {.passes = "all", .dump_dir = "dump"});
//   std::cout << rep.str();
//   //   pass         nodes   time   counts
//   //   const_fold   12->10  0.1ms  folded_nodes=2
//   //   ...
//
// A pass is a name plus a function `PassResult(Graph&)`. The built-in ones live in a list
// in src/graph/passes/pipeline.cpp (add a line there for a new built-in pass: tandem is a
// static library, so a pass file that only registers itself from a static initializer would
// be dropped by the linker). register_pass adds or replaces one at run time (tests, tools).
//
// Dumps: with PipelineOptions::dump_dir, or the environment variable TANDEM_GRAPH_DUMP=dir,
// the pipeline writes NN-<pass>-before.txt / -after.txt (Graph::str) and .dot files there.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/graph/ir.h"

namespace tandem::graph {

// What a pass did: whether the graph changed, and counts of its rewrites by kind
// ("removed_nodes", "folded_nodes", ...). A pass that changed nothing has no counts.
struct PassResult {
  bool changed = false;
  std::map<std::string, int64_t> counts;
  void add(const std::string& what, int64_t n = 1) {
    if (n == 0) return;
    counts[what] += n;
    changed = true;
  }
};

struct Pass {
  std::string name;
  std::function<PassResult(Graph&)> run;
  // Only valid for inference graphs (batch-norm folding reads running stats as constants);
  // "all" skips it unless PipelineOptions::inference is set.
  bool inference_only = false;
  std::string doc;  // one line, shown by tools
};

// The registry of passes by name. register_pass replaces a pass of the same name.
void register_pass(Pass pass);
const Pass* find_pass(std::string_view name);  // nullptr if absent
std::vector<std::string> registered_passes();  // sorted names

struct PipelineOptions {
  // "all" (the default order, every registered pass), "none", or a comma list of names
  // run in that order ("cse,dce"). "all,-cse" runs the default order without cse.
  std::string passes = "all";
  // Directory for before/after dumps of each pass; empty: $TANDEM_GRAPH_DUMP if set.
  std::string dump_dir;
  // Enables inference-only passes (fold_batchnorm).
  bool inference = false;
  // Graph::verify() after each pass; an Error names the pass that broke the graph.
  bool verify_each = false;
  // Symbolic dims bound to sizes by shape_infer ({"batch", 32}); empty: no binding.
  std::map<std::string, int64_t> bind;
};

struct PassReport {
  std::string name;
  PassResult result;
  size_t nodes_before = 0, nodes_after = 0;
  double ms = 0;
};

struct PipelineReport {
  std::vector<PassReport> passes;
  size_t nodes_before = 0, nodes_after = 0;
  std::string dump_dir;  // where dumps went ("" = none)
  std::string str() const;  // a table: pass, nodes before->after, time, counts
};

// The pass order of "all". Names not registered (a pass not built yet) are skipped.
const std::vector<std::string>& default_pass_order();

// An ordered list of passes, resolved from a spec ("all" / "none" / list).
class PassPipeline {
 public:
  // Error for an unknown name (lists the known ones), or an inference-only pass without
  // `inference`.
  static PassPipeline from_spec(const std::string& spec, bool inference);
  const std::vector<std::string>& names() const { return names_; }
  PipelineReport run(Graph& g, const PipelineOptions& options) const;

 private:
  std::vector<std::string> names_;
};

PipelineReport run_pipeline(Graph& g, const PipelineOptions& options = {});

// A copy of `g` to rewrite while keeping the original (tools show before/after, tests
// compare): same inputs, nodes, names, outputs and updates; variables alias the same live
// tensors and constants share their data (passes never write into either).
Graph copy_graph(const Graph& g);

// ---- The generic passes (one file each in src/graph/passes/) ----

// shape_infer.cpp: re-infers the dtype and shape of every node's outputs from its OpDef,
// after binding symbolic dims of inputs (and everything derived from them) to sizes.
PassResult run_shape_infer(Graph& g, const std::map<std::string, int64_t>& bind = {});
// dce.cpp: removes nodes whose outputs reach no graph output or update.
PassResult run_dce(Graph& g);
// cse.cpp: merges nodes with the same op, attributes and inputs, and identical constants.
PassResult run_cse(Graph& g);
// const_fold.cpp: runs nodes whose inputs are all constants once, replacing them by constants.
struct ConstFoldOptions {
  // A folded constant larger than this (and than its inputs together) is not created:
  // expand(scalar) to a big shape would bloat the graph.
  int64_t max_bytes = int64_t{1} << 20;
};
PassResult run_const_fold(Graph& g, const ConstFoldOptions& options = {});
// simplify.cpp: algebraic identities (x*1, x+0, neg(neg x), permute/reshape chains, ...).
PassResult run_simplify(Graph& g);

// ---- What the passes must not touch ----

// Random ops draw from a generator: two calls give different numbers, and skipping one
// shifts every later draw. CSE never merges them, const_fold never folds them, DCE keeps
// them. Built in: dropout and names starting with rand, bernoulli, multinomial, normal_,
// uniform_; mark_random_op adds more.
bool is_random_op(const OpDef& def);
void mark_random_op(const std::string& name);
// A node with side effects stays even when its outputs are unused: random ops (generator
// state) and ops marked with mark_side_effect_op (e.g. a print or an in-place write that
// capture keeps as a node).
bool has_side_effects(const Node& node);
void mark_side_effect_op(const std::string& name);

// Helpers shared by the passes.
// Whether `v` is a graph output or the new value of an update.
bool is_graph_result(const Graph& g, const Value* v);
// Whether every use of `from` (including outputs and updates) may read `to` instead:
// same dtype and shape, and no graph result would come to alias an input, a variable, a
// view or another result.
bool can_forward(const Graph& g, const Value* from, const Value* to);

}  // namespace tandem::graph
