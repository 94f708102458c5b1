// fuse_matmul_act: linear / conv2d (bias included, or a linear's bias added by a separate add)
// followed by an activation (relu, gelu,
// sigmoid, tanh, silu, leaky_relu, clamp) becomes one "linear_act" / "conv2d_act" node.
// linear_act on float32 2-D inputs is one oneDNN matmul with the activation as an eltwise
// post-op; otherwise (conv2d_act, clamp, other layouts) the kernel applies the activation in
// place to the output right after the conv/linear, while it is still in cache.
// Before that, matmul(x, constant W [K, N]) (+ a constant bias) becomes linear(x, Wᵀ, b).
// Leaves alone: a pre-activation value read by anything else (a backward node such as
// gelu_backward, a second consumer, a graph output or update), dtypes other than
// float32/float64 (but conv2d + relu in bfloat16), and matmul (no weight layout to fuse; linear covers the MLP case).
// Forward only: the fused ops have no backward formula, which the user check guarantees
// is never needed.
#include <limits>
#include <map>
#include <string>

#include "fusion_util.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

using namespace fusion_detail;

namespace {

// The fused op's activation attrs for `act`, or false when it is not a fusable activation.
bool activation_attrs(const Node* act, Attrs& out) {
  const std::string& n = act->op->name;
  const double inf = std::numeric_limits<double>::infinity();
  if (n == "relu" || n == "sigmoid" || n == "tanh" || n == "silu") {
    out.set("act", n);
  } else if (n == "gelu") {
    out.set("act", act->attrs.get_or<std::string>("approximate", "none") == "tanh" ? "gelu_tanh" : "gelu");
  } else if (n == "leaky_relu") {
    out.set("act", n).set("act_p0", act->attrs.get_or<double>("negative_slope", 0.01));
  } else if (n == "clamp") {
    out.set("act", n)
        .set("act_p0", act->attrs.get_or<double>("min", -inf))
        .set("act_p1", act->attrs.get_or<double>("max", inf));
  } else {
    return false;
  }
  return true;
}

// matmul(x, W) with W a float32 constant [K, N] and x [..., K] -> linear(x, Wᵀ) (a new
// constant), with add(., b) for a constant b of N elements as its bias. Exporters write a
// fully-connected layer on inputs of rank 3 or more (PyTorch's nn.Linear on [N, H, W, C],
// attention projections) as MatMul + Add; as a linear its weight is prepacked and the
// activation below joins it.
void matmul_const_to_linear(Graph& g, const OpDef* linear_def, PassResult& result) {
  std::vector<Node*> matmuls;  // collected first: the loop removes the bias adds it fuses
  for (Node* n : g.nodes())
    if (n->op->name == "matmul") matmuls.push_back(n);
  std::map<const Value*, Value*> transposed;  // one Wᵀ per W, however many matmuls read it
  for (Node* m : matmuls) {
    if (m->inputs.size() != 2 || m->outputs.size() != 1) continue;
    Value* x = m->inputs[0];
    Value* w = m->inputs[1];
    if (x == nullptr || w == nullptr || w->kind != Value::Kind::Constant || !w->data.defined()) continue;
    if (w->shape.size() != 2 || x->shape.size() < 2 || x->dtype != DType::Float32 || w->dtype != DType::Float32)
      continue;
    const int64_t n_out = w->data.size(1);
    // The bias: add(mm, b) or add(b, mm), b a constant of N elements, mm read by nothing else.
    Node* bias_add = nullptr;
    Value* bias = nullptr;
    if (m->output()->users.size() == 1 && only_user(g, m->output(), m->output()->users[0])) {
      Node* a = m->output()->users[0];
      if (a->op->name == "add" && a->attrs.get_or<double>("alpha", 1.0) == 1.0 && a->inputs.size() == 2) {
        Value* b = a->inputs[0] == m->output() ? a->inputs[1] : a->inputs[0];
        if (b != nullptr && b->kind == Value::Kind::Constant && b->data.defined() && b->dtype == DType::Float32 &&
            b->data.numel() == n_out && a->output()->shape == m->output()->shape) {
          bias_add = a;
          bias = b->shape.size() == 1 ? b : g.add_constant(b->data.reshape({n_out}).contiguous());
        }
      }
    }
    Value*& wt = transposed[w];
    if (wt == nullptr) wt = g.add_constant(w->data.t().contiguous(), w->name.empty() ? "" : w->name + "_t");
    Node* lin = g.add_node(*linear_def, {x, wt, bias}, {}, m->name);
    Node* last = bias_add ? bias_add : m;
    if (lin->output()->shape != last->output()->shape || lin->output()->dtype != last->output()->dtype) {
      g.remove_node(lin);  // shape rules disagree (should not happen): keep the matmul
      continue;
    }
    g.move_before(lin, last);  // after the bias's producer
    g.replace_all_uses(last->output(), lin->output());
    if (bias_add) g.remove_node(bias_add);
    g.remove_node(m);
    result.add(bias_add ? "matmul_add_to_linear" : "matmul_to_linear");
  }
}

}  // namespace

