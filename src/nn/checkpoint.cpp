// tandem::checkpoint and nn::Checkpoint: the block runs without a tape in the forward and
// again, with the saved generator state, inside backward.
#include "tandem/nn/checkpoint.h"

#include <utility>

#include "tandem/autograd.h"
#include "tandem/generator_scope.h"
#include "tandem/graph/trace.h"
#include "tandem/ops.h"
#include "../autograd/sequence.h"

namespace tandem {
namespace {

// The one autograd node of a checkpointed block: its outputs' history.
class CheckpointNode final : public autograd::Node {
 public:
  CheckpointFn fn;
  std::vector<Tensor> inputs;  // detached: the node must not keep the inputs' history alive
  std::vector<uint64_t> versions;
  std::vector<bool> input_requires_grad;
  Generator rng;  // the generator as the forward found it
  bool released = false;

  std::string name() const override { return "CheckpointBackward"; }

  void release() override {
    inputs.clear();
    fn = nullptr;
    released = true;
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    TANDEM_CHECK(!released,
                 "checkpoint: backward through a checkpointed block a second time; its inputs "
                 "were freed after the first backward. Pass retain_graph=true to the first "
                 "backward if you need to run it again");
    std::vector<Tensor> xs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& x = inputs[i];
      if (!x.defined()) {
        xs.emplace_back();
        continue;
      }
      TANDEM_CHECK(x.version() == versions[i],
                   "checkpoint: input {} (shape {}) of a checkpointed block was modified in "
                   "place before backward (version {}, expected {}); the block cannot be "
                   "recomputed. Clone it before modifying it", i, shape_str(x.shape()),
                   x.version(), versions[i]);
      Tensor d = x.detach();
      if (input_requires_grad[i]) d.requires_grad_(true);
      xs.push_back(d);
    }
    std::vector<Tensor> outs;
    {
      // NOTE: a copy of the saved state, installed for this thread only: the recompute draws
      // the forward's numbers and leaves the generator the caller uses where it is.
      Generator replay = rng;
      GeneratorScope scope(replay);
      EnableGradGuard grad_on;
      outs = fn(xs);
    }
    TANDEM_CHECK(outs.size() == grads.size(),
                 "checkpoint: the block returned {} outputs when recomputed, {} in the forward; "
                 "it must be deterministic", outs.size(), grads.size());
    std::vector<Tensor> roots, root_grads;
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!grads[i].defined() || !outs[i].defined() || !outs[i].requires_grad()) continue;
      roots.push_back(outs[i]);
      root_grads.push_back(grads[i]);
    }
    // Grad mode here is the outer backward's create_graph.
    if (!roots.empty()) tandem::backward(roots, root_grads, false, is_grad_enabled());
    std::vector<Tensor> in_grads(xs.size());
    for (size_t i = 0; i < xs.size(); ++i)
      if (xs[i].defined() && input_requires_grad[i]) in_grads[i] = xs[i].grad();
    return in_grads;
  }
};

}  // namespace

std::vector<Tensor> checkpoint(CheckpointFn fn, const std::vector<Tensor>& inputs,
                               const std::vector<Tensor>& params) {
  TANDEM_CHECK(fn != nullptr, "checkpoint: fn is empty");
  bool needs_grad = false;
  for (const Tensor& t : inputs) needs_grad = needs_grad || (t.defined() && t.requires_grad());
  for (const Tensor& t : params) needs_grad = needs_grad || (t.defined() && t.requires_grad());
  if (!is_grad_enabled() || graph::is_tracing() || !needs_grad) return fn(inputs);

  auto node = std::make_shared<CheckpointNode>();
  node->rng = default_generator();
  std::vector<Tensor> outs;
  {
    NoGradGuard no_grad;
    outs = fn(inputs);
  }
  for (const Tensor& x : inputs) {
    autograd::Edge e;
    if (x.defined() && x.requires_grad())
      e = x.grad_fn() ? autograd::Edge{x.grad_fn(), x.output_nr()}
                      : autograd::Edge{autograd::grad_accumulator(x), 0};
    node->next.push_back(e);
    node->inputs.push_back(x.defined() ? x.detach() : Tensor());
    node->versions.push_back(x.defined() ? x.version() : 0);
    node->input_requires_grad.push_back(x.defined() && x.requires_grad());
  }
  node->fn = std::move(fn);
  node->sequence_nr = autograd::next_sequence_nr();
  node->num_outputs = outs.size();
  node->pre_hooks.resize(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    node->output_meta.push_back(TensorMeta::of(outs[i]));
    if (!outs[i].defined() || !outs[i].is_floating_point()) continue;
    // A fresh handle: an output that is one of the inputs must not get this history.
    Tensor t = outs[i].detach();
    if (!t.impl()->autograd) t.impl()->autograd = std::make_unique<autograd::AutogradMeta>();
    t.impl()->autograd->requires_grad = true;
    t.impl()->autograd->grad_fn = node;
    t.impl()->autograd->output_nr = static_cast<uint32_t>(i);
    outs[i] = t;
  }
  return outs;
}

namespace nn {

Checkpoint::Checkpoint(std::shared_ptr<Module> m) : Module("Checkpoint") {
  TANDEM_CHECK(m != nullptr, "nn::Checkpoint: the module is null");
  module = register_module("module", std::move(m));
}

Tensor Checkpoint::forward(const Tensor& x) {
  std::shared_ptr<Module> m = module;
  return checkpoint([m](const std::vector<Tensor>& xs) { return std::vector<Tensor>{(*m)(xs[0])}; },
                    {x}, m->parameters())[0];
}

}  // namespace nn
}  // namespace tandem
