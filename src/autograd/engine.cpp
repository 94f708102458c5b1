// The autograd tape (OpNode, AccumulateGrad) and the engine that runs it backwards.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "tandem/autocast.h"
#include "tandem/autograd.h"
#include "tandem/autograd_callback.h"
#include "tandem/ops.h"
#include "sequence.h"

namespace tandem {

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};
}  // namespace

bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

namespace autograd {
namespace {

AutogradMeta& meta_of(const Tensor& t) {
  if (!t.impl()->autograd) t.impl()->autograd = std::make_unique<AutogradMeta>();
  return *t.impl()->autograd;
}

// A tensor saved for backward, with the version it had when saved.
struct SavedTensor {
  Tensor data;  // no history (outputs) or the input itself
  uint64_t version = 0;
  bool is_output = false;

  static SavedTensor save(const Tensor& t, bool is_output) {
    SavedTensor s;
    if (!t.defined()) return s;
    // NOTE: an output holds its grad_fn, which would hold the output: save the
    // data only and re-attach the history on unpack (no reference cycle).
    s.data = is_output ? t.detach() : t;
    s.version = t.version();
    s.is_output = is_output;
    return s;
  }
};

class OpNode final : public Node {
 public:
  const OpDef* def;
  Attrs attrs;
  std::vector<SavedTensor> saved_inputs, saved_outputs;
  std::vector<TensorMeta> input_meta;
  bool released = false;

  std::string name() const override { return def->name; }

  void release() override {
    saved_inputs.clear();
    saved_outputs.clear();
    released = true;
  }

  Tensor unpack(const SavedTensor& s, size_t index, const char* what) {
    if (!s.data.defined()) return Tensor();
    TANDEM_CHECK(s.data.version() == s.version,
                 "one of the tensors needed for gradient computation has been modified by an "
                 "in-place operation: {} {} of '{}' (shape {}) is at version {}; expected version "
                 "{}. Clone it before modifying it, or do the in-place change after backward",
                 what, index, def->name, shape_str(s.data.shape()), s.data.version(), s.version);
    if (!s.is_output || !is_grad_enabled()) return s.data;
    // Re-attach this node as the output's history so double backward flows through it.
    Tensor t = s.data.detach();
    AutogradMeta& m = meta_of(t);
    m.requires_grad = true;
    m.grad_fn = shared_from_this();
    m.output_nr = static_cast<uint32_t>(index);
    return t;
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    TANDEM_CHECK(!released,
                 "backward through the graph a second time (op '{}'): its saved tensors were "
                 "freed after the first backward. Pass retain_graph=true to the first backward "
                 "if you need to run it again", def->name);
    BackwardContext ctx;
    ctx.op_name_ = def->name.c_str();
    ctx.attrs_ = &attrs;
    ctx.input_meta_ = input_meta;
    for (size_t i = 0; i < saved_inputs.size(); ++i)
      ctx.inputs_.push_back(unpack(saved_inputs[i], i, "input"));
    for (size_t i = 0; i < saved_outputs.size(); ++i)
      ctx.outputs_.push_back(unpack(saved_outputs[i], i, "output"));
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined())
        grads[i] = zeros(output_meta[i].shape, {.dtype = output_meta[i].dtype});
    ctx.grads_ = std::move(grads);
    for (const Edge& e : next) ctx.needs_.push_back(e.node != nullptr);

    std::vector<Tensor> in_grads = def->backward(ctx);
    TANDEM_CHECK(in_grads.size() <= next.size(),
                 "internal: backward of '{}' returned {} gradients for {} inputs", def->name,
                 in_grads.size(), next.size());
    in_grads.resize(next.size());
    for (size_t i = 0; i < in_grads.size(); ++i) {
      Tensor& g = in_grads[i];
      if (!g.defined() || !next[i].node) {
        g = Tensor();
        continue;
      }
      const TensorMeta& m = input_meta[i];
      if (g.shape() != m.shape) g = sum_to(g, m.shape, def->name.c_str());
      if (g.dtype() != m.dtype) g = g.to(m.dtype);
    }
    return in_grads;
  }

