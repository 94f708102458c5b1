#!/usr/bin/python3
"""Writes the .npy/.npz/.csv files under tests/data/dataio/ that tests/dataio/ reads.

Run with Debian's python3 + numpy: /usr/bin/python3 tests/reference/gen_dataio.py
Values follow formulas the C++ tests recompute (v[i] = i * scale + offset in C order), so the
tests check our reader against NumPy's writer without storing expected values twice.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dataio")
os.makedirs(OUT, exist_ok=True)


def ramp(shape, dtype, scale=1.0, offset=0.0):
    n = int(np.prod(shape)) if shape else 1
    return (np.arange(n, dtype=np.float64) * scale + offset).astype(dtype).reshape(shape)


def save(name, arr, **kw):
    np.save(os.path.join(OUT, name), arr, **kw)


save("f32_2x3.npy", ramp((2, 3), np.float32, 0.5, -1.0))
save("f64_3.npy", ramp((3,), np.float64, 0.25, 1.0))
save("f16_4.npy", ramp((4,), np.float16, 0.5, -1.0))
save("i64_2x2.npy", ramp((2, 2), np.int64, 1e12, -3.0))
save("i32_4.npy", ramp((4,), np.int32, 1000, -2000))
save("i8_3.npy", ramp((3,), np.int8, 50, -100))
save("u8_5.npy", ramp((5,), np.uint8, 60, 0))
save("bool_4.npy", np.array([True, False, False, True]))
save("f64_scalar.npy", np.float64(2.5))
save("f32_empty_0x3.npy", np.zeros((0, 3), np.float32))
save("f32_2x3x4.npy", ramp((2, 3, 4), np.float32, 1.0, 0.0))
# Column-major storage of the same logical 2x3x4 ramp.
save("f32_2x3x4_fortran.npy", np.asfortranarray(ramp((2, 3, 4), np.float32, 1.0, 0.0)))
save("f64_2x3_bigendian.npy", ramp((2, 3), ">f8", 0.5, -1.0))
save("i32_3_bigendian.npy", ramp((3,), ">i4", 70000, -1))
save("i16_3.npy", ramp((3,), np.int16, 300, -400))
save("u4_3_unsupported.npy", ramp((3,), np.uint32, 1, 0))
with open(os.path.join(OUT, "f32_2x3_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, ramp((2, 3), np.float32, 0.5, -1.0), version=(2, 0))

np.savez(os.path.join(OUT, "stored.npz"), a=ramp((2, 3), np.float32, 0.5, -1.0),
         b=ramp((4,), np.int64, 3, 1), flag=np.array([True, False]))
np.savez_compressed(os.path.join(OUT, "compressed.npz"), a=ramp((2, 3), np.float32, 0.5, -1.0),
                    big=ramp((64, 16), np.float64, 0.125, 0.0))
print("wrote", OUT)
