"""Models and request bodies for bench/serve_run.sh.

    /usr/bin/python3 serve_models.py OUT_DIR

Writes OUT_DIR/resnet18/1/model.onnx (ResNet-18 layout for 1x3x224x224 images, random
weights, dynamic batch, exported by PyTorch) and the request bodies:
  mlp.json            {"instances": [one 1x28x28 image]}
  image.json          {"instances": [one 3x224x224 image]}
  image.v2            v2 binary request (JSON header + 602112 raw float32 bytes)
  image.v2.hlen       its Inference-Header-Content-Length
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main(out):
    torch.manual_seed(0)
    model = ResNet18().eval()
    path = os.path.join(out, "resnet18", "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    rng = np.random.default_rng(0)
    with open(os.path.join(out, "mlp.json"), "w") as f:
        json.dump({"instances": rng.standard_normal((1, 1, 28, 28)).astype(np.float32).tolist()}, f)
    img = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    with open(os.path.join(out, "image.json"), "w") as f:
        json.dump({"instances": img.tolist()}, f)
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                                     "parameters": {"binary_data_size": img.nbytes}}],
                         "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
    with open(os.path.join(out, "image.v2"), "wb") as f:
        f.write(header + img.tobytes())
    with open(os.path.join(out, "image.v2.hlen"), "w") as f:
        f.write(str(len(header)))


if __name__ == "__main__":
    main(sys.argv[1])
