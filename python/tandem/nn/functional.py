"""``tandem.nn.functional``: the C++ functions with PyTorch's names and keyword arguments."""
from .. import _C
from .._C import _functional as _cpp
linear = _cpp.linear
conv1d = _cpp.conv1d
conv2d = _cpp.conv2d
conv_transpose2d = _cpp.conv_transpose2d
max_pool2d = _cpp.max_pool2d
avg_pool2d = _cpp.avg_pool2d
adaptive_avg_pool2d = _cpp.adaptive_avg_pool2d
batch_norm = _cpp.batch_norm
layer_norm = _cpp.layer_norm
group_norm = _cpp.group_norm
embedding = _cpp.embedding
pad = _cpp.pad
one_hot = _cpp.one_hot
leaky_relu = _cpp.leaky_relu
gelu = _cpp.gelu
silu = _cpp.silu
softplus = _cpp.softplus
normalize = _cpp.normalize
cross_entropy = _cpp.cross_entropy
nll_loss = _cpp.nll_loss
mse_loss = _cpp.mse_loss
l1_loss = _cpp.l1_loss
smooth_l1_loss = _cpp.smooth_l1_loss
binary_cross_entropy_with_logits = _cpp.binary_cross_entropy_with_logits
from .._C import relu, sigmoid, tanh, softmax as _softmax, log_softmax as _log_softmax


def _softmax_dim(ndim):
    # PyTorch's legacy implicit dim (with a warning there): 0 for 0-D, 1-D and 3-D, else 1.
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    return _softmax(input, _softmax_dim(input.dim()) if dim is None else dim, dtype)


def log_softmax(input, dim=None, dtype=None):
    return _log_softmax(input, _softmax_dim(input.dim()) if dim is None else dim, dtype)


def dropout(input, p=0.5, training=True, inplace=False):
    return _C._functional.dropout(input, p, training)


def relu6(input, inplace=False):
    return _C.clamp(input, 0.0, 6.0)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _C.clamp(input, min_val, max_val)


def elu(input, alpha=1.0, inplace=False):
    return _C.where(input > 0, input, (_C.exp(_C.clamp(input, None, 0.0)) - 1) * alpha)


def logsigmoid(input):
    return -softplus(-input)


def softsign(input):
    return input / (input.abs() + 1)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    out = max_pool2d(input.unsqueeze(-2), (1, kernel_size), (1, stride or kernel_size),
                     (0, padding), (1, dilation), ceil_mode)
    return out.squeeze(-2)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    eps = 1e-12
    loss = -(target * _C.log(_C.clamp(input, eps, None)) +
             (1 - target) * _C.log(_C.clamp(1 - input, eps, None)))
    if weight is not None:
        loss = loss * weight
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
