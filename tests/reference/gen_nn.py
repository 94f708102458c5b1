#!/usr/bin/python3
"""PyTorch reference data for tests/nn/test_layers_reference.cpp.

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_nn.py

It rewrites tests/data/nn/ from scratch. Each case builds one torch.nn module in float64
with a seed derived from the case name (a CRC), nudges its parameters away from their
default values (so LayerNorm's ones/zeros still give informative gradients), and runs it.

Layout, one folder per case (tests/data/nn/<case>/):
    keys.txt           the module's state_dict keys, one per line (PyTorch's names)
    sd_<key>.npy       the state_dict before the forward passes
    in_<i>.npy         inputs, fed to forward one after another (batch-norm cases use
                       several, to exercise the running statistics); float64 or int64
    out.npy            the output of the last forward pass
    w.npy              fixed random weights: the loss is sum(out * w)
    grad_in.npy        d loss / d last input (absent for integer inputs)
    grad_<key>.npy     d loss / d parameter <key> (only the last pass is differentiated)
    after_<key>.npy    buffers after all passes (running statistics, num_batches_tracked)
    mode.txt           "train" or "eval": the mode every pass runs in
and tests/data/nn/init/{fans,gains}.npy: PyTorch's fan computation and calculate_gain for
the shapes and nonlinearities listed in FAN_SHAPES / GAINS.
The C++ test holds a table with the same case names that builds the same module in tandem.
Keep tensors small: all data stays well under 2 MB.
"""
import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "nn")

torch.set_num_threads(1)
CASES = []


def case(name, make, inputs, mode="train"):
    """make: () -> module; inputs: list of shapes (float64 randn) or tensors (used as is)."""
    CASES.append((name, make, inputs, mode))


def rnd(*shape):
    return torch.randn(*shape, dtype=torch.float64)


# ---- linear
case("linear", lambda: nn.Linear(5, 4), [(3, 5)])
case("linear_nobias_3d", lambda: nn.Linear(5, 4, bias=False), [(2, 3, 5)])
# ---- convolutions
case("conv1d_stride_pad_groups", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), [(2, 4, 9)])
case("conv1d_reflect_dilation", lambda: nn.Conv1d(3, 2, 3, padding=2, dilation=2, padding_mode="reflect"),
     [(2, 3, 8)])
case("conv2d_stride_pad_groups", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), [(2, 4, 7, 7)])
case("conv2d_rect_nobias_dilation", lambda: nn.Conv2d(3, 5, (3, 2), padding=(2, 1), dilation=(2, 1), bias=False),
     [(2, 3, 6, 5)])
case("conv2d_circular", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [(1, 2, 5, 4)])
case("conv2d_replicate_stride", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=(1, 2), padding_mode="replicate"),
     [(2, 2, 5, 6)])
case("conv1d_same_even_kernel", lambda: nn.Conv1d(2, 3, 4, padding="same"), [(2, 2, 7)])
case("conv2d_same_dilation_reflect",
     lambda: nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2), padding_mode="reflect"), [(1, 2, 6, 7)])
case("conv2d_valid", lambda: nn.Conv2d(2, 3, 3, padding="valid"), [(1, 2, 5, 5)])
case("conv_transpose2d", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
     [(2, 4, 4, 4)])
case("conv_transpose2d_rect_dilation", lambda: nn.ConvTranspose2d(3, 2, (2, 3), stride=(1, 2), dilation=(2, 1)),
     [(1, 3, 3, 4)])
# ---- normalization
case("batch_norm1d_train_2d", lambda: nn.BatchNorm1d(4), [(6, 4), (6, 4)])
case("batch_norm1d_train_3d_momentum", lambda: nn.BatchNorm1d(3, momentum=0.3), [(4, 3, 5), (4, 3, 5)])
case("batch_norm2d_train", lambda: nn.BatchNorm2d(4), [(3, 4, 3, 3), (3, 4, 3, 3), (3, 4, 3, 3)])
case("batch_norm2d_cumulative", lambda: nn.BatchNorm2d(3, momentum=None), [(2, 3, 2, 2)] * 3)
case("batch_norm2d_eval", lambda: nn.BatchNorm2d(4), [(3, 4, 3, 3)], mode="eval")
case("batch_norm2d_no_affine_no_stats", lambda: nn.BatchNorm2d(3, affine=False, track_running_stats=False),
     [(2, 3, 3, 3)], mode="eval")
