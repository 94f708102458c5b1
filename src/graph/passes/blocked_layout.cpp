// blocked_layout (inference): keeps activations in oneDNN's channel-blocked layout between
// convolutions and max poolings. oneDNN's direct convolution kernels compute in nChw16c;
// with NCHW tensors between them every conv2d reorders its input to blocks and its output
// back (the zoo CNN at batch 1: ~6 of its ~105 µs). Here a conv2d / conv2d_act becomes a
// conv2d_blocked writing [N, ceil(O/16), Ho, Wo, 16] (the last block padded when O is not a
// multiple of 16, as oneDNN pads it), a max_pool2d reading such a value becomes
// a max_pool2d_blocked, a conv reading one takes it as is (attr blocked_input = 1), and
// every other reader (flatten, add, batch_norm, a graph output) gets one from_blocked in
// front of it (src/ops/defs/blocked_layout.cpp).
//
// Residual blocks (a frozen ResNet after batch-norm folding: conv -> add(residual) -> relu)
// stay blocked too: add(conv2d(x), r) [-> relu] becomes one conv2d_blocked with residual
// input r (oneDNN's sum post-op, then the relu as its eltwise post-op), reading r blocked
// when r has a blocked twin (attr residual_blocked = 1) and NCHW otherwise. A conv2d whose
// output is such a residual counts as having a blocked reader.
//
// Rewrites, in order:
//   - add(y, r) with alpha 1 where y is the only use of a convertible float32 conv2d's
//     output (no activation: act(conv) + r is not act(conv + r)), r has y's static shape and
//     dtype (no broadcast), and, when the add's only reader is a relu, that relu: one
//     conv2d_blocked placed at the add, so r is computed before it.
//   - a float32 conv2d / conv2d_act with dilation 1, a 4-D input whose channel count is
//     static, and a geometry oneDNN takes, when its input is already
//     blocked or some reader of its output can read it blocked (such a conv, or a float32
//     max_pool2d). Grouped ones (depthwise, or groups of multiples of 16 channels: what
//     oneDNN has blocked kernels for) only when their input is blocked. A conv none of whose readers can is left alone: its output would
//     only be reordered back, as the conv does itself now.
//   - a float32 max_pool2d (one output, 4-D input, dilation 1) whose input is blocked.
//   - a cat along the channels whose inputs are all blocked: the same cat along dim 1 of the
//     blocked twins when every channel count divides by 16, else a gather_channels_blocked. A conv whose reader is such a cat (its
//     other inputs blocked or convs that will be, its output read blocked) counts as having a
//     blocked reader: SqueezeNet's fire modules, GoogLeNet's inception blocks.
//   - an elementwise op (activations, add/sub/mul/div, ...) with a blocked operand of its
//     result's shape, whose other operands are blocked too, per-channel [1 or N, C, 1, 1]
//     values (their own blocked twins, or reshaped to [., C/16, 1, 1, 16] when C divides by 16:
//     the same memory order) or single elements: the same op on the twins. On padded twins
//     only ops that keep the padding finite (no division by a tensor, log, sqrt, exp, pow: a
//     NaN there would reach every channel of the next convolution's sum). A conv read by such an op whose result has a blocked reader counts
//     as having one (SiLU / hard-swish written as products, squeeze-excitation's channel scale).
//   - mean / sum over H and W with keepdim of a blocked value: the same over dims 2, 3 of the
//     twin ([N, C/16, 1, 1, 16], the twin of the [N, C, 1, 1] result).
//   - a slice of the channels (step 1) of a blocked value, and a channel shuffle (reshape to
//     [N, g, C/g, H, W], permute [0, 2, 1, 3, 4], optional clone, reshape back) of one: a
//     gather_channels_blocked. A gather reads through the gathers, blocked cats and clones
//     before it to their sources, so ShuffleNet's cat -> shuffle -> split is one pass per half
//     (the copies in between lose their readers; dce removes them). A conv read by such a
//     slice, shuffle or cat whose result has a blocked reader counts as having one.
// Leaves alone: graphs with updates (training steps: their values feed backward ops in
// NCHW) and everything not listed above. Shapes are unchanged for every reader outside
// the rewritten nodes (from_blocked gives back the NCHW value), so the graph's results are
// the same up to oneDNN's rounding (the same kernels as eager mode run).
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "../../backend/cpu/conv.h"
#include "fusion_util.h"
#include "tandem/graph/fusion.h"

