// fuse_elementwise: a connected region of float32 elementwise ops whose intermediate values
// are read only inside the region becomes one "fused_elementwise" node. Its attributes hold
// a register program (src/backend/cpu/fused.h) that the CPU kernel runs over blocks of 512
// elements in cache: each input is read once, the result written once, and no intermediate
// tensor is allocated. A single sum/mean over the last dim that is the region's only
// consumer is fused in as a trailing reduction.
// Inputs may broadcast (a bias [C] against [N, C]); single-element Constants (scalars such
// as the 2 in x * 2) become immediates of the program. Only values of the root's shape are
// computed inside a region: a smaller one that broadcasts in is an input (computed once).
// Leaves alone: non-float32 values (other dtypes stay unfused), ops outside the table below
// (comparisons, where, casts, views), values read outside the region (graph outputs, updates,
// backward nodes: they keep their own node), regions of one op without a reduction, and
// regions larger than kMaxRegion nodes (split into several).
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/cpu/fused.h"
#include "fusion_util.h"
#include "tandem/autograd.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

using namespace fusion_detail;

namespace {

constexpr size_t kMaxRegion = 32;

struct Prim {
  int kind;  // 0 unary, 1 binary
  int code;
};

// The primitive for a node (and its alpha/p0/p1), or false when the op is not in the table.
bool primitive(const Node* n, Prim& prim, double params[3]) {
  using U = cpu::Unary;
  using B = cpu::Binary;
  static const std::map<std::string, Prim> table = {
      {"neg", {0, int(U::Neg)}},       {"exp", {0, int(U::Exp)}},         {"log", {0, int(U::Log)}},
      {"log1p", {0, int(U::Log1p)}},   {"sqrt", {0, int(U::Sqrt)}},       {"rsqrt", {0, int(U::Rsqrt)}},
      {"abs", {0, int(U::Abs)}},       {"sign", {0, int(U::Sign)}},       {"sin", {0, int(U::Sin)}},
      {"cos", {0, int(U::Cos)}},       {"tanh", {0, int(U::Tanh)}},       {"sigmoid", {0, int(U::Sigmoid)}},
      {"relu", {0, int(U::Relu)}},     {"leaky_relu", {0, int(U::LeakyRelu)}},
      {"gelu", {0, int(U::Gelu)}},     {"silu", {0, int(U::Silu)}},       {"softplus", {0, int(U::Softplus)}},
      {"clamp", {0, int(U::Clamp)}},   {"add", {1, int(B::Add)}},         {"sub", {1, int(B::Sub)}},
      {"mul", {1, int(B::Mul)}},       {"div", {1, int(B::Div)}},         {"pow", {1, int(B::Pow)}},
      {"minimum", {1, int(B::Minimum)}}, {"maximum", {1, int(B::Maximum)}},
      // Backward formulas of the activations (training graphs): (grad, saved value).
      {"tanh_backward", {1, int(B::TanhBackward)}}, {"sigmoid_backward", {1, int(B::SigmoidBackward)}},
      {"relu_backward", {1, int(B::ReluBackward)}}, {"gelu_backward", {1, int(B::GeluBackward)}},
      {"silu_backward", {1, int(B::SiluBackward)}},
  };
  auto it = table.find(n->op->name);
  if (it == table.end()) return false;
  prim = it->second;
  const Attrs& a = n->attrs;
  const double inf = std::numeric_limits<double>::infinity();
  params[0] = a.get_or<double>("alpha", 1.0);
  params[1] = params[2] = 0.0;
  const std::string& name = n->op->name;
  if (name == "gelu" && a.get_or<std::string>("approximate", "none") == "tanh") prim.code = int(U::GeluTanh);
  if (name == "gelu_backward" && a.get_or<std::string>("approximate", "none") == "tanh")
    prim.code = int(cpu::Binary::GeluTanhBackward);
  if (name == "leaky_relu") params[1] = a.get_or<double>("negative_slope", 0.01);
  if (name == "softplus") {
    params[1] = a.get_or<double>("beta", 1.0);
    params[2] = a.get_or<double>("threshold", 20.0);
  }
  if (name == "clamp") {
    params[1] = a.get_or<double>("min", -inf);
    params[2] = a.get_or<double>("max", inf);
  }
  return true;
}

bool immediate(const Value* v) {
  return v->kind == Value::Kind::Constant && v->data.defined() && v->data.numel() == 1 &&
         is_floating(v->data.dtype());
}

bool fusable(const Node* n) {
  Prim prim;
  double params[3];
  if (n->outputs.size() != 1 || n->output()->dtype != DType::Float32) return false;
  if (!primitive(n, prim, params)) return false;
  if (static_cast<int>(n->inputs.size()) != prim.kind + 1) return false;
  for (const Value* v : n->inputs)
    if (v == nullptr || (v->dtype != DType::Float32 && !immediate(v))) return false;
  return true;
}

// The trailing sum/mean over the last dim that may join a region rooted at `root`.
Node* trailing_reduction(const Graph& g, const Node* root) {
  const Value* v = root->output();
  if (v->users.size() != 1 || escapes(g, v) || v->shape.empty()) return nullptr;
  Node* r = v->users[0];
  if (r->op->name != "sum" && r->op->name != "mean") return nullptr;
  if (r->inputs.size() != 1 || r->output()->dtype != DType::Float32 || r->attrs.has("dtype")) return nullptr;
  const auto& dims = r->attrs.get_or<std::vector<int64_t>>("dims", {});
  const int64_t rank = static_cast<int64_t>(v->shape.size());
  if (dims.size() != 1 || (dims[0] != -1 && dims[0] != rank - 1)) return nullptr;
  return r;
}

}  // namespace

