// graph::Plan — a Graph lowered to an ordered list of kernel calls over one pre-planned arena.
//
//   graph::Graph g = ...;                                  // static shapes (or bind them below)
//   graph::Plan plan = graph::lower(g);                    // or lower(g, {.input_shapes = {{64, 784}}})
//   std::vector<Tensor> y = plan.run({x});                 // no per-op dispatch, no intermediate allocation
//   std::cout << plan.str();                               // steps with their arena offsets
//   fmt::print("{} of {} bytes\n", plan.arena_bytes(), plan.memory().naive_bytes);
//
// What lowering does:
//   - every node becomes one step: a kernel call (the OpDef's cpu kernel, called directly with
//     pre-built Tensor handles), a view (no work at run time: the view's TensorImpl is built at
//     lowering time over its base's buffer), or, for ops the executor cannot call directly
//     (float16/bfloat16 inputs to a float32-only kernel), a dispatch() whose result is copied
//     into the planned buffer;
//   - every intermediate buffer gets an offset in ONE arena (64-byte aligned) from the memory
//     planner (liveness intervals in plan order, packed size-descending best-fit); a buffer stays
//     live while any view of it is live;
//   - the in-place pass lets an elementwise op write into its input's buffer when that input
//     dies there (relu after linear, add of a residual);
//   - graph outputs are written into fresh tensors per run (or into the caller's tensors with
//     run_into), never into the arena, so results never alias the next run;
//   - Variables are bound by handle: their current storage is read on every run (in-place
//     parameter updates made elsewhere are seen); updates (variable <- value) are copied into the
//     variable at the end of a run, or written there directly by the producing kernel when the
//     variable is not read afterwards (or is read by that kernel itself, which must then be an
//     OpDef::elementwise kernel: one reading element i of every operand before writing element
//     i of its outputs, at any input slot — the in-place pass relies on the same property).
//     A kernel may thus be handed the live variable as its output: it must not assume its
//     outputs are distinct from its inputs.
//
// Plans run under NoGradGuard: outputs carry no autograd history (a training step is captured
// with its backward pass as graph ops instead).
//
// Lowering reads OpDefs only: the passes that change the graph (passes.h) run before it. The
// planning passes here (in-place, memory planning) are internal to lower(); their effect is in
// memory() and str(). A lowered Plan no longer needs the Graph.
//
// Run-time contract: inputs must have the dtypes and shapes the plan was lowered for (Error
// names the input, expected vs got); a non-contiguous input is copied first (an allocation).
// A Plan runs one call at a time: run() from two threads at once throws an Error (it reuses its
// arena and its pre-built handles). Lower one Plan per thread to run concurrently.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/graph/ir.h"
#include "tandem/graph/passes.h"
#include "tandem/tensor.h"

namespace tandem::graph {

struct LowerOptions {
  // Concrete shapes of the graph inputs, in order: binds symbolic dims (lower once per batch
  // size; lowering is cheap). Empty: the inputs' shapes must be static.
  std::vector<Shape> input_shapes;
  // Let elementwise ops write into a dying input's buffer (passes/inplace.cpp).
  bool inplace = true;
  // Let the producer of an update's value write straight into the variable when safe.
  bool direct_updates = true;
  // False: plan only, for the memory statistics (the reporting passes); no arena is
  // allocated and the Plan refuses to run.
  bool allocate = true;
};

// What the memory planner decided (bytes).
struct MemoryStats {
  size_t arena_bytes = 0;       // the planned arena: peak of the packing
  size_t naive_bytes = 0;       // every intermediate in its own buffer (no reuse, no in-place)
  size_t eager_peak_bytes = 0;  // most intermediate bytes live at once when each is freed after
                                // its last use, as eager execution does (no in-place)
  size_t live_peak_bytes = 0;   // lower bound for the arena: most bytes live at once as planned
  int num_buffers = 0;          // arena buffers (after in-place sharing)
  int num_inplace = 0;          // steps writing into an input's buffer
  int num_direct_updates = 0;   // updates written by their producer straight into the variable
};

// ---- memory planning on its own (passes/memory_plan.cpp), also used by the tests.
// A buffer of `bytes`, live from step `first` to step `last` inclusive (a step reads its
// inputs while it writes its outputs, so buffers live at the same step never overlap).
struct BufferLifetime {
  size_t bytes = 0;
  int first = 0;
  int last = 0;
};
struct ArenaLayout {
  std::vector<size_t> offsets;  // one per buffer, multiples of `alignment`
  size_t arena_bytes = 0;
  size_t live_peak_bytes = 0;   // max over steps of the (aligned) bytes live at that step
};
// Greedy by size (largest first), each buffer placed in the smallest gap between the buffers
// already placed whose lifetimes overlap its own (best fit), else after the highest of them.
ArenaLayout plan_arena(const std::vector<BufferLifetime>& buffers, size_t alignment = 64);

class Plan {
 public:
  Plan();
  ~Plan();
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;

  // Runs the plan; returns the graph outputs in fresh tensors.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // Same, writing the outputs into `outputs` (defined, contiguous, the output dtypes/shapes):
  // with contiguous inputs this allocates nothing.
  void run_into(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);

  // Binds variable `index` (the graph's variables() order) to another live tensor of the same
  // dtype, shape and strides (e.g. a parameter's fresh .grad each step); Error otherwise. The
  // plan keeps the handle it was lowered with until then.
  void set_variable(size_t index, const Tensor& live);
  size_t num_variables() const;

  size_t arena_bytes() const;
  size_t num_steps() const;
  const MemoryStats& memory() const;
  const std::vector<TensorMeta>& input_metas() const;
  const std::vector<TensorMeta>& output_metas() const;
  // The arena buffers as planned (after in-place sharing): offset, bytes, live steps.
  struct PlannedBuffer {
    size_t offset = 0;
    size_t bytes = 0;
    int first = 0;
    int last = 0;
  };
  std::vector<PlannedBuffer> arena_buffers() const;
  // One line per step: op, inputs, outputs with where they live (arena offset and bytes,
  // in-place reuse, variable, output), then the memory summary.
  std::string str() const;

  struct Impl;

 private:
  explicit Plan(std::unique_ptr<Impl> impl);
  friend Plan lower(const Graph& g, const LowerOptions& options);
  std::unique_ptr<Impl> impl_;
};

// The planning passes as pipeline entries ("inplace", "memory_plan" in passes.h's registry):
// they leave the graph unchanged (changed = false) and report, as counts, what graph::lower
// does with it. run_inplace: inplace_steps, direct_updates. run_memory_plan: arena_bytes,
// naive_bytes, eager_peak_bytes, live_peak_bytes, buffers, steps. A graph whose inputs still
// have symbolic dims reports symbolic_inputs = 1 (bind them with shape_infer first).
PassResult run_inplace(Graph& g);
PassResult run_memory_plan(Graph& g);

// Lowers `g` (unchanged) to a Plan. Error names the node when an op cannot be lowered or a
// shape rule fails for the bound shapes.
Plan lower(const Graph& g, const LowerOptions& options = {});

}  // namespace tandem::graph
