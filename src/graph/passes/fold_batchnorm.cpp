// fold_batchnorm (inference only): conv2d / linear followed by an evaluation-mode
// batch_norm becomes the conv2d / linear alone, with a folded weight and bias computed
// now and stored as new Constants:
//   s  = gamma / sqrt(running_var + eps)
//   w' = w * s (per output channel),  b' = (b - running_mean) * s + beta
// The arithmetic runs in float64 and is cast back to the weight's dtype.
// Leaves alone: training-mode batch_norm (batch statistics), a batch_norm whose extra
// outputs (mean, rstd, var) are read, a conv/linear output read by anything else (e.g.
// a backward node), parameters or statistics that the graph updates (a training step),
// Op-produced weights, linear outputs whose channel dim is not dim 1 (rank != 2),
// and non-float dtypes.
// NOTE: folding reads the variables' current contents: the graph is frozen at that point
// (run it only on inference graphs, PipelineOptions::inference).
#include <vector>

#include "fusion_util.h"
#include "tandem/autograd.h"
#include "tandem/graph/fusion.h"
#include "tandem/ops.h"

namespace tandem::graph {

using namespace fusion_detail;

PassResult run_fold_batchnorm(Graph& g) {
  PassResult result;
  const OpDef* bn_def = find_op("batch_norm");
  const OpDef* conv_def = find_op("conv2d");
  const OpDef* linear_def = find_op("linear");
  std::vector<Node*> nodes = g.nodes();
  for (Node* bn : nodes) {
    if (bn->op != bn_def || bn->attrs.get_or<bool>("training", true)) continue;
    Value* y = bn->inputs[0];
    Node* p = y->producer;
    if (p == nullptr || (p->op != conv_def && p->op != linear_def)) continue;
    if (!only_user(g, y, bn)) continue;
    bool extras_unused = true;
    for (size_t i = 1; i < bn->outputs.size(); ++i) extras_unused &= unused(g, bn->outputs[i]);
    if (!extras_unused) continue;
    if (p->op == linear_def && y->shape.size() != 2) continue;
    Value* w = p->inputs[1];
    Value* b = p->inputs.size() > 2 ? p->inputs[2] : nullptr;
    if (!frozen(g, w) || !frozen(g, b) || w == nullptr) continue;
    bool ok = true;
    for (int i = 1; i <= 4; ++i) ok &= frozen(g, bn->inputs[i]);
    if (!ok || bn->inputs[1] == nullptr || bn->inputs[2] == nullptr) continue;
    DType dt = w->dtype;
    if (dt != DType::Float32 && dt != DType::Float64) continue;
    if (y->dtype != dt || (b && b->dtype != dt)) continue;

    Tensor wf, bf;
    {
      NoGradGuard no_grad;
      auto f64 = [](const Value* v) { return v->data.to(DType::Float64); };
      const int64_t O = w->data.size(0);
      Tensor mean = f64(bn->inputs[1]), var = f64(bn->inputs[2]);
      Tensor gamma = bn->inputs[3] ? f64(bn->inputs[3]) : ones({O}, {.dtype = DType::Float64});
      Tensor beta = bn->inputs[4] ? f64(bn->inputs[4]) : zeros({O}, {.dtype = DType::Float64});
      Tensor s = gamma / sqrt(var + bn->attrs.get_or<double>("eps", 1e-5));
      Shape bshape(w->data.dim(), 1);
      bshape[0] = O;
      wf = (f64(w) * s.reshape(bshape)).to(dt).contiguous();
      Tensor b0 = b ? f64(b) : zeros({O}, {.dtype = DType::Float64});
      bf = ((b0 - mean) * s + beta).to(dt).contiguous();
    }
    Value* wc = g.add_constant(wf, w->name.empty() ? "" : w->name + ".folded");
    Value* bc = g.add_constant(bf, b && !b->name.empty() ? b->name + ".folded" : "");
    Node* n = g.add_node(*p->op, {p->inputs[0], wc, bc}, p->attrs, p->name);
    g.move_before(n, p);
    g.replace_all_uses(bn->output(0), n->output());
    g.remove_node(bn);
    g.remove_node(p);
    result.add("folded_batch_norms");
  }
  return result;
}

}  // namespace tandem::graph
