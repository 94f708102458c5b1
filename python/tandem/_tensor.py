"""Python-level Tensor methods: PyTorch's spellings (varargs shapes, ``.to``, ``.size``),
indexing and slicing, printing, ``tolist``, NumPy interop. Kernels stay in C++."""
import builtins
import numpy as np

from . import _C
from ._C import Tensor, Error, dtype as _dtype


class Size(tuple):
    """A tensor's shape: a tuple of ints, printed as ``tandem.Size([2, 3])``."""

    def __repr__(self):
        return f"tandem.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class device:
    """A device; only ``cpu`` exists in this build."""

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type = type.type
        if str(type) != "cpu":
            raise Error(f"device '{type}': only the CPU is available in this build")
        self.type = "cpu"
        self.index = index

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return str(other) == "cpu"

    def __hash__(self):
        return hash("cpu")


_CPU = device("cpu")


def _shape_args(args, what):
    # view(2, 3), view((2, 3)), view([2, 3]) and view(Size) all mean the same.
    if len(args) == 1 and not isinstance(args[0], int) and hasattr(args[0], "__len__"):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, int) and not hasattr(a, "__index__"):
            raise TypeError(f"{what}(): expected ints, got {type(a).__name__}")
    return [int(a) for a in args]


def _shape(self):
    return Size(self._shape)


def _size(self, dim=None):
    s = self._shape
    if dim is None:
        return Size(s)
    return s[dim]


def _view(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], _dtype):
        raise Error("view(dtype) (reinterpreting the bytes) is not supported")
    return self._view(_shape_args(shape, "view"))


def _reshape(self, *shape):
    return self._reshape(_shape_args(shape, "reshape"))


def _permute(self, *dims):
    return self._permute(_shape_args(dims, "permute"))


def _expand(self, *sizes):
    sizes = _shape_args(sizes, "expand")
    # -1 keeps a dimension, as in PyTorch.
    cur = list(self._shape)
    off = len(sizes) - len(cur)
    sizes = [cur[i - off] if s == -1 and i >= off else s for i, s in enumerate(sizes)]
    return self._expand(sizes)


def _repeat(self, *sizes):
    sizes = _shape_args(sizes, "repeat")
    x = self
    while x.dim() < len(sizes):
        x = x.unsqueeze(0)
    # Each dim d becomes (r, n): unsqueeze, expand, then merge.
    shape = list(x._shape)
    y = x
    for d in range(len(sizes)):
        y = y.unsqueeze(2 * d)
    expanded = []
    for d, r in enumerate(sizes):
        expanded += [r, shape[d]]
    y = y._expand(expanded).contiguous()
    return y._reshape([r * n for r, n in zip(sizes, shape)])


def _to(self, *args, **kwargs):
    """to(dtype), to(device), to(device, dtype), to(other), with copy=False by default."""
    dt = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    dev = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, _dtype):
            dt = a
        elif isinstance(a, Tensor):
            dt = a.dtype
        elif isinstance(a, (str, device)):
            dev = a
        else:
            raise TypeError(f"to(): unexpected argument of type {type(a).__name__}")
    if dev is not None:
        device(dev)  # Error for anything but the CPU
    if dt is None:
        return self.clone() if copy else self
    return self._to_dtype(dt, copy)


def _type_conv(dt):
    def conv(self):
        return self._to_dtype(dt, False)
    conv.__name__ = str(dt).split(".")[-1]
    return conv


def _repr(self):
    s = self._str()
    # The core prints "dtype=float64"; PyTorch users read "dtype=tandem.float64".
    s = s.replace(", dtype=", ", dtype=tandem.")
    return s


def _tolist(self):
    if self.dtype == _dtype.bfloat16:
        return self.float().tolist()
    return self.detach().numpy().tolist()


def _array(self, dtype=None):
    a = self.numpy()
    return a if dtype is None else a.astype(dtype, copy=False)


def _len(self):
    if self.dim() == 0:
        raise TypeError("len() of a 0-d tensor")
    return self._shape[0]


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self.select(0, i) for i in range(self._shape[0]))


def _scalar(conv):
    def f(self):
        if self.numel() != 1:
            raise Error(f"only one-element tensors can be converted to Python scalars "
                        f"(this one has {self.numel()} elements)")
        return conv(self.item())
    return f


def _index(self):
    if self.is_floating_point() or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


def _bool(self):
    if self.numel() != 1:
        raise Error("Boolean value of a Tensor with more than one value is ambiguous")
    return builtins.bool(self.item())


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    if inputs is not None:
        raise Error("backward(inputs=...) is not supported; use tandem.autograd.grad")
    if retain_graph is None:
        retain_graph = create_graph
    self._backward(gradient, retain_graph, create_graph)


