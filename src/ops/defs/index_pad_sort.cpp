// The rest of the indexing family (index.cpp has the overview): pad, one_hot, sort, topk.
// PyTorch 1.13 semantics; kernels in src/backend/cpu/index_kernels.cpp.
#include <cmath>
#include <cstring>

#include "../../backend/cpu/index_kernels.h"
#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "index_util.h"
#include "tandem/autograd.h"
#include "tandem/ops.h"

namespace tandem {
namespace {

using namespace index_detail;

// ---- pad

enum class PadMode { Constant, Reflect, Replicate, Circular };

PadMode pad_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  if (mode == "circular") return PadMode::Circular;
  TANDEM_FAIL("pad: unknown padding mode '{}' (expected constant, reflect, replicate or circular)", mode);
}

// Output shape and index maps of F.pad(input of `in`, pads, mode), with PyTorch's checks.
cpu::PadPlan plan_pad(const Shape& in, const IntArray& pads, const std::string& mode_name) {
  const PadMode mode = pad_mode(mode_name);
  const int64_t nd = static_cast<int64_t>(in.size()), m = static_cast<int64_t>(pads.size() / 2);
  const std::string ps = fmt::format("[{}]", fmt::join(pads, ", "));
  TANDEM_CHECK(pads.size() % 2 == 0, "pad: the padding length must be divisible by 2, got {} values {}",
               pads.size(), ps);
  TANDEM_CHECK(m <= nd, "pad: padding {} is too long: it pads {} dims but the input of shape {} has {}",
               ps, m, shape_str(in), nd);
  if (mode != PadMode::Constant) {
    // As F.pad: (N,) C, W / H, W / D, H, W; circular always wants the batch dim.
    bool ok = m >= 1 && m <= 3 && (nd == m + 2 || (nd == m + 1 && mode != PadMode::Circular));
    TANDEM_CHECK(ok, "pad: mode '{}' with padding {} needs a {}-D input{}, got shape {}", mode_name, ps,
                 m + 2, mode != PadMode::Circular ? fmt::format(" or a {}-D one", m + 1) : "",
                 shape_str(in));
  }
  cpu::PadPlan p;
  p.in = in;
  p.out = in;
  p.first = nd - m;
  for (int64_t d = p.first; d < nd; ++d) {
    const int64_t k = nd - 1 - d;  // pads are given last dim first
    const int64_t pl = pads[2 * k], pr = pads[2 * k + 1], I = in[d], O = I + pl + pr;
    auto where = [&] { return fmt::format("dimension {} of size {} (input shape {})", d, I, shape_str(in)); };
    TANDEM_CHECK(O >= 0, "pad: padding ({}, {}) of {} gives a negative output size {}", pl, pr, where(), O);
    const int64_t lead = std::max<int64_t>(pl, 0);
    const int64_t C = O - lead - std::max<int64_t>(pr, 0);  // circular: the part that wraps
    switch (mode) {
      case PadMode::Constant: break;
      case PadMode::Reflect:
        TANDEM_CHECK(pl < I && pr < I, "pad: reflect padding ({}, {}) must be less than the size of {}",
                     pl, pr, where());
        TANDEM_CHECK(O >= 1, "pad: reflect padding ({}, {}) of {} leaves an empty output", pl, pr, where());
        break;
      case PadMode::Replicate:
        TANDEM_CHECK(I >= 1 && O >= 1, "pad: replicate padding ({}, {}) needs a non-empty input and "
                     "output along {}", pl, pr, where());
        break;
      case PadMode::Circular:
        TANDEM_CHECK(pl <= I && pr <= I, "pad: circular padding ({}, {}) wraps around {} more than once",
                     pl, pr, where());
        TANDEM_CHECK(O == 0 || C >= 1, "pad: circular padding ({}, {}) of {} leaves nothing to wrap",
                     pl, pr, where());
        break;
    }
    std::vector<int64_t> map(O);
    for (int64_t o = 0; o < O; ++o) {
      int64_t i = o - pl;
      switch (mode) {
        case PadMode::Constant: if (i < 0 || i >= I) i = -1; break;
        case PadMode::Reflect: i = i < 0 ? -i : (i >= I ? 2 * (I - 1) - i : i); break;
        case PadMode::Replicate: i = std::clamp<int64_t>(i, 0, I - 1); break;
        case PadMode::Circular: i = ((o - lead) % C + C) % C + std::max<int64_t>(-pl, 0); break;
      }
      map[o] = i;
    }
    p.out[d] = O;
    p.maps.push_back(std::move(map));
    p.left.push_back(pl);
    p.center0.push_back(std::min(lead, O));
    p.center1.push_back(std::max(p.center0.back(), std::min(O, pl + I)));
  }
  return p;
}

void register_pad() {
  {
    OpDef d;
    d.name = "pad";
    d.doc = "F.pad: attrs `pads` (last dim first; negative crops), `mode` (constant, reflect, "
            "replicate, circular), `value` (constant mode).";
    d.infer = [](const Metas& in, const Attrs& a) {
      const std::string& mode = a.get<std::string>("mode");
      const double v = a.get<double>("value");
      cpu::PadPlan p = plan_pad(in[0].shape, a.get<IntArray>("pads"), mode);
      if (mode == "constant") fill_bytes(in[0].dtype, v, "pad");
      else TANDEM_CHECK(v == 0.0, "pad: mode '{}' does not take a fill value (got {})", mode, v);
      return Metas{{p.out, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      cpu::PadPlan p = plan_pad(x.shape(), k.attrs.get<IntArray>("pads"), k.attrs.get<std::string>("mode"));
      if (p.maps.empty()) {
        cpu::copy_into(k.outputs[0], x);
        return;
      }
      FillBytes f = fill_bytes(x.dtype(), k.attrs.get<double>("value"), "pad");
      cpu::pad_gather(dense(x, x.dtype()), p, f.bytes, k.outputs[0]);
    };
    d.backward = [](const BackwardContext& c) {
      const Attrs& a = c.attrs();
      const IntArray& pads = a.get<IntArray>("pads");
      const std::string& mode = a.get<std::string>("mode");
      if (mode == "constant") {
        // Cropping back what was padded (and zero-padding what was cropped).
        IntArray neg(pads.size());
        for (size_t i = 0; i < pads.size(); ++i) neg[i] = -pads[i];
        return Tensors{pad(c.grad(0), neg)};
      }
      static const OpDef& bwd = op("pad_backward");
      Attrs b{{"pads", pads}, {"mode", mode}, {"input_shape", c.input_meta(0).shape}};
      return Tensors{dispatch1(bwd, {c.grad(0)}, b)};
    };
    d.save_inputs = false;
    d.supports_half = true;  // copies elements as bytes
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "pad_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "The adjoint of a reflect/replicate/circular pad: g summed back onto `input_shape`.";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& s = a.get<IntArray>("input_shape");
      cpu::PadPlan p = plan_pad(s, a.get<IntArray>("pads"), a.get<std::string>("mode"));
      TANDEM_CHECK(is_floating(in[0].dtype), "pad_backward: expected a floating-point gradient, got {}",
                   in[0].dtype);
      TANDEM_CHECK(in[0].shape == p.out, "pad_backward: gradient of shape {} does not match the padded "
                   "shape {} of input shape {}", shape_str(in[0].shape), shape_str(p.out), shape_str(s));
      return Metas{{s, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& out = k.outputs[0];
      cpu::PadPlan p = plan_pad(out.shape(), k.attrs.get<IntArray>("pads"), k.attrs.get<std::string>("mode"));
      if (p.maps.empty()) {
        cpu::copy_into(out, k.inputs[0]);
        return;
      }
      cpu::pad_scatter_add(dense(k.inputs[0], out.dtype()), p, out);
    };
    d.backward = [](const BackwardContext& c) {
      const Attrs& a = c.attrs();
      return Tensors{pad(c.grad(0), a.get<IntArray>("pads"), a.get<std::string>("mode"))};
    };
    d.save_inputs = false;
    register_op(std::move(d));
  }
}

// ---- one_hot

void register_one_hot() {
  OpDef d;
  d.name = "one_hot";
  d.doc = "one_hot(indices int64) with attr `num_classes` -> int64, shape indices.shape + [C].";
  d.infer = [](const Metas& in, const Attrs& a) {
    TANDEM_CHECK(in[0].dtype == DType::Int64,
                 "one_hot: expected an int64 index tensor, got dtype {} (shape {})", in[0].dtype,
                 shape_str(in[0].shape));
    const int64_t c = a.get<int64_t>("num_classes");
    TANDEM_CHECK(c >= 0, "one_hot: num_classes must be -1 (inferred) or non-negative, got {}", c);
    Shape s = in[0].shape;
    s.push_back(c);
    return Metas{{s, DType::Int64}};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& out = k.outputs[0];
    const int64_t c = k.attrs.get<int64_t>("num_classes");
    Tensor idx = dense(k.inputs[0], DType::Int64);
    const int64_t* ip = static_cast<const int64_t*>(idx.data_ptr());
    for (int64_t i = 0; i < idx.numel(); ++i) {
      TANDEM_CHECK(ip[i] >= 0, "one_hot: class values must be non-negative, got {} (indices shape {})",
                   ip[i], shape_str(idx.shape()));
      TANDEM_CHECK(ip[i] < c, "one_hot: class value {} must be smaller than num_classes {} (indices "
                   "shape {})", ip[i], c, shape_str(idx.shape()));
    }
    int64_t* op = static_cast<int64_t*>(out.data_ptr());
    std::memset(op, 0, out.nbytes());
    for (int64_t i = 0; i < idx.numel(); ++i) op[i * c + ip[i]] = 1;
  };
  d.non_differentiable = true;
  register_op(std::move(d));
}

// ---- sort / topk

Tensor indices_backward(const BackwardContext& c, int64_t dim) {
  const Shape& s = c.input_meta(0).shape;
  // Zeros as one broadcast element: scatter_add's kernel writes them in one pass.
  Tensor z = scalar_tensor(0.0, {.dtype = c.grad(0).dtype()}).expand(s);
  return scatter_add(z, dim, c.output(1), c.grad(0));
}

void register_sort_topk() {
  {
    OpDef d;
    d.name = "sort";
    d.doc = "Stable sort along `dim` (`descending`): values and int64 indices; NaN sorts above "
            "every number.";
    d.infer = [](const Metas& in, const Attrs& a) {
      wrap(a.get<int64_t>("dim"), in[0].shape, "sort");
      return Metas{{in[0].shape, in[0].dtype}, {in[0].shape, DType::Int64}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      cpu::sort(x, wrap(k.attrs.get<int64_t>("dim"), x.shape(), "sort"), k.attrs.get<bool>("descending"),
                k.outputs[0], k.outputs[1]);
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{indices_backward(c, wrap(c.attrs().get<int64_t>("dim"), c.input_meta(0).shape, "sort"))};
    };
    d.save_inputs = false;
    d.save_outputs = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "topk";
    d.doc = "The `k` largest (`largest`=false: smallest) along `dim`, in order when `sorted`: "
            "values and int64 indices; NaN counts as the largest.";
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& s = in[0].shape;
      const int64_t dim = wrap(a.get<int64_t>("dim"), s, "topk"), k = a.get<int64_t>("k");
      const int64_t n = s.empty() ? 1 : s[dim];
      TANDEM_CHECK(in[0].dtype != DType::Bool, "topk: dtype bool is not supported (shape {})", shape_str(s));
      TANDEM_CHECK(k >= 0 && k <= n, "topk: k = {} is out of range for dimension {} of size {} (input "
                   "shape {})", k, dim, n, shape_str(s));
      Shape o = s;
      if (!o.empty()) o[dim] = k;
      return Metas{{o, in[0].dtype}, {o, DType::Int64}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& x = k.inputs[0];
      const int64_t n = x.dim() == 0 ? 1 : k.attrs.get<int64_t>("k");  // a 0-dim input gives itself
      cpu::topk(x, wrap(k.attrs.get<int64_t>("dim"), x.shape(), "topk"), n,
                k.attrs.get<bool>("largest"), k.attrs.get<bool>("sorted"), k.outputs[0], k.outputs[1]);
    };
    d.backward = [](const BackwardContext& c) {
      return Tensors{indices_backward(c, wrap(c.attrs().get<int64_t>("dim"), c.input_meta(0).shape, "topk"))};
    };
    d.save_inputs = false;
    d.save_outputs = true;
    register_op(std::move(d));
  }
}

}  // namespace

namespace defs {
void register_index_more() {
  register_pad();
  register_one_hot();
  register_sort_topk();
}
}  // namespace defs

Tensor pad(const Tensor& x, const IntArray& pads, const std::string& mode, double value) {
  static const OpDef& d = op("pad");
  return dispatch1(d, {x}, {{"pads", pads}, {"mode", mode}, {"value", value}});
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  TANDEM_CHECK(indices.dtype() == DType::Int64,
               "one_hot: expected an int64 index tensor, got dtype {} (shape {})", indices.dtype(),
               shape_str(indices.shape()));
  if (num_classes == -1) {
    TANDEM_CHECK(indices.numel() > 0, "one_hot: cannot infer the number of classes from an empty "
                 "tensor (shape {}); pass num_classes", shape_str(indices.shape()));
    Tensor idx = dense(indices, DType::Int64);
    const int64_t* p = static_cast<const int64_t*>(idx.data_ptr());
    int64_t hi = p[0];
    for (int64_t i = 0; i < idx.numel(); ++i) {
      TANDEM_CHECK(p[i] >= 0, "one_hot: class values must be non-negative, got {} (indices shape {})",
                   p[i], shape_str(idx.shape()));
      hi = std::max(hi, p[i]);
    }
    num_classes = hi + 1;
  }
  static const OpDef& d = op("one_hot");
  return dispatch1(d, {indices}, {{"num_classes", num_classes}});
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  static const OpDef& d = op("topk");
  auto outs = dispatch(d, {x}, {{"k", k}, {"dim", dim}, {"largest", largest}, {"sorted", sorted}});
  return {outs[0], outs[1]};
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  static const OpDef& d = op("sort");
  auto outs = dispatch(d, {x}, {{"dim", dim}, {"descending", descending}});
  return {outs[0], outs[1]};
}

}  // namespace tandem
