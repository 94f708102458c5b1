#!/usr/bin/python3
"""int16 / uint16 references for tests/core/test_int16.cpp.

    /usr/bin/python3 tests/reference/gen_int16.py      # writes tests/data/int16/*.npy

int16 results come from PyTorch 1.13. PyTorch 1.13 has no uint16, so uint16 results come
from NumPy, whose rules tandem follows for that type (integer partners as
numpy.promote_types; a floating partner wins, as PyTorch's categories say).

Files:
  promote.npy      int32 [11, 11]: index into ORDER of promote_types(ORDER[i], ORDER[j])
  a, b             int16 [4, 6], the full range (both extremes included)
  u8, i8, i32, f32 partners of a for mixed-dtype arithmetic
  <op>.npy         torch results of a and b (or a and a partner); wrapping arithmetic
  cast_*.npy       a.to(dtype); f_in / from_f32: float32 -> int16 (truncation);
                   l_in / from_i64: int64 -> int16 (modulo 2^16)
  idx, gidx, sidx  int64 indices for index_select / gather / scatter_add
  ua, ub           uint16 [4, 6] (0 and 65535 included); u_*.npy: NumPy results
"""
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "int16")
ORDER = ["bool", "uint8", "int8", "int16", "uint16", "int32", "int64", "float16", "bfloat16",
         "float32", "float64"]


def save(name, a):
    if isinstance(a, torch.Tensor):
        a = a.numpy()
    np.save(os.path.join(OUT, name + ".npy"), np.array(a, order="C"))  # keeps 0-d arrays 0-d


def promote(x, y):
    if "uint16" not in (x, y):
        return str(torch.promote_types(getattr(torch, x), getattr(torch, y))).replace("torch.", "")
    other = y if x == "uint16" else x
    if other in ("float16", "bfloat16", "float32", "float64"):
        return other
    return str(np.promote_types(np.uint16, np.dtype(other)))


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    save("promote", np.array([[ORDER.index(promote(x, y)) for y in ORDER] for x in ORDER],
                             dtype=np.int32))

    a = torch.randint(-32768, 32768, (4, 6), generator=g, dtype=torch.int16)
    b = torch.randint(-32768, 32768, (4, 6), generator=g, dtype=torch.int16)
    a[0, 0], a[0, 1], b[0, 0], b[0, 1] = -32768, 32767, -1, 1
    b[1, 2] = a[1, 2]  # one tie for eq / maximum
    save("a", a)
    save("b", b)
    save("add", a + b)
    save("sub", a - b)
    save("mul", a * b)
    save("maximum", torch.maximum(a, b))
    save("minimum", torch.minimum(a, b))
    save("neg", -a)
    save("abs", torch.abs(a))
    save("lt", a < b)
    save("eq", a == b)
    save("sum_all", a.sum())
    save("sum_dim1", a.sum(1))
    save("amax_dim0", a.amax(0))
    save("amin_dim1", a.amin(1))
    save("argmax_dim1", a.argmax(1))
    save("cumsum_dim1", a.cumsum(1))
    save("sort_dim1", a.sort(1).values)

    u8 = torch.randint(0, 256, (4, 6), generator=g, dtype=torch.uint8)
    i8 = torch.randint(-128, 128, (4, 6), generator=g, dtype=torch.int8)
    i32 = torch.randint(-100000, 100000, (4, 6), generator=g, dtype=torch.int32)
    f32 = torch.randn(4, 6, generator=g)
    for n, t in (("u8", u8), ("i8", i8), ("i32", i32), ("f32", f32)):
        save(n, t)
        save("add_" + n, a + t)
    save("u8_plus_i8", u8 + i8)  # int16 in PyTorch

    for n in ("uint8", "int8", "int32", "int64", "float16", "float32", "float64", "bool"):
        save("cast_" + n, a.to(getattr(torch, n)))
    f_in = torch.randn(4, 6, generator=g) * 10000
    save("f_in", f_in)
    save("from_f32", f_in.to(torch.int16))
    l_in = torch.randint(-2**40, 2**40, (4, 6), generator=g, dtype=torch.int64)
    save("l_in", l_in)
    save("from_i64", l_in.to(torch.int16))

    idx = torch.tensor([5, 0, 3, 3])
    gidx = torch.randint(0, 6, (4, 3), generator=g)
    sidx = torch.randint(0, 4, (3, 6), generator=g)
    save("idx", idx)
    save("gidx", gidx)
    save("sidx", sidx)
    save("index_select", a.index_select(1, idx))
    save("gather", a.gather(1, gidx))
    save("cat0", torch.cat([a, b], 0))
    save("where", torch.where(a > b, a, b))
    save("scatter_add", a.scatter_add(0, sidx, b[:3]))

    ua = np.random.default_rng(0).integers(0, 65536, (4, 6)).astype(np.uint16)
    ub = np.random.default_rng(1).integers(0, 65536, (4, 6)).astype(np.uint16)
    ua[0, 0], ua[0, 1], ub[0, 0], ub[0, 1] = 65535, 0, 65535, 1
    save("ua", ua)
    save("ub", ub)
    save("u_add", ua + ub)
    save("u_sub", ua - ub)
    save("u_mul", ua * ub)
    save("u_maximum", np.maximum(ua, ub))
    save("u_minimum", np.minimum(ua, ub))
    save("u_lt", ua < ub)
    save("u_sum_dim1", ua.sum(1, dtype=np.int64))
    save("u_amax_dim0", ua.max(0))
    save("u_argmin_dim1", ua.argmin(1).astype(np.int64))
    save("u_plus_u8", ua + u8.numpy())          # uint16
    save("u_plus_i16", ua + a.numpy())          # int32
    save("u_plus_i8", ua + i8.numpy())          # int32
    save("u_cast_int16", ua.astype(np.int16))   # modulo 2^16
    save("u_cast_float32", ua.astype(np.float32))
    save("u_cast_uint8", ua.astype(np.uint8))
    save("u_from_i64", l_in.numpy().astype(np.uint16))


if __name__ == "__main__":
    main()