namespace tandem::graph {

using namespace fusion_detail;

namespace {

constexpr int64_t kBlock = 16;

bool static_4d(const Value* v) {
  return v != nullptr && v->shape.size() == 4 && v->shape[1].is_static() && v->shape[2].is_static() &&
         v->shape[3].is_static();
}

IntArray pair_or(const Attrs& a, const char* name, int64_t fallback) {
  IntArray v = a.get_or<IntArray>(name, {});
  if (v.empty()) return {fallback, fallback};
  return v.size() == 1 ? IntArray{v[0], v[0]} : v;
}

bool all_one(const IntArray& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t d) { return d == 1; });
}

// A conv2d / conv2d_act that conv2d_blocked can run (the pass's first bullet). A grouped one
// only from a blocked input (in_blocked: whether it would get one).
bool convertible_conv(const Node* n, bool in_blocked) {
  const std::string& op = n->op->name;
  if (op != "conv2d" && op != "conv2d_act") return false;
  if (n->outputs.size() != 1 || n->inputs.size() < 2 || n->inputs[1] == nullptr) return false;
  const Value *x = n->inputs[0], *w = n->inputs[1], *y = n->output();
  if (!static_4d(x) || !static_4d(y) || w->shape.size() != 4 || !is_static(w->shape)) return false;
  for (const Value* v : n->inputs)
    if (v != nullptr && v->dtype != DType::Float32) return false;
  if (y->dtype != DType::Float32) return false;
  const int64_t groups = n->attrs.get_or<int64_t>("groups", 1);
  if ((groups != 1 && !in_blocked) || !all_one(pair_or(n->attrs, "dilation", 1))) return false;
  const int64_t O = y->shape[1].value;
  // oneDNN must take the padding (the kernel checks it too; the batch does not matter).
  const IntArray s = pair_or(n->attrs, "stride", 1), p = pair_or(n->attrs, "padding", 0);
  const Shape ws = static_shape(w->shape);
  cpu::ConvGeom g{1, x->shape[1].value, x->shape[2].value, x->shape[3].value, O, ws[2], ws[3],
                  y->shape[2].value, y->shape[3].value, s[0], s[1], p[0], p[1], 1, 1, groups};
  return cpu::conv2d_blocked_supported(g);
}

// A max_pool2d that max_pool2d_blocked can run, given a blocked input.
bool convertible_pool(const Node* n) {
  if (n->op->name != "max_pool2d" || n->outputs.size() != 1 || n->inputs.size() != 1) return false;
  const Value *x = n->inputs[0], *y = n->output();
  return static_4d(x) && static_4d(y) && x->dtype == DType::Float32 && y->dtype == DType::Float32 &&
         all_one(pair_or(n->attrs, "dilation", 1));
}

bool same_static_shape(const Value* a, const Value* b) {
  return is_static(a->shape) && is_static(b->shape) && static_shape(a->shape) == static_shape(b->shape);
}

// add(conv2d(x), r) [-> relu] folded into one conv2d_blocked with residual r.
struct ResidualAdd {
  Node* conv = nullptr;
  Node* add = nullptr;
  Node* relu = nullptr;  // or none
  Value* residual = nullptr;
  Value* out() const { return (relu ? relu : add)->output(); }
};

// The residual fusion rooted at `add`, if it has one (the pass's first bullet).
std::optional<ResidualAdd> residual_add(const Graph& g, Node* add) {
  if (add->op->name != "add" || add->inputs.size() != 2 || add->outputs.size() != 1) return std::nullopt;
  if (add->attrs.get_or<double>("alpha", 1.0) != 1.0) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    Value *y = add->inputs[i], *r = add->inputs[1 - i];
    Node* conv = y->producer;
    if (conv == nullptr || y == r || conv->op->name != "conv2d" || conv->attrs.has("act")) continue;
    if (!only_user(g, y, add) || !convertible_conv(conv, false)) continue;
    if (r->dtype != DType::Float32 || add->output()->dtype != DType::Float32) continue;
    if (!same_static_shape(r, y) || !same_static_shape(add->output(), y)) continue;
    ResidualAdd f{conv, add, nullptr, r};
    const Value* s = add->output();
    if (s->users.size() == 1 && !escapes(g, s) && s->users[0]->op->name == "relu" &&
        s->users[0]->outputs.size() == 1)
      f.relu = s->users[0];
    return f;
  }
  return std::nullopt;
}

