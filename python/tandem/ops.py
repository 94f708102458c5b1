"""``tandem.ops``: detection ops with torchvision.ops' names and arguments.

Boxes are [N, 4] tensors (x1, y1, x2, y2); ``roi_align`` takes boxes as one [K, 5] tensor
(batch index, x1, y1, x2, y2)."""
from ._C import _vision as _cpp

box_area = _cpp.box_area
box_iou = _cpp.box_iou
box_convert = _cpp.box_convert
nms = _cpp.nms
batched_nms = _cpp.batched_nms
roi_align = _cpp.roi_align

__all__ = ["box_area", "box_iou", "box_convert", "nms", "batched_nms", "roi_align"]
