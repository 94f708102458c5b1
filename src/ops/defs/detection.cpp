// Detection ops (torchvision.ops): nms (batched_nms through its optional group input),
// roi_align and its adjoint roi_align_backward. Kernels: detection_kernels.h.
//
//   nms(boxes [N, 4], scores [N], groups [N] int64 or none) -> keep [N] int64, count [] int64:
//       the kept indices by decreasing score, padded with -1 after the first `count`
//       (a fixed output shape; the public nms() reads `count` and slices, a data-dependent
//       step: tandem::compile refuses to trace it, onnx::Model runs such a model node by node)
//   roi_align(x [N, C, H, W], boxes [K, 5]) -> [K, C, ph, pw]; linear in x, so
//       roi_align(x)              -> grad: roi_align_backward(g)
//       roi_align_backward(g)     -> grad: roi_align(gg)
//   and gradients of any order work. Boxes get no gradient (as torchvision).
#include <cmath>
#include <limits>

#include "detection_kernels.h"
#include "defs.h"
#include "nn_util.h"
#include "tandem/vision_ops.h"

namespace tandem {
namespace {

using namespace nn_detail;

vision_kernels::RoiAlignGeom roi_geom_of(const Shape& x, const Shape& boxes, const Attrs& a,
                              const char* op) {
  TANDEM_CHECK(x.size() == 4, "{}: expected a 4-D input [N, C, H, W], got shape {}", op,
               shape_str(x));
  TANDEM_CHECK(boxes.size() == 2 && boxes[1] == 5,
               "{}: expected boxes of shape [K, 5] (batch index, x1, y1, x2, y2), got shape {}",
               op, shape_str(boxes));
  const IntArray& os = a.get<IntArray>("output_size");
  TANDEM_CHECK(os.size() == 2 && os[0] > 0 && os[1] > 0,
               "{}: output_size must be two positive sizes [height, width], got {}", op,
               shape_str(os));
  vision_kernels::RoiAlignGeom g;
  g.n = x[0];
  g.c = x[1];
  g.h = x[2];
  g.w = x[3];
  g.k = boxes[0];
  g.ph = os[0];
  g.pw = os[1];
  g.spatial_scale = a.get_or<double>("spatial_scale", 1.0);
  TANDEM_CHECK(std::isfinite(g.spatial_scale), "{}: spatial_scale must be finite, got {}", op,
               g.spatial_scale);
  g.sampling_ratio = a.get_or<int64_t>("sampling_ratio", -1);
  g.aligned = a.get_or<bool>("aligned", false);
  const std::string mode = a.get_or<std::string>("mode", "avg");
  TANDEM_CHECK(mode == "avg" || mode == "max", "{}: unknown mode '{}' (avg, max)", op, mode);
  g.max_mode = mode == "max";
  return g;
}

// Boxes as a dense array of dtype dt, every batch index checked.
Tensor roi_boxes(const Tensor& boxes, DType dt, int64_t n, const char* op) {
  Tensor b = dense(boxes, dt);
  for_float(b, op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* p = cptr<T>(b);
    for (int64_t r = 0; r < b.size(0); ++r) {
      const T bi = p[5 * r];
      TANDEM_CHECK(std::isfinite(static_cast<double>(bi)) && bi >= 0 && bi < static_cast<T>(n) &&
                       bi == std::floor(bi),
                   "{}: box {} has batch index {}, expected an integer in [0, {})", op, r,
                   static_cast<double>(bi), n);
    }
  });
  return b;
}

}  // namespace

