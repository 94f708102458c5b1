// Detection ops (tandem/vision_ops.h) against torchvision 0.14 (tests/reference/gen_detection.py):
// box utilities and their gradients, nms / batched_nms with tied scores, roi_align values and
// input gradients in float32 and float64; finite-difference gradchecks (first and second order)
// and every argument error.
#include <cmath>
#include <limits>
#include <string>

#include "grad_cases.h"
#include "tandem/graph/compile.h"

using namespace tandem;
using namespace tandem::testing;

namespace {

Tensor det_ref(const std::string& name) { return load_npy("detection/" + name + ".npy"); }

// d/dx of sum(y * w) for each x.
std::vector<Tensor> grads_of(const Tensor& y, const Tensor& w, const std::vector<Tensor>& xs) {
  return tandem::grad({(y * w).sum()}, xs);
}

struct RoiCase {
  const char* name;
  IntArray output_size;
  double spatial_scale;
  int64_t sampling_ratio;
  bool aligned;
};
// As ROI_CASES in gen_detection.py.
const RoiCase kRoiCases[] = {
    {"basic", {3, 3}, 1.0, 2, false},
    {"aligned", {3, 4}, 1.0, 2, true},
    {"adaptive", {2, 3}, 0.5, 0, false},
    {"adaptive_aligned", {4, 2}, 0.5, -1, true},
    {"scale", {5, 5}, 0.25, 3, false},
};

}  // namespace

TEST(Detection, BoxAreaAndConvertMatchTorchvision) {
  Tensor a = det_ref("boxes_a");
  EXPECT_ALL_CLOSE(box_area(a), det_ref("box_area"), 1e-12, 1e-12);
  for (const char* in : {"xyxy", "xywh", "cxcywh"})
    for (const char* out : {"xyxy", "xywh", "cxcywh"}) {
      SCOPED_TRACE(std::string(in) + " -> " + out);
      EXPECT_ALL_CLOSE(box_convert(a, in, out), det_ref(std::string("convert_") + in + "_" + out),
                       1e-12, 1e-12);
    }
  // Round trips through each format come back.
  EXPECT_ALL_CLOSE(box_convert(box_convert(a, "xyxy", "cxcywh"), "cxcywh", "xywh"),
                   det_ref("convert_xyxy_xywh"), 1e-12, 1e-12);
}

TEST(Detection, BoxIouAndItsGradientMatchTorchvision) {
  Tensor a = det_ref("boxes_a").requires_grad_(), b = det_ref("boxes_b").requires_grad_();
  Tensor iou = box_iou(a, b);
  EXPECT_ALL_CLOSE(iou, det_ref("box_iou"), 1e-12, 1e-10);
  auto g = grads_of(iou, det_ref("box_iou_w"), {a, b});
  EXPECT_ALL_CLOSE(g[0], det_ref("box_iou_ga"), 1e-10, 1e-8);
  EXPECT_ALL_CLOSE(g[1], det_ref("box_iou_gb"), 1e-10, 1e-8);
}

TEST(Detection, NmsKeepsTorchvisionsIndicesInOrder) {
  Tensor boxes = det_ref("nms_boxes"), scores = det_ref("nms_scores"), idxs = det_ref("nms_idxs");
  for (const char* t : {"0.3", "0.5", "0.7"}) {
    SCOPED_TRACE(t);
    const double thr = std::stod(t);
    Tensor keep = nms(boxes, scores, thr);
    EXPECT_EQ(keep.dtype(), DType::Int64);
    EXPECT_ALL_CLOSE(keep, det_ref(std::string("nms_keep_") + t), 0, 0);
    EXPECT_ALL_CLOSE(batched_nms(boxes, scores, idxs, thr), det_ref(std::string("batched_keep_") + t),
                     0, 0);
  }
  // float64 keeps the same boxes; a non-contiguous boxes tensor reads the same values.
  EXPECT_ALL_CLOSE(nms(boxes.to(DType::Float64), scores.to(DType::Float64), 0.5),
                   det_ref("nms_keep_0.5"), 0, 0);
  Tensor boxes_t = boxes.t().contiguous().t();
  ASSERT_FALSE(boxes_t.is_contiguous());
  EXPECT_ALL_CLOSE(nms(boxes_t, scores, 0.5), det_ref("nms_keep_0.5"), 0, 0);
}

