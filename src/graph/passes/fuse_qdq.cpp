// fuse_qdq: the QDQ form of a quantized layer, as ONNX quantizers write it,
//   quantize_linear(relu?(conv2d | linear(dequantize_linear(x_q), dequantize_linear(w_q), bias)))
// becomes one qlinear_conv2d / qlinear_linear node (src/ops/defs/qlinear.cpp): integer
// accumulation of x_q and w_q, then one requantization to the quantize_linear's scale and
// zero point. Results differ from the float evaluation of the QDQ graph by at most one
// quantization step (rounding of the float sum vs the requantized integer one).
// Needs: per-tensor x, y scales (one value); w per tensor or per output channel (axis 0);
// the float pre-activation value read only by the relu / quantize_linear. Leaves alone
// anything else, including conv2d with a non-constant weight.
// Runs before const_fold, which would otherwise fold dequantize_linear(constant w_q) into a
// float weight; the dequantize_linear nodes it bypasses are left to dce.
#include "fusion_util.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

using namespace fusion_detail;

namespace {

int64_t qdq_numel(const Value* v) {
  int64_t n = 1;
  for (const Dim& d : v->shape) {
    if (!d.is_static()) return -1;
    n *= d.value;
  }
  return n;
}

// The dequantize_linear node producing v with the given per-axis rule, or null.
Node* qdq_dequant(const Value* v, const OpDef* dq, bool per_tensor_only, int64_t channel_axis) {
  if (v == nullptr || v->producer == nullptr || v->producer->op != dq) return nullptr;
  Node* n = v->producer;
  int64_t ns = qdq_numel(n->inputs[1]);
  if (ns == 1) return n;
  if (per_tensor_only || ns < 1) return nullptr;
  int64_t axis = n->attrs.get_or<int64_t>("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(v->shape.size());
  return axis == channel_axis ? n : nullptr;
}

}  // namespace

PassResult run_fuse_qdq(Graph& g) {
  PassResult result;
  const OpDef* q_def = find_op("quantize_linear");
  const OpDef* dq_def = find_op("dequantize_linear");
  const OpDef* conv_def = find_op("conv2d");
  const OpDef* linear_def = find_op("linear");
  const OpDef* relu_def = find_op("relu");
  std::vector<Node*> nodes = g.nodes();
  for (Node* q : nodes) {
    if (q->op != q_def || qdq_numel(q->inputs[1]) != 1) continue;
    if (q->inputs[2] == nullptr) continue;  // the fused op reads the output dtype from y_zp
    Value* pre = q->inputs[0];
    Node* p = pre->producer;
    Node* relu = nullptr;
    if (p != nullptr && p->op == relu_def) {
      if (!only_user(g, pre, q)) continue;
      relu = p;
      pre = p->inputs[0];
      p = pre->producer;
    }
    if (p == nullptr || (p->op != conv_def && p->op != linear_def)) continue;
    if (!only_user(g, pre, relu ? relu : q) || pre->dtype != DType::Float32) continue;
    Node* dx = qdq_dequant(p->inputs[0], dq_def, true, 0);
    Node* dw = qdq_dequant(p->inputs[1], dq_def, false, 0);
    if (dx == nullptr || dw == nullptr || !frozen(g, dw->inputs[0])) continue;
    Value* bias = p->inputs.size() > 2 ? p->inputs[2] : nullptr;
    if (bias != nullptr && bias->dtype != DType::Float32) continue;
    Attrs attrs;
    const bool conv = p->op == conv_def;
    if (conv) {
      auto pad = p->attrs.get_or<std::vector<int64_t>>("padding", {0, 0});
      if (pad.size() != 2) continue;
      attrs.set("stride", p->attrs.get_or<std::vector<int64_t>>("stride", {1, 1}))
          .set("padding", std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]})
          .set("dilation", p->attrs.get_or<std::vector<int64_t>>("dilation", {1, 1}))
          .set("groups", p->attrs.get_or<int64_t>("groups", 1));
    }
    attrs.set("act", std::string(relu ? "relu" : "none"));
    std::vector<Value*> ins = {dx->inputs[0], dx->inputs[1], dx->inputs[2], dw->inputs[0], dw->inputs[1],
                               dw->inputs[2], q->inputs[1],  q->inputs[2],  bias};
    Node* n = g.add_node(op(conv ? "qlinear_conv2d" : "qlinear_linear"), ins, attrs, p->name.empty() ? q->name : p->name);
    g.move_before(n, q);
    g.replace_all_uses(q->output(), n->output());
    g.remove_node(q);
    if (relu) g.remove_node(relu);
    g.remove_node(p);
    result.add(conv ? "fused_qlinear_conv2d" : "fused_qlinear_linear");
  }
  return result;
}

}  // namespace tandem::graph
