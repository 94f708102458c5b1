// fuse_hardswish: hard-swish as importers write it (ONNX HardSwish: y * clamp(y * (1/6) + 0.5,
// 0, 1); also y / 6, either operand order) on the output y of a linear / conv2d that nothing
// else reads becomes linear_act / conv2d_act with act "hardswish": oneDNN's eltwise_hardswish
// post-op, in the blocked convolutions too (MobileNetV3 writes one after most convolutions).
// Leaves alone: other slopes and offsets (hard-sigmoid's 0.2), a y or an inner value read
// elsewhere or escaping, dtypes other than float32/float64. Runs after fuse_matmul_act (which
// leaves a y with two readers alone); tandem-lite's conversion runs it too (lite's fused
// hardswish activation).
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "fusion_util.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

using namespace fusion_detail;

namespace {

// The one element of constant v, if it is one.
std::optional<double> hs_scalar(const Value* v) {
  if (v == nullptr || !v->is_constant() || !v->data.defined() || v->data.numel() != 1) return std::nullopt;
  return v->data.to(DType::Float64).contiguous().data<double>()[0];
}

bool hs_near(std::optional<double> v, double want) { return v && std::abs(*v - want) <= 1e-6 * std::abs(want); }

// The hard-swish y * clamp(y * (1/6) + 0.5, 0, 1) (either operand order; y / 6 too) rooted at mul
// node m: y and the three inner nodes (scale, shift, clamp), each read only by the next.
struct HardSwishMatch {
  Value* y = nullptr;
  std::vector<Node*> inner;
};

std::optional<HardSwishMatch> hardswish_at(const Graph& g, Node* m) {
  if (m->op->name != "mul" || m->inputs.size() != 2 || m->outputs.size() != 1) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    Value *y = m->inputs[i], *h = m->inputs[1 - i];
    Node* c = h ? h->producer : nullptr;
    if (y == nullptr || c == nullptr || c->op->name != "clamp" || !only_user(g, h, m)) continue;
    if (c->attrs.get_or<double>("min", -1) != 0.0 || c->attrs.get_or<double>("max", 0) != 1.0) continue;
    Node* a = c->inputs[0] ? c->inputs[0]->producer : nullptr;
    if (a == nullptr || a->op->name != "add" || a->inputs.size() != 2 || !only_user(g, c->inputs[0], c)) continue;
    if (a->attrs.get_or<double>("alpha", 1.0) != 1.0) continue;
    for (int j = 0; j < 2; ++j) {
      Value *t = a->inputs[j], *half = a->inputs[1 - j];
      Node* s = t ? t->producer : nullptr;
      if (s == nullptr || !hs_near(hs_scalar(half), 0.5) || !only_user(g, t, a) || s->inputs.size() != 2) continue;
      const bool scaled = s->op->name == "mul" && ((s->inputs[0] == y && hs_near(hs_scalar(s->inputs[1]), 1.0 / 6)) ||
                                                   (s->inputs[1] == y && hs_near(hs_scalar(s->inputs[0]), 1.0 / 6)));
      const bool divided = s->op->name == "div" && s->inputs[0] == y && hs_near(hs_scalar(s->inputs[1]), 6.0);
      if (scaled || divided) return HardSwishMatch{y, {s, a, c}};
    }
  }
  return std::nullopt;
}

}  // namespace

PassResult run_fuse_hardswish(Graph& g) {
  PassResult result;
  const OpDef* linear_def = find_op("linear");
  const OpDef* conv_def = find_op("conv2d");
  const std::vector<Node*> nodes = g.nodes();  // a pattern removes only nodes before its mul
  for (Node* m : nodes) {
    if (m->op->name != "mul") continue;
    auto hs = hardswish_at(g, m);
    if (!hs) continue;
    Value* y = hs->y;
    Node* p = y->producer;
    if (p == nullptr || (p->op != linear_def && p->op != conv_def) || escapes(g, y) || y->users.size() != 2) continue;
    if (y->dtype != DType::Float32 && y->dtype != DType::Float64) continue;
    if (!((y->users[0] == m && y->users[1] == hs->inner[0]) || (y->users[1] == m && y->users[0] == hs->inner[0])))
      continue;
    Attrs attrs = p->attrs;
    attrs.set("act", std::string("hardswish"));
    const bool is_linear = p->op == linear_def;
    Node* n = g.add_node(op(is_linear ? "linear_act" : "conv2d_act"), p->inputs, attrs, p->name.empty() ? m->name : p->name);
    if (n->output()->shape != m->output()->shape || n->output()->dtype != m->output()->dtype) {
      g.remove_node(n);  // shape rules disagree (should not happen): keep the pattern
      continue;
    }
    g.move_before(n, p);
    g.replace_all_uses(m->output(), n->output());
    g.remove_node(m);
    for (auto it = hs->inner.rbegin(); it != hs->inner.rend(); ++it) g.remove_node(*it);
    g.remove_node(p);
    result.add(is_linear ? "fused_linear_hardswish" : "fused_conv2d_hardswish");
  }
  return result;
}

}  // namespace tandem::graph
