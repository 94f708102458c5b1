"""The layers: C++ layers behind thin Python modules, parameter-free layers in Python over
``tandem.nn.functional``, and the containers."""
from collections import OrderedDict

from .. import _C
from .._C import Error
from .module import Module, Parameter
from . import functional as F

_cnn = _C._nn


class _CppLayer(Module):
    """A Module whose forward is a C++ layer's; its parameters and buffers are the C++ layer's
    own tensors (the same handles), children wrapped recursively."""

    _cpp_class = None

    def __init__(self, *args, _cpp=None, **kwargs):
        super().__init__()
        cpp = _cpp if _cpp is not None else self._cpp_class(*args, **kwargs)
        object.__setattr__(self, "_cpp", cpp)
        for name, t in cpp.named_parameters(False):
            self._parameters[name] = None if t is None else Parameter._wrap(t)
        for name, t in cpp.named_buffers(False):
            self._buffers[name] = t
        for name, child in cpp.named_children():
            self._modules[name] = _wrap_child(child)
        self.__dict__["training"] = cpp.training

    def forward(self, input):
        return self._cpp.forward(input)

    def _get_name(self):
        return type(self).__name__


def _wrap_child(cpp):
    m = _CppLayer.__new__(_CppLayer)
    _CppLayer.__init__(m, _cpp=cpp)
    m.__dict__["_type_name"] = cpp.type_name()
    m._get_name = lambda: m.__dict__["_type_name"]
    return m


def _cpp_layer(name, cpp_class, doc):
    cls = type(name, (_CppLayer,), {"_cpp_class": cpp_class, "__doc__": doc,
                                    "__module__": "tandem.nn"})
    return cls


Linear = _cpp_layer("Linear", _cnn.Linear, "y = x Wᵀ + b (PyTorch's init).")
Conv1d = _cpp_layer("Conv1d", _cnn.Conv1d, "1-D convolution.")
Conv2d = _cpp_layer("Conv2d", _cnn.Conv2d, "2-D convolution (oneDNN).")
ConvTranspose2d = _cpp_layer("ConvTranspose2d", _cnn.ConvTranspose2d, "Transposed 2-D convolution.")
BatchNorm1d = _cpp_layer("BatchNorm1d", _cnn.BatchNorm1d, "Batch norm over [N, C] or [N, C, L].")
BatchNorm2d = _cpp_layer("BatchNorm2d", _cnn.BatchNorm2d, "Batch norm over [N, C, H, W].")
LayerNorm = _cpp_layer("LayerNorm", _cnn.LayerNorm, "Layer norm over the trailing dims.")
GroupNorm = _cpp_layer("GroupNorm", _cnn.GroupNorm, "Group norm.")
Embedding = _cpp_layer("Embedding", _cnn.Embedding, "A lookup table of embeddings.")
TransformerEncoderLayer = _cpp_layer("TransformerEncoderLayer", _cnn.TransformerEncoderLayer,
                                     "Self-attention + feed-forward block.")


class _RNNBase(_CppLayer):
    def forward(self, input, hx=None):
        return self._cpp.forward_state(input, hx)


class LSTM(_CppLayer):
    """LSTM; forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))."""
    _cpp_class = _cnn.LSTM

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        return self._cpp.forward_state(input, h0, c0)


class GRU(_RNNBase):
    """GRU; forward(input, h_0=None) -> (output, h_n)."""
    _cpp_class = _cnn.GRU


class RNN(_RNNBase):
    """Elman RNN (tanh or relu); forward(input, h_0=None) -> (output, h_n)."""
    _cpp_class = _cnn.RNN


class MultiheadAttention(_CppLayer):
    """forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True) -> (output, weights or None)."""
    _cpp_class = _cnn.MultiheadAttention

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True):
        return self._cpp.forward_qkv(query, key, value, key_padding_mask, need_weights,
                                     attn_mask, average_attn_weights)


