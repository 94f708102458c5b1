"""The scatter family and advanced-index assignment against PyTorch, with gradients."""
import numpy as np
import pytest

import tandem
from conftest import assert_close

RNG = np.random.default_rng(5)
X = RNG.standard_normal((4, 5))
IDX = np.array([[0, 2, 2, 4, 1], [3, 3, 0, 1, 1]], np.int64)
SRC = RNG.standard_normal((2, 5))

CASES = {
    "scatter": lambda m, x, i, s: m.scatter(x, 0, i[:, :1], s[:, :1]),
    "scatter_value": lambda m, x, i, s: m.scatter(x, 1, i, 0.5),
    "scatter_reduce_mean": lambda m, x, i, s: m.scatter_reduce(x, 1, i, s, "mean", include_self=False),
    "scatter_reduce_amax": lambda m, x, i, s: x.scatter_reduce(1, i, s, "amax"),
    "index_add": lambda m, x, i, s: m.index_add(x, 0, i[1, :2], s, alpha=-2.0),
    "take_along_dim": lambda m, x, i, s: m.take_along_dim(x[:2], i, dim=1),
    "masked_select": lambda m, x, i, s: m.masked_select(x, x > 0),
    "index_put_accumulate": lambda m, x, i, s: x.index_put((i[1], i[1]), s[0], accumulate=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_with_grad(torch, name):
    a, b = tandem.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    sa, sb = tandem.tensor(SRC, requires_grad=True), torch.tensor(SRC, requires_grad=True)
    ya = CASES[name](tandem, a, tandem.tensor(IDX), sa)
    yb = CASES[name](torch, b, torch.tensor(IDX), sb)
    assert_close(ya, yb)
    w = RNG.standard_normal(tuple(yb.shape))
    (ya * tandem.tensor(w)).sum().backward()
    (yb * torch.tensor(w)).sum().backward()
    assert_close(a.grad, b.grad)
    if sb.grad is not None:
        assert_close(sa.grad, sb.grad)


def test_out_of_range_index_raises():
    with pytest.raises(tandem.Error, match="out of bounds"):
        tandem.scatter(tandem.zeros(2, 3), 1, tandem.tensor([[3]]), 1.0)