namespace defs {
void register_detection() {
  {
    OpDef d;
    d.name = "nms";
    d.no_onnx_export = "its output length depends on the data, which a traced graph cannot hold";
    d.doc = "Greedy non-maximum suppression (torchvision.ops.nms; batched_nms with groups): "
            "kept indices by decreasing score padded with -1, and their count.";
    d.num_inputs = 3;
    d.optional_inputs = {2};
    d.infer = [](const Metas& in, const Attrs&) {
      TANDEM_CHECK(in[0].shape.size() == 2 && in[0].shape[1] == 4,
                   "nms: expected boxes of shape [N, 4] (x1, y1, x2, y2), got shape {}",
                   shape_str(in[0].shape));
      check_floating(in[0], "nms", "boxes");
      check_floating(in[1], "nms", "scores");
      const int64_t n = in[0].shape[0];
      TANDEM_CHECK(in[1].shape == Shape{n}, "nms: expected scores of shape [{}] for boxes of "
                   "shape {}, got shape {}", n, shape_str(in[0].shape), shape_str(in[1].shape));
      if (in[2].defined)
        TANDEM_CHECK(in[2].shape == Shape{n} && is_integral(in[2].dtype),
                     "batched_nms: expected integer idxs of shape [{}], got {} of shape {}", n,
                     in[2].dtype, shape_str(in[2].shape));
      return Metas{{{n}, DType::Int64}, {{}, DType::Int64}};
    };
    d.cpu = [](const KernelArgs& k) {
      const DType dt = promote_types(k.inputs[0].dtype(), k.inputs[1].dtype());
      Tensor boxes = dense(k.inputs[0], dt), scores = dense(k.inputs[1], dt);
      Tensor groups = dense(k.inputs[2], DType::Int64);
      const double iou = k.attrs.get<double>("iou_threshold");
      const double st = k.attrs.get_or<double>("score_threshold",
                                               -std::numeric_limits<double>::infinity());
      const int64_t max_keep = k.attrs.get_or<int64_t>("max_output", -1);
      std::vector<int64_t> keep;
      for_float(boxes, "nms", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        keep = vision_kernels::nms<T>(cptr<T>(boxes), cptr<T>(scores), cptr<int64_t>(groups),
                           boxes.size(0), iou, st, max_keep);
      });
      int64_t* out = static_cast<int64_t*>(k.outputs[0].data_ptr());
      for (int64_t i = 0; i < k.outputs[0].numel(); ++i)
        out[i] = i < static_cast<int64_t>(keep.size()) ? keep[static_cast<size_t>(i)] : -1;
      *static_cast<int64_t*>(k.outputs[1].data_ptr()) = static_cast<int64_t>(keep.size());
    };
    d.non_differentiable = true;
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "roi_align";
    d.doc = "RoIAlign (torchvision.ops.roi_align, ONNX RoiAlign): bilinear samples averaged "
            "(or, mode max, ONNX's max) over each bin of each box [batch, x1, y1, x2, y2].";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.infer = [](const Metas& in, const Attrs& a) {
      check_floating(in[0], "roi_align");
      check_floating(in[1], "roi_align", "boxes");
      vision_kernels::RoiAlignGeom g = roi_geom_of(in[0].shape, in[1].shape, a, "roi_align");
      return Metas{{{g.k, g.c, g.ph, g.pw}, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& y = k.outputs[0];
      Tensor x = dense(k.inputs[0], y.dtype());
      vision_kernels::RoiAlignGeom g = roi_geom_of(x.shape(), k.inputs[1].shape(), k.attrs, "roi_align");
      Tensor boxes = roi_boxes(k.inputs[1], y.dtype(), g.n, "roi_align");
      for_float(y, "roi_align", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (y.numel() == 0) return;
        vision_kernels::roi_align_forward<T>(g, cptr<T>(x), cptr<T>(boxes), optr<T>(y));
      });
    };
    d.backward = [](const BackwardContext& c) {
      TANDEM_CHECK(c.attrs().get_or<std::string>("mode", "avg") == "avg",
                   "roi_align: only mode 'avg' has a gradient");
      static const OpDef& bwd = op("roi_align_backward");
      Attrs a = c.attrs();
      a.set("input_size", c.input_meta(0).shape);
      return Tensors{dispatch1(bwd, {c.grad(0), c.input(1)}, a), Tensor()};
    };
    register_op(std::move(d));
  }
  {
    OpDef d;
    d.name = "roi_align_backward";
    d.no_onnx_export = "a gradient op (training graphs only)";
    d.doc = "The adjoint of roi_align in x (attrs as roi_align's, plus input_size).";
    d.num_inputs = 2;
    d.nondiff_inputs = {1};
    d.infer = [](const Metas& in, const Attrs& a) {
      const Shape& is = a.get<IntArray>("input_size");
      check_floating(in[0], "roi_align_backward", "gradient");
      vision_kernels::RoiAlignGeom g = roi_geom_of(is, in[1].shape, a, "roi_align_backward");
      TANDEM_CHECK(!g.max_mode, "roi_align_backward: only mode 'avg' has a gradient");
      TANDEM_CHECK(in[0].shape == (Shape{g.k, g.c, g.ph, g.pw}),
                   "roi_align_backward: gradient of shape {} does not match the output shape "
                   "[{}, {}, {}, {}]", shape_str(in[0].shape), g.k, g.c, g.ph, g.pw);
      return Metas{{is, in[0].dtype}};
    };
    d.cpu = [](const KernelArgs& k) {
      const Tensor& gx = k.outputs[0];
      Tensor gy = dense(k.inputs[0], gx.dtype());
      vision_kernels::RoiAlignGeom g = roi_geom_of(gx.shape(), k.inputs[1].shape(), k.attrs,
                                        "roi_align_backward");
      Tensor boxes = roi_boxes(k.inputs[1], gx.dtype(), g.n, "roi_align_backward");
      for_float(gx, "roi_align_backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (gx.numel() == 0) return;
        vision_kernels::roi_align_backward<T>(g, cptr<T>(gy), cptr<T>(boxes), optr<T>(gx));
      });
    };
    d.backward = [](const BackwardContext& c) {
      static const OpDef& fwd = op("roi_align");
      return Tensors{dispatch1(fwd, {c.grad(0), c.input(1)}, c.attrs()), Tensor()};
    };
    register_op(std::move(d));
  }
}
}  // namespace defs

