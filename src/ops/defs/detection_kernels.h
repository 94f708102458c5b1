// Detection kernels over plain arrays: greedy non-maximum suppression and RoIAlign (behind
// nms / batched_nms / roi_align, torchvision.ops, and ONNX's NonMaxSuppression and RoiAlign).
// Plain single-purpose loops with no Tensor or backend dependency, kept next to their OpDefs
// (src/ops/defs/detection.cpp), as onnx_ops.cpp keeps its loops.
#pragma once
#include <cstdint>
#include <vector>

namespace tandem::vision_kernels {

// Greedy NMS over n boxes (x1, y1, x2, y2; x1 <= x2, y1 <= y2) in order of decreasing score,
// ties by lower index (a stable sort, as torchvision). A box is suppressed by a kept box of the
// same group (`groups` may be null: one group) whose IoU with it is > iou_threshold. Boxes with
// score <= score_threshold are never kept (pass -inf for none); at most max_keep indices are
// kept (< 0: no limit). IoU is computed in T as torchvision does.
template <typename T>
std::vector<int64_t> nms(const T* boxes, const T* scores, const int64_t* groups, int64_t n,
                         double iou_threshold, double score_threshold, int64_t max_keep);

// Where RoIAlign samples: what roi_align's forward, backward and max mode share.
struct RoiAlignGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input [n, c, h, w]
  int64_t k = 0;                       // boxes [k, 5]: batch index, x1, y1, x2, y2
  int64_t ph = 1, pw = 1;              // output [k, c, ph, pw]
  double spatial_scale = 1.0;
  int64_t sampling_ratio = 0;          // <= 0: ceil(roi size / output size) per roi
  bool aligned = false;                // shift by -0.5 (half_pixel); else roi size >= 1
  bool max_mode = false;               // ONNX RoiAlign mode 'max' (forward only)
};

// Output [k, c, ph, pw]: the average (or ONNX's max) of bilinear samples on a regular grid
// in each bin; samples more than one pixel outside the input read 0. Boxes must have valid
// batch indices (checked by the caller).
template <typename T>
void roi_align_forward(const RoiAlignGeom& g, const T* x, const T* boxes, T* y);
// gx [n, c, h, w] (overwritten) = the adjoint of the average mode applied to gy [k, c, ph, pw].
template <typename T>
void roi_align_backward(const RoiAlignGeom& g, const T* gy, const T* boxes, T* gx);

}  // namespace tandem::vision_kernels