TEST(Detection, NmsEdgeCases) {
  // Empty input: an empty int64 result.
  Tensor none = nms(zeros({0, 4}), zeros({0}), 0.5);
  EXPECT_EQ(none.shape(), Shape{0});
  EXPECT_EQ(none.dtype(), DType::Int64);
  // IoU exactly at the threshold does not suppress (torchvision: IoU > threshold).
  // Boxes [0,0,2,1] and [1,0,2,1]: intersection 1, union 2, IoU exactly 0.5.
  Tensor b = tensor({0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 2.0, 1.0}).reshape({2, 4});
  Tensor s = tensor({0.8, 0.9});
  EXPECT_EQ(nms(b, s, 0.5).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(nms(b, s, 0.49).to_vector<int64_t>(), (std::vector<int64_t>{1}));
  // Identical boxes, equal scores: the lower index is kept.
  Tensor same = tensor({0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0}).reshape({2, 4});
  Tensor kept = nms(same, tensor({0.5, 0.5}), 0.1);
  ASSERT_EQ(kept.numel(), 1);
  EXPECT_EQ(kept.item<int64_t>(), 0);
}

// nms's result length depends on the values: tracing it stops at the read of the kept count.
TEST(Detection, NmsCannotBeTraced) {
  auto f = compile([](const Tensor& b, const Tensor& s) { return nms(b, s, 0.5); });
  Tensor b = tensor({0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0}).reshape({2, 4});
  EXPECT_TRUE(throws_error([&] { f(b, tensor({0.5, 0.7})); },
                           {"compile: fn reads the value of a traced tensor", "'nms'", "data-dependent"}));
}

TEST(Detection, RoiAlignMatchesTorchvision) {
  for (const char* dt : {"f32", "f64"}) {
    const bool f32 = std::string(dt) == "f32";
    const double atol = f32 ? 1e-5 : 1e-12, rtol = f32 ? 1e-5 : 1e-10;
    Tensor boxes = det_ref(std::string("roi_boxes_") + dt);
    for (const RoiCase& rc : kRoiCases) {
      SCOPED_TRACE(std::string(rc.name) + " " + dt);
      const std::string p = std::string("roi_") + rc.name + "_" + dt;
      Tensor x = det_ref(std::string("roi_x_") + dt).requires_grad_();
      Tensor y = roi_align(x, boxes, rc.output_size, rc.spatial_scale, rc.sampling_ratio,
                           rc.aligned);
      EXPECT_EQ(y.dtype(), f32 ? DType::Float32 : DType::Float64);
      EXPECT_ALL_CLOSE(y, det_ref(p + "_out"), atol, rtol);
      EXPECT_ALL_CLOSE(grads_of(y, det_ref(p + "_gw"), {x})[0], det_ref(p + "_gx"), atol, rtol);
    }
  }
}

TEST(Detection, RoiAlignNonContiguousInput) {
  Tensor x = det_ref("roi_x_f64");
  Tensor xt = x.transpose(2, 3).contiguous().transpose(2, 3);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_ALL_CLOSE(roi_align(xt, det_ref("roi_boxes_f64"), {3, 3}, 1.0, 2, false),
                   det_ref("roi_basic_f64_out"), 1e-12, 1e-10);
}

namespace {
// Boxes for the gradchecks: inside, partly outside, and smaller than a pixel.
Tensor gradcheck_boxes() {
  return tensor({0.0, 0.6, 1.2, 4.3, 3.9, 1.0, -0.7, 0.4, 2.2, 5.1, 0.0, 2.5, 2.5, 2.9, 2.7})
      .reshape({3, 5})
      .to(DType::Float64);
}
}  // namespace

TANDEM_GRAD_CASE(roi_align, adaptive_second_order,
                 [](const Tensors& x) { return roi_align(x[0], gradcheck_boxes(), {2, 3}, 0.8, 0, false); },
                 [] { return Tensors{randn({2, 2, 5, 6}, kF64g)}; }, GradcheckOptions{.second_order = true});
TANDEM_GRAD_CASE(roi_align, aligned_noncontiguous,
                 [](const Tensors& x) { return roi_align(x[0], gradcheck_boxes(), {3, 2}, 1.0, 2, true); },
                 [] { return Tensors{noncontiguous({2, 2, 5, 6})}; });
TANDEM_GRAD_CASE(roi_align_backward, grad_wrt_upstream,
                 [](const Tensors& x) {
                   Tensor y = roi_align(x[0], gradcheck_boxes(), {2, 2}, 0.9, -1, true);
                   return tandem::grad({(y * x[1]).sum()}, {x[0]}, {}, true, true)[0];
                 },
                 [] { return Tensors{randn({2, 2, 5, 6}, kF64g), randn({3, 2, 2, 2}, kF64g)}; },
                 GradcheckOptions{.second_order = true});

TEST(Detection, BoxIouGradcheck) {
  Tensor a = tensor({0.0, 0.0, 4.0, 3.0, 1.0, 2.0, 5.0, 6.0}).reshape({2, 4}).to(DType::Float64);
  Tensor b = tensor({1.5, 0.5, 3.0, 4.0, 2.0, 1.0, 7.0, 8.0, 0.5, 2.5, 2.5, 5.5})
                 .reshape({3, 4})
                 .to(DType::Float64);
  EXPECT_TRUE(gradcheck([](const Tensors& in) { return box_iou(in[0], in[1]); },
                        {a.requires_grad_(), b.requires_grad_()}));
  EXPECT_TRUE(gradcheck([](const Tensors& in) { return box_convert(in[0], "xywh", "cxcywh"); },
                        {a}));
}

TEST(Detection, ArgumentErrors) {
  Tensor x = randn({1, 2, 4, 4});
  Tensor boxes = tensor({0.0, 0.0, 0.0, 2.0, 2.0}).reshape({1, 5});
  EXPECT_TRUE(throws_error([&] { nms(zeros({3, 5}), zeros({3}), 0.5); }, {"nms", "[N, 4]", "[3, 5]"}));
  EXPECT_TRUE(throws_error([&] { nms(zeros({3, 4}), zeros({2}), 0.5); }, {"nms", "scores", "[2]"}));
  EXPECT_TRUE(throws_error([&] { nms(zeros({3, 4}, {.dtype = DType::Int64}), zeros({3}), 0.5); },
                           {"nms", "floating", "boxes"}));
  EXPECT_TRUE(throws_error([&] { nms(zeros({3, 4}), zeros({3}), std::nan("")); }, {"nms", "NaN"}));
  EXPECT_TRUE(throws_error([&] { batched_nms(zeros({3, 4}), zeros({3}), zeros({3}), 0.5); },
                           {"batched_nms", "integer idxs"}));
  EXPECT_TRUE(throws_error([&] { box_iou(zeros({3, 4}), zeros({3})); }, {"box_iou", "[N, 4]"}));
  EXPECT_TRUE(throws_error([&] { box_convert(zeros({3, 4}), "xyxy", "yxyx"); },
                           {"box_convert", "unknown box format 'yxyx'"}));
  EXPECT_TRUE(throws_error([&] { roi_align(randn({2, 4, 4}), boxes, {2, 2}); },
                           {"roi_align", "4-D", "[2, 4, 4]"}));
  EXPECT_TRUE(throws_error([&] { roi_align(x, zeros({1, 4}), {2, 2}); },
                           {"roi_align", "[K, 5]", "[1, 4]"}));
  EXPECT_TRUE(throws_error([&] { roi_align(x, boxes, {0, 2}); }, {"roi_align", "output_size"}));
  EXPECT_TRUE(throws_error([&] { roi_align(x, boxes, {2, 2, 2}); }, {"roi_align", "output_size"}));
  Tensor bad_batch = tensor({1.0, 0.0, 0.0, 2.0, 2.0}).reshape({1, 5});
  EXPECT_TRUE(throws_error([&] { roi_align(x, bad_batch, {2, 2}); },
                           {"roi_align", "batch index 1", "[0, 1)"}));
  Tensor frac_batch = tensor({0.5, 0.0, 0.0, 2.0, 2.0}).reshape({1, 5});
  EXPECT_TRUE(throws_error([&] { roi_align(x, frac_batch, {2, 2}); }, {"roi_align", "batch index 0.5"}));
}

// ONNX RoiAlign's max mode (the op's attr mode "max", what the ONNX importer sets): each bin the
// largest weighted corner of its samples. One sample per bin on pixel (1,1), (1,3), (3,1), (3,3)
// of a 4x4 ramp reads those pixels exactly.
TEST(Detection, RoiAlignMaxModeReadsTheSampledPixels) {
  Tensor x = arange(16.0, {.dtype = DType::Float32}).reshape({1, 1, 4, 4});
  Tensor boxes = tensor({0.0, 0.0, 0.0, 4.0, 4.0}).reshape({1, 5});
  Attrs a{{"output_size", IntArray{2, 2}}, {"sampling_ratio", int64_t{1}}, {"mode", std::string("max")}};
  Tensor y = dispatch1(op("roi_align"), {x, boxes}, a);
  EXPECT_EQ(y.contiguous().to_vector<float>(), (std::vector<float>{5, 7, 13, 15}));
  Tensor xg = x.clone().requires_grad_();
  Tensor ym = dispatch1(op("roi_align"), {xg, boxes}, a);
  EXPECT_TRUE(throws_error([&] { ym.sum().backward(); }, {"roi_align", "only mode 'avg' has a gradient"}));
}
