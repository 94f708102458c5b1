"""The optimizers: Python front ends of the C++ optimizers (the update runs in C++, GIL
released). ``param_groups`` is a list of dicts; writing an option (``g["lr"] = 0.01``)
writes through to the C++ optimizer."""
from .. import _C
from .._C import Tensor, Error

_copt = _C._optim


class _Group(dict):
    def __init__(self, opt, index, params, options):
        super().__init__(options)
        self["params"] = params
        self._opt = opt
        self._index = index

    def __setitem__(self, key, value):
        if key == "params":
            raise Error("param_groups[i]['params'] can't be replaced; use add_param_group")
        if key == "betas":
            self._opt._cpp.set_group_option(self._index, "beta1", float(value[0]))
            self._opt._cpp.set_group_option(self._index, "beta2", float(value[1]))
        elif hasattr(self, "_opt"):
            self._opt._cpp.set_group_option(self._index, key, float(value))
        super().__setitem__(key, value)


def _options_to_cpp(options):
    out = {}
    for k, v in options.items():
        if k == "params":
            continue
        if k == "betas":
            out["beta1"], out["beta2"] = float(v[0]), float(v[1])
        elif isinstance(v, (bool, int, float)):
            out[k] = float(v)
        else:
            raise Error(f"optimizer option '{k}': expected a number, got {type(v).__name__}")
    return out


def _groups(params):
    if isinstance(params, Tensor):
        raise TypeError("params argument given to the optimizer should be an iterable of "
                        "Tensors or dicts, but got a Tensor")
    params = list(params)
    if not params:
        raise Error("optimizer got an empty parameter list")
    if isinstance(params[0], dict):
        groups = []
        for g in params:
            ps = g["params"]
            ps = [ps] if isinstance(ps, Tensor) else list(ps)
            groups.append((ps, _options_to_cpp(g)))
        return groups
    return [(params, {})]


class Optimizer:
    """Base of the optimizers; ``self._cpp`` is the C++ optimizer."""

    def __init__(self, cpp):
        self._cpp = cpp

    @property
    def param_groups(self):
        out = []
        for i in range(self._cpp.num_groups()):
            opts = dict(self._cpp.group_options(i))
            if "beta1" in opts:
                opts["betas"] = (opts.pop("beta1"), opts.pop("beta2"))
            for flag in ("amsgrad", "nesterov", "centered"):
                if flag in opts:
                    opts[flag] = bool(opts[flag])
            g = _Group.__new__(_Group)
            dict.__init__(g, opts)
            dict.__setitem__(g, "params", self._cpp.group_params(i))
            g._opt, g._index = self, i
            out.append(g)
        return out

    @property
    def defaults(self):
        return dict(self._cpp.defaults())

    @property
    def state(self):
        return {p: self._cpp.state_of(p) for g in self.param_groups for p in g["params"]
                if self._cpp.state_of(p) is not None}

    def step(self, closure=None):
        loss = None
        if closure is not None:
            from ..autograd import enable_grad
            with enable_grad():
                loss = closure()
        self._cpp.step()
        return loss

    def zero_grad(self, set_to_none=True):
        self._cpp.zero_grad(set_to_none)

    def add_param_group(self, group):
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        self._cpp.add_param_group(ps, _options_to_cpp(group))

    def state_dict(self):
        tensors, metadata = self._cpp.state_dict()
        return {"tensors": tensors, "metadata": metadata}

    def load_state_dict(self, state_dict):
        self._cpp.load_state_dict(state_dict["tensors"], state_dict["metadata"])

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    def __init__(self, params, lr=None, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if lr is None:
            raise Error("SGD: lr is required")
        super().__init__(_copt.SGD(_groups(params), lr, momentum, dampening, weight_decay,
                                   nesterov))


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(_copt.Adam(_groups(params), lr, betas[0], betas[1], eps, weight_decay,
                                    amsgrad))


class AdamW(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(_copt.AdamW(_groups(params), lr, betas[0], betas[1], eps, weight_decay,
                                     amsgrad))


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(_copt.RMSprop(_groups(params), lr, alpha, eps, weight_decay, momentum,
                                       centered))


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(_copt.Adagrad(_groups(params), lr, lr_decay, weight_decay,
                                       initial_accumulator_value, eps))