// ---- public functions --------------------------------------------------------------------

namespace {
Tensor nms_run(const Tensor& boxes, const Tensor& scores, const Tensor& idxs, double iou) {
  static const OpDef& d = op("nms");
  TANDEM_CHECK(!std::isnan(iou), "nms: iou_threshold is NaN");
  std::vector<Tensor> r = dispatch(d, {boxes, scores, idxs}, Attrs{{"iou_threshold", iou}});
  const int64_t count = r[1].item<int64_t>();  // data-dependent: the kept count
  return r[0].slice(0, 0, count).contiguous();
}

// The four coordinates of [N, 4] boxes as [N] tensors.
std::vector<Tensor> box_columns(const Tensor& boxes, const char* op) {
  TANDEM_CHECK(boxes.dim() == 2 && boxes.size(1) == 4,
               "{}: expected boxes of shape [N, 4], got shape {}", op, shape_str(boxes.shape()));
  return {boxes.select(1, 0), boxes.select(1, 1), boxes.select(1, 2), boxes.select(1, 3)};
}
}  // namespace

Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold) {
  return nms_run(boxes, scores, Tensor(), iou_threshold);
}

Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& idxs,
                   double iou_threshold) {
  TANDEM_CHECK(idxs.defined(), "batched_nms: idxs is undefined");
  return nms_run(boxes, scores, idxs, iou_threshold);
}

Tensor box_area(const Tensor& boxes) {
  auto c = box_columns(boxes, "box_area");
  return mul(sub(c[2], c[0]), sub(c[3], c[1]));
}

Tensor box_iou(const Tensor& boxes1, const Tensor& boxes2) {
  auto a = box_columns(boxes1, "box_iou"), b = box_columns(boxes2, "box_iou");
  auto col = [](const Tensor& t) { return unsqueeze(t, 1); };  // [N, 1] against [M]
  Tensor w = clamp(sub(minimum(col(a[2]), b[2]), maximum(col(a[0]), b[0])), 0.0, std::nullopt);
  Tensor h = clamp(sub(minimum(col(a[3]), b[3]), maximum(col(a[1]), b[1])), 0.0, std::nullopt);
  Tensor inter = mul(w, h);
  Tensor uni = sub(add(col(box_area(boxes1)), box_area(boxes2)), inter);
  return div(inter, uni);
}

Tensor box_convert(const Tensor& boxes, const std::string& in_fmt, const std::string& out_fmt) {
  for (const std::string* f : {&in_fmt, &out_fmt})
    TANDEM_CHECK(*f == "xyxy" || *f == "xywh" || *f == "cxcywh",
                 "box_convert: unknown box format '{}' (xyxy, xywh, cxcywh)", *f);
  auto c = box_columns(boxes, "box_convert");
  if (in_fmt == out_fmt) return boxes.clone();
  // To xyxy first, as torchvision.
  Tensor x1 = c[0], y1 = c[1], x2 = c[2], y2 = c[3];
  if (in_fmt == "xywh") {
    x2 = add(c[0], c[2]);
    y2 = add(c[1], c[3]);
  } else if (in_fmt == "cxcywh") {
    Tensor hw = mul(c[2], scalar_tensor(0.5)), hh = mul(c[3], scalar_tensor(0.5));
    x1 = sub(c[0], hw);
    y1 = sub(c[1], hh);
    x2 = add(c[0], hw);
    y2 = add(c[1], hh);
  }
  if (out_fmt == "xyxy") return stack({x1, y1, x2, y2}, -1);
  Tensor w = sub(x2, x1), h = sub(y2, y1);
  if (out_fmt == "xywh") return stack({x1, y1, w, h}, -1);
  Tensor cx = div(add(x1, x2), scalar_tensor(2.0)), cy = div(add(y1, y2), scalar_tensor(2.0));
  return stack({cx, cy, w, h}, -1);
}

Tensor roi_align(const Tensor& input, const Tensor& boxes, const IntArray& output_size,
                 double spatial_scale, int64_t sampling_ratio, bool aligned) {
  static const OpDef& d = op("roi_align");
  IntArray os = output_size;
  if (os.size() == 1) os.push_back(os[0]);
  Attrs a{{"output_size", os},
          {"spatial_scale", spatial_scale},
          {"sampling_ratio", sampling_ratio},
          {"aligned", aligned}};
  return dispatch1(d, {input, boxes}, a);
}

}  // namespace tandem
