"""The benchmark set of deployed architectures: torchvision 0.14 image classifiers and a small
ViT-style Transformer encoder, random weights (seeded; batch-norm statistics randomized too, so
that folding them is exercised), exported by PyTorch with a dynamic batch dimension for
[N, 3, 224, 224] images at PyTorch's default opset.

    /usr/bin/python3 bench/vision_models.py OUT_DIR [--models a,b,...] [--reference-batch N]

Writes OUT_DIR/<name>.onnx for each model; with --reference-batch N also OUT_DIR/<name>.input.npy
(randn, seeded per model) and OUT_DIR/<name>.torch.npy, PyTorch's output for it (eval mode),
which tests/onnx/vision_models_test.py compares tandem's output with. A model whose files are
already there and newer than this script is left as it is. `--list` prints the names.
"""
import argparse
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm


def vit_block():
    # ViT-style: 16x16 patch embedding, class token, 2 pre-norm encoder layers (multi-head
    # attention + GELU MLP), LayerNorm, linear head: ViT-Tiny's widths at 2 layers deep.
    return tvm.VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=3,
                                 hidden_dim=192, mlp_dim=768)


MODELS = {
    "resnet18": tvm.resnet18,
    "resnet50": tvm.resnet50,
    "mobilenet_v2": tvm.mobilenet_v2,
    "mobilenet_v3_small": tvm.mobilenet_v3_small,
    "mobilenet_v3_large": tvm.mobilenet_v3_large,
    "efficientnet_b0": tvm.efficientnet_b0,
    "shufflenet_v2_x0_5": tvm.shufflenet_v2_x0_5,
    "squeezenet1_1": tvm.squeezenet1_1,
    "densenet121": tvm.densenet121,
    "googlenet": lambda: tvm.googlenet(aux_logits=False, init_weights=True),
    "regnet_y_400mf": tvm.regnet_y_400mf,
    "mnasnet1_0": tvm.mnasnet1_0,
    "convnext_tiny": tvm.convnext_tiny,
    "vit_block": vit_block,
}


def seed_of(name):
    # Stable across runs and Python versions (hash() of a str is salted per process).
    return zlib.crc32(name.encode())


def build(name):
    torch.manual_seed(seed_of(name))
    model = MODELS[name]()
    g = torch.Generator().manual_seed(seed_of(name) + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                # Freshly built statistics (mean 0, var 1) would make folding trivially right.
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(1 + 0.1 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
        if isinstance(model, tvm.VisionTransformer):
            # torchvision starts the classifier head at zero, which would make every output 0.
            head = model.heads.head.weight
            head.copy_(0.02 * torch.randn(head.shape, generator=g))
    return model.eval()


def up_to_date(paths):
    mine = os.path.getmtime(os.path.abspath(__file__))
    return all(os.path.exists(p) and os.path.getmtime(p) > mine for p in paths)


def export(name, out, reference_batch):
    onnx_path = os.path.join(out, name + ".onnx")
    paths = [onnx_path]
    if reference_batch:
        paths += [os.path.join(out, name + ".input.npy"), os.path.join(out, name + ".torch.npy")]
    if up_to_date(paths):
        return
    model = build(name)
    tmp = onnx_path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), tmp, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    if reference_batch:
        rng = np.random.default_rng(seed_of(name))
        x = rng.standard_normal((reference_batch, 3, 224, 224)).astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        np.save(paths[1], x)
        np.save(paths[2], y)
    os.replace(tmp, onnx_path)  # last: its presence says the model's files are complete


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--reference-batch", type=int, default=0)
    p.add_argument("--list", action="store_true")
    a = p.parse_args()
    if a.list:
        print(" ".join(MODELS))
        return
    if not a.out:
        p.error("give OUT_DIR")
    names = [n for n in a.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {' '.join(MODELS)}")
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for n in names:
        print(f"vision_models.py: {n}", file=sys.stderr)
        export(n, a.out, a.reference_batch)


if __name__ == "__main__":
    main()
