#!/usr/bin/python3
"""bfloat16 references from PyTorch 1.13 for tests/core/test_bf16.cpp (autocast, conversions).

    /usr/bin/python3 tests/reference/gen_bf16.py      # writes tests/data/bf16/*.npy

Files (NumPy has no bfloat16: bf16 values are stored as their uint16 bits, or widened to float32):
  convert_in.npy    float32 values: ties to even and odd, values just past a tie, subnormals,
                    ±0, ±inf, NaN, the largest finite values (some round to inf), random normals
  convert_bits.npy  int32: torch's x.to(torch.bfloat16) of each, as bits
  linear_*.npy      torch.autocast("cpu", torch.bfloat16): y = linear(x, w, b) (bf16 result
                    widened to float32), and the float32 gradients of sum(y * gy) for x, w, b
  conv_*.npy        the same for conv2d (stride 1, padding 1)
"""
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "bf16")


def save(name, a):
    np.save(os.path.join(OUT, name), np.ascontiguousarray(a))


def bits(t):
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    u = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F817FFF, 0x00000001, 0x00008000,
                  0x80018000, 0x007FFFFF, 0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0xFF7F8000,
                  0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x00000000, 0x80000000],
                 dtype=np.uint32)
    vals = np.concatenate([u.view(np.float32), torch.randn(200).numpy().astype(np.float32)])
    save("convert_in.npy", vals)
    save("convert_bits.npy", bits(torch.from_numpy(vals).to(torch.bfloat16)).astype(np.int32))

    def run(prefix, fn, shapes):
        ts = [torch.randn(*s, requires_grad=True) for s in shapes]
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            y = fn(*ts)
        assert y.dtype == torch.bfloat16
        gy = torch.randn(y.shape)
        (y.float() * gy).sum().backward()
        for name, t in zip("xwb", ts):
            save(f"{prefix}_{name}.npy", t.detach().numpy())
            save(f"{prefix}_g{name}.npy", t.grad.numpy())
        save(f"{prefix}_y.npy", y.detach().float().numpy())
        save(f"{prefix}_gy.npy", gy.numpy())

    run("linear", torch.nn.functional.linear, [(8, 64), (32, 64), (32,)])
    run("conv", lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1),
        [(2, 16, 8, 8), (16, 16, 3, 3), (16,)])


if __name__ == "__main__":
    main()