// A cat along the channels of 4-D float32 values. When every channel count divides by 16, on
// blocked twins [N, C/16, H, W, 16] it is the same cat along dim 1 (the blocks of each input
// follow each other); otherwise a gather_channels_blocked. It stays blocked when all its
// inputs are.
bool channel_cat(const Node* n) {
  if (n->op->name != "cat" || n->outputs.size() != 1 || n->inputs.empty()) return false;
  const int64_t dim = n->attrs.get_or<int64_t>("dim", 0);
  if (dim != 1 && dim != -3) return false;
  if (!static_4d(n->output()) || n->output()->dtype != DType::Float32) return false;
  for (const Value* v : n->inputs)
    if (!static_4d(v) || v->dtype != DType::Float32) return false;
  return true;
}

// A slice of the channels (dim 1, step 1) of a 4-D float32 value: its first channel, if it is one.
std::optional<int64_t> channel_slice_start(const Node* n) {
  if (n->op->name != "slice" || n->inputs.size() != 1 || n->outputs.size() != 1) return std::nullopt;
  const Value *x = n->inputs[0], *y = n->output();
  if (!static_4d(x) || !static_4d(y) || x->dtype != DType::Float32 || y->dtype != DType::Float32) return std::nullopt;
  const int64_t dim = n->attrs.get_or<int64_t>("dim", 0), start = n->attrs.get_or<int64_t>("start", 0);
  if ((dim != 1 && dim != -3) || n->attrs.get_or<int64_t>("step", 1) != 1) return std::nullopt;
  if (start < 0 || start + y->shape[1].value > x->shape[1].value || y->shape[1].value <= 0) return std::nullopt;
  return start;
}

// A channel shuffle (ShuffleNet's; as exporters write it): reshape x [N, C, H, W] to
// [N, g, C/g, H, W], permute [0, 2, 1, 3, 4], an optional clone, reshape back to [N, C, H, W].
// Output channel o is input channel (o % g) * (C/g) + o / g.
struct ChannelShuffle {
  Value* x = nullptr;
  int64_t groups = 0;
};

// The channel shuffle whose last reshape is n, if n ends one.
std::optional<ChannelShuffle> channel_shuffle_at(const Node* n) {
  if (n->op->name != "reshape" || n->inputs.size() != 1 || n->outputs.size() != 1) return std::nullopt;
  const Value* y = n->output();
  const Value* t = n->inputs[0];
  if (!static_4d(y) || t->shape.size() != 5) return std::nullopt;
  const Node* p = t->producer;
  if (p != nullptr && p->op->name == "clone" && p->inputs.size() == 1) p = p->inputs[0]->producer;
  if (p == nullptr || p->op->name != "permute" || p->inputs.size() != 1 ||
      p->attrs.get_or<IntArray>("dims", {}) != IntArray{0, 2, 1, 3, 4})
    return std::nullopt;
  const Value* r = p->inputs[0];
  const Node* q = r->producer;
  if (q == nullptr || q->op->name != "reshape" || q->inputs.size() != 1 || r->shape.size() != 5) return std::nullopt;
  Value* x = q->inputs[0];
  if (!static_4d(x) || x->dtype != DType::Float32 || x->shape != y->shape) return std::nullopt;
  const SymShape& rs = r->shape;
  if (!(rs[0] == x->shape[0] && rs[1].is_static() && rs[2].is_static() && rs[3] == x->shape[2] &&
        rs[4] == x->shape[3] && rs[1].value * rs[2].value == x->shape[1].value && rs[1].value > 0))
    return std::nullopt;
  return ChannelShuffle{x, rs[1].value};
}

// The last reshape of the channel shuffle that reshape u (reading x) begins, if any.
const Node* channel_shuffle_from(const Node* u, const Value* x) {
  const Node* n = u;
  for (int step = 0; step < 3; ++step) {
    if (n->outputs.size() != 1 || n->output()->users.size() != 1) return nullptr;
    n = n->output()->users[0];
    if (auto s = channel_shuffle_at(n); s && s->x == x) return n;
  }
  return nullptr;
}

bool has_blocked_reader(const Value* v, const std::unordered_map<const Node*, ResidualAdd>& fused,
                        const std::unordered_map<const Value*, Value*>& blocked, int depth = 0);