  // Sums a broadcast gradient back to the input's shape.
  static Tensor sum_to(const Tensor& g, const Shape& shape, const char* op) {
    size_t lead = g.dim() - shape.size();
    TANDEM_CHECK(g.dim() >= static_cast<int64_t>(shape.size()),
                 "internal: gradient of '{}' has shape {}, input has {}", op, shape_str(g.shape()),
                 shape_str(shape));
    IntArray dims;
    for (size_t d = 0; d < static_cast<size_t>(g.dim()); ++d)
      if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1)) dims.push_back(static_cast<int64_t>(d));
    Tensor r = dims.empty() ? g : tandem::sum(g, dims, /*keepdim=*/true);
    return r.numel() == shape_numel(shape) ? r.reshape(shape) : r;
  }
};

class AccumulateGrad final : public Node {
 public:
  Tensor var;  // the leaf (strong: the leaf holds this node weakly)
  std::string name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g = std::move(grads[0]);
    AutogradMeta& m = meta_of(var);
    for (auto& hook : m.hooks) {
      Tensor r = hook(g);
      if (r.defined()) g = r;
    }
    if (!g.defined()) return {};
    if (!is_grad_enabled()) g = g.detach();
    if (!m.grad.defined()) {
      // NOTE: a gradient nothing else can reach (this handle and its memory are ours alone,
      // dense from offset 0) becomes .grad as is; any other is cloned, so later in-place
      // accumulation never writes into a tensor the user (or another node) still holds.
      // Cloning every time copied each parameter's gradient on every backward (2 MB per
      // step for the zoo MLP: a sixth of a batch-1 training step).
      const bool ours = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                        g.offset() == 0 && g.is_contiguous();
      m.grad = is_grad_enabled() || ours ? g : g.clone();
    } else if (is_grad_enabled()) {
      m.grad = m.grad + g;
    } else {
      m.grad.add_(g);
    }
    return {};
  }
};

}  // namespace

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  AutogradMeta& m = meta_of(leaf);
  if (auto acc = m.grad_accumulator.lock()) return acc;
  auto acc = std::make_shared<AccumulateGrad>();
  // NOTE: the highest priority (as PyTorch gives AccumulateGrad): a leaf's gradient is
  // written, and its hooks run, as soon as it is complete rather than after the whole graph
  // (DistributedDataParallel all-reduces during the rest of backward from these hooks).
  acc->sequence_nr = UINT64_MAX;
  acc->var = leaf;
  acc->output_meta = {TensorMeta::of(leaf)};
  m.grad_accumulator = acc;
  return acc;
}

uint64_t next_sequence_nr() { return g_sequence++; }

bool needs_record(const OpDef& def, const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled || def.non_differentiable) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    if (std::find(def.nondiff_inputs.begin(), def.nondiff_inputs.end(), static_cast<int>(i)) !=
        def.nondiff_inputs.end())
      continue;
    return true;
  }
  return false;
}

void record(const OpDef& def, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
            const Attrs& attrs) {
  TANDEM_CHECK(def.backward != nullptr, "internal: op '{}' is differentiable but has no backward",
               def.name);
  auto node = std::make_shared<OpNode>();
  node->def = &def;
  node->attrs = attrs;
  node->sequence_nr = g_sequence++;
  node->num_outputs = outputs.size();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    node->input_meta.push_back(TensorMeta::of(t));
    bool nondiff = std::find(def.nondiff_inputs.begin(), def.nondiff_inputs.end(),
                             static_cast<int>(i)) != def.nondiff_inputs.end();
    Edge e;
    if (t.defined() && t.requires_grad() && !nondiff)
      e = t.grad_fn() ? Edge{t.grad_fn(), t.output_nr()} : Edge{grad_accumulator(t), 0};
    node->next.push_back(e);
    if (def.save_inputs) node->saved_inputs.push_back(SavedTensor::save(t, false));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    node->output_meta.push_back(TensorMeta::of(outputs[i]));
    if (def.save_outputs) node->saved_outputs.push_back(SavedTensor::save(outputs[i], true));
  }
  node->pre_hooks.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!is_floating(outputs[i].dtype())) continue;  // indices never carry gradients
    AutogradMeta& m = meta_of(outputs[i]);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(i);
  }
}

