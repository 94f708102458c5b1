"""``tandem.nn.init``: in-place initializers (PyTorch's names), run under no_grad."""
import math

from .._C import _init as _cpp
uniform_ = _cpp.uniform_
normal_ = _cpp.normal_
constant_ = _cpp.constant_
zeros_ = _cpp.zeros_
ones_ = _cpp.ones_
eye_ = _cpp.eye_
xavier_uniform_ = _cpp.xavier_uniform_
xavier_normal_ = _cpp.xavier_normal_
kaiming_uniform_ = _cpp.kaiming_uniform_
kaiming_normal_ = _cpp.kaiming_normal_
orthogonal_ = _cpp.orthogonal_


def calculate_gain(nonlinearity, param=None):
    linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid"]
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity}")
