// Dynamic dims in the ONNX export. The trace has the example's sizes; ExportOptions::
// dynamic_axes (and dynamic_batch) name dims of the inputs that vary at run time. The exporter
// follows them through the graph (ExportCtx::propagate: each op's shape inference, run on two
// different probe sizes per symbol, tells which output dims follow which input dims) so that
// the ops whose attributes hold sizes do not bake the example's in:
//   reshape  a dim carried over unchanged becomes 0 (copy), one dim that takes a dynamic
//            product becomes -1, several are computed from Shape(x) at run time;
//   expand   a dynamic dim of the input is kept with 1 (ONNX's Expand broadcasts);
//   slice    a range running to the end of a dynamic dim ends at INT64_MAX, an index counted
//            from the end (x[:, -1]) stays negative.
#include <algorithm>
#include <limits>
#include <optional>

#include "export_ctx.h"
#include "tandem/error.h"

namespace tandem::onnx::detail {

using graph::Node;
using graph::Value;
using IntVec = std::vector<int64_t>;

namespace {

// Two sizes per symbol, unlike any example size, for probing shape inference.
int64_t probe_size(int sym, int k) { return k == 0 ? 3001 + 17 * sym : 4999 + 23 * sym; }

// The example size of dim i (1 where even the trace had a symbolic dim).
int64_t example(const Value* v, size_t i) { return v->shape[i].is_static() ? v->shape[i].value : 1; }

IntVec static_sizes(const Value* v, const char* op) {
  IntVec s;
  for (const graph::Dim& d : v->shape) {
    TANDEM_CHECK(d.is_static(), "onnx export: {} has a symbolic output dim; trace with static shapes", op);
    s.push_back(d.value);
  }
  return s;
}

}  // namespace

ExportCtx::DimSyms ExportCtx::dims(const Value* v) const {
  if (!v) return {};
  auto it = dims_.find(v);
  return it != dims_.end() ? it->second : DimSyms(v->shape.size(), -1);
}

bool ExportCtx::any_dynamic(const Value* v) const {
  for (int s : dims(v))
    if (s >= 0) return true;
  return false;
}

int ExportCtx::symbol(const std::string& name) {
  for (size_t i = 0; i < symbols_.size(); ++i)
    if (!name.empty() && symbols_[i] == name) return static_cast<int>(i);
  symbols_.push_back(name);
  return static_cast<int>(symbols_.size()) - 1;
}

void ExportCtx::propagate(const Node& n) {
  bool pending = false, dynamic = false;
  for (const Value* o : n.outputs) pending |= o && !dims_.count(o);
  for (const Value* v : n.inputs) dynamic |= v && any_dynamic(v);
  if (!pending || !dynamic) return;  // unset values read as static
  auto infer = [&](int k) -> std::optional<std::vector<TensorMeta>> {
    std::vector<TensorMeta> metas;
    for (const Value* v : n.inputs) {
      TensorMeta m;
      if (!v) {
        m.defined = false;
        metas.push_back(m);
        continue;
      }
      m.dtype = v->dtype;
      if (v->is_constant() && v->data.defined()) m.is_wrapped_number = v->data.impl()->is_wrapped_number;
      DimSyms d = dims(v);
      for (size_t i = 0; i < v->shape.size(); ++i) m.shape.push_back(d[i] >= 0 ? probe_size(d[i], k) : example(v, i));
      metas.push_back(m);
    }
    try {
      return n.op->infer(metas, n.attrs);
    } catch (const Error&) {
      return std::nullopt;  // the op computes with a size (NOTE: its outputs stay static)
    }
  };
  auto a = infer(0), b = infer(1);
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    const Value* o = n.outputs[k];
    if (!o || dims_.count(o)) continue;
    DimSyms d(o->shape.size(), -1);
    if (a && b && k < a->size() && k < b->size() && (*a)[k].shape.size() == d.size() &&
        (*b)[k].shape.size() == d.size()) {
      for (size_t i = 0; i < d.size(); ++i) {
        int64_t x = (*a)[k].shape[i], y = (*b)[k].shape[i];
        if (x == y) continue;
        for (size_t s = 0; s < symbols_.size() && d[i] < 0; ++s)
          if (x == probe_size(static_cast<int>(s), 0) && y == probe_size(static_cast<int>(s), 1)) d[i] = static_cast<int>(s);
        if (d[i] < 0) d[i] = derived_symbol();  // e.g. a strided conv's output size
      }
    }
    dims_[o] = d;
  }
}