namespace {

struct EdgeKey {
  Node* node;
  uint32_t nr;
  bool operator==(const EdgeKey& o) const { return node == o.node && nr == o.nr; }
};
struct EdgeKeyHash {
  size_t operator()(const EdgeKey& k) const { return std::hash<Node*>()(k.node) * 31 + k.nr; }
};

Edge edge_of(const Tensor& t) {
  if (t.grad_fn()) return {t.grad_fn(), t.output_nr()};
  return {grad_accumulator(t), 0};
}

// Runs the graph behind `roots`. With `capture` (tandem::grad), returns the
// gradients arriving at those edges and leaves .grad untouched.
std::vector<Tensor> run_engine(const std::vector<Tensor>& roots, std::vector<Tensor> root_grads,
                               bool retain_graph, bool create_graph,
                               const std::vector<Edge>* capture) {
  AutocastGuard no_autocast(false);  // backward runs on the forward's dtypes, as PyTorch's
  // Root gradients.
  TANDEM_CHECK(root_grads.empty() || root_grads.size() == roots.size(),
               "backward: got {} gradients for {} outputs", root_grads.size(), roots.size());
  root_grads.resize(roots.size());
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    TANDEM_CHECK(r.defined(), "backward: output {} is undefined", i);
    TANDEM_CHECK(r.requires_grad(),
                 "backward: output {} (shape {}) does not require grad and has no grad_fn; did "
                 "you compute it under NoGradGuard or from tensors without requires_grad?",
                 i, shape_str(r.shape()));
    if (!root_grads[i].defined()) {
      TANDEM_CHECK(r.numel() == 1,
                   "backward: grad can be implicitly created only for scalar outputs; output {} "
                   "has shape {}. Pass a gradient of that shape", i, shape_str(r.shape()));
      root_grads[i] = ones_like(r);
    } else {
      TANDEM_CHECK(root_grads[i].shape() == r.shape(),
                   "backward: gradient shape {} does not match output shape {}",
                   shape_str(root_grads[i].shape()), shape_str(r.shape()));
    }
    root_edges.push_back(edge_of(r));
  }

  // Count dependencies (how many edges point at each node).
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (const Edge& e : root_edges)
    if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.node) continue;
      deps[e.node.get()]++;
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<EdgeKey, size_t, EdgeKeyHash> capture_index;
  std::vector<Tensor> captured;
  if (capture) {
    captured.resize(capture->size());
    for (size_t i = 0; i < capture->size(); ++i)
      capture_index[{(*capture)[i].node.get(), (*capture)[i].input_nr}] = i;
  }

  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_map<Node*, std::shared_ptr<Node>> owners;  // keep nodes alive while running
  auto accumulate = [&](const Edge& e, Tensor g) {
    auto& buf = buffers[e.node.get()];
    owners[e.node.get()] = e.node;
    if (buf.empty()) buf.resize(e.node->num_outputs);
    Tensor& slot = buf[e.input_nr];
    slot = slot.defined() ? slot + g : std::move(g);
  };

  bool prev_mode = is_grad_enabled();
  set_grad_enabled(create_graph);
  struct Restore {
    bool m;
    ~Restore() { set_grad_enabled(m); }
  } restore{prev_mode};

  for (size_t i = 0; i < roots.size(); ++i) accumulate(root_edges[i], root_grads[i]);

  // Ready nodes, latest-created first (the reverse of the forward order).
  auto cmp = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::vector<Node*> ready;
  for (const Edge& e : root_edges)
    if (deps[e.node.get()] == 0 && std::find(ready.begin(), ready.end(), e.node.get()) == ready.end())
      ready.push_back(e.node.get());
  while (!ready.empty()) {
    std::sort(ready.begin(), ready.end(), cmp);
    Node* n = ready.back();
    ready.pop_back();
    std::shared_ptr<Node> keep = owners[n];
    std::vector<Tensor> grads = std::move(buffers[n]);
    buffers.erase(n);
    grads.resize(n->num_outputs);
    // Hooks registered on non-leaf tensors.
    for (size_t k = 0; k < n->pre_hooks.size() && k < grads.size(); ++k)
      for (auto& hook : n->pre_hooks[k])
        if (grads[k].defined()) {
          Tensor r = hook(grads[k]);
          if (r.defined()) grads[k] = r;
        }
    bool is_acc = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    if (capture) {
      for (size_t k = 0; k < grads.size(); ++k) {
        auto it = capture_index.find({n, static_cast<uint32_t>(k)});
        if (it != capture_index.end()) {
          Tensor g = grads[k];
          if (is_acc) {  // leaf hooks still apply to captured leaf gradients
            for (auto& hook : meta_of(static_cast<AccumulateGrad*>(n)->var).hooks) {
              Tensor r = hook(g);
              if (r.defined()) g = r;
            }
          }
          captured[it->second] = g;
        }
      }
      if (is_acc) continue;  // tandem::grad leaves .grad alone
    }
    std::vector<Tensor> out = n->apply(std::move(grads));
    // NOTE: a node runs once per pass, so without retain_graph its saved tensors are dead
    // the moment it returns: freeing them here, not after the whole pass, keeps backward's
    // peak at what is still ahead of it instead of every activation of the forward.
    if (!retain_graph) n->release();
    for (size_t k = 0; k < n->next.size() && k < out.size(); ++k) {
      const Edge& e = n->next[k];
      if (!e.node) continue;
      if (out[k].defined()) accumulate(e, std::move(out[k]));
      if (--deps[e.node.get()] == 0) {
        owners[e.node.get()] = e.node;
        ready.push_back(e.node.get());
      }
    }
  }
  return captured;
}

}  // namespace
}  // namespace autograd

