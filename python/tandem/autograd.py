"""Grad mode and autograd functions (``tandem.no_grad``, ``tandem.autograd.grad``).

Grad mode is per thread, as in PyTorch: ``no_grad`` in one Python thread does not affect
another."""
import functools

from . import _C
from ._C import Tensor


class _GradModeContext:
    _mode = None

    def __init__(self):
        self._prev = None

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator: ops inside record no history."""
    _mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator: turns recording back on inside a ``no_grad``."""
    _mode = True


class inference_mode(no_grad):
    """Same as ``no_grad`` here."""

    def __init__(self, mode=True):
        super().__init__()
        self._mode = not mode


class set_grad_enabled:
    """``set_grad_enabled(False)`` as a function call or a context manager."""

    def __init__(self, mode):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    _C._backward(tensors, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """d(outputs)/d(inputs) as a tuple (None for unused inputs with allow_unused=True),
    without touching ``.grad``."""
    if retain_graph is None:
        retain_graph = create_graph
    return _C._grad(_as_list(outputs), _as_list(inputs), _as_list(grad_outputs), retain_graph,
                    create_graph, allow_unused)
