#!/usr/bin/python3
"""Detection references from torchvision 0.14 (torchvision.ops) for tests/ops/test_detection.cpp.

    /usr/bin/python3 tests/reference/gen_detection.py   # writes tests/data/detection/*.npy

Files:
  boxes_a.npy, boxes_b.npy   float64 xyxy boxes (some overlapping, one degenerate)
  box_area.npy               box_area(boxes_a)
  box_iou.npy                box_iou(boxes_a, boxes_b)
  box_iou_ga.npy, _gb.npy    gradients of sum(box_iou * box_iou_w) for boxes_a, boxes_b
  box_iou_w.npy              the weights of that sum
  convert_<in>_<out>.npy     box_convert(boxes_a, in, out) for in, out in xyxy/xywh/cxcywh
  nms_boxes.npy, nms_scores.npy, nms_idxs.npy
                             float32 boxes (clustered, so that many overlap), scores with ties
  nms_keep_<t>.npy           nms(boxes, scores, t) for t in 0.3, 0.5, 0.7 (int64)
  batched_keep_<t>.npy       batched_nms(boxes, scores, idxs, t)
  roi_x_<dt>.npy, roi_boxes_<dt>.npy
                             input [2, 3, 10, 12] and boxes [K, 5] (batch index, x1, y1, x2, y2;
                             some outside the image, some tiny), dt in f32, f64
  roi_<case>_<dt>_out.npy, roi_<case>_<dt>_gw.npy, roi_<case>_<dt>_gx.npy
                             roi_align(x, boxes, ...) for each case below, the weights gw and
                             the gradient of sum(out * gw) for x
"""
import os

import numpy as np
import torch
import torchvision
from torchvision import ops

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "detection")

# name: (output_size, spatial_scale, sampling_ratio, aligned)
ROI_CASES = {
    "basic": ((3, 3), 1.0, 2, False),
    "aligned": ((3, 4), 1.0, 2, True),
    "adaptive": ((2, 3), 0.5, 0, False),
    "adaptive_aligned": ((4, 2), 0.5, -1, True),
    "scale": ((5, 5), 0.25, 3, False),
}


def save(name, a):
    if isinstance(a, torch.Tensor):
        a = a.detach().numpy()
    np.save(os.path.join(OUT, name), np.ascontiguousarray(a))


def main():
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    # Box utilities (float64).
    xy = torch.rand(7, 2, dtype=torch.float64) * 10
    wh = torch.rand(7, 2, dtype=torch.float64) * 6 + 0.5
    a = torch.cat([xy, xy + wh], 1)
    a[6] = torch.tensor([3.0, 3.0, 3.0, 5.0], dtype=torch.float64)  # zero width
    xy = torch.rand(5, 2, dtype=torch.float64) * 10
    wh = torch.rand(5, 2, dtype=torch.float64) * 6 + 0.5
    b = torch.cat([xy, xy + wh], 1)
    save("boxes_a.npy", a)
    save("boxes_b.npy", b)
    save("box_area.npy", ops.box_area(a))
    ar, br = a.clone().requires_grad_(), b.clone().requires_grad_()
    iou = ops.box_iou(ar, br)
    w = torch.randn(iou.shape, dtype=torch.float64)
    (iou * w).sum().backward()
    save("box_iou.npy", iou)
    save("box_iou_w.npy", w)
    save("box_iou_ga.npy", ar.grad)
    save("box_iou_gb.npy", br.grad)
    fmts = ["xyxy", "xywh", "cxcywh"]
    for fi in fmts:
        for fo in fmts:
            save(f"convert_{fi}_{fo}.npy", ops.box_convert(a, fi, fo))

    # NMS: 60 boxes in 6 clusters, scores rounded to 0.05 so that some tie.
    centers = torch.rand(6, 2) * 40
    c = centers[torch.arange(60) % 6] + torch.randn(60, 2) * 3
    size = torch.rand(60, 2) * 8 + 4
    boxes = torch.cat([c - size / 2, c + size / 2], 1).float()
    scores = (torch.rand(60) * 20).round() / 20
    idxs = torch.randint(0, 3, (60,))
    save("nms_boxes.npy", boxes)
    save("nms_scores.npy", scores)
    save("nms_idxs.npy", idxs)
    for t in (0.3, 0.5, 0.7):
        save(f"nms_keep_{t}.npy", ops.nms(boxes, scores, t))
        save(f"batched_keep_{t}.npy", ops.batched_nms(boxes, scores, idxs, t))

    # roi_align.
    x64 = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    k = 9
    bidx = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 1], dtype=torch.float64)
    p1 = torch.rand(k, 2, dtype=torch.float64) * torch.tensor([14.0, 12.0]) - 2
    sz = torch.rand(k, 2, dtype=torch.float64) * 8
    bx = torch.cat([bidx[:, None], p1, p1 + sz], 1)
    bx[7, 1:] = torch.tensor([4.2, 3.1, 4.4, 3.3])  # tiny
    bx[8, 1:] = torch.tensor([-6.0, -5.0, -2.0, -3.0])  # outside the image
    for dt, tdt in (("f32", torch.float32), ("f64", torch.float64)):
        x, boxes = x64.to(tdt), bx.to(tdt)
        save(f"roi_x_{dt}.npy", x)
        save(f"roi_boxes_{dt}.npy", boxes)
        for name, (osz, scale, sr, aligned) in ROI_CASES.items():
            xr = x.clone().requires_grad_()
            y = ops.roi_align(xr, boxes, osz, scale, sr, aligned)
            gw = torch.randn(y.shape, dtype=tdt)
            (y * gw).sum().backward()
            save(f"roi_{name}_{dt}_out.npy", y)
            save(f"roi_{name}_{dt}_gw.npy", gw)
            save(f"roi_{name}_{dt}_gx.npy", xr.grad)


if __name__ == "__main__":
    main()
