// nn ops: dropout and embedding here; pooling in nn_pool.cpp, normalization in nn_norm.cpp.
//
//   dropout(x, p)          -> outputs (y, mask); grad: g * mask
//   embedding(w, idx)      -> grad: embedding_backward(g, idx)      (rows scattered and summed)
//   embedding_backward     -> grad: embedding(gg, idx) with the padding_idx rows zeroed
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../../backend/cpu/loops.h"
#include "defs.h"
#include "nn_util.h"
#include "tandem/generator.h"

namespace tandem {
namespace {

using namespace nn_detail;

void register_dropout() {
  OpDef d;
  d.name = "dropout";
  d.doc = "Training-mode dropout, attr p: outputs y = x * mask and mask (0 or 1/(1-p)), drawn "
          "from the default generator.";
  d.infer = [](const Metas& in, const Attrs& a) {
    check_floating(in[0], "dropout");
    double p = a.get<double>("p");
    TANDEM_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got {}", p);
    return Metas{{in[0].shape, in[0].dtype}, {in[0].shape, in[0].dtype}};
  };
  d.cpu = [](const KernelArgs& k) {
    const Tensor& y = k.outputs[0];
    const double keep = 1.0 - k.attrs.get<double>("p");
    Tensor x = dense(k.inputs[0], y.dtype());
    // Element i is kept when its 32-bit uniform draw is below keep * 2^32; each 64-bit
    // draw of the generator gives two. NOTE: drawn serially in element order, so a seed
    // gives the same mask at any thread count.
    const uint64_t threshold = static_cast<uint64_t>(std::ldexp(keep, 32));
    Generator& gen = default_generator();
    TANDEM_DISPATCH_FLOAT(y.dtype(), "dropout", [&] {
      const scalar_t scale = keep > 0 ? static_cast<scalar_t>(1.0 / keep) : scalar_t(0);
      const scalar_t* xp = cptr<scalar_t>(x);
      scalar_t* yp = optr<scalar_t>(y);
      scalar_t* mp = optr<scalar_t>(k.outputs[1]);
      constexpr int64_t kChunk = 1024;
      uint32_t u[kChunk];
      for (int64_t b = 0; b < y.numel(); b += kChunk) {
        const int64_t n = std::min(kChunk, y.numel() - b);
        for (int64_t i = 0; i < n; i += 2) {
          uint64_t r = gen.next_u64();
          u[i] = static_cast<uint32_t>(r);
          u[i + 1] = static_cast<uint32_t>(r >> 32);
        }
        for (int64_t i = 0; i < n; ++i) {
          scalar_t m = static_cast<scalar_t>(u[i] < threshold) * scale;
          mp[b + i] = m;
          yp[b + i] = xp[b + i] * m;
        }
      }
    });
  };
  // The mask does not depend on x: gradients arriving at output 1 are dropped.
  d.backward = [](const BackwardContext& c) { return Tensors{c.grad(0) * c.output(1)}; };
  d.save_inputs = false;
  d.save_outputs = true;
  register_op(std::move(d));
}

// Checks the indices (int32 or int64) against `rows` and returns them as contiguous int64.
Tensor checked_indices(const Tensor& idx, int64_t rows, const char* op, const Shape& wshape) {
  Tensor i = dense(idx, DType::Int64);
  const int64_t* p = cptr<int64_t>(i);
  for (int64_t k = 0; k < i.numel(); ++k)
    TANDEM_CHECK(p[k] >= 0 && p[k] < rows,
                 "{}: index {} is out of range for a weight with {} rows (shape {})", op, p[k],
                 rows, shape_str(wshape));
  return i;
}

void check_indices_dtype(const TensorMeta& m, const char* op) {
  TANDEM_CHECK(m.dtype == DType::Int64 || m.dtype == DType::Int32,
               "{}: indices must be int64 or int32, got {} (shape {})", op, m.dtype, shape_str(m.shape));
}

void check_padding_idx(const Attrs& a, int64_t rows, const char* op) {
  if (!a.has("padding_idx")) return;
  int64_t pad = a.get<int64_t>("padding_idx");
  TANDEM_CHECK(pad >= 0 && pad < rows, "{}: padding_idx {} must be within [0, {})", op, pad, rows);
}

Attrs padding_attrs(const Attrs& a) {
  Attrs r;
  if (a.has("padding_idx")) r.set("padding_idx", a.get<int64_t>("padding_idx"));
  return r;
}

void register_embedding() {
  {
    OpDef d;
    d.name = "embedding";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.doc = "embedding(weight [V, D], indices) -> weight rows, shape indices.shape + [D]. Attrs "
            "padding_idx (no gradient to that row), zero_padding (that row reads as zeros).";
    d.infer = [](const Metas& in, const Attrs& a) {
      TANDEM_CHECK(in[0].shape.size() == 2,
                   "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape {}",
                   shape_str(in[0].shape));
      check_indices_dtype(in[1], "embedding");
      check_padding_idx(a, in[0].shape[0], "embedding");
      Shape s = in[1].shape;
      s.push_back(in[0].shape[1]);
      return Metas{{s, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      const Shape& ws = k.inputs[0].shape();
      const int64_t V = ws[0], D = ws[1];
      Tensor idx = checked_indices(k.inputs[1], V, "embedding", ws);
      Tensor w = dense(k.inputs[0], k.inputs[0].dtype());
      const int64_t pad = k.attrs.get_or<bool>("zero_padding", false)
                              ? k.attrs.get_or<int64_t>("padding_idx", -1) : -1;
      const int64_t* ip = cptr<int64_t>(idx);
      const char* src = static_cast<const char*>(w.data_ptr());
      char* dst = static_cast<char*>(y.data_ptr());
      const size_t row = static_cast<size_t>(D) * w.itemsize();
      cpu::parallel_for(idx.numel(), std::max<int64_t>(1, 65536 / std::max<int64_t>(D, 1)),
                        [&](int64_t b, int64_t e) {
                          for (int64_t i = b; i < e; ++i) {
                            if (ip[i] == pad) std::memset(dst + i * row, 0, row);
                            else std::memcpy(dst + i * row, src + ip[i] * row, row);
                          }
                        });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& bwd = op("embedding_backward");
      Attrs a = padding_attrs(c.attrs());
      a.set("num_weights", c.input_meta(0).shape[0]);
      return Tensors{dispatch1(bwd, {c.grad(0), c.input(1)}, a), Tensor()};
    };
    d.supports_half = true;  // copies rows as bytes
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "embedding_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.doc = "embedding_backward(g, indices) -> [num_weights, D]: rows of g summed by index, the "
            "padding_idx row left zero.";
    d.infer = [](const Metas& in, const Attrs& a) {
      check_indices_dtype(in[1], "embedding_backward");
      int64_t V = a.get<int64_t>("num_weights");
      check_padding_idx(a, V, "embedding_backward");
      check_floating(in[0], "embedding_backward", "gradient");
      const Shape& g = in[0].shape;
      bool ok = g.size() == in[1].shape.size() + 1 && std::equal(in[1].shape.begin(), in[1].shape.end(), g.begin());
      TANDEM_CHECK(ok, "embedding_backward: gradient of shape {} does not match indices of shape {} "
                   "plus the embedding dim", shape_str(g), shape_str(in[1].shape));
      return Metas{{{V, g.back()}, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gw = k.outputs[0];
      const int64_t V = gw.size(0), D = gw.size(1);
      Tensor idx = checked_indices(k.inputs[1], V, "embedding_backward", gw.shape());
      Tensor g = dense(k.inputs[0], gw.dtype());
      const int64_t pad = k.attrs.get_or<int64_t>("padding_idx", -1), n = idx.numel();
      const int64_t* ip = cptr<int64_t>(idx);
      TANDEM_DISPATCH_FLOAT(gw.dtype(), "embedding_backward", [&] {
        scalar_t* out = optr<scalar_t>(gw);
        const scalar_t* gp = cptr<scalar_t>(g);
        if (gw.numel() == 0) return;
        std::memset(out, 0, sizeof(scalar_t) * gw.numel());
        // Threads split the columns, so repeated indices never race.
        cpu::parallel_for(D, n * D >= 65536 ? 16 : D, [&](int64_t d0, int64_t d1) {
          for (int64_t i = 0; i < n; ++i) {
            if (ip[i] == pad) continue;
            scalar_t* o = out + ip[i] * D;
            const scalar_t* s = gp + i * D;
            for (int64_t j = d0; j < d1; ++j) o[j] += s[j];
          }
        });
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& fwd = op("embedding");
      Attrs a = padding_attrs(c.attrs());
      a.set("zero_padding", true);
      return Tensors{dispatch1(fwd, {c.grad(0), c.input(1)}, a), Tensor()};
    };
    register_op(std::move(d));
  }
}

}  // namespace

namespace defs {

void register_nn() {
  register_nn_pool();
  register_nn_norm();
  register_dropout();
  register_embedding();
}

}  // namespace defs

Tensor dropout(const Tensor& x, double p, bool training) {
  static const OpDef& d = op("dropout");
  TANDEM_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability has to be between 0 and 1, but got {}", p);
  if (!training || p == 0.0) return x;
  return dispatch(d, {x}, {{"p", p}})[0];
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  static const OpDef& d = op("embedding");
  Attrs a;
  if (padding_idx) {
    TANDEM_CHECK(weight.defined() && weight.dim() == 2,
                 "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape {}",
                 weight.defined() ? shape_str(weight.shape()) : "undefined");
    const int64_t V = weight.size(0);
    TANDEM_CHECK(*padding_idx >= -V && *padding_idx < V,
                 "embedding: padding_idx {} must be within num_embeddings ({} rows, shape {})",
                 *padding_idx, V, shape_str(weight.shape()));
    a.set("padding_idx", *padding_idx < 0 ? *padding_idx + V : *padding_idx);
  }
  return dispatch1(d, {weight, indices}, a);
}

}  // namespace tandem
