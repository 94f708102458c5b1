"""``tandem.nn.utils``: gradient clipping."""
import math

from ... import _C
from ...autograd import no_grad


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales the gradients in place so that their joint norm is at most ``max_norm``;
    returns the norm before clipping (a 0-dim tensor), as PyTorch's."""
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return _C._zeros([], None, False)
    with no_grad():
        if norm_type == math.inf:
            total = _C.max(_C.stack([g.abs().max() for g in grads]))
        else:
            total = _C.norm(_C.stack([_C.norm(g, norm_type) for g in grads]), norm_type)
        t = total.item()
        if error_if_nonfinite and not math.isfinite(t):
            raise _C.Error(f"clip_grad_norm_: the total norm of order {norm_type} is non-finite")
        coef = max_norm / (t + 1e-6)
        if coef < 1:
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    return _C.cat([p.reshape(-1) for p in parameters])