void emit_reshape(ExportCtx& c, const Node& n) {
  const Value *x = n.inputs.at(0), *y = n.outputs.at(0);
  IntVec ys = static_sizes(y, "reshape");
  ExportCtx::DimSyms xd = c.dims(x), yd(ys.size(), -1);
  if (!c.any_dynamic(x)) {
    c.set_dims(y, yd);
    c.add("Reshape", {c.input(n, 0), c.ints(ys, c.base(n, "shape"))}, {c.output(n)});
    return;
  }
  // Groups of input and output dims with equal products (the example's sizes); a dynamic input
  // dim of example size 1 right after a group joins it (its size has to go somewhere).
  const size_t ri = x->shape.size(), ro = ys.size();
  struct Group {
    size_t i0, i1, j0, j1;
  };
  std::vector<Group> groups;
  for (size_t i = 0, j = 0; i < ri || j < ro;) {
    Group g{i, i, j, j};
    int64_t pi = 1, pj = 1;
    if (i < ri) pi *= example(x, i++);
    if (j < ro) pj *= ys[j++];
    while (pi != pj) {
      if (i < ri && (pi < pj || j >= ro))
        pi *= example(x, i++);
      else if (j < ro)
        pj *= ys[j++];
      else
        break;
    }
    while (i < ri && example(x, i) == 1 && xd[i] >= 0) ++i;
    g.i1 = i, g.j1 = j;
    groups.push_back(g);
  }
  IntVec target = ys;
  struct Product {
    size_t j;
    Group g;
    int64_t in_static, out_static;
  };
  std::vector<Product> products;  // output dims that take a group's dynamic product
  for (const Group& g : groups) {
    std::vector<size_t> dyn;
    for (size_t i = g.i0; i < g.i1; ++i)
      if (xd[i] >= 0) dyn.push_back(i);
    if (dyn.empty()) continue;
    if (g.i1 - g.i0 == 1 && g.j1 - g.j0 == 1 && g.i0 == g.j0 && example(x, g.i0) == ys[g.j0]) {
      target[g.j0] = 0;  // copied
      yd[g.j0] = xd[g.i0];
      continue;
    }
    TANDEM_CHECK(g.j1 > g.j0, "onnx export: {} drops dynamic dim {} of {}; it cannot run on other sizes",
                 node_str(n), g.i0, graph::shape_str(x->shape));
    size_t j = g.j0;  // NOTE: a split dynamic dim varies in its first piece that is not 1
    for (size_t jj = g.j0; jj < g.j1; ++jj)
      if (ys[jj] != 1) {
        j = jj;
        break;
      }
    int64_t in_static = 1, out_static = 1;
    for (size_t i = g.i0; i < g.i1; ++i)
      if (xd[i] < 0) in_static *= example(x, i);
    for (size_t jj = g.j0; jj < g.j1; ++jj)
      if (jj != j) out_static *= ys[jj];
    yd[j] = dyn.size() == 1 && in_static == out_static ? xd[dyn[0]] : c.derived_symbol();
    products.push_back({j, g, in_static, out_static});
  }
  c.set_dims(y, yd);
  if (products.size() <= 1) {
    for (const Product& p : products) target[p.j] = -1;
    c.add("Reshape", {c.input(n, 0), c.ints(target, c.base(n, "shape"))}, {c.output(n)});
    return;
  }
  // Several dims vary: the target from the input's runtime shape.
  std::string shape = c.tmp(n, "input_shape");
  c.add("Shape", {c.input(n, 0)}, {shape});
  auto dim_of = [&](size_t i) {
    std::string d = c.tmp(n, fmt::format("dim{}", i));
    set_attr(c.add("Gather", {shape, c.ints({static_cast<int64_t>(i)}, c.base(n, "index"))}, {d}), "axis", int64_t{0});
    return d;
  };
  std::vector<std::string> parts;
  for (size_t j = 0; j < ro; ++j) {
    auto p = std::find_if(products.begin(), products.end(), [&](const Product& q) { return q.j == j; });
    if (target[j] == 0) {
      parts.push_back(dim_of(j));
    } else if (p == products.end()) {
      parts.push_back(c.ints({target[j]}, c.base(n, fmt::format("dim{}", j))));
    } else {
      std::string acc = c.ints({p->in_static}, c.base(n, "in_static"));
      for (size_t i = p->g.i0; i < p->g.i1; ++i) {
        if (xd[i] < 0) continue;
        std::string next = c.tmp(n, "product");
        c.add("Mul", {acc, dim_of(i)}, {next});
        acc = next;
      }
      std::string q = c.tmp(n, fmt::format("out_dim{}", j));
      c.add("Div", {acc, c.ints({p->out_static}, c.base(n, "out_static"))}, {q});
      parts.push_back(q);
    }
  }
  std::string t = c.tmp(n, "target");
  set_attr(c.add("Concat", parts, {t}), "axis", int64_t{0});
  c.add("Reshape", {c.input(n, 0), t}, {c.output(n)});
}

