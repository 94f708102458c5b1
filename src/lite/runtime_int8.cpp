// tandem-lite's int8 preparation at load: each quantized conv2d / linear layer's weights and
// requantization constants (kernels::QLayer), and the fusion of dequantize -> float
// activations -> quantize chains into 256-entry tables.
#include <algorithm>
#include <cstring>

#include "runtime.h"

namespace tlite {

namespace {

[[noreturn]] void lite_int8_fail(Status s, const std::string& m) { throw LiteError(s, m); }
void lite_int8_check(bool ok, Status s, const std::string& m) {
  if (!ok) lite_int8_fail(s, m);
}

}  // namespace

void Model::prepare_qlayer(size_t index) {
  const NodeInfo& n = file_.nodes[index];
  PreparedNode& p = nodes_[index];
  const std::string w = "node " + std::to_string(index) + " (" + op_name(n.op) + ")";
  if (n.op == Op::Quantize || n.op == Op::Dequantize) {
    const ValueInfo& v = file_.values[n.op == Op::Quantize ? n.outputs[0] : n.inputs[0]];
    p.q_scales = v.quant.scales;
    p.q_zps = v.quant.zero_points;
    p.q_axis = v.quant.axis;
    p.q_signed = v.dtype == DType::I8;
    return;
  }
  if (n.op != Op::QConv2d && n.op != Op::QLinear) return;
  const ValueInfo &xv = file_.values[n.inputs[0]], &wv = file_.values[n.inputs[1]], &yv = file_.values[n.outputs[0]];
  lite_int8_check(p.act.kind == Act::None || p.act.kind == Act::Relu, Status::InvalidModel,
             w + ": the int8 layers fuse relu only");
  const bool conv = n.op == Op::QConv2d;
  lite_int8_check(wv.dims.size() == (conv ? 4u : 2u), Status::InvalidModel,
             w + (conv ? ": weight must be [O, C/groups, kh, kw]" : ": weight must be [N, K]"));
  auto L = std::make_shared<kernels::QLayer>();
  L->O = wv.dims[0];
  L->K = 1;
  for (size_t d = 1; d < wv.dims.size(); ++d) L->K *= wv.dims[d];
  lite_int8_check(L->O >= 1 && L->K >= 1 && L->K <= (int64_t{1} << 24), Status::InvalidModel, w + ": bad weight shape");
  if (conv) lite_int8_check(L->O % p.groups == 0, Status::InvalidModel, w + ": output channels not divisible by groups");
  // NOTE: the constants below are computed with the same float32 operations, in the same
  // order, as the full runtime's qlinear ops (src/ops/defs/qlinear.cpp), so they are the
  // same bits: m = x_scale * w_scale / y_scale, offset = bias / y_scale (rounding 1:
  // offset / m, the bias in accumulator units).
  const float xs = xv.quant.scales[0], ys = yv.quant.scales[0];
  const bool w_unsigned = wv.dtype == DType::U8;
  const int8_t* wd = reinterpret_cast<const int8_t*>(base_ + wv.data_offset);
  const float* bias = n.inputs.size() > 2 && n.inputs[2] != kNone ? constant(n.inputs[2]) : nullptr;
  if (bias) {
    const ValueInfo& bv = file_.values[n.inputs[2]];
    int64_t bn = 1;
    for (int64_t d : bv.dims) bn *= d;
    lite_int8_check(bn == L->O, Status::InvalidModel, w + ": bias size does not match the output channels");
  }
  L->Kp = (L->K + 3) / 4 * 4;
  L->w.assign(size_t(L->O * L->Kp), 0);
  L->w_zp.resize(size_t(L->O));
  L->mult.resize(size_t(L->O));
  L->bias.assign(size_t(L->O), 0.0f);  // no bias: 0, which leaves both requantization sums unchanged
  for (int64_t o = 0; o < L->O; ++o) {
    const size_t qi = wv.quant.axis == 0 ? size_t(o) : 0;
    const int32_t wz = wv.quant.zero_points[qi] - (w_unsigned ? 128 : 0);
    L->w_zp[size_t(o)] = wz;
    L->w_zp_zero &= wz == 0;
    // Convolution weights go to [O, kh, kw, C/groups] (the im2col row order of kernels_int8.cpp).
    const int64_t cg = conv ? wv.dims[1] : L->K, taps = conv ? wv.dims[2] * wv.dims[3] : 1;
    for (int64_t k = 0; k < L->K; ++k) {
      const int32_t raw = w_unsigned ? int32_t(uint8_t(wd[o * L->K + k])) - 128 : int32_t(wd[o * L->K + k]);
      const int64_t c = k / taps, t = k % taps;
      L->w[size_t(o * L->Kp + t * cg + c)] = int8_t(raw);
    }
    const float m = xs * wv.quant.scales[qi] / ys;
    L->mult[size_t(o)] = m;
    if (bias) {
      const float off = bias[o] / ys;
      L->bias[size_t(o)] = p.rounding == 0 ? off : (m != 0 ? off / m : 0.0f);
    }
  }
  L->x_signed = xv.dtype == DType::I8;
  L->x_zp = xv.quant.zero_points[0] + (L->x_signed ? 128 : 0);
  L->y_signed = yv.dtype == DType::I8;
  L->y_zp = yv.quant.zero_points[0];
  L->relu = p.act.kind == Act::Relu;
  L->rounding = int(p.rounding);
  const int64_t Og = conv ? L->O / p.groups : L->O;
  const bool depthwise = conv && wv.dims[1] == 1 && Og == 1;
  kernels::qlayer_pack(*L, !depthwise && (!conv || p.groups == 1));
  if (conv && p.groups > 1 && !depthwise) {
    for (int64_t g = 0; g < p.groups; ++g) {
      kernels::QLayer G;
      G.O = Og;
      G.K = L->K;
      G.w.assign(L->w.begin() + g * Og * L->Kp, L->w.begin() + (g + 1) * Og * L->Kp);
      kernels::qlayer_pack(G, true);
      L->groups.push_back(std::move(G));
    }
  }
  p.q = std::move(L);
}


// A chain dequantize(x, per tensor) -> activation* -> quantize whose intermediate float values
// have no other reader becomes one table lookup at the quantize node: the table is computed
// by running the same kernels (dequantize, unary, quantize) on the 256 possible bytes, so the
// result is bit-identical to running the chain. The dequantize and activation nodes are
// skipped (no arena space, no work).
void Model::fuse_int8_tables() {
  const size_t nv = file_.values.size();
  std::vector<int> uses(nv, 0);
  std::vector<size_t> consumer(nv, 0);
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (uint32_t id : nodes_[i].inputs)
      if (id != kNone) {
        ++uses[id];
        consumer[id] = i;
      }
  for (uint32_t id : file_.outputs) uses[id] += 2;  // a graph output is never folded away
  // From value v, the single-use activations that follow it (into `chain`) up to a quantize
  // without a table: that quantize's node index, or nodes_.size() when the chain ends elsewhere.
  auto follow_to_quantize = [&](uint32_t v, std::vector<size_t>& chain) {
    while (uses[v] == 1) {
      PreparedNode& c = nodes_[consumer[v]];
      if (c.op == Op::Activation && c.inputs.size() == 1 && !c.skip) {
        chain.push_back(consumer[v]);
        v = c.outputs[0];
        continue;
      }
      if (c.op == Op::Quantize && c.lut.empty()) return consumer[v];
      break;
    }
    return nodes_.size();
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    PreparedNode& dq = nodes_[i];
    if (dq.op != Op::Dequantize || dq.skip || dq.q_axis != -1 || dq.q_scales.size() != 1) continue;
    std::vector<size_t> chain;
    const size_t end = follow_to_quantize(dq.outputs[0], chain);
    if (end == nodes_.size()) continue;
    PreparedNode& q = nodes_[end];
    uint8_t bytes[256];
    float f[256];
    for (int k = 0; k < 256; ++k) bytes[k] = uint8_t(k);
    kernels::dequantize(bytes, dq.q_signed, 1, 1, 256, dq.q_scales.data(), dq.q_zps.data(), f);
    for (size_t c : chain) kernels::unary(f, f, 256, nodes_[c].act);
    q.lut.resize(256);
    kernels::quantize(f, 256, q.q_scales[0], q.q_zps[0], q.q_signed, q.lut.data());
    q.inputs = {dq.inputs[0]};
    for (size_t c : chain) {
      nodes_[c].skip = true;
      nodes_[c].inputs.clear();
    }
    dq.skip = true;
    dq.inputs.clear();
  }

  // The same for a binary op of two dequantized activations of one shape (a residual add):
  // dequantize(a), dequantize(b) -> add/sub/mul/max/min -> activation* -> quantize becomes a
  // 65536-entry table indexed by the two bytes.
  std::vector<size_t> producer(nv, nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (uint32_t id : nodes_[i].outputs) producer[id] = i;
  auto dq_of = [&](uint32_t v) -> PreparedNode* {
    if (v == kNone || uses[v] != 1 || producer[v] == nodes_.size()) return nullptr;
    PreparedNode& d = nodes_[producer[v]];
    if (d.op != Op::Dequantize || d.skip || d.q_axis != -1 || d.q_scales.size() != 1 || d.inputs.size() != 1 ||
        file_.values[d.inputs[0]].kind != ValueKind::Activation)
      return nullptr;
    return &d;
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    PreparedNode& bn = nodes_[i];
    kernels::Binary kind;
    if (bn.op == Op::Add) kind = kernels::Binary::Add;
    else if (bn.op == Op::Sub) kind = kernels::Binary::Sub;
    else if (bn.op == Op::Mul) kind = kernels::Binary::Mul;
    else if (bn.op == Op::Maximum) kind = kernels::Binary::Max;
    else if (bn.op == Op::Minimum) kind = kernels::Binary::Min;
    else continue;
    if (bn.skip || bn.inputs.size() != 2) continue;
    PreparedNode *da = dq_of(bn.inputs[0]), *db = dq_of(bn.inputs[1]);
    if (!da || !db || da == db || file_.values[bn.inputs[0]].dims != file_.values[bn.inputs[1]].dims) continue;
    std::vector<size_t> chain;
    const size_t end = follow_to_quantize(bn.outputs[0], chain);
    if (end == nodes_.size()) continue;
    PreparedNode& q = nodes_[end];
    uint8_t bytes[256];
    float fa[256], fb[256];
    for (int k = 0; k < 256; ++k) bytes[k] = uint8_t(k);
    kernels::dequantize(bytes, da->q_signed, 1, 1, 256, da->q_scales.data(), da->q_zps.data(), fa);
    kernels::dequantize(bytes, db->q_signed, 1, 1, 256, db->q_scales.data(), db->q_zps.data(), fb);
    std::vector<float> A(65536), B(65536), Y(65536);
    for (int k = 0; k < 65536; ++k) {
      A[size_t(k)] = fa[k >> 8];
      B[size_t(k)] = fb[k & 255];
    }
    const int64_t n = 65536, one = 1;
    kernels::binary(kind, 1, &n, A.data(), &one, B.data(), &one, Y.data());
    for (size_t c : chain) kernels::unary(Y.data(), Y.data(), n, nodes_[c].act);
    q.lut.resize(65536);
    kernels::quantize(Y.data(), n, q.q_scales[0], q.q_zps[0], q.q_signed, q.lut.data());
    q.inputs = {da->inputs[0], db->inputs[0]};
    for (PreparedNode* d : {da, db, &bn}) {
      d->skip = true;
      d->inputs.clear();
    }
    for (size_t c : chain) {
      nodes_[c].skip = true;
      nodes_[c].inputs.clear();
    }
  }
}

}  // namespace tlite
