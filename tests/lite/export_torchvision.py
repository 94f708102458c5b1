#!/usr/bin/python3
"""Exports torchvision architectures with seeded random weights to ONNX for test_lite and the
tandem-lite benchmark: OUT_DIR/<name>.onnx (dynamic batch, opset 17) and OUT_DIR/<name>.input.npy.

    /usr/bin/python3 tests/lite/export_torchvision.py OUT_DIR SIZE name [name ...]

Batch-norm running statistics are randomized too, so that folding them is exercised.
"""
import os
import sys

import numpy as np
import torch
import torchvision


def main():
    out, size, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    for name in names:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32))
        torch.onnx.export(model, x, os.path.join(out, name + ".onnx"), opset_version=17, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        np.save(os.path.join(out, name + ".input.npy"), x.numpy())


if __name__ == "__main__":
    main()
