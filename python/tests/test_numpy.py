"""NumPy, DLPack and buffer-protocol sharing: zero-copy both ways, with PyTorch's lifetime
rules (either side may outlive the other)."""
import gc

import numpy as np
import pytest

import tandem


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tandem.from_numpy(a)
    assert t.dtype == tandem.float32 and t.shape == (2, 3)
    a[0, 1] = 100.0
    assert t[0, 1].item() == 100.0
    t[1, 2] = -5.0
    assert a[1, 2] == -5.0
    assert np.shares_memory(t.numpy(), a)


def test_numpy_shares_memory_with_tensor():
    t = tandem.arange(12, dtype=tandem.float64).reshape(3, 4)
    a = t.numpy()
    assert a.dtype == np.float64 and a.shape == (3, 4)
    a[2, 3] = 42.0
    assert t[2, 3].item() == 42.0
    t.add_(1.0)
    assert a[0, 0] == 1.0
    assert np.shares_memory(a, t.numpy())
    assert np.shares_memory(np.asarray(t), a)


def test_views_and_strides_are_kept():
    t = tandem.arange(20, dtype=tandem.int64).reshape(4, 5)
    v = t.transpose(0, 1)[1:, ::2]
    a = v.numpy()
    np.testing.assert_array_equal(a, np.arange(20).reshape(4, 5).T[1:, ::2])
    assert np.shares_memory(a, t.numpy())
    b = np.arange(24, dtype=np.int32).reshape(4, 6)[:, 1::2]
    tb = tandem.from_numpy(b)
    assert tb.tolist() == b.tolist() and not tb.is_contiguous()


def test_numpy_array_outlives_tensor():
    t = tandem.full((1000,), 3.0)
    a = t.numpy()
    del t
    gc.collect()
    big = [tandem.ones(1000) for _ in range(50)]  # reuse freed blocks if any
    assert (a == 3.0).all()
    del big


def test_tensor_outlives_numpy_array():
    a = np.full(1000, 7, dtype=np.int64)
    t = tandem.from_numpy(a)
    del a
    gc.collect()
    junk = [np.full(1000, 1, dtype=np.int64) for _ in range(50)]
    assert t.sum().item() == 7000
    del junk
    v = t[10:20]
    del t
    gc.collect()
    assert v.tolist() == [7] * 10


def test_array_refcount_is_released():
    import sys
    a = np.zeros(10)
    before = sys.getrefcount(a)
    t = tandem.from_numpy(a)
    assert sys.getrefcount(a) == before + 1
    del t
    gc.collect()
    assert sys.getrefcount(a) == before


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.uint8,
                                   np.int16, np.uint16, np.int32, np.int64, np.bool_])
def test_dtypes_roundtrip(dtype):
    a = (np.arange(5) % 2).astype(dtype)
    t = tandem.from_numpy(a)
    b = t.numpy()
    assert b.dtype == a.dtype and np.shares_memory(a, b)


def test_int16_and_uint16_keep_their_values_and_promote_as_numpy():
    a = np.array([-32768, -1, 0, 32767], dtype=np.int16)
    u = np.array([0, 1, 40000, 65535], dtype=np.uint16)
    ta, tu = tandem.from_numpy(a), tandem.from_numpy(u)
    assert ta.dtype == tandem.int16 and tu.dtype == tandem.uint16
    np.testing.assert_array_equal((ta + ta).numpy(), a + a)  # wraps, as NumPy
    s = (tu + ta).numpy()
    assert s.dtype == np.int32 and (s == u.astype(np.int32) + a).all()
    assert tandem.promote_types(tandem.uint16, tandem.uint8) == tandem.uint16


def test_bad_arrays_give_errors():
    with pytest.raises(tandem.Error, match="negative stride"):
        tandem.from_numpy(np.arange(4.0)[::-1])
    with pytest.raises(tandem.Error, match="complex128"):
        tandem.from_numpy(np.zeros(2, dtype=np.complex128))
    with pytest.raises(tandem.Error, match="requires grad"):
        tandem.ones(2, requires_grad=True).numpy()
    with pytest.raises(tandem.Error, match="bfloat16"):
        tandem.ones(2, dtype=tandem.bfloat16).numpy()
    with pytest.raises(TypeError):
        tandem.from_numpy([1, 2, 3])


def test_numpy_cost_does_not_depend_on_size():
    # Zero-copy: the result is a view of the same memory for any size.
    for n in (1, 10_000_000):
        t = tandem.zeros(n)
        a = t.numpy()
        assert a.ctypes.data == t.data_ptr()
        assert tandem.from_numpy(a).data_ptr() == a.ctypes.data


def test_dlpack_with_numpy():
    t = tandem.arange(6, dtype=tandem.float32).reshape(2, 3)
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.numpy())
    b = np.arange(8, dtype=np.int32).reshape(2, 4)
    u = tandem.from_dlpack(b)
    b[1, 1] = 99
    assert u[1, 1].item() == 99 and u.dtype == tandem.int32


def test_dlpack_with_torch(torch):
    t = tandem.arange(4, dtype=tandem.float64)
    x = torch.utils.dlpack.from_dlpack(t.__dlpack__())
    x[0] = 10.0
    assert t[0].item() == 10.0
    y = torch.arange(3, dtype=torch.float32)
    u = tandem.from_dlpack(torch.utils.dlpack.to_dlpack(y))
    y[2] = -1.0
    assert u.tolist() == [0.0, 1.0, -1.0]
    del y, x
    gc.collect()
    assert u.tolist() == [0.0, 1.0, -1.0]


def test_buffer_protocol():
    t = tandem.arange(6, dtype=tandem.int32).reshape(2, 3)
    m = memoryview(t)
    assert m.shape == (2, 3) and m.format == "i" and m.tolist() == [[0, 1, 2], [3, 4, 5]]
    a = np.frombuffer(t, dtype=np.int32)
    assert np.shares_memory(a, t.numpy())