bool elementwise_op(const Node* n);

// Whether v is a per-channel value [1 or N, C, 1, 1] of `out`'s channels (4-D, static).
bool blocked_per_channel(const Value* v, const Value* out) {
  const SymShape& s = v->shape;
  return v->dtype == DType::Float32 && s.size() == 4 && out->shape.size() == 4 && s[1] == out->shape[1] &&
         s[2] == Dim(1) && s[3] == Dim(1) && (s[0] == Dim(1) || s[0] == out->shape[0]);
}

// The channel count of 4-D value v fills whole blocks (no padding in its blocked twin).
bool whole_blocks(const Value* v) { return v->shape[1].is_static() && v->shape[1].value % kBlock == 0; }

// Whether channel cat `n` will run blocked (its inputs are, or are convs that will be) and
// something reads its output blocked.
bool blocked_cat_pays(const Node* n, const std::unordered_map<const Node*, ResidualAdd>& fused,
                      const std::unordered_map<const Value*, Value*>& blocked, int depth) {
  if (depth > 4 || !channel_cat(n)) return false;
  for (const Value* v : n->inputs)
    if (!blocked.count(v) && !(v->producer && convertible_conv(v->producer, false))) return false;
  return has_blocked_reader(n->output(), fused, blocked, depth + 1);
}

// Whether some reader of v (a conv's output, channels divisible by 16) can read it blocked.
bool has_blocked_reader(const Value* v, const std::unordered_map<const Node*, ResidualAdd>& fused,
                        const std::unordered_map<const Value*, Value*>& blocked, int depth) {
  for (const Node* u : v->users) {
    auto f = fused.find(u);
    if (f != fused.end() && f->second.residual == v) return true;
    if (blocked_cat_pays(u, fused, blocked, depth)) return true;
    // A channel slice or shuffle of v runs blocked: what reads its result decides.
    if (depth < 8 && u->inputs[0] == v && channel_slice_start(u) && has_blocked_reader(u->output(), fused, blocked, depth + 1))
      return true;
    if (depth < 8 && u->op->name == "reshape" && u->inputs[0] == v)
      if (const Node* last = channel_shuffle_from(u, v); last && has_blocked_reader(last->output(), fused, blocked, depth + 1))
        return true;
    // An elementwise reader of v's shape, or one that broadcasts v (a per-channel value, as
    // squeeze-excitation's scale) over the same channels.
    if (depth < 8 && elementwise_op(u) && static_4d(u->output()) &&
        (u->output()->shape == v->shape || blocked_per_channel(v, u->output())) &&
        has_blocked_reader(u->output(), fused, blocked, depth + 1))
      return true;
    if (u->inputs[0] != v) continue;  // a weight or bias: NCHW
    if (convertible_pool(u) || convertible_conv(u, true)) return true;
  }
  return false;
}

// Elementwise ops: each output element depends only on the same element of each operand, so
// they run unchanged on blocked twins.
bool elementwise_op(const Node* n) {
  static const std::set<std::string> ops = {"neg",     "exp",     "log",  "sqrt", "rsqrt",   "abs",     "tanh",
                                            "sigmoid", "relu",    "gelu", "silu", "softplus", "clamp",   "leaky_relu",
                                            "add",     "sub",     "mul",  "div",  "minimum", "maximum", "pow",
                                            "clone"};
  return ops.count(n->op->name) != 0 && n->outputs.size() == 1;
}

enum class Operand { Blocked, BlockedPerChannel, PerChannel, Scalar, No };

// How operand v of an elementwise node with result `out` (4-D) can be read in the blocked
// layout: its blocked twin (same logical shape), the blocked twin [., ceil(C/16), 1, 1, 16] of
// a per-channel value [1 or N, C, 1, 1] (broadcast over H and W as it is), an NCHW per-channel
// value when C divides by 16 (reshaped to [., C/16, 1, 1, 16]: the same memory order), or one
// element (broadcast either way).
Operand blocked_operand(const Value* v, const Value* out, const std::unordered_map<const Value*, Value*>& blocked) {
  if (v == nullptr) return Operand::No;
  if (blocked.count(v) && v->shape == out->shape) return Operand::Blocked;
  if (!is_floating(v->dtype)) return Operand::No;
  const SymShape& s = v->shape;
  if (is_static(s) && s.size() <= 5 && shape_numel(static_shape(s)) == 1) return Operand::Scalar;
  if (blocked_per_channel(v, out) && blocked.count(v)) return Operand::BlockedPerChannel;
  if (blocked_per_channel(v, out) && whole_blocks(out)) return Operand::PerChannel;
  return Operand::No;
}

