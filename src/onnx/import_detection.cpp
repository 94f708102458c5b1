// ONNX detection ops: NonMaxSuppression (opsets 10, 11) and RoiAlign (opsets 10, 16), as
// tandem's nms and roi_align (src/ops/defs/detection.cpp).
//
// NonMaxSuppression's output [num_selected, 3] has a data-dependent length: the converter
// reads the kept counts on the host, so a model holding it runs node by node (Model::run
// falls back from the traced plan when a converter reads a run-time value).
#include <cmath>
#include <limits>

#include "importer.h"
#include "tandem/opdef.h"

namespace tandem::onnx::detail {
namespace {

using Ts = std::vector<Tensor>;

// The one value of an optional scalar input (shape [] or [1]), or `fallback` when omitted.
double nms_scalar_input(const Ctx& c, size_t i, double fallback, const char* what) {
  if (!c.has_input(i)) return fallback;
  const Tensor& t = c.in(i);
  if (t.numel() != 1) c.fail(fmt::format("{} must hold one value, got shape {}", what, shape_str(t.shape())));
  return t.to(DType::Float64).item<double>();
}

Ts non_max_suppression_(Ctx& c) {
  const Tensor& boxes = c.in(0);
  const Tensor& scores = c.in(1);
  if (boxes.dim() != 3 || boxes.size(2) != 4)
    c.fail(fmt::format("boxes must be [num_batches, spatial_dimension, 4], got shape {}",
                       shape_str(boxes.shape())));
  if (scores.dim() != 3 || scores.size(0) != boxes.size(0) || scores.size(2) != boxes.size(1))
    c.fail(fmt::format("scores must be [num_batches, num_classes, spatial_dimension] = [{}, C, {}], "
                       "got shape {}", boxes.size(0), boxes.size(1), shape_str(scores.shape())));
  const double max_out = nms_scalar_input(c, 2, 0.0, "max_output_boxes_per_class");
  const double iou = nms_scalar_input(c, 3, 0.0, "iou_threshold");
  const double score_threshold =
      nms_scalar_input(c, 4, -std::numeric_limits<double>::infinity(), "score_threshold");
  if (std::isnan(iou)) c.fail("iou_threshold is NaN");
  const int64_t center = c.i("center_point_box", 0);
  if (center != 0 && center != 1) c.fail(fmt::format("center_point_box must be 0 or 1, got {}", center));

  // Corners as (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, as the IoU ONNX Runtime computes.
  Tensor b = boxes.to(DType::Float32);
  Tensor x1, y1, x2, y2;
  auto col = [&](int64_t i) { return b.select(2, i); };
  if (center == 0) {  // [y1, x1, y2, x2], any two opposite corners
    x1 = minimum(col(1), col(3));
    x2 = maximum(col(1), col(3));
    y1 = minimum(col(0), col(2));
    y2 = maximum(col(0), col(2));
  } else {  // [x_center, y_center, width, height]
    Tensor hw = mul(col(2), scalar_tensor(0.5)), hh = mul(col(3), scalar_tensor(0.5));
    x1 = sub(col(0), hw);
    x2 = add(col(0), hw);
    y1 = sub(col(1), hh);
    y2 = add(col(1), hh);
  }
  Tensor corners = stack({x1, y1, x2, y2}, 2);
  Tensor sc = scores.to(DType::Float32);

  static const OpDef& d = op("nms");
  Attrs a{{"iou_threshold", iou}, {"score_threshold", score_threshold}};
  a.set("max_output", static_cast<int64_t>(std::max(0.0, std::min(max_out, 9.0e18))));
  std::vector<int64_t> rows;
  for (int64_t bi = 0; bi < boxes.size(0); ++bi) {
    for (int64_t ci = 0; ci < scores.size(1); ++ci) {
      Ts r = dispatch(d, {corners.select(0, bi), sc.select(0, bi).select(0, ci), Tensor()}, a);
      const int64_t count = r[1].item<int64_t>();  // data-dependent
      const Tensor keep = r[0].contiguous();
      const int64_t* k = static_cast<const int64_t*>(keep.data_ptr());
      for (int64_t j = 0; j < count; ++j) rows.insert(rows.end(), {bi, ci, k[j]});
    }
  }
  const int64_t n = static_cast<int64_t>(rows.size() / 3);
  return {tensor(rows, Shape{n, 3}, {.dtype = DType::Int64})};
}

Ts roi_align_(Ctx& c) {
  const Tensor& x = c.in(0);
  const Tensor& rois = c.in(1);
  const Tensor& batch = c.in(2);
  if (rois.dim() != 2 || rois.size(1) != 4)
    c.fail(fmt::format("rois must be [num_rois, 4], got shape {}", shape_str(rois.shape())));
  if (batch.dim() != 1 || batch.size(0) != rois.size(0) || !is_integral(batch.dtype()))
    c.fail(fmt::format("batch_indices must be integers of shape [{}], got {} of shape {}",
                       rois.size(0), batch.dtype(), shape_str(batch.shape())));
  const std::string coord = c.s("coordinate_transformation_mode",
                                c.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (coord != "half_pixel" && coord != "output_half_pixel")
    c.fail(fmt::format("unknown coordinate_transformation_mode '{}' (half_pixel, output_half_pixel)", coord));
  const std::string mode = c.s("mode", "avg");
  if (mode != "avg" && mode != "max") c.fail(fmt::format("unknown mode '{}' (avg, max)", mode));
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::Float32;
  Tensor boxes = cat({unsqueeze(batch.to(dt), 1), rois.to(dt)}, 1);
  Attrs a{{"output_size", IntArray{c.i("output_height", 1), c.i("output_width", 1)}},
          {"spatial_scale", c.f("spatial_scale", 1.0)},
          {"sampling_ratio", c.i("sampling_ratio", 0)},
          {"aligned", coord == "half_pixel"},
          {"mode", mode}};
  static const OpDef& d = op("roi_align");
  return {dispatch1(d, {x, boxes}, a)};
}

}  // namespace

void register_detection(std::map<std::string, Converter>& t) {
  t["NonMaxSuppression"] = non_max_suppression_;
  t["RoiAlign"] = roi_align_;
}

}  // namespace tandem::onnx::detail
