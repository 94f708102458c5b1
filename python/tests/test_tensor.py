"""Tensors from Python: creation, dtypes, operators, methods, printing (PyTorch as reference)."""
import math

import numpy as np
import pytest

import tandem
from conftest import assert_close


def test_import_and_error_type():
    assert issubclass(tandem.Error, RuntimeError)
    assert tandem.float32.is_floating_point and not tandem.int64.is_floating_point
    assert repr(tandem.float64) == "tandem.float64"


def test_creation_shapes_and_dtypes(torch):
    for name in ["zeros", "ones", "empty"]:
        a = getattr(tandem, name)(2, 3)
        b = getattr(tandem, name)((2, 3), dtype=tandem.float64)
        assert a.shape == (2, 3) and a.dtype == tandem.float32
        assert b.shape == tandem.Size([2, 3]) and b.dtype == tandem.float64
    assert tandem.full((2,), 7).dtype == tandem.int64
    assert tandem.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert tandem.arange(5).tolist() == torch.arange(5).tolist()
    assert tandem.arange(1, 2, 0.25).tolist() == torch.arange(1, 2, 0.25).tolist()
    assert tandem.arange(1, 2, 0.25).dtype == tandem.float32
    assert_close(tandem.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    assert_close(tandem.eye(3, 4), torch.eye(3, 4))
    assert repr(tandem.zeros(2, 3).shape) == "tandem.Size([2, 3])"


def test_tensor_infers_dtype_like_torch(torch):
    for data in [1.5, 3, True, [1, 2], [[1.0, 2.0]], [True, False], np.arange(3, dtype=np.int32),
                 np.ones(2, dtype=np.float64)]:
        a, b = tandem.tensor(data), torch.tensor(data)
        assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1], data
        assert a.tolist() == b.tolist()
    t = tandem.tensor([1, 2], dtype=tandem.float64, requires_grad=True)
    assert t.requires_grad and t.dtype == tandem.float64 and t.is_leaf


def test_printing_matches_torch(torch):
    # (The core pads neither signs nor widths as PyTorch does, nor switches to scientific
    # notation, and prints whole floats as 1.0000 where PyTorch writes "1.": [-0.5, 100.0],
    # [1e-8, 1.0] and [1.0, 1.0] print differently.)
    cases = [[[1.0, 2.5], [3.0, 4.0]], [1, 2, 3], 3.25, [[0.5, 2.0], [4.0, 8.0]]]
    for data in cases:
        assert repr(tandem.tensor(data)) == repr(torch.tensor(data)).replace("torch", "tandem"), data
    t = tandem.ones(2, requires_grad=True)
    assert repr(t) == "tensor([1.0000, 1.0000], requires_grad=True)"
    assert repr((t * 2).sum()) == "tensor(4.0000, grad_fn=<sum>)"
    assert repr(tandem.ones(2, dtype=tandem.float64)) == "tensor([1.0000, 1.0000], dtype=tandem.float64)"


def test_item_tolist_and_conversions():
    t = tandem.tensor([[1.5, -2.0], [0.25, 8.0]])
    assert t.tolist() == [[1.5, -2.0], [0.25, 8.0]]
    assert t[0, 1].item() == -2.0 and isinstance(t.sum().item(), float)
    assert tandem.tensor(7).item() == 7 and isinstance(tandem.tensor(7).item(), int)
    assert float(tandem.tensor(2.5)) == 2.5 and int(tandem.tensor(3)) == 3
    assert bool(tandem.tensor(True)) and len(t) == 2
    assert [r.tolist() for r in t] == t.tolist()
    assert t.long().dtype == tandem.int64 and t.double().dtype == tandem.float64
    assert t.to(tandem.int32).tolist() == [[1, -2], [0, 8]]
    assert f"{tandem.tensor(2.0):.2f}" == "2.00"
    with pytest.raises(tandem.Error, match="one-element"):
        float(t)
    with pytest.raises(tandem.Error, match="ambiguous"):
        bool(t)


BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]
UNARY = ["exp", "log", "sqrt", "rsqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "neg",
         "log1p", "sign"]


def _pair(torch, shape, seed, positive=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if positive:
        x = np.abs(x) + 0.5
    return (tandem.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True))


@pytest.mark.parametrize("op", UNARY)
def test_unary_ops_and_grads_match_torch(torch, op):
    positive = op in ("log", "sqrt", "rsqrt", "log1p")
    a, b = _pair(torch, (3, 4), 1, positive)
    ya, yb = getattr(tandem, op)(a), getattr(torch, op)(b)
    assert_close(ya, yb)
    assert_close(getattr(a, op)(), yb)
    g = np.random.default_rng(2).standard_normal((3, 4))
    ya.backward(tandem.tensor(g))
    yb.backward(torch.tensor(g))
    assert_close(a.grad, b.grad)


@pytest.mark.parametrize("op", BINARY)
def test_binary_ops_broadcast_and_grads_match_torch(torch, op):
    a, b = _pair(torch, (2, 3, 4), 3, positive=(op == "pow"))
    c, d = _pair(torch, (3, 1), 4)
    ya, yb = getattr(tandem, op)(a, c), getattr(torch, op)(b, d)
    assert_close(ya, yb, rtol=1e-6)
    ya.sum().backward()
    yb.sum().backward()
    assert_close(a.grad, b.grad)
    assert_close(c.grad, d.grad)