PassResult run_fuse_matmul_act(Graph& g) {
  PassResult result;
  const OpDef* linear_def = find_op("linear");
  const OpDef* conv_def = find_op("conv2d");
  matmul_const_to_linear(g, linear_def, result);
  std::vector<Node*> nodes = g.nodes();
  for (Node* act : nodes) {
    if (act->inputs.size() != 1 || act->inputs[0] == nullptr) continue;
    Value* pre = act->inputs[0];
    Node* p = pre->producer;
    // A bias added separately: add(linear(x, w), b) with b [out] and linear without a bias.
    Node* bias_add = nullptr;
    Value* bias = nullptr;
    if (p != nullptr && p->op->name == "add" && p->attrs.get_or<double>("alpha", 1.0) == 1.0) {
      Value* mm = p->inputs[0];
      Value* b = p->inputs[1];
      Node* q = mm ? mm->producer : nullptr;
      if (q && q->op == linear_def && q->inputs[2] == nullptr && b && b->shape.size() == 1 &&
          !mm->shape.empty() && b->shape[0] == mm->shape.back() && b->dtype == mm->dtype &&
          mm->dtype == pre->dtype && only_user(g, mm, p)) {
        bias_add = p;
        bias = b;
        p = q;
      }
    }
    if (p == nullptr || (p->op != linear_def && p->op != conv_def)) continue;
    // bfloat16 (autocast): a convolution and relu only, relu as the primitive's post-op (or the
    // bf16 relu kernel right after it), the output read by relu_backward as before.
    const bool bf16_relu = pre->dtype == DType::BFloat16 && p->op == conv_def && act->op->name == "relu";
    if (pre->dtype != DType::Float32 && pre->dtype != DType::Float64 && !bf16_relu) continue;
    if (act->output()->dtype != pre->dtype || !only_user(g, pre, act)) continue;
    Attrs attrs = p->attrs;
    if (!activation_attrs(act, attrs)) continue;
    const bool is_linear = p->op == linear_def;
    std::vector<Value*> inputs = p->inputs;
    if (bias_add) inputs[2] = bias;
    Node* n = g.add_node(op(is_linear ? "linear_act" : "conv2d_act"), inputs, attrs,
                         p->name.empty() ? act->name : p->name);
    g.move_before(n, bias_add ? bias_add : p);  // after the bias's producer
    g.replace_all_uses(act->output(), n->output());
    g.remove_node(act);
    if (bias_add) {
      g.remove_node(bias_add);
      result.add("fused_bias_add");
    }
    g.remove_node(p);
    result.add(is_linear ? "fused_linear_act" : "fused_conv2d_act");
  }
  return result;
}

}  // namespace tandem::graph
