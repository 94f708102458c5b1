"""ONNX models for bench/memory_run.sh: ResNet-18 (bench/serve_models.py's), ResNet-50 and
MobileNetV2 (torchvision's architectures, written out here: torchvision is not installed), all for [N, 3, 224, 224] images with a dynamic batch, random weights (memory does not
depend on their values), exported by PyTorch; and the inputs at the given batch sizes.

    /usr/bin/python3 bench/memory_models.py OUT_DIR 1 8
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_models import ResNet18  # noqa: E402


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*(layers + [nn.ReLU6()] if act else layers))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    # (expansion, channels, repeats, first stride) as in the MobileNetV2 paper, width 1.0.
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, classes=1000):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Bottleneck(nn.Module):
    # ResNet-50's block: 1x1 reduce, 3x3 (stride here, as torchvision's v1.5), 1x1 expand x4.
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.block = nn.Sequential(conv_bn(cin, width, 1, 1, act=False), nn.ReLU(),
                                   conv_bn(width, width, 3, stride, act=False), nn.ReLU(),
                                   conv_bn(width, cout, 1, 1, act=False))
        self.down = conv_bn(cin, cout, 1, stride, act=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        return torch.relu(self.block(x) + (x if self.down is None else self.down(x)))


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2, act=False), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(blocks):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main(out, batches):
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    for name, model in [("resnet18", ResNet18()), ("resnet50", ResNet50()), ("mobilenetv2", MobileNetV2())]:
        torch.onnx.export(model.eval(), torch.zeros(1, 3, 224, 224), os.path.join(out, name + ".onnx"),
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    rng = np.random.default_rng(0)
    for b in batches:
        np.save(os.path.join(out, f"input_b{b}.npy"), rng.standard_normal((b, 3, 224, 224)).astype(np.float32))


if __name__ == "__main__":
    main(sys.argv[1], [int(b) for b in sys.argv[2:]])