PassResult run_fuse_elementwise(Graph& g) {
  PassResult result;
  std::set<const Node*> taken;
  std::vector<Node*> order = g.nodes();
  std::map<const Node*, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;

  for (auto rit = order.rbegin(); rit != order.rend(); ++rit) {
    Node* root = *rit;
    if (taken.count(root) || !fusable(root)) continue;
    // Grow backwards to a fixpoint: a producer joins when every reader of its output is in.
    std::set<Node*> region{root};
    for (bool grew = true; grew && region.size() < kMaxRegion;) {
      grew = false;
      for (Node* n : std::vector<Node*>(region.begin(), region.end())) {
        for (Value* v : n->inputs) {
          Node* q = v->producer;
          if (q == nullptr || region.count(q) || taken.count(q) || !fusable(q) || escapes(g, v)) continue;
          // A value that broadcasts into the region (squeeze-excitation's [N, C, 1, 1] gate against
          // [N, C, H, W]) stays out: inside, its producers would run once per element it reaches.
          if (v->shape != root->output()->shape) continue;
          bool inside = std::all_of(v->users.begin(), v->users.end(), [&](Node* u) { return region.count(u) != 0; });
          if (!inside || region.size() >= kMaxRegion) continue;
          region.insert(q);
          grew = true;
        }
      }
    }
    Node* reduction = trailing_reduction(g, root);
    if (region.size() < 2 && reduction == nullptr) continue;

    std::vector<Node*> members(region.begin(), region.end());
    std::sort(members.begin(), members.end(), [&](Node* a, Node* b) { return pos[a] < pos[b]; });
    // Operands: external inputs, immediates, registers (reused once their last reader ran).
    std::vector<Value*> inputs;
    std::vector<double> imms;
    std::map<const Value*, int64_t> operand, uses;
    for (Node* n : members)
      for (Value* v : n->inputs) ++uses[v];
    std::vector<int64_t> free_regs;
    int64_t nregs = 0;
    std::vector<int64_t> code;
    std::vector<double> params;
    for (Node* n : members) {
      Prim prim;
      double pr[3];
      primitive(n, prim, pr);
      int64_t ops[2] = {0, 0};
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        Value* v = n->inputs[i];
        auto it = operand.find(v);
        if (it == operand.end()) {
          if (immediate(v)) {
            NoGradGuard no_grad;
            imms.push_back(v->data.to(DType::Float64).item<double>());
            it = operand.emplace(v, cpu::kImmBase + int64_t(imms.size()) - 1).first;
          } else {
            inputs.push_back(v);
            it = operand.emplace(v, cpu::kInputBase + int64_t(inputs.size()) - 1).first;
          }
        }
        ops[i] = it->second;
      }
      for (Value* v : n->inputs)
        if (--uses[v] == 0 && operand[v] < cpu::kInputBase) free_regs.push_back(operand[v]);
      int64_t dst = -1;
      if (n != root) {
        if (free_regs.empty()) {
          dst = nregs++;
        } else {
          dst = free_regs.back();
          free_regs.pop_back();
        }
        operand[n->output()] = dst;
      }
      code.insert(code.end(), {prim.kind, prim.code, dst, ops[0], ops[1]});
      params.insert(params.end(), pr, pr + 3);
    }
    if (inputs.empty()) continue;  // all constant: const_fold's job
    Attrs attrs;
    attrs.set("code", code).set("params", params).set("imms", imms).set("nregs", nregs);
    Node* last = root;
    if (reduction) {
      attrs.set("reduce", int64_t{reduction->op->name == "mean" ? 2 : 1})
          .set("keepdim", reduction->attrs.get_or<bool>("keepdim", false));
      last = reduction;
    }
    Node* fused = g.add_node(op("fused_elementwise"), inputs, attrs, root->name);
    if (!(fused->output()->shape == last->output()->shape)) {  // a scalar constant widened the shape
      g.remove_node(fused);
      continue;
    }
    g.move_before(fused, root);
    g.replace_all_uses(last->output(), fused->output());
    if (reduction) {
      g.remove_node(reduction);
      taken.insert(reduction);  // `order` still lists it: never look at it again
    }
    for (auto it = members.rbegin(); it != members.rend(); ++it) {
      g.remove_node(*it);
      taken.insert(*it);
    }
    result.add("fused_regions");
    result.add("fused_nodes", static_cast<int64_t>(members.size()));
    if (reduction) result.add("fused_reductions");
  }
  return result;
}

}  // namespace tandem::graph
