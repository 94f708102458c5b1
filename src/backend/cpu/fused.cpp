#include "fused.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "elementwise.h"
#include "gemm.h"
#include "loops.h"
#include "onednn.h"
#include "packed_weights.h"

namespace tandem::cpu {
namespace {

struct InputRef {
  const float* data = nullptr;
  int mode = 0;  // 0 contiguous full size, 1 single value, 2 gathered, 3 periodic
  int64_t period = 0;            // mode 3: contiguous over the trailing dims, repeated
  std::vector<int64_t> strides;  // mode 2: element strides expanded to the output shape
};

struct Program {
  const std::vector<int64_t>* code;
  const std::vector<double>* params;
  std::vector<float> imms;
  int64_t nregs = 0;
  std::vector<InputRef> inputs;
  Shape shape;  // output shape before any reduction
};

// Fills buf[0, n) with input `in` at flat output positions [b0, b0 + n).
void gather(const InputRef& in, const Shape& shape, int64_t b0, int64_t n, float* buf) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx(nd);
  int64_t off = 0, r = b0;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = r % shape[d];
    r /= shape[d];
    off += idx[d] * in.strides[d];
  }
  for (int64_t j = 0; j < n; ++j) {
    buf[j] = in.data[off];
    for (int64_t d = nd - 1; d >= 0; --d) {
      off += in.strides[d];
      if (++idx[d] < shape[d]) break;
      off -= in.strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Evaluates the program on elements [b0, b0 + n) into out[0, n).
void eval_block(const Program& p, int64_t b0, int64_t n, float* out, float* regs, float* gathered,
                std::vector<const float*>& ptr, std::vector<int64_t>& st) {
  const IsaKernels& K = kernels();
  for (size_t k = 0, g = 0; k < p.inputs.size(); ++k) {
    const InputRef& in = p.inputs[k];
    if (in.mode == 0) {
      ptr[k] = in.data + b0;
      st[k] = 1;
    } else if (in.mode == 1) {
      ptr[k] = in.data;
      st[k] = 0;
    } else if (in.mode == 3 && b0 % in.period + n <= in.period) {
      ptr[k] = in.data + b0 % in.period;  // the block lies inside one period: no copy
      st[k] = 1;
    } else if (in.mode == 3) {
      float* buf = gathered + (g++) * kFusedBlock;
      for (int64_t j = 0, i = b0 % in.period; j < n;) {
        int64_t take = std::min(n - j, in.period - i);
        std::copy(in.data + i, in.data + i + take, buf + j);
        j += take;
        i = 0;
      }
      ptr[k] = buf;
      st[k] = 1;
    } else {
      float* buf = gathered + (g++) * kFusedBlock;
      gather(in, p.shape, b0, n, buf);
      ptr[k] = buf;
      st[k] = 1;
    }
  }
  auto operand = [&](int64_t v, int64_t& stride) -> const float* {
    if (v >= kImmBase) {
      stride = 0;
      return &p.imms[v - kImmBase];
    }
    if (v >= kInputBase) {
      stride = st[v - kInputBase];
      return ptr[v - kInputBase];
    }
    stride = 1;
    return regs + v * kFusedBlock;
  };
  const std::vector<int64_t>& code = *p.code;
  const size_t ni = code.size() / kInstr;
  for (size_t i = 0; i < ni; ++i) {
    const int64_t* c = code.data() + i * kInstr;
    const double* pr = p.params->data() + i * 3;
    EwParams ep{pr[0], pr[1], pr[2]};
    float* dst = c[2] < 0 ? out : regs + c[2] * kFusedBlock;
    int64_t sa = 0, sb = 0;
    const float* a = operand(c[3], sa);
    if (c[0] == 0) {
      K.unary[c[1]][0](a, sa, dst, n, ep);
    } else {
      const float* b = operand(c[4], sb);
      K.binary[c[1]][0](a, sa, b, sb, dst, n, ep);
    }
  }
}

}  // namespace

void fused_elementwise_kernel(const KernelArgs& k) {
  Program p;
  p.code = &k.attrs.get<std::vector<int64_t>>("code");
  p.params = &k.attrs.get<std::vector<double>>("params");
  for (double v : k.attrs.get<std::vector<double>>("imms")) p.imms.push_back(static_cast<float>(v));
  p.nregs = k.attrs.get<int64_t>("nregs");
  const int64_t reduce = k.attrs.get_or<int64_t>("reduce", 0);
  TANDEM_CHECK(p.code->size() % kInstr == 0 && p.params->size() * kInstr == p.code->size() * 3,
               "fused_elementwise: malformed program ({} code ints, {} params)", p.code->size(),
               p.params->size());
  // The shape the program runs over: the broadcast of the inputs.
  Shape shape;
  for (const Tensor& t : k.inputs) {
    const Shape& s = t.shape();
    if (s.size() > shape.size()) shape.insert(shape.begin(), s.size() - shape.size(), 1);
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& d = shape[shape.size() - s.size() + i];
      if (d == 1) d = s[i];
    }
  }
  p.shape = shape;
  const int64_t numel = shape_numel(shape);
  int ngathered = 0;
  std::vector<Tensor> keep;
  for (const Tensor& t : k.inputs) {
    TANDEM_CHECK(t.dtype() == DType::Float32, "fused_elementwise: float32 inputs only, got {}",
                 dtype_name(t.dtype()));
    InputRef in;
    in.data = static_cast<const float*>(t.data_ptr());
    if (t.numel() == 1) {
      in.mode = 1;
    } else if (t.shape() == shape && t.is_contiguous()) {
      in.mode = 0;
    } else {
      in.mode = 2;
      ++ngathered;
      in.strides.assign(shape.size(), 0);
      const size_t lead = shape.size() - t.dim();
      for (size_t d = 0; d < static_cast<size_t>(t.dim()); ++d)
        if (t.size(d) != 1) in.strides[lead + d] = t.stride(d);
      // Periodic: the expanded strides are 0 on leading dims, then contiguous strides over
      // the trailing dims (a bias [C] against [N, C]): element i is data[i % numel].
      int64_t expect = 1, d = static_cast<int64_t>(shape.size()) - 1;
      for (; d >= 0 && (in.strides[d] == expect || shape[d] == 1); --d) expect *= shape[d];
      bool rest_zero = true;
      for (int64_t e = d; e >= 0; --e) rest_zero &= in.strides[e] == 0 || shape[e] == 1;
      if (t.is_contiguous() && rest_zero && expect == t.numel()) {
        in.mode = 3;
        in.period = expect;
      }
    }
    p.inputs.push_back(std::move(in));
  }
  float* out = static_cast<float*>(k.outputs[0].data_ptr());
  const int64_t scratch = (p.nregs + ngathered + 1) * kFusedBlock;
  if (numel == 0) {
    if (reduce) std::fill(out, out + k.outputs[0].numel(), 0.0f);
    return;
  }
  if (reduce == 0) {
    const int64_t blocks = (numel + kFusedBlock - 1) / kFusedBlock;
    parallel_for(blocks, 64, [&](int64_t r0, int64_t r1) {
      std::vector<float> buf(scratch);
      std::vector<const float*> ptr(p.inputs.size());
      std::vector<int64_t> st(p.inputs.size());
      for (int64_t bl = r0; bl < r1; ++bl) {
        int64_t b0 = bl * kFusedBlock, n = std::min(kFusedBlock, numel - b0);
        eval_block(p, b0, n, out + b0, buf.data(), buf.data() + p.nregs * kFusedBlock, ptr, st);
      }
    });
    return;
  }
  // Trailing reduction over the last dim: threads split rows; each block's results are
  // summed into their rows in double.
  const int64_t L = shape.empty() ? 1 : shape.back(), rows = numel / L;
  const bool mean = reduce == 2;
  parallel_for(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(L, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<float> buf(scratch);
    std::vector<const float*> ptr(p.inputs.size());
    std::vector<int64_t> st(p.inputs.size());
    float* res = buf.data() + (p.nregs + ngathered) * kFusedBlock;
    const int64_t e0 = r0 * L, e1 = r1 * L;
    int64_t row = r0, in_row = 0;
    double acc = 0;
    for (int64_t b0 = e0; b0 < e1; b0 += kFusedBlock) {
      int64_t n = std::min(kFusedBlock, e1 - b0);
      eval_block(p, b0, n, res, buf.data(), buf.data() + p.nregs * kFusedBlock, ptr, st);
      for (int64_t j = 0; j < n;) {
        int64_t take = std::min(n - j, L - in_row);
        float part = 0;
        for (int64_t t = 0; t < take; ++t) part += res[j + t];
        acc += part;
        j += take;
        in_row += take;
        if (in_row == L) {
          out[row++] = static_cast<float>(mean ? acc / static_cast<double>(L) : acc);
          acc = 0;
          in_row = 0;
        }
      }
    }
  });
}

namespace {
struct LinearPrim {
  dnnl::matmul prim;
  onednn::Args args;  // src, weights, dst[, bias]
  dnnl::memory::desc user_w, packed_w;  // prepacked: w's plain [K, N] view and the primitive's layout
};
}  // namespace

bool linear_onednn(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& out, const Activation* act,
                   bool prepacked) {
  namespace dn = onednn;
  if (out.dtype() != DType::Float32 || x.dtype() != DType::Float32 || w.dtype() != DType::Float32) return false;
  if (x.dim() < 1 || w.dim() != 2 || !x.is_contiguous() || !w.is_contiguous() || !out.is_contiguous()) return false;
  if (bias.defined() && (bias.dtype() != DType::Float32 || !bias.is_contiguous())) return false;
  const int64_t K = w.size(1), N = w.size(0);
  if (x.size(-1) != K || out.numel() % std::max<int64_t>(N, 1) != 0) return false;
  const int64_t M = x.numel() / std::max<int64_t>(K, 1);  // leading dims folded into rows
  // Large GEMMs go through dnnl_sgemm in cpu::gemm (faster there); keep them on that path.
  if (M == 0 || K == 0 || N == 0 || M * N * K >= (int64_t{1} << 29)) return false;
  // A few rows: cpu::gemm's dot-product path (gemm.cpp) is as fast as packed weights here
  // (measured 1x3136 @ [128,3136]ᵀ 23 vs 21 µs at 1 thread, level at 2; 1x512 @ [256,512]ᵀ
  // 5.2 vs 6.7 µs) and faster than unpacked ones; taking it keeps linear_act bit-identical to
  // linear then the activation, as eager runs it.
  if (few_rows_path(M, K)) return false;
  dn::Key key("linear_act");
  key.add(M).add(K).add(N).add(int64_t{bias.defined()}).add(int64_t{prepacked});
  dnnl::post_ops po;
  if (act != nullptr && !dn::append_activation(po, key, act->op, act->p0, act->p1)) return false;
  auto p = dn::cached<LinearPrim>(key, [&] {
    LinearPrim m;
    dnnl::memory::desc amd = dn::md({M, K}, {K, 1}, DType::Float32), bmd = dn::md({K, N}, {1, K}, DType::Float32),
                       cmd = dn::md({M, N}, {N, 1}, DType::Float32);
    // Prepacked: the primitive picks its weight layout (`any`); packed_weights reorders w into it once.
    dnnl::memory::desc wmd = prepacked ? dnnl::memory::desc({K, N}, dnnl::memory::data_type::f32,
                                                            dnnl::memory::format_tag::any)
                                       : bmd;
    dnnl::primitive_attr attr = dn::attr();
    attr.set_post_ops(po);
    dnnl::memory::desc biasmd = dn::md({1, N}, {N, 1}, DType::Float32);
    auto pd = bias.defined()
                  ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(amd, wmd, biasmd, cmd), attr, dn::engine())
                  : dnnl::matmul::primitive_desc(dnnl::matmul::desc(amd, wmd, cmd), attr, dn::engine());
    m.prim = dnnl::matmul(pd);
    m.user_w = bmd;
    m.packed_w = pd.weights_desc();
    m.args.add(DNNL_ARG_SRC, amd).add(DNNL_ARG_WEIGHTS, m.packed_w).add(DNNL_ARG_DST, cmd);
    if (bias.defined()) m.args.add(DNNL_ARG_BIAS, biasmd);
    return m;
  });
  void* px = const_cast<void*>(x.data_ptr());
  dnnl::memory packed;  // holds the packed buffer for the duration of the call
  void* pw = const_cast<void*>(w.data_ptr());
  if (prepacked) {
    packed = packed_weights::get(w, p->user_w, p->packed_w);
    pw = packed.get_data_handle();
  }
  if (bias.defined()) p->args.execute(p->prim, {px, pw, out.data_ptr(), const_cast<void*>(bias.data_ptr())});
  else p->args.execute(p->prim, {px, pw, out.data_ptr()});
  return true;
}

void activation_inplace(const Tensor& out, Unary act, double p0, double p1) {
  const int64_t n = out.numel();
  const int dt = out.dtype() == DType::Float32 ? 0 : 1;
  TANDEM_CHECK(out.dtype() == DType::Float32 || out.dtype() == DType::Float64,
               "fused activation: float32/float64 only, got {}", dtype_name(out.dtype()));
  const size_t es = out.itemsize();
  char* base = static_cast<char*>(out.data_ptr());
  UnaryKernel kern = kernels().unary[static_cast<int>(act)][dt];
  EwParams ep{1.0, p0, p1};
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { kern(base + b * es, 1, base + b * es, e - b, ep); });
}

}  // namespace tandem::cpu