namespace {
thread_local std::vector<std::function<void()>> t_callbacks;
thread_local int t_backward_depth = 0;
}  // namespace

void autograd::queue_callback(std::function<void()> fn) { t_callbacks.push_back(std::move(fn)); }

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  struct Depth {
    Depth() { ++t_backward_depth; }
    ~Depth() {
      if (--t_backward_depth == 0 && std::uncaught_exceptions() > 0) t_callbacks.clear();
    }
  } depth;
  autograd::run_engine(outputs, grad_outputs, retain_graph || create_graph, create_graph, nullptr);
  // NOTE: only the outermost backward() flushes: a backward inside a hook must not run the
  // callbacks of the pass that is still walking its graph.
  if (t_backward_depth == 1) {
    for (size_t i = 0; i < t_callbacks.size(); ++i) {
      std::function<void()> fn = std::move(t_callbacks[i]);
      fn();
    }
    t_callbacks.clear();
  }
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  std::vector<autograd::Edge> edges;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    TANDEM_CHECK(t.defined() && t.requires_grad(),
                 "grad: input {} does not require grad, so no gradient can be computed for it", i);
    edges.push_back(autograd::edge_of(t));
  }
  std::vector<Tensor> res =
      autograd::run_engine(outputs, grad_outputs, retain_graph || create_graph, create_graph, &edges);
  for (size_t i = 0; i < res.size(); ++i)
    TANDEM_CHECK(res[i].defined() || allow_unused,
                 "grad: input {} (shape {}) was not used to compute the outputs; pass "
                 "allow_unused=true to get an undefined gradient for it", i,
                 shape_str(inputs[i].shape()));
  return res;
}

// ---- Tensor methods that touch the tape

void Tensor::register_hook(TensorHook hook) const {
  TANDEM_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't "
               "require gradient");
  if (auto fn = grad_fn()) {
    fn->pre_hooks.resize(fn->num_outputs);
    fn->pre_hooks[output_nr()].push_back(std::move(hook));
  } else {
    impl()->autograd->hooks.push_back(std::move(hook));
  }
}

void Tensor::retain_grad() const {
  TANDEM_CHECK(requires_grad(), "retain_grad: the tensor does not require grad");
  if (is_leaf() || retains_grad()) return;
  impl()->autograd->retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_ptr();
  register_hook([weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      auto& m = *impl->autograd;
      m.grad = m.grad.defined() ? m.grad + g.detach() : g.detach().clone();
    }
    return Tensor();
  });
}

}  // namespace tandem

namespace tandem {

const Tensor& BackwardContext::input(size_t i) const {
  TANDEM_CHECK(i < inputs_.size(), "internal: backward of '{}' reads input {}, but the op does "
               "not save inputs (set save_inputs)", op_name_, i);
  return inputs_[i];
}

const Tensor& BackwardContext::output(size_t i) const {
  TANDEM_CHECK(i < outputs_.size(), "internal: backward of '{}' reads output {}, but the op does "
               "not save outputs (set save_outputs)", op_name_, i);
  return outputs_[i];
}

}  // namespace tandem
