// Detection ops as in torchvision.ops: box utilities, non-maximum suppression, RoIAlign.
//
//   Tensor boxes = tensor({0, 0, 10, 10,  1, 1, 11, 11,  20, 20, 30, 30}).reshape({3, 4});
//   Tensor scores = tensor({0.9, 0.8, 0.7});
//   Tensor keep = nms(boxes, scores, 0.5);          // int64 {0, 2}: box 1 overlaps box 0
//   Tensor iou = box_iou(boxes, boxes);             // [3, 3]
//   Tensor feats = roi_align(x, rois, {7, 7}, 1.0 / 16, 2, true);  // rois [K, 5]
//
// Boxes are [N, 4] in (x1, y1, x2, y2) unless a format says otherwise. nms, batched_nms and
// roi_align dispatch the OpDefs of src/ops/defs/detection.cpp; the box utilities are
// compositions of other ops (differentiable, like torchvision's).
#pragma once
#include <string>

#include "tandem/tensor.h"

namespace tandem {

// Areas (x2 - x1) * (y2 - y1), shape [N].
Tensor box_area(const Tensor& boxes);
// Pairwise intersection over union of [N, 4] and [M, 4] boxes, shape [N, M].
Tensor box_iou(const Tensor& boxes1, const Tensor& boxes2);
// Between "xyxy", "xywh" (top-left corner, width, height) and "cxcywh" (center, width, height).
Tensor box_convert(const Tensor& boxes, const std::string& in_fmt, const std::string& out_fmt);

// Indices (int64) of the boxes kept by greedy non-maximum suppression, by decreasing score
// (equal scores: lower index first). A box is dropped when its IoU with a kept, higher-scoring
// box is > iou_threshold. The result's length depends on the values: tandem::compile cannot
// trace a function that calls nms (an Error names the read), and an imported ONNX model with
// NonMaxSuppression runs node by node.
Tensor nms(const Tensor& boxes, const Tensor& scores, double iou_threshold);
// nms within each category of idxs ([N] integers): boxes of different categories never
// suppress each other. Indices by decreasing score over all categories.
Tensor batched_nms(const Tensor& boxes, const Tensor& scores, const Tensor& idxs,
                   double iou_threshold);

// RoIAlign over input [N, C, H, W] and boxes [K, 5] (batch index, x1, y1, x2, y2 in input
// coordinates before spatial_scale): [K, C, output_size[0], output_size[1]] (one size: square).
// sampling_ratio <= 0 samples ceil(box size / output size) points per bin and axis; aligned
// shifts the box by -0.5 pixel (otherwise a box is at least 1x1). Differentiable in input.
Tensor roi_align(const Tensor& input, const Tensor& boxes, const IntArray& output_size,
                 double spatial_scale = 1.0, int64_t sampling_ratio = -1, bool aligned = false);

}  // namespace tandem