void emit_expand(ExportCtx& c, const Node& n) {
  const Value *x = n.inputs.at(0), *y = n.outputs.at(0);
  IntVec s = static_sizes(y, "expand");
  ExportCtx::DimSyms xd = c.dims(x), yd(s.size(), -1);
  const size_t off = s.size() - x->shape.size();
  for (size_t i = 0; i < x->shape.size(); ++i) {
    if (xd[i] < 0 || example(x, i) != s[off + i]) continue;
    s[off + i] = 1;  // Expand broadcasts: the input's runtime size stays
    yd[off + i] = xd[i];
  }
  c.set_dims(y, yd);
  c.add("Expand", {c.input(n, 0), c.ints(s, c.base(n, "shape"))}, {c.output(n)});
}

void emit_slice(ExportCtx& c, const Node& n) {
  const Value* x = n.inputs.at(0);
  const int64_t r = static_cast<int64_t>(x->shape.size());
  int64_t dim = n.attrs.get<int64_t>("dim");
  if (dim < 0) dim += r;
  int64_t start = n.attrs.get_or<int64_t>("start", 0), end = n.attrs.get<int64_t>("end");
  int64_t step = n.attrs.get_or<int64_t>("step", 1);
  ExportCtx::DimSyms yd = c.dims(x);
  const int sym = yd.at(static_cast<size_t>(dim));
  if (sym >= 0) {
    const int64_t size = example(x, static_cast<size_t>(dim));
    const bool from_end = n.attrs.get_or<bool>("start_from_end", false);
    const bool to_end = n.attrs.get_or<bool>("end_from_end", false) || end >= size;
    if (from_end) start -= size;
    if (n.attrs.get_or<bool>("end_from_end", false)) end -= size;
    else if (end >= size) end = std::numeric_limits<int64_t>::max();
    // [2:5] and [-3:] keep their size; [1:] and [:-1] vary with the input.
    yd[static_cast<size_t>(dim)] = from_end == to_end ? -1
                                   : start == 0 && step == 1 ? sym
                                                             : c.derived_symbol();
  }
  c.set_dims(n.outputs.at(0), yd);
  c.add("Slice",
        {c.input(n, 0), c.ints({start}, c.base(n, "starts")), c.ints({end}, c.base(n, "ends")),
         c.ints({dim}, c.base(n, "axes")), c.ints({step}, c.base(n, "steps"))},
        {c.output(n)});
}

}  // namespace tandem::onnx::detail