class TransformerEncoder(_CppLayer):
    """``num_layers`` copies of ``encoder_layer`` (a TransformerEncoderLayer), then ``norm``."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        cpp = _cnn.TransformerEncoder(encoder_layer._cpp, num_layers,
                                      None if norm is None else norm._cpp)
        super().__init__(_cpp=cpp)

    def forward(self, src, mask=None, src_key_padding_mask=None):
        return self._cpp.forward_mask(src, mask, src_key_padding_mask)


TransformerEncoderLayer.forward = (
    lambda self, src, src_mask=None, src_key_padding_mask=None:
    self._cpp.forward_mask(src, src_mask, src_key_padding_mask))


# ---- parameter-free layers
def _simple(name, fn):
    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(params_defaults[name])
        for (k, _), v in zip(params_defaults[name], args):
            values[k] = v
        for k, v in kwargs.items():
            if k not in values:
                raise TypeError(f"{name}() got an unexpected keyword argument '{k}'")
            values[k] = v
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def forward(self, input):
        return fn(self, input)

    def extra_repr(self):
        return ", ".join(f"{k}={getattr(self, k)}" for k, _ in params_defaults[name])

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "extra_repr": extra_repr, "__module__": "tandem.nn"})


params_defaults = {
    "ReLU": [("inplace", False)], "Sigmoid": [], "Tanh": [], "SiLU": [("inplace", False)],
    "GELU": [("approximate", "none")], "LeakyReLU": [("negative_slope", 0.01), ("inplace", False)],
    "Softplus": [("beta", 1.0), ("threshold", 20.0)], "ReLU6": [("inplace", False)],
    "Softmax": [("dim", None)], "LogSoftmax": [("dim", None)],
    "Dropout": [("p", 0.5), ("inplace", False)], "Identity": [],
    "Flatten": [("start_dim", 1), ("end_dim", -1)],
    "MaxPool2d": [("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1),
                  ("return_indices", False), ("ceil_mode", False)],
    "AvgPool2d": [("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True)],
    "AdaptiveAvgPool2d": [("output_size", None)],
}
ReLU = _simple("ReLU", lambda s, x: F.relu(x))
Sigmoid = _simple("Sigmoid", lambda s, x: F.sigmoid(x))
Tanh = _simple("Tanh", lambda s, x: F.tanh(x))
SiLU = _simple("SiLU", lambda s, x: F.silu(x))
GELU = _simple("GELU", lambda s, x: F.gelu(x, approximate=s.approximate))
LeakyReLU = _simple("LeakyReLU", lambda s, x: F.leaky_relu(x, s.negative_slope))
Softplus = _simple("Softplus", lambda s, x: F.softplus(x, s.beta, s.threshold))
ReLU6 = _simple("ReLU6", lambda s, x: F.relu6(x))
Softmax = _simple("Softmax", lambda s, x: F.softmax(x, s.dim))
LogSoftmax = _simple("LogSoftmax", lambda s, x: F.log_softmax(x, s.dim))
Dropout = _simple("Dropout", lambda s, x: F.dropout(x, s.p, s.training))
Identity = _simple("Identity", lambda s, x: x)
Flatten = _simple("Flatten", lambda s, x: x.flatten(s.start_dim, s.end_dim))


def _max_pool(s, x):
    if s.return_indices:
        raise Error("MaxPool2d(return_indices=True) is not supported")
    return F.max_pool2d(x, s.kernel_size, s.stride, s.padding, s.dilation, s.ceil_mode)


MaxPool2d = _simple("MaxPool2d", _max_pool)
AvgPool2d = _simple("AvgPool2d", lambda s, x: F.avg_pool2d(x, s.kernel_size, s.stride, s.padding,
                                                           s.ceil_mode, s.count_include_pad))
AdaptiveAvgPool2d = _simple("AdaptiveAvgPool2d", lambda s, x: F.adaptive_avg_pool2d(x, s.output_size))


# ---- losses
def _loss(name, fn, params):
    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        values = dict(params)
        for (k, _), v in zip(params, args):
            values[k] = v
        for k, v in kwargs.items():
            if k not in values:
                raise TypeError(f"{name}() got an unexpected keyword argument '{k}'")
            values[k] = v
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def forward(self, input, target):
        return fn(self, input, target)

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "__module__": "tandem.nn"})


CrossEntropyLoss = _loss("CrossEntropyLoss", lambda s, x, t: F.cross_entropy(
    x, t, s.weight, ignore_index=s.ignore_index, reduction=s.reduction,
    label_smoothing=s.label_smoothing),
    [("weight", None), ("size_average", None), ("ignore_index", -100), ("reduce", None),
     ("reduction", "mean"), ("label_smoothing", 0.0)])
NLLLoss = _loss("NLLLoss", lambda s, x, t: F.nll_loss(x, t, s.weight, ignore_index=s.ignore_index,
                                                      reduction=s.reduction),
                [("weight", None), ("size_average", None), ("ignore_index", -100),
                 ("reduce", None), ("reduction", "mean")])
MSELoss = _loss("MSELoss", lambda s, x, t: F.mse_loss(x, t, reduction=s.reduction),
                [("size_average", None), ("reduce", None), ("reduction", "mean")])
L1Loss = _loss("L1Loss", lambda s, x, t: F.l1_loss(x, t, reduction=s.reduction),
               [("size_average", None), ("reduce", None), ("reduction", "mean")])
SmoothL1Loss = _loss("SmoothL1Loss", lambda s, x, t: F.smooth_l1_loss(x, t, reduction=s.reduction,
                                                                      beta=s.beta),
                     [("size_average", None), ("reduce", None), ("reduction", "mean"),
                      ("beta", 1.0)])
BCEWithLogitsLoss = _loss("BCEWithLogitsLoss", lambda s, x, t: F.binary_cross_entropy_with_logits(
    x, t, s.weight, reduction=s.reduction, pos_weight=s.pos_weight),
    [("weight", None), ("size_average", None), ("reduce", None), ("reduction", "mean"),
     ("pos_weight", None)])


# ---- containers
class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        return mods[idx]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[idx]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[idx]
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self.add_module(k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()
