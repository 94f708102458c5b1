"""``tandem.nn.Module`` and ``Parameter``: PyTorch's Module protocol in plain Python.

Subclass ``Module``, assign ``Parameter``s, submodules and buffers as attributes in
``__init__`` and write ``forward`` in Python. The built-in layers (``Linear``, ``Conv2d``, ...)
are thin Python modules around tandem's C++ layers whose parameters are the very tensors the
C++ layer uses, so ``state_dict``, optimizers and the C++ forward share them."""
from collections import OrderedDict
import itertools

from .. import _C
from .._C import Tensor, Error


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter when assigned as an attribute.

    ``Parameter(t)`` shares ``t``'s storage (no copy) and requires grad."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C._empty([0], None, False)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): expected a Tensor, got {type(data).__name__}")
        super().__init__(data.detach())
        self.requires_grad_(requires_grad)

    @classmethod
    def _wrap(cls, t):
        """The same tensor (the same handle the C++ layer holds) as a Parameter."""
        p = cls.__new__(cls)
        Tensor.__init__(p, t)
        return p

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):
        raise Error("Parameters are not picklable; use tandem.save(module.state_dict(), path)")


class RemovableHandle:
    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Module:
    """Base class of every layer and model (see the module docstring)."""

    _cpp = None  # the C++ layer behind a built-in module

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    # ---- attribute registration
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise Error(f"cannot assign '{name}' before Module.__init__() is called "
                        "(call super().__init__() first in your __init__)")
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        if isinstance(value, Parameter):
            self._check_cpp_owned(name)
            d.pop(name, None)
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            d.pop(name, None)
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter '{name}' "
                                "(a Parameter or None is expected)")
            self._check_cpp_owned(name)
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer '{name}'")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to submodule '{name}'")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _check_cpp_owned(self, name):
        if self._cpp is not None and name in self._parameters:
            raise Error(f"{type(self).__name__}.{name} is the C++ layer's own tensor and can't "
                        f"be replaced; copy new values in instead: with tandem.no_grad(): "
                        f"layer.{name}.copy_(value)")

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if "." in name or name == "":
            raise KeyError(f"parameter name can't be empty or contain '.', got '{name}'")
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        if "." in name or name == "":
            raise KeyError(f"buffer name can't be empty or contain '.', got '{name}'")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer '{name}' must be a Tensor or None")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    # ---- forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required "
                                  "\"forward\" function")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def register_forward_hook(self, hook):
        h = RemovableHandle(self._forward_hooks)
        self._forward_hooks[h.id] = hook
        return h

    def register_forward_pre_hook(self, hook):
        h = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[h.id] = hook
        return h

    # ---- traversal
    def named_modules(self, memo=None, prefix=""):
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, recurse, prefix=""):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for k, v in getattr(m, store).items():
                if v is None or v._impl_id in seen:
                    continue
                seen.add(v._impl_id)
                yield mp + ("." if mp else "") + k, v

    def named_parameters(self, prefix="", recurse=True):
        return self._named_members("_parameters", recurse, prefix)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", recurse, prefix)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.__dict__["training"] = mode
        if self._cpp is not None:
            self._cpp.train(mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                g.detach_()
                g.zero_()

    # ---- dtype
    def to(self, *args, **kwargs):
        from .._C import dtype as _dtype
        dt = kwargs.get("dtype")
        for a in args:
            if isinstance(a, _dtype):
                dt = a
            elif isinstance(a, Tensor):
                dt = a.dtype
        if dt is not None:
            self._apply_dtype(dt)
        return self

    def _apply_dtype(self, dt):
        # Converted in place (the TensorImpls are kept), so optimizers and the C++ layers
        # keep seeing the live tensors.
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is not None and t.is_floating_point() and t.dtype != dt:
                    g = t.grad
                    t._set_data(t.detach().to(dt))
                    if g is not None:
                        t.grad = g.to(dt)

    def float(self):
        from .. import float32
        return self.to(float32)

    def double(self):
        from .. import float64
        return self.to(float64)

    def half(self):
        from .. import float16
        return self.to(float16)

    def cpu(self):
        return self

    # ---- state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copies into the existing tensors (in place). Every key is checked before anything
        is copied: a shape mismatch is always an Error; with ``strict`` missing and
        unexpected keys are too."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                if not isinstance(v, Tensor):
                    errors.append(f"'{k}': expected a Tensor, got {type(v).__name__}")
                elif tuple(v.shape) != tuple(t.shape):
                    errors.append(f"size mismatch for {k}: copying a param with shape "
                                  f"{list(v.shape)}, the shape in the current model is "
                                  f"{list(t.shape)}")
        if strict:
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " +
                              ", ".join(f'"{k}"' for k in unexpected))
        if errors:
            raise Error(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" +
                        "\n\t".join(errors))
        from ..autograd import no_grad
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    t.detach().copy_(state_dict[k].detach().to(t.dtype))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing
    def extra_repr(self):
        return self._cpp.extra_repr() if self._cpp is not None else ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            r = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {r}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(list(object.__dir__(self)) + list(self._parameters) +
                          list(self._modules) + list(self._buffers)))


class _IncompatibleKeys(tuple):
    def __new__(cls, missing, unexpected):
        t = super().__new__(cls, (missing, unexpected))
        return t

    @property
    def missing_keys(self):
        return self[0]

    @property
    def unexpected_keys(self):
        return self[1]

    def __repr__(self):
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"
