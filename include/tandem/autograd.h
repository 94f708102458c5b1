// Define-by-run autograd: a tape of Nodes recorded by dispatch, run backwards by the engine.
//
//   Tensor x = tensor({1.0, 2.0}, {.dtype = kFloat64, .requires_grad = true});
//   Tensor y = (x * x).sum();
//   auto [dx] = grad({y}, {x}, {}, /*retain_graph=*/false, /*create_graph=*/true);  // 2x
//   Tensor ddx = grad({dx.sum()}, {x})[0];                                         // 2
#pragma once
#include <memory>
#include <vector>

#include "tandem/opdef.h"
#include "tandem/tensor.h"

namespace tandem {

// Grad mode: whether dispatch records history. Thread-local, default on.
bool is_grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// Computes and accumulates gradients of `outputs` into the .grad of the leaves.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

// Returns d(outputs)/d(inputs) without touching .grad. With create_graph the
// results carry history, so they can be differentiated again.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

namespace autograd {

struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
};

// One recorded op (or a leaf's accumulator). Owns its saved tensors until released.
struct Node : std::enable_shared_from_this<Node> {
  virtual ~Node() = default;
  // grads: one per output of the recorded op. Returns one per next edge.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual std::string name() const = 0;
  virtual void release() {}
  std::vector<Edge> next;  // one per input
  uint64_t sequence_nr = 0;
  size_t num_outputs = 1;
  std::vector<TensorMeta> output_meta;
  std::vector<std::vector<TensorHook>> pre_hooks;  // per output: hooks of non-leaf tensors
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;
  std::vector<TensorHook> hooks;  // leaf hooks
  bool retains_grad = false;
};

// Creates (or returns) the node that accumulates into a leaf's .grad.
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);
// Records `def` applied to `inputs` producing `outputs` (called by dispatch).
void record(const OpDef& def, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
            const Attrs& attrs);
// Whether an op over these inputs must be recorded.
bool needs_record(const OpDef& def, const std::vector<Tensor>& inputs);

}  // namespace autograd
}  // namespace tandem