class _RemovableHandle:
    def __init__(self, remove):
        self._remove = remove

    def remove(self):
        self._remove()


def _register_hook(self, hook):
    """``hook(grad)`` runs when the gradient of this tensor is computed; it may return a
    replacement. Runs on the thread calling backward, with the GIL."""
    state = {"active": True}

    def wrapped(g):
        if not state["active"]:
            return None
        return hook(g)
    self._register_hook(wrapped)
    return _RemovableHandle(lambda: state.update(active=False))


def _grad_fn(self):
    name = self._grad_fn_name
    return None if name is None else _GradFn(name)


class _GradFn:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name

    def __repr__(self):
        return f"<{self._name}>"


def _data_get(self):
    return self.detach()


def _data_set(self, value):
    if not isinstance(value, Tensor):
        raise TypeError("Tensor.data must be set to a Tensor")
    self._set_data(value.detach())


def _all(self, dim=None, keepdim=False):
    x = self._to_dtype(_dtype.bool, False).logical_not()._to_dtype(_dtype.int64, False)
    if dim is None:
        return x.sum() == 0
    return x.sum(dim, keepdim) == 0


def _any(self, dim=None, keepdim=False):
    x = self._to_dtype(_dtype.bool, False)._to_dtype(_dtype.int64, False)
    if dim is None:
        return x.sum() > 0
    return x.sum(dim, keepdim) > 0


def _uniform_(self, a=0.0, b=1.0):
    from .nn import init
    return init.uniform_(self, a, b)


def _normal_(self, mean=0.0, std=1.0):
    from .nn import init
    return init.normal_(self, mean, std)


def _new_tensor(self, data, dtype=None, requires_grad=False):
    from . import tensor
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_zeros(self, *size, dtype=None, requires_grad=False):
    return _C._zeros(_shape_args(size, "new_zeros"), dtype or self.dtype, requires_grad)


def _new_ones(self, *size, dtype=None, requires_grad=False):
    return _C._ones(_shape_args(size, "new_ones"), dtype or self.dtype, requires_grad)


def _new_full(self, size, fill_value, dtype=None, requires_grad=False):
    return _C._full(size, fill_value, dtype or self.dtype, requires_grad)


def _format(self, spec):
    if self.dim() == 0:
        return self.item().__format__(spec)
    return object.__format__(repr(self), spec)


from ._indexing import getitem as _getitem, setitem as _setitem  # noqa: E402

for _name, _fn in {
    "size": _size, "view": _view, "reshape": _reshape, "permute": _permute, "expand": _expand,
    "repeat": _repeat, "to": _to, "__repr__": _repr, "tolist": _tolist, "__array__": _array,
    "__len__": _len, "__iter__": _iter, "__float__": _scalar(float), "__int__": _scalar(int),
    "__index__": _index,
    "__bool__": _bool, "backward": _backward, "register_hook": _register_hook,
    "all": _all, "any": _any, "uniform_": _uniform_, "normal_": _normal_,
    "new_tensor": _new_tensor, "new_zeros": _new_zeros, "new_ones": _new_ones,
    "new_full": _new_full, "__format__": _format,
    "__getitem__": _getitem, "__setitem__": _setitem,
    "float": _type_conv(_dtype.float32), "double": _type_conv(_dtype.float64),
    "half": _type_conv(_dtype.float16), "bfloat16": _type_conv(_dtype.bfloat16),
    "long": _type_conv(_dtype.int64), "int": _type_conv(_dtype.int32),
    "bool": _type_conv(_dtype.bool), "byte": _type_conv(_dtype.uint8),
    "char": _type_conv(_dtype.int8), "short": _type_conv(_dtype.int16),
    "cpu": lambda self: self, "type_as": lambda self, other: self.to(other.dtype),
    "view_as": lambda self, other: self._view(list(other._shape)),
    "reshape_as": lambda self, other: self._reshape(list(other._shape)),
}.items():
    setattr(Tensor, _name, _fn)

Tensor.shape = property(_shape)
Tensor.T = property(lambda self: self.permute(*reversed(range(self.dim()))))
Tensor.mT = property(lambda self: self.transpose(-2, -1))
Tensor.device = property(lambda self: _CPU)
Tensor.is_cuda = property(lambda self: False)
Tensor.grad_fn = property(_grad_fn)
Tensor.data = property(_data_get, _data_set)
Tensor.__array_priority__ = 1000  # ndarray + tensor defers to Tensor.__radd__
Tensor.__module__ = "tandem"
# The dtypes print as PyTorch's do ("tandem.float32"); pybind11's enum repr is "<dtype...>".
_DTYPE_NAMES = {v: k for k, v in _dtype.__members__.items()}
_dtype.__repr__ = lambda self: "tandem." + _DTYPE_NAMES[self]
_dtype.__str__ = _dtype.__repr__
