"""Tensor indexing as NumPy/PyTorch: ints, slices, None, Ellipsis (basic: views that share
storage), and integer/bool tensors, lists and arrays (advanced: copies, differentiable
through index_select)."""
import numpy as np

from . import _C
from ._C import Tensor, Error, dtype as _dtype


def _is_advanced(i):
    return isinstance(i, (Tensor, list, np.ndarray))


def _as_index_tensor(i):
    if isinstance(i, Tensor):
        return i
    arr = np.asarray(i)
    if arr.dtype == object:
        raise Error("index: nested lists must be rectangular lists of ints or bools")
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iu":
            raise Error(f"index: tensors used as indices must be long or bool, got {arr.dtype}")
        arr = arr.astype(np.int64)
    return _C.from_numpy(np.asarray(arr, order="C")).clone()


def _expand_ellipsis(idx, ndim):
    if not isinstance(idx, tuple):
        idx = (idx,)
    consumed = 0
    for i in idx:
        if i is None or i is Ellipsis:
            continue
        if isinstance(i, Tensor) and i.dtype == _dtype.bool:
            consumed += i.dim()
        elif isinstance(i, np.ndarray) and i.dtype == np.bool_:
            consumed += i.ndim
        else:
            consumed += 1
    n_ell = sum(1 for i in idx if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    if n_ell == 0:
        return idx
    out = []
    for i in idx:
        if i is Ellipsis:
            out.extend([slice(None)] * (ndim - consumed))
        else:
            out.append(i)
    return tuple(out)


def _basic(x, idx):
    """Applies ints, slices and None; returns the view and the advanced indices by dim."""
    d = 0
    advanced = []
    for i in idx:
        if i is None:
            x = x.unsqueeze(d)
            d += 1
        elif isinstance(i, bool):
            raise Error("index: a Python bool as an index is not supported")
        elif isinstance(i, slice):
            step = 1 if i.step is None else int(i.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            x = x._slice(d, None if i.start is None else int(i.start),
                         None if i.stop is None else int(i.stop), step)
            d += 1
        elif isinstance(i, int) or (hasattr(i, "__index__") and not _is_advanced(i)):
            n = x._shape[d]
            k = int(i)
            if k < -n or k >= n:
                raise IndexError(f"index {k} is out of bounds for dimension {d} with size {n}")
            x = x.select(d, k)
        elif _is_advanced(i):
            t = _as_index_tensor(i)
            if t.dtype == _dtype.bool:
                shape = tuple(x._shape[d:d + t.dim()])
                if tuple(t._shape) != shape:
                    raise IndexError(f"the shape of the mask {list(t._shape)} does not match the "
                                     f"shape {list(shape)} of the indexed tensor at dim {d}")
                for nz in t.numpy().nonzero():
                    advanced.append((d, _C.from_numpy(nz.astype(np.int64))))
                    d += 1
            else:
                advanced.append((d, t))
                d += 1
        else:
            raise TypeError(f"index: unsupported index type {type(i).__name__}")
    return x, advanced


def getitem(self, idx):
    idx = _expand_ellipsis(idx, self.dim())
    x, advanced = _basic(self, idx)
    if not advanced:
        return x
    dims = [d for d, _ in advanced]
    idxs = [t for _, t in advanced]
    shape = list(x._shape)
    # Non-adjacent advanced dims go to the front (NumPy's rule); adjacent ones stay in place.
    if dims != list(range(dims[0], dims[0] + len(dims))):
        rest = [d for d in range(len(shape)) if d not in dims]
        x = x.permute(*(dims + rest))
        shape = list(x._shape)
        dims = list(range(len(dims)))
    d0 = dims[0]
    bshape = list(np.broadcast_shapes(*[tuple(t._shape) for t in idxs]))
    linear = None
    for k, (d, t) in enumerate(zip(dims, idxs)):
        n = shape[d]
        t = _C.where(t < 0, t + n, t)
        if bool((t < 0).any()) or bool((t >= n).any()):
            raise IndexError(f"index out of range for dimension {d} with size {n}")
        t = t.expand(*bshape)
        linear = t if linear is None else linear * n + t
    merged = 1
    for d in dims:
        merged *= shape[d]
    x = x.reshape(*(shape[:d0] + [merged] + shape[dims[-1] + 1:]))
    out = x.index_select(d0, linear.reshape(-1))
    return out.reshape(*(shape[:d0] + bshape + shape[dims[-1] + 1:]))


def setitem(self, idx, value):
    if isinstance(idx, Tensor) and idx.dtype == _dtype.bool and tuple(idx._shape) == tuple(self._shape):
        if isinstance(value, Tensor):
            self.copy_(_C.where(idx, value, self))
        else:
            self.masked_fill_(idx, float(value))
        return
    full = _expand_ellipsis(idx, self.dim())
    if any(_is_advanced(i) for i in full):
        # x[i0, :, i2] = v: index_put with None for each full slice.
        if not all(_is_advanced(i) or i == slice(None) for i in full):
            raise Error("assignment through integer-array or bool-mask indices mixed with ints, "
                        "None or partial slices is not supported; index with tensors and ':' only")
        indices = [None if isinstance(i, slice) else _as_index_tensor(i) for i in full]
        if not isinstance(value, Tensor):
            value = _C._full([], value, self.dtype, False)
        self.copy_(_C.index_put(self, indices, value, False))
        return
    view, _ = _basic(self, full)
    if isinstance(value, Tensor):
        if tuple(value._shape) != tuple(view._shape):
            value = value.expand(*view._shape)
        view.copy_(value)
    else:
        view.fill_(value)