case("layer_norm", lambda: nn.LayerNorm([4, 5]), [(3, 4, 5)])
case("layer_norm_no_affine", lambda: nn.LayerNorm(6, eps=1e-3, elementwise_affine=False), [(2, 3, 6)])
case("group_norm", lambda: nn.GroupNorm(2, 6), [(2, 6, 3, 3)])
case("group_norm_3d_input", lambda: nn.GroupNorm(3, 6, eps=1e-3), [(2, 6, 5)])
# ---- embedding
case("embedding", lambda: nn.Embedding(10, 4), [torch.tensor([[1, 3, 3], [9, 0, 5]])])
case("embedding_padding_idx", lambda: nn.Embedding(8, 3, padding_idx=-2),
     [torch.tensor([[6, 1, 6, 2], [0, 6, 7, 1]])])
# ---- pooling
case("max_pool2d", lambda: nn.MaxPool2d(2), [(2, 3, 6, 6)])
case("max_pool2d_pad_ceil", lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 3, 8, 7)])
case("avg_pool2d", lambda: nn.AvgPool2d(2), [(2, 3, 6, 6)])
case("avg_pool2d_pad_exclude_ceil",
     lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [(2, 3, 8, 7)])
case("adaptive_avg_pool2d", lambda: nn.AdaptiveAvgPool2d((3, 2)), [(2, 3, 7, 5)])
# ---- shape and activations
case("flatten", lambda: nn.Flatten(), [(2, 3, 2, 2)])
case("relu", lambda: nn.ReLU(), [(3, 7)])
case("leaky_relu", lambda: nn.LeakyReLU(0.2), [(3, 7)])
case("gelu", lambda: nn.GELU(), [(3, 7)])
case("gelu_tanh", lambda: nn.GELU(approximate="tanh"), [(3, 7)])
case("silu", lambda: nn.SiLU(), [(3, 7)])
case("tanh", lambda: nn.Tanh(), [(3, 7)])
case("sigmoid", lambda: nn.Sigmoid(), [(3, 7)])
case("softmax", lambda: nn.Softmax(dim=1), [(3, 4, 2)])
case("log_softmax", lambda: nn.LogSoftmax(dim=-1), [(3, 5)])
case("dropout_eval", lambda: nn.Dropout(0.5), [(3, 5)], mode="eval")
# ---- a composite: names of nested state ("1.running_mean") and the whole chain's gradient
case("sequential_cnn", lambda: nn.Sequential(
    nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(4 * 3 * 3, 5), nn.GELU(), nn.LayerNorm(5)), [(3, 2, 6, 6), (3, 2, 6, 6)])


def save(folder, name, t):
    np.save(os.path.join(folder, name + ".npy"), t.detach().cpu().numpy())


def run(name, make, inputs, mode):
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    m = make().double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder)
    sd = m.state_dict()
    with open(os.path.join(folder, "keys.txt"), "w") as f:
        f.write("".join(k + "\n" for k in sd))
    for k, v in sd.items():
        save(folder, "sd_" + k, v)
    with open(os.path.join(folder, "mode.txt"), "w") as f:
        f.write(mode + "\n")
    m.train(mode == "train")
    xs = [rnd(*s) if isinstance(s, tuple) else s for s in inputs]
    out = None
    for i, x in enumerate(xs):
        save(folder, f"in_{i}", x)
        last = i == len(xs) - 1
        if last and x.is_floating_point():
            x.requires_grad_(True)
        out = m(x)
    w = rnd(*out.shape)
    save(folder, "out", out)
    save(folder, "w", w)
    (out * w).sum().backward()
    if xs[-1].is_floating_point():
        save(folder, "grad_in", xs[-1].grad)
    for k, p in m.named_parameters():
        save(folder, "grad_" + k, p.grad)
    for k, b in m.named_buffers():
        save(folder, "after_" + k, b)


# Shapes whose (fan_in, fan_out) PyTorch's init computes, and the gains it recommends
# (tests/nn/test_init.cpp lists the same shapes and nonlinearities in the same order).
FAN_SHAPES = [(3, 4), (6, 2, 3, 3), (5, 7, 2), (8, 1, 1, 2, 3)]
GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]


def write_init():
    folder = os.path.join(OUT_DIR, "init")
    os.makedirs(folder)
    fans = [nn.init._calculate_fan_in_and_fan_out(torch.empty(s)) for s in FAN_SHAPES]
    np.save(os.path.join(folder, "fans.npy"), np.array(fans, dtype=np.int64))
    gains = [nn.init.calculate_gain(n, p) for n, p in GAINS]
    np.save(os.path.join(folder, "gains.npy"), np.array(gains, dtype=np.float64))


def main():
    if os.path.exists(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    for c in CASES:
        run(*c)
    write_init()
    print(f"wrote {len(CASES)} cases to {OUT_DIR}")


if __name__ == "__main__":
    main()
