// Algebraic simplification: removes nodes that compute their input unchanged and collapses
// chains of views into one node.
//
//   x * 1, 1 * x, x / 1             -> x      (1: a constant whose every element is 1)
//   x + 0, 0 + x, x - 0             -> x      (0 + alpha * x only for alpha == 1)
//   neg(neg(x))                     -> x
//   permute(permute(x, p), q)       -> permute(x, p∘q), or x when that is the identity
//   reshape(reshape(x, a), b)       -> reshape(x, b), or x when b is x's shape
//   expand(expand(x, a), b)         -> expand(x, b)      (chains of any length collapse)
//   reshape / expand / permute that keep x's shape (identity permutation) -> x
//   clone(x), to(x, same dtype)     -> x       when x is a fresh buffer (a kernel's output)
//   0.5 * x * (1 + erf(x / √2))     -> gelu(x) (the three factors in any order and grouping,
//                                    x / √2 also as x * (1/√2): exact GELU as ONNX exporters
//                                    write it, which then runs as one kernel or a oneDNN post-op)
//   x * sigmoid(x), sigmoid(x) * x  -> silu(x) (SiLU / swish as exporters write it)
//
// Leaves alone: any rewrite that would change the result's dtype or shape, so broadcasting
// stays (x + zeros([4, 3]) with x of shape [3] is a broadcast, not a no-op) and so does
// promotion (int x * 1.0 is a float); a rewrite that would make a graph output or update
// alias an input, a variable, a view or another result (can_forward). x + 0 gives +0 for
// x = -0 while x does not; this is the one rewrite that is not bit-exact, as in XLA.
#include <cmath>
#include <numeric>
#include <string>

#include "tandem/graph/passes.h"

namespace tandem::graph {

namespace {

bool all_equal(const Value* v, double k) {
  if (!v || !v->is_constant()) return false;
  Tensor t = v->data.to(DType::Float64).contiguous();
  const double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] != k) return false;
  return true;
}

bool is_op(const Value* v, const char* name) {
  return v && v->kind == Value::Kind::Op && v->producer && v->producer->op->name == name;
}

// A constant whose every element is within a relative 1e-6 of k (exporters round √2 and 1/√2
// to float32).
bool all_near(const Value* v, double k) {
  if (!v || !v->is_constant()) return false;
  Tensor t = v->data.to(DType::Float64).contiguous();
  const double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!(std::abs(p[i] - k) <= 1e-6 * std::abs(k))) return false;
  return t.numel() > 0;
}

// x when v is x / √2 or x * (1/√2) (either order), else null.
Value* gelu_scaled_input(Value* v) {
  if (is_op(v, "div") && all_near(v->producer->inputs[1], std::sqrt(2.0))) return v->producer->inputs[0];
  if (!is_op(v, "mul")) return nullptr;
  Node* m = v->producer;
  for (int i = 0; i < 2; ++i)
    if (all_near(m->inputs[1 - i], std::sqrt(0.5))) return m->inputs[i];
  return nullptr;
}

// x when v is 1 + erf(x / √2) (either order of the add), else null.
Value* gelu_erf_term(Value* v) {
  if (!is_op(v, "add") || v->producer->attrs.get_or<double>("alpha", 1.0) != 1.0) return nullptr;
  Node* a = v->producer;
  for (int i = 0; i < 2; ++i) {
    Value* e = a->inputs[i];
    if (all_near(a->inputs[1 - i], 1.0) && is_op(e, "onnx_unary") &&
        e->producer->attrs.get_or<std::string>("fn", "") == "erf")
      return gelu_scaled_input(e->producer->inputs[0]);
  }
  return nullptr;
}

// x when n (a mul) computes 0.5 * x * (1 + erf(x / √2)) with the three factors in any order
// and grouping, else null.
Value* gelu_product(const Node* n) {
  std::vector<Value*> f;
  for (Value* v : n->inputs) {
    if (is_op(v, "mul")) f.insert(f.end(), v->producer->inputs.begin(), v->producer->inputs.end());
    else f.push_back(v);
  }
  if (f.size() != 3) return nullptr;
  for (int half = 0; half < 3; ++half) {
    if (!all_near(f[half], 0.5)) continue;
    for (int term = 0; term < 3; ++term) {
      if (term == half) continue;
      Value* x = f[3 - half - term];
      if (gelu_erf_term(f[term]) == x) return x;
    }
  }
  return nullptr;
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i)) return false;
  return true;
}

std::vector<int64_t> wrapped_perm(const std::vector<int64_t>& p) {
  std::vector<int64_t> out(p);
  const auto n = static_cast<int64_t>(p.size());
  for (int64_t& d : out)
    if (d < 0) d += n;
  return out;
}

class Simplifier {
 public:
  explicit Simplifier(Graph& g) : g_(g) {}

  PassResult run() {
    std::vector<Node*> order = g_.nodes();
    for (Node* n : order) visit(n);
    return result_;
  }

