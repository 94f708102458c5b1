"""Autograd from Python: backward, grad accumulation, hooks, no_grad, higher order."""
import numpy as np
import pytest

import tandem
from conftest import assert_close


def test_backward_accumulates_like_torch(torch):
    x = np.random.default_rng(0).standard_normal((4, 3))
    w = np.random.default_rng(1).standard_normal((3, 2))
    a, wa = tandem.tensor(x), tandem.tensor(w, requires_grad=True)
    b, wb = torch.tensor(x), torch.tensor(w, requires_grad=True)
    for _ in range(2):
        (a @ wa).relu().pow(2).mean().backward()
        (b @ wb).relu().pow(2).mean().backward()
    assert_close(wa.grad, wb.grad)
    wa.grad = None
    assert wa.grad is None


def test_second_derivative_with_autograd_grad():
    x = tandem.tensor([1.0, 2.0, 3.0], dtype=tandem.float64, requires_grad=True)
    y = (x ** 3).sum()
    (g,) = tandem.autograd.grad(y, x, create_graph=True)
    assert g.tolist() == [3.0, 12.0, 27.0]
    (gg,) = tandem.autograd.grad(g.sum(), x)
    assert gg.tolist() == [6.0, 12.0, 18.0]


def test_hooks_retain_grad_and_detach():
    x = tandem.ones(3, requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 2
    y.retain_grad()
    y.sum().backward()
    assert seen == [[2.0, 2.0, 2.0]] and y.grad.tolist() == [1.0, 1.0, 1.0]
    h.remove()
    x.grad = None
    x.register_hook(lambda g: g * 10)
    (x * 1).sum().backward()
    assert x.grad.tolist() == [10.0] * 3 and seen == [[2.0, 2.0, 2.0]]
    d = (x * 3).detach()
    assert not d.requires_grad and d.grad_fn is None and x.is_leaf


def test_no_grad_decorator_and_set_grad_enabled():
    @tandem.no_grad()
    def f(t):
        return t * 2

    x = tandem.ones(2, requires_grad=True)
    assert not f(x).requires_grad
    with tandem.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tandem.enable_grad():
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad and (x * 2).grad_fn is not None


def test_backward_twice_needs_retain_graph():
    x = tandem.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(tandem.Error):
        z = (x.exp() * x).sum()
        z.backward()
        z.backward()


def test_finite_differences():
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, 4))
    f = lambda t: (t.softmax(-1) * t.tanh()).sum() + t.logsumexp(0).sum()  # noqa: E731
    x = tandem.tensor(x0, requires_grad=True)
    f(x).backward()
    eps = 1e-6
    num = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        p, m = x0.copy(), x0.copy()
        p[i] += eps
        m[i] -= eps
        num[i] = (f(tandem.tensor(p)).item() - f(tandem.tensor(m)).item()) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-5, atol=1e-7)
