#!/usr/bin/python3
"""Writes tests/lite/data/: small models exported by PyTorch, converted by `tandem convert`,
with inputs and the full tandem runtime's outputs (`tandem run`), for lite_selftest (which
links tandem-lite alone, so it can run under qemu on another architecture).

    /usr/bin/python3 tests/lite/gen_lite_data.py build/release/tools/tandem

Per case NAME: NAME.onnx (kept so test_lite can check the expected outputs against a fresh
full-runtime run), NAME.tlite, NAME.input_<i>.npy, NAME.output_<i>.npy, and a line in
cases.txt: "NAME <number of inputs> <number of outputs> [exact]". Seeded: a rerun writes the same
models and inputs (PyTorch 1.13's exporter, Debian's python3-torch).

tiny_int8 is int8: its ONNX file is the QDQ model `tandem quantize` writes (int8 activations,
calibrated on 16 seeded samples), its .tlite holds int8 weights, and its output is dequantized
int8 values (the last op is a view), so "exact": tandem-lite must reproduce the full
runtime's int8 path bit for bit, on every architecture.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")


class TinyCnn(nn.Module):
    """Conv + BN + ReLU6, depthwise + hardswish, ceil-mode max pool, grouped 1x1 + SiLU with a
    channel shuffle, avg pool without padded counts, global pool, linear, softmax."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 12, 1, groups=2)
        self.dil = nn.Conv2d(12, 12, 3, padding=2, dilation=2, bias=False)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = F.relu6(self.bn(self.c1(x)))
        x = F.hardswish(self.dw(x))
        x = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
        x = F.silu(self.pw(x))
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle
        x = torch.sigmoid(self.dil(x)) * x
        x = F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return torch.softmax(self.fc(x), dim=1)


class TinyBlock(nn.Module):
    """Layer norm, MLP with GELU, residual, attention-like batched matmul, softmax, concat,
    split, mean over a dim, two outputs."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)
        self.q = nn.Linear(16, 16)

    def forward(self, x):
        h = x + self.fc2(F.gelu(self.fc1(self.ln(x))))
        q = self.q(h)
        a = torch.softmax(q @ h.transpose(1, 2) / 4.0, dim=-1)
        y = a @ h
        left, right = torch.split(y, [6, 10], dim=2)
        z = torch.cat([torch.tanh(right), left * 2.0 - 1.0], dim=2)
        return z, z.mean(dim=1)


class TinyInt8(nn.Module):
    """Conv + ReLU, depthwise strided conv + ReLU6, grouped 1x1 conv + ReLU, a residual 1x1
    conv, 1x1 conv + ReLU, max pool, linear + ReLU, a view: every conv/linear becomes an int8
    layer; the ReLU6 (a float clamp between a dequantize and a quantize) and the residual add
    (two dequantized inputs, then a quantize) run in tandem-lite as tables. Both outputs (the
    pooled features, the view) are dequantized int8 values, so exact."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 12, 1, groups=2)
        self.pw2 = nn.Conv2d(12, 12, 1)
        self.pw3 = nn.Conv2d(12, 12, 1)
        self.fc = nn.Linear(12 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.relu6(self.dw(x))
        h = F.relu(self.pw(x))
        h = h + self.pw2(h)
        p = F.max_pool2d(F.relu(self.pw3(h)), 2)
        y = F.relu(self.fc(p.flatten(1)))
        return p, y.view(y.shape[0], 2, 5)


def export(model, name, example, dynamic):
    model.eval()
    path = os.path.join(OUT, name + ".onnx")
    names_in = ["input"]
    names_out = {TinyBlock: ["tokens", "pooled"], TinyInt8: ["features", "output"]}.get(type(model), ["output"])
    axes = {n: {0: "batch"} for n in names_in + names_out} if dynamic else None
    torch.onnx.export(model, example, path, opset_version=17, input_names=names_in, output_names=names_out,
                      dynamic_axes=axes, do_constant_folding=True)
    return path


def main():
    tandem = sys.argv[1] if len(sys.argv) > 1 else "build/release/tools/tandem"
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    cases = []
    cnn = TinyCnn()
    with torch.no_grad():  # non-trivial running statistics for the batch-norm folding
        cnn.bn.running_mean.uniform_(-0.5, 0.5)
        cnn.bn.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    specs = [("tiny_cnn", cnn, [2, 3, 16, 16]), ("tiny_block", TinyBlock(), [2, 6, 16]),
             ("tiny_int8", TinyInt8(), [2, 3, 16, 16])]
    for name, model, shape in specs:
        x = rng.standard_normal(shape).astype(np.float32)
        onnx_path = export(model, name, torch.from_numpy(x), dynamic=True)
        if name == "tiny_int8":
            with tempfile.TemporaryDirectory() as tmp:
                calib = os.path.join(tmp, "calib.npy")
                np.save(calib, rng.standard_normal([16] + shape[1:]).astype(np.float32))
                subprocess.run([tandem, "quantize", onnx_path, "--data", calib, "--out", onnx_path,
                                "--activations", "int8"], check=True, stdout=subprocess.DEVNULL)
        tlite = os.path.join(OUT, name + ".tlite")
        subprocess.run([tandem, "convert", "-q", onnx_path, tlite], check=True)
        np.save(os.path.join(OUT, name + ".input_0.npy"), x)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([tandem, "run", onnx_path, "--input", "input=" + os.path.join(OUT, name + ".input_0.npy"),
                            "--output-dir", tmp], check=True, stdout=subprocess.DEVNULL)
            outs = {"tiny_block": ["tokens", "pooled"], "tiny_int8": ["features", "output"]}.get(name, ["output"])
            for i, o in enumerate(outs):
                y = np.load(os.path.join(tmp, o + ".npy")).astype(np.float32)
                np.save(os.path.join(OUT, f"{name}.output_{i}.npy"), y)
        cases.append(f"{name} 1 {len(outs)}" + (" exact" if name == "tiny_int8" else ""))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# NAME INPUTS OUTPUTS [exact: bit-identical outputs] (written by tests/lite/gen_lite_data.py)\n")
        f.write("\n".join(cases) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(cases)} cases, {total} bytes, into {OUT}")


if __name__ == "__main__":
    main()
