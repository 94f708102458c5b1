// Differential testing of graph passes: random DAGs and a reference evaluator.
//
//   for (uint64_t seed = 0; seed < 200; ++seed) {
//     RandomGraph ref = random_graph(seed), opt = random_graph(seed);  // two identical graphs
//     run_cse(opt.g);
//     EXPECT_TRUE(same_results(ref, opt));   // evaluates both, compares outputs and updates
//   }
//
// The graphs mix elementwise ops (with broadcasting, promotion to float64, wrapped scalars),
// reductions, matmul, reshape/permute/expand views, clone and dropout, plus the patterns
// the passes look for: identity constants (all ones / zeros, sometimes of a larger,
// broadcasting shape), double permutes and reshape chains, neg(neg x), repeated nodes,
// subgraphs of constants, dead nodes, variables with updates.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <unordered_map>

#include "tandem/graph/ir.h"
#include "tandem/graph/passes.h"
#include "tandem/tandem.h"
#include "test_util.h"

namespace tandem::graph::testing {

// Runs every node through dispatch (eager kernels, no passes): the reference executor.
// Random ops draw from the default generator seeded with `seed` first.
struct EvalResult {
  std::vector<Tensor> outputs;
  std::vector<Tensor> updates;  // the new value of each update, in g.updates() order
};

inline EvalResult eval_graph(const Graph& g, const std::vector<Tensor>& inputs, uint64_t seed = 1) {
  NoGradGuard no_grad;
  DispatchInterceptor* prev = set_dispatch_interceptor(nullptr);
  manual_seed(seed);
  std::unordered_map<const Value*, Tensor> env;
  EXPECT_EQ(inputs.size(), g.inputs().size());
  for (size_t i = 0; i < g.inputs().size(); ++i) env[g.inputs()[i]] = inputs[i];
  for (const Value* v : g.variables()) env[v] = v->data;
  for (const Value* v : g.constants()) env[v] = v->data;
  for (const Node* n : g.nodes()) {
    std::vector<Tensor> args;
    for (const Value* in : n->inputs) args.push_back(in ? env.at(in) : Tensor());
    std::vector<Tensor> outs = dispatch(*n->op, args, n->attrs);
    for (size_t i = 0; i < outs.size(); ++i) env[n->outputs[i]] = outs[i];
  }
  EvalResult r;
  for (const Value* o : g.outputs()) r.outputs.push_back(env.at(o).contiguous());
  for (const auto& u : g.updates()) r.updates.push_back(env.at(u.second).contiguous());
  set_dispatch_interceptor(prev);
  return r;
}

struct RandomGraph {
  Graph g;
  std::vector<Tensor> inputs;
};

struct RandomGraphOptions {
  int min_ops = 6, max_ops = 24;
  bool dropout = true;
};

class RandomGraphBuilder {
 public:
  RandomGraphBuilder(uint64_t seed, RandomGraphOptions opts) : rng_(seed), gen_(seed + 17), opts_(opts) {}

