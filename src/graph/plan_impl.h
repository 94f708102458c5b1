// The inside of a graph::Plan, shared by lowering (plan.cpp), the executor (executor.cpp) and
// the planning passes (passes/inplace.cpp, passes/memory_plan.cpp). Not a public header.
//
// Vocabulary: a *buffer* is one block of memory (an arena slice, a graph input, a variable, a
// constant, a graph output); a *slot* is one pre-built TensorImpl over a buffer (the value's
// tensor, or a view of it); a *val* is one graph Value with its slot, definition and uses.
// Buffers merge (union-find through `alias_of`) when the in-place pass lets an op write into
// its input's buffer or when an update's value is written straight into its variable.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "tandem/graph/plan.h"
#include "tandem/opdef.h"

namespace tandem::graph::detail {

enum class Where : uint8_t { Arena, Input, Variable, Constant, Output };

struct Buffer {
  Where where = Where::Arena;
  int index = -1;          // Input/Variable/Output: which one
  size_t bytes = 0;        // payload bytes
  int first = 0, last = 0; // live steps (inclusive), own values and views
  int alias_of = -1;       // merged into this buffer (union-find parent)
  int own_last = 0;        // `last` before any merge (eager estimate)
  bool from_step = false;  // made by a step (an intermediate), not an input/variable/constant
  size_t offset = 0;       // arena offset
  std::shared_ptr<Storage> storage;  // arena slice or constant storage, bound at lowering
};

struct Slot {
  std::shared_ptr<TensorImpl> impl;
  int buffer = -1;   // buffer at creation; resolve with find()
  int64_t rel = 0;   // element offset from the buffer's first element
};

struct Val {
  const Value* value = nullptr;
  TensorMeta meta;
  int slot = -1;
  int def_step = -1;   // -1: input, variable, constant
  int last_use = -1;   // last step reading it (END for graph outputs and update values)
  bool is_view = false;
  bool graph_output = false;
  bool update_value = false;
};

enum class StepKind : uint8_t { Kernel, View, Copy, Dispatch };

struct Step {
  StepKind kind = StepKind::Kernel;
  const OpDef* op = nullptr;  // null for a Copy
  const Node* node = nullptr;
  Attrs attrs;
  std::vector<int> in_vals;   // -1: omitted optional input
  std::vector<int> out_vals;
  std::vector<Tensor> ins, outs;        // pre-built handles handed to the kernel
  std::vector<TensorImpl*> out_impls;   // to notice a kernel that replaced an output handle
  Tensor copy_dst;                      // Copy: the destination viewed with the source's shape
  int inplace_input = -1;               // input slot whose buffer output 0 reuses
  std::vector<int> direct_updates;      // per output: variable index it is written into, or -1
  std::string note;                     // why a Copy/Dispatch step exists
};

struct Update {
  int variable = -1;  // index into Impl::variables
  int val = -1;
  bool direct = false;
};

int find(std::vector<Buffer>& buffers, int b);
void merge_into(std::vector<Buffer>& buffers, int child, int parent);  // child's root joins parent's root

}  // namespace tandem::graph::detail

namespace tandem::graph {

struct Plan::Impl {
  std::vector<detail::Buffer> buffers;
  std::vector<detail::Slot> slots;
  std::vector<detail::Val> vals;
  std::vector<detail::Step> steps;
  int end_step = 0;  // the step index standing for "after the last step"

  std::vector<int> input_vals;
  std::vector<std::string> input_names;
  std::vector<TensorMeta> input_metas, output_metas;
  std::vector<int> output_vals;
  std::vector<bool> output_copies;  // output k is copied from its val (else it is the buffer root)

  std::vector<Tensor> variables;        // the live handles
  std::vector<Shape> variable_strides;  // as lowered (shape and dtype checked through them)
  std::vector<DType> variable_dtypes;
  std::vector<std::string> variable_names;
  std::vector<detail::Update> updates;

  std::vector<int> rebind;                  // slots over Input/Variable/Output buffers
  std::vector<const Tensor*> roots;         // per buffer, bound per run (scratch)
  std::vector<Tensor> contiguous_inputs;    // per input: a contiguous copy when needed
  std::vector<Tensor> fresh_outputs;        // scratch for run()
  std::shared_ptr<Storage> arena;
  bool stats_only = false;                  // lowered with allocate = false: no arena, cannot run
  std::shared_ptr<Storage> placeholder;     // storage of unbound slots
  MemoryStats stats;
  std::atomic<bool> busy{false};

  std::string val_name(int v) const;
};

namespace detail {
// passes/inplace.cpp: marks steps that may write into an input's buffer; returns how many.
int plan_inplace(Plan::Impl& p);
// passes/inplace.cpp: whether a graph input still has a symbolic dim (the reporting passes skip).
bool has_symbolic_inputs(const Graph& g);
// passes/memory_plan.cpp: offsets for the arena buffers, the arena and MemoryStats.
// Without `allocate`, only the layout and the statistics (stats_only).
void plan_memory(Plan::Impl& p, bool allocate = true);
}  // namespace detail

}  // namespace tandem::graph
