"""tandem: eager tensors with autograd, graph capture, ONNX and safetensors, from Python.

The names and habits are PyTorch's: replace ``import torch`` by ``import tandem``::

    import tandem
    x = tandem.randn(4, 3, requires_grad=True)
    y = (x @ x.T).relu().sum()
    y.backward()
    print(x.grad)

Every kernel runs in tandem's C++ core with the GIL released, so Python threads can run
tandem work in parallel. Errors from the core are raised as ``tandem.Error`` (a
``RuntimeError``) carrying the core's message.
"""
import os as _os

# Idle OpenMP threads sleep rather than spin (include/tandem/omp_wait.h says why): libgomp
# reads this once when it loads, which is the import of _C unless another module loaded it
# first. The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from . import _C  # noqa: E402
from ._C import (Error, Tensor, dtype, from_dlpack, promote_types, manual_seed,
                 set_num_threads, get_num_threads, is_grad_enabled, zeros_like, ones_like,
                 empty_like, full_like, rand_like, randn_like,
                 # functions that are also Tensor methods (src/ops.cpp)
                 neg, negative, exp, log, log1p, sqrt, rsqrt, abs, sign, sin, cos, tanh, sigmoid,
                 relu, logical_not, add, sub, subtract, mul, multiply, div, divide, pow, eq, ne,
                 lt, le, gt, ge, minimum, maximum, logical_and, logical_or, logical_xor, where,
                 clamp, clip, sum, mean, prod, amax, amin, max, min, argmax, argmin, var, std,
                 logsumexp, norm, softmax, log_softmax, cumsum, matmul, mm, bmm, outer, dot,
                 reshape, permute, transpose, swapaxes, squeeze, unsqueeze, flatten,
                 index_select, gather, scatter_add, scatter, scatter_reduce, index_add,
                 index_copy, index_fill, take_along_dim, index_put, masked_select, masked_scatter,
                 masked_fill, cat, concat, stack, split, chunk,
                 unbind, topk, sort, argsort)
from . import _tensor  # noqa: F401  (adds the Python-level Tensor methods)
from ._tensor import Size, device
from .autograd import no_grad, enable_grad, set_grad_enabled

__version__ = "0.1.0"

bool = dtype.bool
uint8 = dtype.uint8
int8 = dtype.int8
int16 = dtype.int16
uint16 = dtype.uint16
int32 = dtype.int32
int64 = dtype.int64
float16 = dtype.float16
bfloat16 = dtype.bfloat16
float32 = dtype.float32
float64 = dtype.float64
half, float, double, int, long, short = float16, float32, float64, int32, int64, int16

_builtin_int = type(0)


def _size(size):
    # zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(Size) all mean the same.
    if len(size) == 1 and not isinstance(size[0], _builtin_int) and hasattr(size[0], "__len__"):
        return tuple(size[0])
    return size


def _check_device(device):
    if device is not None and str(device) != "cpu":
        raise Error(f"device '{device}': only the CPU is available in this build")


def from_numpy(ndarray):
    """A tensor sharing memory with the NumPy array ``ndarray`` (no copy; writes through
    either are seen by the other; either may outlive the other)."""
    import numpy as np
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return _C.from_numpy(ndarray)


def empty(*size, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._empty(_size(size), dtype, requires_grad)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._zeros(_size(size), dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._ones(_size(size), dtype, requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._full(size, fill_value, dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False, device=None, generator=None):
    _check_device(device)
    return _C._rand(_size(size), dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False, device=None, generator=None):
    _check_device(device)
    return _C._randn(_size(size), dtype, requires_grad)


def randint(low, high=None, size=None, *, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing the required argument 'size'")
    return _C._randint(low, high, size, dtype, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, _builtin_int) for v in (start, end, step))
        dtype = int64 if is_int else float32
    return _C._arange(start, end, step, dtype, requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._linspace(start, end, steps, dtype, requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False, device=None):
    _check_device(device)
    return _C._eye(n, m, dtype, requires_grad)


def tensor(data, *, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, NumPy arrays, tensors).

    As ``torch.tensor``: Python floats give float32, ints int64, bools bool; a NumPy array
    keeps its dtype."""
    import numpy as np
    _check_device(device)
    if isinstance(data, Tensor):
        t = data.detach().clone()
    else:
        arr = np.array(data)
        if arr.dtype == np.float64 and not isinstance(data, np.ndarray) and dtype is None:
            arr = arr.astype(np.float32)
        if arr.dtype == object:
            raise Error("tensor(): the data could not be converted to a numeric array "
                        "(ragged nested lists or non-numbers?)")
        t = _C.from_numpy(np.asarray(arr, order="C")).clone()
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """Shares memory with a NumPy array or a tensor when the dtype allows, copies otherwise."""
    import numpy as np
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        t = _C.from_numpy(data)
        return t if dtype is None or t.dtype == dtype else t.to(dtype)
    return tensor(data, dtype=dtype, device=device)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    import numpy as np
    return _builtin_bool(np.allclose(input.detach().numpy(), other.detach().numpy(), rtol=rtol,
                                     atol=atol, equal_nan=equal_nan))


def equal(input, other):
    return tuple(input.shape) == tuple(other.shape) and _builtin_bool((input == other).all())


_builtin_bool = type(True)

from . import autograd, nn, ops, optim, utils  # noqa: E402
from .serialization import save, load  # noqa: E402
from ._compile import compile  # noqa: E402
from . import onnx  # noqa: E402