// Elementwise ops that keep a padded block's padding finite (starting from oneDNN's zeros,
// with finite operands): the padding then never turns a convolution's sum into NaN (0 * inf).
// Division by a tensor, logarithms, roots, powers and exp may not.
bool padding_safe_op(const Node* n) {
  static const std::set<std::string> ops = {"neg",  "abs",   "tanh",       "sigmoid", "relu", "gelu",    "silu",
                                            "clamp", "leaky_relu", "add", "sub", "mul", "minimum", "maximum", "clone"};
  return ops.count(n->op->name) != 0;
}

// Whether elementwise node n can run on blocked twins: a float32 4-D result with channels
// divisible by 16, a blocked operand of the result's shape, and every other operand readable.
bool blocked_elementwise(const Node* n, const std::unordered_map<const Value*, Value*>& blocked) {
  if (!elementwise_op(n)) return false;
  const Value* out = n->output();
  if (!static_4d(out) || out->dtype != DType::Float32) return false;
  // Division by one element (hard-swish's x / 6) keeps the padding finite too.
  if (!whole_blocks(out) && !padding_safe_op(n) &&
      !(n->op->name == "div" && n->inputs.size() == 2 && blocked_operand(n->inputs[1], out, blocked) == Operand::Scalar))
    return false;
  bool any_blocked = false;
  for (const Value* v : n->inputs) {
    Operand o = blocked_operand(v, out, blocked);
    if (o == Operand::No) return false;
    any_blocked |= o == Operand::Blocked;
  }
  return any_blocked;
}

// mean / sum over H and W (keepdim) of a blocked value: the same reduction over dims 2, 3 of
// its twin gives the twin of the [N, C, 1, 1] result.
bool blocked_spatial_reduction(const Node* n, const std::unordered_map<const Value*, Value*>& blocked) {
  if ((n->op->name != "mean" && n->op->name != "sum") || n->inputs.size() != 1 || n->outputs.size() != 1) return false;
  if (!blocked.count(n->inputs[0]) || n->attrs.has("dtype") || !n->attrs.get_or<bool>("keepdim", false)) return false;
  std::vector<int64_t> dims = n->attrs.get_or<std::vector<int64_t>>("dims", {});
  for (int64_t& d : dims)
    if (d < 0) d += 4;
  std::sort(dims.begin(), dims.end());
  return dims == std::vector<int64_t>{2, 3} && n->output()->dtype == DType::Float32;
}

// Channel `channel` of blocked twin `twin`, which holds `channels` channels.
struct ChannelSource {
  Value* twin;
  int64_t channels, channel;
};

// Where the channels of blocked twin t (holding `channels` channels) were copied from: through
// the gather_channels_blocked, cat (of whole blocks, along dim 1) and clone nodes this pass made,
// down to the twins they read; t itself when it is none of those.
std::vector<ChannelSource> channel_sources(Value* t, int64_t channels) {
  while (t->producer != nullptr && t->producer->op->name == "clone" && t->producer->inputs.size() == 1 &&
         t->producer->inputs[0]->shape == t->shape)
    t = t->producer->inputs[0];
  const Node* p = t->producer;
  std::vector<ChannelSource> in, out;
  if (p != nullptr && p->op->name == "gather_channels_blocked") {
    const IntArray ch = p->attrs.get<IntArray>("channels"), index = p->attrs.get<IntArray>("index");
    for (size_t i = 0; i < p->inputs.size(); ++i)
      for (int64_t c = 0; c < ch[i]; ++c) in.push_back({p->inputs[i], ch[i], c});
    for (int64_t o = 0; o < channels; ++o) out.push_back(in[index[o]]);
    return out;
  }
  if (p != nullptr && p->op->name == "cat" && p->attrs.get_or<int64_t>("dim", 0) == 1 &&
      std::all_of(p->inputs.begin(), p->inputs.end(), [](const Value* v) { return v->shape.size() == 5; })) {
    for (Value* v : p->inputs)
      for (int64_t c = 0; c < v->shape[1].value * kBlock; ++c) out.push_back({v, v->shape[1].value * kBlock, c});
    out.resize(channels);
    return out;
  }
  for (int64_t c = 0; c < channels; ++c) out.push_back({t, channels, c});
  return out;
}

}  // namespace