def test_operators_with_scalars_follow_torch_promotion(torch):
    i_ta, i_to = tandem.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    f_ta, f_to = tandem.tensor([1.5, -2.0]), torch.tensor([1.5, -2.0])
    for fn in [lambda x: x + 2, lambda x: 2 + x, lambda x: x * 3, lambda x: x - 1,
               lambda x: 10 - x, lambda x: x / 2, lambda x: 2 / x, lambda x: x ** 2,
               lambda x: 2 ** x, lambda x: x + 0.5, lambda x: x // 2, lambda x: x % 2,
               lambda x: -x, lambda x: x > 1, lambda x: x == 2, lambda x: abs(x),
               lambda x: x <= 1.5, lambda x: x != 2]:
        for ta, to in [(i_ta, i_to), (f_ta, f_to)]:
            ra, rb = fn(ta), fn(to)
            assert str(ra.dtype).split(".")[1] == str(rb.dtype).split(".")[1]
            assert_close(ra, rb)
    m = tandem.tensor([True, False])
    assert (~m).tolist() == [False, True] and (m & ~m).tolist() == [False, False]
    x = tandem.ones(2)
    y = x
    x += 1
    assert y is x and x.tolist() == [2.0, 2.0]
    assert (tandem.ones(2, 3) @ tandem.ones(3, 4)).tolist() == [[3.0] * 4] * 2


def test_reductions_and_methods_match_torch(torch):
    a, b = _pair(torch, (3, 4, 5), 7)
    pairs = [
        (lambda t: t.sum(), lambda t: t.sum()),
        (lambda t: t.sum(dim=1), lambda t: t.sum(dim=1)),
        (lambda t: t.sum((0, 2), keepdim=True), lambda t: t.sum((0, 2), keepdim=True)),
        (lambda t: t.mean(-1), lambda t: t.mean(-1)),
        (lambda t: t.var(1), lambda t: t.var(1)),
        (lambda t: t.std(1, unbiased=False), lambda t: t.std(1, unbiased=False)),
        (lambda t: t.amax(2), lambda t: t.amax(2)),
        (lambda t: t.max(), lambda t: t.max()),
        (lambda t: t.max(1).values, lambda t: t.max(1).values),
        (lambda t: t.min(dim=0, keepdim=True)[0], lambda t: t.min(dim=0, keepdim=True)[0]),
        (lambda t: t.logsumexp(1), lambda t: t.logsumexp(1)),
        (lambda t: t.norm(), lambda t: t.norm()),
        (lambda t: t.softmax(-1), lambda t: t.softmax(-1)),
        (lambda t: t.log_softmax(1), lambda t: t.log_softmax(1)),
        (lambda t: t.cumsum(2), lambda t: t.cumsum(2)),
        (lambda t: t.prod(1), lambda t: t.prod(1)),
        (lambda t: t.clamp(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5)),
        (lambda t: t.clamp(min=0.1), lambda t: t.clamp(min=0.1)),
        (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
        (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
        (lambda t: t.reshape(4, -1), lambda t: t.reshape(4, -1)),
        (lambda t: t.view(12, 5), lambda t: t.view(12, 5)),
        (lambda t: t.flatten(1), lambda t: t.flatten(1)),
        (lambda t: t.unsqueeze(1).squeeze(1), lambda t: t.unsqueeze(1).squeeze(1)),
        (lambda t: t[:, :1].expand(3, 4, 5), lambda t: t[:, :1].expand(3, 4, 5)),
        (lambda t: t.repeat(2, 1, 1), lambda t: t.repeat(2, 1, 1)),
        (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
        (lambda t: t.matmul(t.transpose(1, 2)), lambda t: t.matmul(t.transpose(1, 2))),
        (lambda t: tandem.cat([t, t], 1), lambda t: torch.cat([t, t], 1)),
        (lambda t: tandem.stack([t, t], -1), lambda t: torch.stack([t, t], -1)),
        (lambda t: t.split(2, 1)[1], lambda t: t.split(2, 1)[1]),
        (lambda t: t.chunk(2, 2)[0], lambda t: t.chunk(2, 2)[0]),
        (lambda t: t.unbind(1)[3], lambda t: t.unbind(1)[3]),
        (lambda t: t.topk(2, dim=1).values, lambda t: t.topk(2, dim=1).values),
        (lambda t: t.sort(-1, descending=True)[0], lambda t: t.sort(-1, descending=True)[0]),
        (lambda t: tandem.where(t > 0, t, 0.0), lambda t: torch.where(t > 0, t, 0.0)),
        (lambda t: t.masked_fill(t < 0, 1.0), lambda t: t.masked_fill(t < 0, 1.0)),
    ]
    for i, (fa, fb) in enumerate(pairs):
        a.grad = None
        b.grad = None
        ya, yb = fa(a), fb(b)
        assert_close(ya, yb, rtol=1e-6, atol=1e-9)
        (ya * ya).sum().backward()
        (yb * yb).sum().backward()
        assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-9)
    assert a.argmax().item() == b.argmax().item()
    assert a.argmax(1).tolist() == b.argmax(1).tolist()
    assert a.sort(1).indices.tolist() == b.sort(1).indices.tolist()


def test_index_ops_match_torch(torch):
    a, b = _pair(torch, (4, 5), 9)
    idx = [[0, 2], [1, 3], [4, 4], [0, 0]]
    ya = tandem.gather(a, 1, tandem.tensor(idx))
    yb = torch.gather(b, 1, torch.tensor(idx))
    assert_close(ya, yb)
    assert_close(a.index_select(1, tandem.tensor([4, 0])), b.index_select(1, torch.tensor([4, 0])))


def test_grad_mode_dtype_roundtrip():
    assert tandem.is_grad_enabled()
    with tandem.no_grad():
        assert not tandem.is_grad_enabled()
        y = tandem.ones(2, requires_grad=True) * 2
        assert not y.requires_grad
    assert tandem.is_grad_enabled()
    assert math.isclose(tandem.tensor([0.1], dtype=tandem.float64).item(), 0.1)
