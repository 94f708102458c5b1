// fuse_matmul_act: linear / conv2d (bias included) followed by an activation (relu, gelu,
// sigmoid, tanh, silu, leaky_relu, clamp) becomes one "linear_act" / "conv2d_act" node whose
// kernel applies the activation to the output while it is still in cache.
// Leaves alone: a pre-activation value read by anything else (a backward node such as
// gelu_backward, a second consumer, a graph output or update), dtypes other than
// float32/float64, and matmul (no weight layout to fuse; linear covers the MLP case).
// Forward only: the fused ops have no backward formula, which the user check guarantees
// is never needed.
#include <limits>
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

}  // namespace

PassResult run_fuse_matmul_act(Graph& g) {
  PassResult result;
  const OpDef* linear_def = find_op("linear");
  const OpDef* conv_def = find_op("conv2d");
  std::vector<Node*> nodes = g.nodes();
  for (Node* act : nodes) {
    if (act->inputs.size() != 1 || act->inputs[0] == nullptr) continue;
    Value* pre = act->inputs[0];
    Node* p = pre->producer;
    if (p == nullptr || (p->op != linear_def && p->op != conv_def)) continue;
    if (pre->dtype != DType::Float32 && pre->dtype != DType::Float64) continue;
    if (act->output()->dtype != pre->dtype || !only_user(g, pre, act)) continue;
    Attrs attrs = p->attrs;
    if (!activation_attrs(act, attrs)) continue;
    const bool is_linear = p->op == linear_def;
    Node* n = g.add_node(op(is_linear ? "linear_act" : "conv2d_act"), p->inputs, attrs,
                         p->name.empty() ? act->name : p->name);
    g.move_before(n, p);
    g.replace_all_uses(act->output(), n->output());
    g.remove_node(act);
    g.remove_node(p);
    result.add(is_linear ? "fused_linear_act" : "fused_conv2d_act");
  }
  return result;
}

}  // namespace tandem::graph