 private:
  // Every use of n's output reads `to` instead; n goes.
  bool forward(Node* n, Value* to, const char* rule) {
    if (!can_forward(g_, n->output(), to)) return false;
    g_.replace_all_uses(n->output(), to);
    g_.remove_node(n);
    result_.add(rule);
    return true;
  }

  // n is replaced by a new node computing the same value from other inputs.
  void replace_with(Node* n, const OpDef& def, std::vector<Value*> inputs, const Attrs& attrs,
                    const char* rule) {
    Node* m = g_.add_node(def, inputs, attrs, n->name);
    if (!(m->output()->dtype == n->output()->dtype && m->output()->shape == n->output()->shape)) {
      // Shape rules disagree (should not happen): keep the original.
      g_.remove_node(m);
      return;
    }
    g_.move_before(m, n);
    g_.replace_all_uses(n->output(), m->output());
    g_.remove_node(n);
    result_.add(rule);
  }

  void visit(Node* n) {
    const std::string& op = n->op->name;
    if (n->outputs.size() != 1) return;
    Value* out = n->output();
    auto in = [&](size_t i) { return i < n->inputs.size() ? n->inputs[i] : nullptr; };

    if (op == "mul") {
      if (all_equal(in(1), 1.0) && forward(n, in(0), "mul_by_one")) return;
      if (all_equal(in(0), 1.0) && forward(n, in(1), "mul_by_one")) return;
      for (int i = 0; i < 2; ++i) {
        Value* s = in(1 - i);
        if (is_op(s, "sigmoid") && s->producer->inputs[0] == in(i) &&
            (in(i)->dtype == DType::Float32 || in(i)->dtype == DType::Float64)) {
          replace_with(n, *find_op("silu"), {in(i)}, Attrs{}, "sigmoid_mul_silu");
          return;
        }
      }
      if (Value* x = gelu_product(n)) {
        if (const OpDef* gelu = find_op("gelu"); gelu && (x->dtype == DType::Float32 || x->dtype == DType::Float64))
          replace_with(n, *gelu, {x}, Attrs{}, "erf_gelu");
      }
    } else if (op == "div") {
      if (all_equal(in(1), 1.0)) forward(n, in(0), "div_by_one");
    } else if (op == "add") {
      if (all_equal(in(1), 0.0) && forward(n, in(0), "add_zero")) return;
      if (all_equal(in(0), 0.0) && n->attrs.get_or<double>("alpha", 1.0) == 1.0)
        forward(n, in(1), "add_zero");
    } else if (op == "sub") {
      if (all_equal(in(1), 0.0)) forward(n, in(0), "sub_zero");
    } else if (op == "neg") {
      if (is_op(in(0), "neg")) forward(n, in(0)->producer->inputs[0], "neg_neg");
    } else if (op == "permute") {
      auto perm = wrapped_perm(n->attrs.get<std::vector<int64_t>>("dims"));
      if (is_identity(perm)) {
        forward(n, in(0), "identity_permute");
      } else if (is_op(in(0), "permute")) {
        // Through the whole chain: out[i] = inner[perm[i]] = x[inner_perm[perm[i]]].
        std::vector<int64_t> composed = perm;
        Value* x = in(0);
        while (is_op(x, "permute")) {
          auto inner_perm = wrapped_perm(x->producer->attrs.get<std::vector<int64_t>>("dims"));
          for (int64_t& d : composed) d = inner_perm[d];
          x = x->producer->inputs[0];
        }
        if (is_identity(composed)) {
          forward(n, x, "permute_chain");
        } else {
          replace_with(n, *n->op, {x}, Attrs{{"dims", composed}}, "permute_chain");
        }
      }
    } else if (op == "reshape") {
      Value* x = in(0);
      while (is_op(x, "reshape")) x = x->producer->inputs[0];
      if (x->dtype == out->dtype && x->shape == out->shape) {
        if (forward(n, x, x == in(0) ? "identity_reshape" : "reshape_chain")) return;
      }
      // The outer reshape's own attribute applies to x too: same element count.
      if (x != in(0)) replace_with(n, *n->op, {x}, n->attrs, "reshape_chain");
    } else if (op == "expand") {
      Value* x = in(0);
      if (x->shape == out->shape) {
        forward(n, x, "identity_expand");
      } else if (is_op(x, "expand") && is_static(out->shape)) {
        while (is_op(x, "expand")) x = x->producer->inputs[0];
        replace_with(n, *n->op, {x}, Attrs{{"shape", static_shape(out->shape)}}, "expand_chain");
      }
    } else if (op == "clone" || (op == "to" && in(0)->dtype == out->dtype)) {
      Value* x = in(0);
      if (x->kind == Value::Kind::Op && x->producer && !x->producer->op->view)
        forward(n, x, op == "clone" ? "clone_of_fresh" : "to_same_dtype");
    }
  }

  Graph& g_;
  PassResult result_;
};

}  // namespace

PassResult run_simplify(Graph& g) { return Simplifier(g).run(); }

}  // namespace tandem::graph
