"""torchvision's segmentation and detection models (FCN, DeepLabV3, LRASPP; Faster R-CNN,
RetinaNet, SSDlite), exported by PyTorch (opset 11, random
weights with seeded BN statistics and seeded non-uniform heads, so that scores do not tie and
NMS decisions are well defined), run through `tandem run` and give PyTorch's outputs:
segmentation maps within a tolerance relative to the output's scale, detections as the same
boxes (within 1e-3 of the image size), scores and labels, matched one to one.

    torchvision_tasks_test.py TANDEM_CLI DATA_DIR MODEL[,MODEL...]

Exports into DATA_DIR (the build tree) unless the files there are newer than this script.
Detection models hold NonZero / NonMaxSuppression (data-dependent lengths): tandem runs those
nodes eagerly and the rest (backbone, FPN, heads) as traced plans between them; `tandem run -v`
reports the split, checked here (segmentation models: one plan, no eager node).
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

RELATIVE_TOLERANCE = 2e-5
SEGMENTATION = {
    "fcn_resnet50": lambda tv: tv.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                                                    aux_loss=False),
    "deeplabv3_mobilenet_v3_large": lambda tv: tv.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, aux_loss=False),
    "lraspp_mobilenet_v3_large": lambda tv: tv.models.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None),
}
DETECTION = {
    "fasterrcnn_mobilenet_v3_large_320_fpn": lambda tv: tv.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=5),
    # Single-stage detectors; RetinaNet at 256 pixels (its default resizes to 800).
    "retinanet_resnet50_fpn": lambda tv: tv.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=5, min_size=256, max_size=256),
    "ssdlite320_mobilenet_v3_large": lambda tv: tv.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5),
}
OUTPUTS = ["boxes", "scores", "labels"]
# The seeded heads' weight scale per detector, chosen so that the scores spread without
# saturating (RetinaNet's head is 5 convolutions deep: its logits scale as the 5th power).
HEAD_STD = {"fasterrcnn_mobilenet_v3_large_320_fpn": 0.2, "retinanet_resnet50_fpn": 0.007,
            "ssdlite320_mobilenet_v3_large": 0.05}
# SSDlite's default initialization leaves its feature maps nearly constant across the image
# (hundreds of detections tie to 1e-7, so which of them NMS and the top-k keep is arbitrary):
# its convolutions are drawn anew (He normal, seeded).
REDRAW_CONVS = {"ssdlite320_mobilenet_v3_large"}


def export(data, name):
    import torch
    import torchvision

    torch.manual_seed(0)
    detection = name in DETECTION
    model = (DETECTION if detection else SEGMENTATION)[name](torchvision).eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
        if name in REDRAW_CONVS and isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight)
    if detection:
        # Fresh heads give (nearly) equal scores everywhere; seeded normal weights separate them.
        heads = [model.roi_heads.box_predictor, model.rpn.head] if hasattr(model, "roi_heads") else [model.head]
        for head in heads:
            for p in head.parameters():
                torch.nn.init.normal_(p, std=HEAD_STD[name])
        x = torch.rand(3, 256, 256)
        with torch.no_grad():
            y = model([x])[0]
        # The outputs in the order of the model's result dict, named by its keys.
        torch.onnx.export(model, ([x],), os.path.join(data, name + ".onnx"), opset_version=11,
                          input_names=["image"], output_names=list(y.keys()))
        for k in OUTPUTS:
            np.save(os.path.join(data, f"{name}.torch_{k}.npy"), y[k].numpy())
    else:
        class Out(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return self.m(x)["out"]

        model = Out(model)
        x = torch.randn(1, 3, 160, 160)
        with torch.no_grad():
            y = model(x)
        torch.onnx.export(model, x, os.path.join(data, name + ".onnx"), opset_version=11, input_names=["image"],
                          output_names=["out"])
        np.save(os.path.join(data, name + ".torch_out.npy"), y.numpy())
    np.save(os.path.join(data, name + ".input.npy"), x.numpy())


def compare(name, got, want):
    """Problems found comparing tandem's outputs with PyTorch's (empty: they agree)."""
    if name in SEGMENTATION:
        g, w = got["out"], want["out"]
        if g.shape != w.shape:
            return [f"output shape {g.shape}, PyTorch gives {w.shape}"]
        scale, diff = float(np.abs(w).max()), float(np.abs(g.astype(np.float64) - w).max())
        print(f"{name}: max abs diff {diff:.3e}, output scale {scale:.3e}")
        return [] if scale > 0 and diff <= RELATIVE_TOLERANCE * scale else [f"max abs diff {diff:.3e}"]
    # Matched one to one: the same label, score within 1e-4 and box within 1e-3 of the image size
    # (detections whose scores tie to float precision may come in either order).
    n = len(want["scores"])
    print(f"{name}: {len(got['scores'])} detections, PyTorch {n}")
    if len(got["scores"]) != n or n == 0:
        return [f"{len(got['scores'])} detections, PyTorch gives {n}"]
    used = np.zeros(n, dtype=bool)
    unmatched = 0
    for i in range(n):
        ok = (~used & (got["labels"] == want["labels"][i]) & (np.abs(got["scores"] - want["scores"][i]) <= 1e-4) &
              (np.abs(got["boxes"] - want["boxes"][i]).max(axis=1) <= 1e-3 * 256))
        j = np.flatnonzero(ok)
        if len(j) == 0:
            unmatched += 1
        else:
            used[j[0]] = True
    in_order = int(np.sum(np.abs(got["boxes"] - want["boxes"]).max(axis=1) <= 1e-3 * 256))
    print(f"{name}: {n - unmatched} of {n} matched, {in_order} at PyTorch's position")
    return [f"{unmatched} of {n} PyTorch detections have no match"] if unmatched else []


def check_plan(name, stdout):
    """Problems with how tandem split the model into plans (`tandem run -v`'s summary line)."""
    plan = re.search(r"planned segments: (\d+) \((\d+) nodes\), eager nodes: (\d+)", stdout)
    if not plan:
        return ["tandem run -v printed no plan summary"]
    segments, planned, eager = map(int, plan.groups())
    print(f"{name}: {plan.group(0)}")
    if name in DETECTION:
        # The data-dependent nodes (NonZero, NonMaxSuppression, If on their counts) run eagerly,
        # and only those: the backbone, FPN and heads stay planned.
        return [] if segments >= 2 and 0 < eager < planned else [f"not split into plans: {plan.group(0)}"]
    return [] if segments == 1 and eager == 0 else [f"not one plan: {plan.group(0)}"]


def main():
    cli, data, models = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    os.makedirs(data, exist_ok=True)
    failed = []
    for m in models:
        onnx_file = os.path.join(data, m + ".onnx")
        if not os.path.exists(onnx_file) or os.path.getmtime(onnx_file) < os.path.getmtime(__file__):
            export(data, m)
        names = OUTPUTS if m in DETECTION else ["out"]
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run([cli, "run", "-v", onnx_file, os.path.join(data, m + ".input.npy"), "-o", out],
                                 capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                failed.append(f"{m}: tandem run exited {run.returncode}: {run.stderr.strip()[-500:]}")
                continue
            failed += [f"{m}: {p}" for p in check_plan(m, run.stdout)]
            got = {k: np.load(os.path.join(out, k + ".npy")) for k in names}
        want = {k: np.load(os.path.join(data, f"{m}.torch_{k}.npy")) for k in names}
        failed += [f"{m}: {p}" for p in compare(m, got, want)]
    for f in failed:
        print("FAIL " + f, file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
