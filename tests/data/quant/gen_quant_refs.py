#!/usr/bin/python3
"""NumPy references for tandem's quantization ops (tests/quant/test_quant.cpp).

Written from ONNX's operator definitions, independently of tandem's kernels:
  QuantizeLinear    y = saturate(rint(x / scale) + zero_point)     (rint: half to even)
  DequantizeLinear  x = (q - zero_point) * scale
  MatMulInteger     int32 (a - a_zp) @ (b - b_zp)
  ConvInteger       int32 conv of (x - x_zp) and (w - w_zp), input padded with x_zp
  requantize        saturate(rint(float32(acc) * multiplier) + zero_point)
Run: /usr/bin/python3 tests/data/quant/gen_quant_refs.py (writes the .npy files next to it).
"""
import os
import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(21)


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), a)


def quantize(x, scale, zp, axis, dtype):
    info = np.iinfo(dtype)
    shape = [1] * x.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    s = scale.reshape(shape).astype(np.float32)
    z = zp.reshape(shape).astype(np.float32)
    with np.errstate(over="ignore"):  # 3.4e38 / 0.5 is inf, which saturates
        y = np.rint(x.astype(np.float32) / s) + z
    return np.clip(y, info.min, info.max).astype(dtype)


def dequantize(q, scale, zp, axis):
    shape = [1] * q.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    return ((q.astype(np.int32) - zp.reshape(shape).astype(np.int32)).astype(np.float32) *
            scale.reshape(shape).astype(np.float32))


# Per tensor, uint8: exact ties (k + 0.5) * scale in both directions, and saturation.
scale = np.array(0.5, dtype=np.float32)
ties = np.array([0.25, 0.75, 1.25, 1.75, -0.25, -0.75, -1.25, -1.75, 2.5, -2.5], dtype=np.float32)
x = np.concatenate([ties, np.array([1000.0, -1000.0, 63.0, 64.0, -64.0, 3.4e38, -3.4e38], np.float32),
                    rng.normal(0, 20, 15).astype(np.float32)]).reshape(4, 8)
zp = np.array(128, dtype=np.uint8)
save("q_u8_x", x)
save("q_u8_y", quantize(x, scale, zp, 1, np.uint8))

# Per tensor, int8, negative zero point.
zp8 = np.array(-3, dtype=np.int8)
save("q_s8_y", quantize(x, scale, zp8, 1, np.int8))

# Per axis, int8, axis 1 of [2, 3, 4] (and the dequantization back).
xa = rng.normal(0, 3, (2, 3, 4)).astype(np.float32)
xa[0, 0, 0] = 0.05  # exactly half a step of channel 0: a tie to 0
sa = np.array([0.1, 0.02, 0.5], dtype=np.float32)
za = np.array([0, 5, -7], dtype=np.int8)
save("qa_x", xa)
save("qa_scale", sa)
save("qa_zp", za)
qa = quantize(xa, sa, za, 1, np.int8)
save("qa_y", qa)
save("qa_deq", dequantize(qa, sa, za, 1))

# Per axis, uint8, axis 0 of [3, 5] (the layout of per-output-channel weights).
xw = rng.normal(0, 1, (3, 5)).astype(np.float32)
sw = np.array([0.01, 0.02, 0.03], dtype=np.float32)
zw = np.array([10, 128, 250], dtype=np.uint8)
save("qw_x", xw)
save("qw_scale", sw)
save("qw_zp", zw)
save("qw_y", quantize(xw, sw, zw, 0, np.uint8))

# MatMulInteger: uint8 a [2, 3, 4] (per-tensor zp) x int8 b [4, 5] (per-column zp).
a = rng.integers(0, 256, (2, 3, 4), dtype=np.uint8)
b = rng.integers(-128, 128, (4, 5), dtype=np.int8)
a_zp = np.array(131, dtype=np.uint8)
b_zp = np.array([0, -1, 2, 127, -128], dtype=np.int8)
save("mm_a", a)
save("mm_b", b)
save("mm_a_zp", a_zp)
save("mm_b_zp", b_zp)
save("mm_y", np.matmul(a.astype(np.int32) - np.int32(a_zp), b.astype(np.int32) - b_zp.astype(np.int32)))

# ConvInteger: uint8 x [2, 4, 7, 6], int8 w [6, 2, 3, 2] (groups 2), per-channel w_zp,
# stride (2, 1), dilation (1, 2), pads top 1, left 2, bottom 0, right 1.
xc = rng.integers(0, 256, (2, 4, 7, 6), dtype=np.uint8)
wc = rng.integers(-128, 128, (6, 2, 3, 2), dtype=np.int8)
x_zp = np.array(77, dtype=np.uint8)
w_zp = rng.integers(-5, 5, 6).astype(np.int8)
stride, dil, groups = (2, 1), (1, 2), 2
pt, pl, pb, pr = 1, 2, 0, 1
xp = np.full((2, 4, 7 + pt + pb, 6 + pl + pr), x_zp, dtype=np.int32)
xp[:, :, pt:pt + 7, pl:pl + 6] = xc
xp -= np.int32(x_zp)
kh, kw = 3, 2
Ho = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
Wo = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
yc = np.zeros((2, 6, Ho, Wo), dtype=np.int32)
for o in range(6):
    g = o // 3
    wo = wc[o].astype(np.int32) - np.int32(w_zp[o])
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, g * 2:(g + 1) * 2, i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                     j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
            yc[:, o, i, j] = (win * wo).sum(axis=(1, 2, 3))
save("conv_x", xc)
save("conv_w", wc)
save("conv_x_zp", x_zp)
save("conv_w_zp", w_zp)
save("conv_y", yc)

# Requantization: ties of acc * multiplier and saturation, per channel (axis 1 of [2, 3, 4]).
acc = rng.integers(-5000, 5000, (2, 3, 4)).astype(np.int32)
acc[0, 0, :] = [1, 3, 5, -3]        # with multiplier 0.5: 0.5, 1.5, 2.5, -1.5 (ties)
acc[1, 2, :] = [10**6, -10**6, 0, 7]
mult = np.array([0.5, 0.01, 0.25], dtype=np.float32)
y_zp = np.array(-2, dtype=np.int8)
r = np.rint(acc.astype(np.float32) * mult.reshape(1, 3, 1)) + np.float32(y_zp)
save("rq_acc", acc)
save("rq_mult", mult)
save("rq_y", np.clip(r, -128, 127).astype(np.int8))