PassResult run_blocked_layout(Graph& g) {
  PassResult result;
  if (!g.updates().empty()) return result;
  const OpDef& conv_def = op("conv2d_blocked");
  const OpDef& pool_def = op("max_pool2d_blocked");
  const OpDef& from_def = op("from_blocked");
  const OpDef& cat_def = op("cat");
  const OpDef& reshape_def = op("reshape");

  // NCHW value -> its blocked twin, and the nodes replaced by blocked ones (in order).
  std::unordered_map<const Value*, Value*> blocked;
  std::vector<Node*> replaced;
  const std::vector<Node*> nodes = g.nodes();
  const OpDef& gather_def = op("gather_channels_blocked");
  // A gather_channels_blocked of the blocked twins of `from` (logical values) by index, reading
  // through earlier gathers, blocked cats and clones to the twins they copied from (a cat, a
  // shuffle and a slice in a row become one pass; the copies in between lose their readers).
  auto gather = [&](const std::vector<Value*>& from, const IntArray& index, const std::string& name) {
    std::vector<ChannelSource> all;
    for (Value* v : from) {
      const std::vector<ChannelSource> s = channel_sources(blocked.at(v), v->shape[1].value);
      all.insert(all.end(), s.begin(), s.end());
    }
    std::vector<Value*> twins;
    IntArray channels, offsets, composed;
    for (int64_t o : index) {
      const ChannelSource& s = all[o];
      size_t i = std::find(twins.begin(), twins.end(), s.twin) - twins.begin();
      if (i == twins.size()) {
        twins.push_back(s.twin);
        channels.push_back(s.channels);
        offsets.push_back(offsets.empty() ? 0 : offsets.back() + channels[channels.size() - 2]);
      }
      composed.push_back(offsets[i] + s.channel);
    }
    return g.add_node(gather_def, twins, Attrs{{"channels", channels}, {"index", composed}}, name);
  };

  // The residual adds to fold, by add node, and their convs and relus (rewritten at the add).
  std::unordered_map<const Node*, ResidualAdd> fused;
  std::unordered_map<const Node*, const Node*> fused_conv;
  for (Node* n : nodes)
    if (auto f = residual_add(g, n)) {
      fused.emplace(n, *f);
      fused_conv.emplace(f->conv, n);
      if (f->relu) fused_conv.emplace(f->relu, n);
    }

  for (Node* n : nodes) {
    if (auto f = fused.find(n); f != fused.end()) {
      const ResidualAdd& ra = f->second;
      std::vector<Value*> inputs = ra.conv->inputs;
      inputs.resize(4, nullptr);
      Attrs attrs = ra.conv->attrs;
      auto x_it = blocked.find(inputs[0]);
      auto r_it = blocked.find(ra.residual);
      attrs.set("blocked_input", int64_t{x_it != blocked.end()});
      attrs.set("residual_blocked", int64_t{r_it != blocked.end()});
      if (ra.relu) attrs.set("act", std::string("relu"));
      if (x_it != blocked.end()) inputs[0] = x_it->second;
      inputs[3] = r_it != blocked.end() ? r_it->second : ra.residual;
      Node* b = g.add_node(conv_def, inputs, attrs, ra.conv->name);
      g.move_before(b, n);
      blocked.emplace(ra.out(), b->output());
      // Removed last to first: the relu (or add) is the one whose readers may need NCHW.
      replaced.push_back(ra.conv);
      replaced.push_back(ra.add);
      if (ra.relu) replaced.push_back(ra.relu);
      result.add("blocked_residual_add");
      continue;
    }
    if (fused_conv.count(n)) continue;  // a fused relu: rewritten with its add
    Value* x = n->inputs.empty() ? nullptr : n->inputs[0];
    auto it = x ? blocked.find(x) : blocked.end();
    const bool in_blocked = it != blocked.end();
    Node* b = nullptr;
    if (convertible_conv(n, in_blocked) && (in_blocked || has_blocked_reader(n->output(), fused, blocked))) {
      std::vector<Value*> inputs = n->inputs;
      inputs.resize(4, nullptr);
      Attrs attrs = n->attrs;
      attrs.set("blocked_input", int64_t{in_blocked});
      if (in_blocked) inputs[0] = it->second;
      b = g.add_node(conv_def, inputs, attrs, n->name);
      result.add("blocked_conv2d");
    } else if (in_blocked && convertible_pool(n)) {
      b = g.add_node(pool_def, {it->second}, n->attrs, n->name);
      result.add("blocked_max_pool2d");
    } else if (blocked_elementwise(n, blocked)) {
      std::vector<Value*> twins;
      const Value* out = n->output();
      for (Value* v : n->inputs) {
        switch (blocked_operand(v, out, blocked)) {
          case Operand::Blocked:
          case Operand::BlockedPerChannel: twins.push_back(blocked.at(v)); break;
          case Operand::PerChannel: {
            Node* r = g.add_node(reshape_def, {v}, Attrs{{"shape", Shape{-1, out->shape[1].value / kBlock, 1, 1, kBlock}}},
                                 v->producer ? v->producer->name : n->name);
            g.move_before(r, n);
            twins.push_back(r->output());
            break;
          }
          default: twins.push_back(v); break;  // one element
        }
      }
      b = g.add_node(*n->op, twins, n->attrs, n->name);
      result.add("blocked_elementwise");
    } else if (blocked_spatial_reduction(n, blocked)) {
      Attrs attrs = n->attrs;
      attrs.set("dims", std::vector<int64_t>{2, 3});
      b = g.add_node(*n->op, {blocked.at(n->inputs[0])}, attrs, n->name);
      result.add("blocked_spatial_reduction");
    } else if (channel_cat(n) && std::all_of(n->inputs.begin(), n->inputs.end(),
                                             [&](const Value* v) { return blocked.count(v) != 0; })) {
      if (std::all_of(n->inputs.begin(), n->inputs.end(), whole_blocks)) {
        std::vector<Value*> twins;
        for (Value* v : n->inputs) twins.push_back(blocked.at(v));
        b = g.add_node(cat_def, twins, Attrs{{"dim", int64_t{1}}}, n->name);
      } else {
        IntArray index(n->output()->shape[1].value);
        for (size_t c = 0; c < index.size(); ++c) index[c] = static_cast<int64_t>(c);
        b = gather(n->inputs, index, n->name);
      }
      result.add("blocked_cat");
    } else if (auto start = in_blocked ? channel_slice_start(n) : std::nullopt) {
      IntArray index(n->output()->shape[1].value);
      for (size_t c = 0; c < index.size(); ++c) index[c] = *start + static_cast<int64_t>(c);
      b = gather({x}, index, n->name);
      result.add("blocked_channel_slice");
    } else if (auto shuffle = channel_shuffle_at(n); shuffle && blocked.count(shuffle->x)) {
      const int64_t C = shuffle->x->shape[1].value, per = C / shuffle->groups;
      IntArray index(C);
      for (int64_t o = 0; o < C; ++o) index[o] = (o % shuffle->groups) * per + o / shuffle->groups;
      b = gather({shuffle->x}, index, n->name);
      result.add("blocked_channel_shuffle");
    }
    if (b == nullptr) continue;
    const SymShape& y = n->output()->shape;
    if (b->output()->shape != SymShape{y[0], (y[1].value + kBlock - 1) / kBlock, y[2], y[3], kBlock}) {
      g.remove_node(b);  // shape rules disagree (should not happen): keep n (a reshape made for it is unused)
      continue;
    }
    g.move_before(b, n);
    blocked.emplace(n->output(), b->output());
    replaced.push_back(n);
  }

  // Backwards, so a replaced node's blocked readers are gone when it is: what still reads
  // its NCHW output reads a from_blocked.
  for (auto r = replaced.rbegin(); r != replaced.rend(); ++r) {
    Node* n = *r;
    Value* y = n->output();
    if (!unused(g, y)) {
      // Only a node with a blocked twin has readers left (a fused conv's or add's one
      // reader is removed before it).
      TANDEM_CHECK(blocked.count(y) != 0, "blocked_layout: internal error: '{}' ({}) still has readers",
                   n->name, n->op->name);
      Node* back = g.add_node(from_def, {blocked.at(y)}, Attrs{{"channels", y->shape[1].value}}, n->name);
      g.move_before(back, n);
      g.replace_all_uses(y, back->output());
      result.add("from_blocked");
    }
    g.remove_node(n);
  }
  return result;
}

}  // namespace tandem::graph