  RandomGraph build() {
    int num_inputs = uniform(1, 3);
    for (int i = 0; i < num_inputs; ++i) {
      DType dt = chance(0.15) ? DType::Float64 : DType::Float32;
      Tensor t = randn(random_shape(), {.dtype = dt}, &gen_);
      pool_.push_back(r_.g.add_input(fmt::format("x{}", i), dt, sym_shape(t.shape())));
      r_.inputs.push_back(t);
    }
    if (chance(0.5)) pool_.push_back(r_.g.add_variable("w", randn(random_shape(), {}, &gen_)));
    int steps = uniform(opts_.min_ops, opts_.max_ops);
    for (int i = 0; i < steps; ++i) step();
    finish();
    return std::move(r_);
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <class T>
  T pick(const std::vector<T>& v) { return v[uniform(0, static_cast<int>(v.size()) - 1)]; }

  Shape random_shape() {
    Shape s(uniform(1, 3));
    for (int64_t& d : s) d = uniform(1, 4);
    return s;
  }
  Value* any_value() { return chance(0.5) ? pool_.back() : pick(pool_); }
  Value* add(const char* name, std::vector<Value*> in, Attrs attrs = {}) {
    Value* v = r_.g.add_node(op(name), in, attrs)->output();
    pool_.push_back(v);
    return v;
  }
  Value* constant(const Shape& s, DType dt = DType::Float32) {
    return r_.g.add_constant(randn(s, {.dtype = dt}, &gen_));
  }

  // A value of the pool whose shape broadcasts with a's (a itself at worst).
  Value* compatible(Value* a) {
    Shape s = static_shape(a->shape);
    std::vector<Value*> ok;
    for (Value* v : pool_) {
      Shape t = static_shape(v->shape);
      bool fits = true;
      for (size_t i = 1; i <= std::min(s.size(), t.size()); ++i) {
        int64_t x = s[s.size() - i], y = t[t.size() - i];
        fits = fits && (x == y || x == 1 || y == 1);
      }
      if (fits) ok.push_back(v);
    }
    return pick(ok);
  }

  // A second operand that broadcasts with `a`.
  Value* operand_for(Value* a) {
    Shape s = static_shape(a->shape);
    switch (uniform(0, 7)) {
      case 0:  // another value of a compatible shape
        return compatible(a);
      case 1: {  // a constant with some dims 1, maybe fewer dims
        Shape t = s;
        for (int64_t& d : t)
          if (chance(0.4)) d = 1;
        if (!t.empty() && chance(0.3)) t.erase(t.begin());
        return constant(t, chance(0.1) ? DType::Float64 : DType::Float32);
      }
      case 2:  // identity constants: ones / zeros of a's shape or smaller
        return r_.g.add_constant(chance(0.5) ? ones(chance(0.5) ? s : Shape{1}) : zeros(s));
      case 3: {  // zeros / ones of a larger shape: a broadcast, not an identity
        Shape t = s;
        t.insert(t.begin(), 2);
        return r_.g.add_constant(chance(0.5) ? zeros(t) : ones(t));
      }
      case 4:
        return r_.g.add_constant(pick(std::vector<Tensor>{wrap_scalar(1.0), wrap_scalar(0.0), wrap_scalar(0.5),
                                                          wrap_scalar(int64_t{1}), wrap_scalar(-2.0)}));
      case 5:  // a 0-dim float64 tensor: does not promote a float32 tensor
        return r_.g.add_constant(scalar_tensor(chance(0.5) ? 1.0 : 0.75, {.dtype = DType::Float64}));
      case 6: {  // a subgraph of constants (const_fold)
        Shape t = s;
        Value* c = r_.g.add_node(op("mul"), {constant(t), r_.g.add_constant(wrap_scalar(0.5))})->output();
        return r_.g.add_node(op("tanh"), {c})->output();
      }
      default:
        return a;
    }
  }

  void step() {
    Value* a = any_value();
    Shape s = static_shape(a->shape);
    int64_t rank = static_cast<int64_t>(s.size());
    switch (uniform(0, 15)) {
      case 0:
      case 1: {
        static const std::vector<const char*> unary = {"relu", "tanh", "sigmoid", "neg", "abs"};
        add(pick(unary), {a});
        break;
      }
      case 2:
      case 3:
      case 4: {
        static const std::vector<const char*> binary = {"add", "sub", "mul", "maximum", "add"};
        const char* name = pick(binary);
        Value* b = operand_for(a);
        if (chance(0.4)) std::swap(a, b);
        Attrs attrs;
        if ((name == std::string("add") || name == std::string("sub")) && chance(0.2)) attrs.set("alpha", 2.0);
        add(name, {a, b}, attrs);
        break;
      }
      case 5: {  // division by something in [1, 2]: a constant or 1 + sigmoid(v)
        Value* d;
        if (chance(0.5)) {
          d = r_.g.add_constant(chance(0.3) ? ones(s) : add_scalar(rand(s, {}, &gen_), 1.0));
        } else {
          Value* sg = r_.g.add_node(op("sigmoid"), {compatible(a)})->output();
          d = r_.g.add_node(op("add"), {sg, r_.g.add_constant(wrap_scalar(1.0))})->output();
        }
        add("div", {a, d});
        break;
      }
      case 6: {
        if (rank == 0) break;
        std::vector<int64_t> dims{uniform(0, static_cast<int>(rank) - 1)};
        add(chance(0.5) ? "sum" : "mean", {a}, {{"dims", dims}, {"keepdim", chance(0.5)}});
        break;
      }
      case 7: {  // matmul with a [k, n] partner
        if (rank < 2) break;
        int64_t k = s.back();
        Value* b = nullptr;
        for (Value* v : pool_)
          if (v->shape.size() == 2 && v->shape[0].value == k && chance(0.5)) b = v;
        if (!b) b = chance(0.5) ? constant({k, uniform(1, 4)}) : r_.g.add_variable("m", randn({k, uniform(1, 4)}, {}, &gen_));
        add("matmul", {a, b});
        break;
      }
      case 8:
      case 9: {  // reshape, sometimes a chain, sometimes back to the same shape
        int64_t n = shape_numel(s);
        Shape t;
        switch (uniform(0, 3)) {
          case 0: t = {n}; break;
          case 1: t = {1, n}; break;
          case 2: t = {-1}; t.push_back(s.empty() ? 1 : s.back()); break;
          default: t = s; break;
        }
        Value* r = add("reshape", {a}, {{"shape", t}});
        if (chance(0.4)) add("reshape", {r}, {{"shape", chance(0.5) ? s : Shape{n, 1}}});
        break;
      }
      case 10: {  // permute, sometimes undone or composed
        if (rank < 2) break;
        std::vector<int64_t> p(rank);
        std::iota(p.begin(), p.end(), 0);
        std::shuffle(p.begin(), p.end(), rng_);
        Value* r = add("permute", {a}, {{"dims", p}});
        if (chance(0.5)) {
          std::vector<int64_t> q(rank);
          if (chance(0.5)) {
            for (int64_t i = 0; i < rank; ++i) q[p[i]] = i;  // the inverse
          } else {
            std::iota(q.begin(), q.end(), 0);
            std::shuffle(q.begin(), q.end(), rng_);
            if (chance(0.3)) q.back() = q.back() - rank;  // a negative dim
          }
          add("permute", {r}, {{"dims", q}});
        }
        break;
      }
      case 11: {  // expand: a size-1 dim, a new leading dim, or to the same shape
        Shape t = s;
        for (int64_t& d : t)
          if (d == 1 && chance(0.5)) d = 3;
        if (chance(0.3)) t.insert(t.begin(), 2);
        Value* e = add("expand", {a}, {{"shape", t}});
        if (chance(0.3)) {
          Shape u = t;
          u.insert(u.begin(), 2);
          add("expand", {e}, {{"shape", u}});
        }
        break;
      }
      case 12:
        if (chance(0.5)) {
          add("clone", {a});
        } else {
          add("neg", {add("neg", {a})});
        }
        break;
      case 13: {  // a repeated node (cse)
        std::vector<Node*> nodes = r_.g.nodes();
        if (nodes.empty()) break;
        Node* n = pick(nodes);
        Node* m = r_.g.add_node(*n->op, n->inputs, n->attrs);
        pool_.push_back(m->output());
        break;
      }
      case 14:
        if (opts_.dropout && is_floating(a->dtype)) {
          Node* n = r_.g.add_node(op("dropout"), {a}, {{"p", 0.3}});
          pool_.push_back(n->output());
        }
        break;
      default:
        if (a->dtype != DType::Float64) add("to", {a}, {{"dtype", chance(0.5) ? a->dtype : DType::Float64}});
        break;
    }
  }

  static Tensor add_scalar(const Tensor& t, double v) { return t + v; }

  void finish() {
    std::vector<Value*> op_values;
    for (Value* v : pool_)
      if (v->kind == Value::Kind::Op) op_values.push_back(v);
    if (op_values.empty()) op_values.push_back(add("relu", {pool_.back()}));
    std::vector<Value*> outs{op_values.back()};
    int extra = uniform(0, 2);
    for (int i = 0; i < extra; ++i) {
      Value* v = pick(op_values);
      if (std::find(outs.begin(), outs.end(), v) == outs.end()) outs.push_back(v);
    }
    if (chance(0.15)) outs.push_back(r_.g.inputs()[0]);  // an input returned as is
    r_.g.set_outputs(outs);
    if (chance(0.5)) {  // a variable updated with some value of its shape
      Value* v = pick(op_values);
      Value* var = r_.g.add_variable("state", zeros(static_shape(v->shape), {.dtype = v->dtype}));
      r_.g.add_update(var, v);
    }
  }

  std::mt19937_64 rng_;
  Generator gen_;
  RandomGraphOptions opts_;
  RandomGraph r_;
  std::vector<Value*> pool_;
};

inline RandomGraph random_graph(uint64_t seed, RandomGraphOptions opts = {}) {
  return RandomGraphBuilder(seed, opts).build();
}

// Evaluates both graphs (same inputs, same random seed) and compares results.
inline ::testing::AssertionResult same_results(const RandomGraph& ref, const RandomGraph& opt,
                                               double atol = 1e-5, double rtol = 1e-5) {
  EvalResult a = eval_graph(ref.g, ref.inputs), b = eval_graph(opt.g, opt.inputs);
  if (a.outputs.size() != b.outputs.size() || a.updates.size() != b.updates.size())
    return ::testing::AssertionFailure() << "different numbers of outputs or updates";
  auto check = [&](const Tensor& x, const Tensor& y, const char* what, size_t i) -> ::testing::AssertionResult {
    if (x.dtype() != y.dtype() || x.shape() != y.shape())
      return ::testing::AssertionFailure() << what << " " << i << ": " << dtype_name(x.dtype()) << tandem::shape_str(x.shape())
                                           << " vs " << dtype_name(y.dtype()) << tandem::shape_str(y.shape());
    return tandem::testing::all_close(y.to(DType::Float64), x.to(DType::Float64), atol, rtol);
  };
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    auto r = check(a.outputs[i], b.outputs[i], "output", i);
    if (!r) return r << "\nbefore:\n" << ref.g.str() << "after:\n" << opt.g.str();
  }
  for (size_t i = 0; i < a.updates.size(); ++i) {
    auto r = check(a.updates[i], b.updates[i], "update", i);
    if (!r) return r << "\nbefore:\n" << ref.g.str() << "after:\n" << opt.g.str();
  }
  return ::testing::AssertionSuccess();
}

// Runs `pass` on `count` random graphs; every result must match and verify() must pass.
// Returns how many graphs the pass changed (callers check that the test is not vacuous).
template <class PassFn>
int differential(PassFn pass, int count, uint64_t first_seed = 1000, RandomGraphOptions opts = {}) {
  int changed = 0;
  for (int i = 0; i < count; ++i) {
    uint64_t seed = first_seed + static_cast<uint64_t>(i);
    RandomGraph ref = random_graph(seed, opts), opt = random_graph(seed, opts);
    PassResult r;
    try {
      r = pass(opt.g);
      opt.g.verify();
    } catch (const Error& e) {
      ADD_FAILURE() << "seed " << seed << ": " << e.what() << "\n" << ref.g.str();
      continue;
    }
    changed += r.changed ? 1 : 0;
    EXPECT_TRUE(same_results(ref, opt)) << "seed " << seed;
  }
  return changed;
}

}  // namespace tandem::graph::testing
