"""Indexing and slicing against NumPy/PyTorch, with gradients."""
import numpy as np
import pytest

import tandem
from conftest import assert_close

INDICES = [
    0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (None, 0), (slice(1, None, 2),),
    (slice(None), slice(None, None, 3), 1), (0, Ellipsis, None), ([0, 2],), ([[0, 1], [2, 2]],),
    (slice(None), [3, 0, 1]), ([0, 2], [1, 3]), ([0, 1], slice(None), [1, 2]),
    (1, [0, 4]), (slice(None), [1], slice(1, 3)),
]


@pytest.mark.parametrize("idx", INDICES, ids=[repr(i) for i in INDICES])
def test_getitem_matches_torch_with_grad(torch, idx):
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    a = tandem.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    ya, yb = a[idx], b[idx]
    assert_close(ya, yb)
    (ya * 2).sum().backward()
    (yb * 2).sum().backward()
    assert_close(a.grad, b.grad)


def test_bool_mask_and_tensor_indices(torch):
    x = np.arange(12.0).reshape(3, 4)
    a, b = tandem.tensor(x), torch.tensor(x)
    assert_close(a[a > 5], b[b > 5])
    assert_close(a[tandem.tensor([True, False, True])], b[torch.tensor([True, False, True])])
    assert_close(a[tandem.tensor([2, 0])], b[torch.tensor([2, 0])])
    assert_close(a[:, tandem.tensor([-1])], b[:, torch.tensor([-1])])


def test_basic_indexing_returns_views():
    a = tandem.zeros(3, 4)
    v = a[1:, ::2]
    v.fill_(1.0)
    assert a.sum().item() == 4.0
    a[0] = 5.0
    a[2, 1:3] = tandem.tensor([7.0, 8.0])
    a[..., 3] = tandem.tensor(9.0)
    assert a.tolist() == [[5, 5, 5, 9], [1, 0, 1, 9], [1, 7, 8, 9]]
    a[a > 6] = 0.0
    assert a.tolist() == [[5, 5, 5, 0], [1, 0, 1, 0], [1, 0, 0, 0]]


def test_bad_indices_raise():
    a = tandem.zeros(3, 4)
    with pytest.raises(IndexError):
        a[3]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        a[[0, 5]]
    with pytest.raises(TypeError):
        a["x"]
    with pytest.raises(tandem.Error):
        a[[0, 1], 2] = 1.0
    with pytest.raises(tandem.Error, match="out of bounds"):
        a[[0, 3]] = 1.0


def test_setitem_with_index_tensors_matches_torch(torch):
    x = np.random.default_rng(2).standard_normal((3, 4, 5))
    a, b = tandem.tensor(x), torch.tensor(x)
    for idx, v in [(([0, 2], slice(None), [4, -1]), 7.0), ((slice(None), [1, 3]), 0.5),
                   ((np.array([[True, False, True, False]] * 3),), -1.0)]:
        a[idx] = v
        b[idx] = v
        assert_close(a, b)
    a[[2, 0]] = tandem.tensor(x[:2] * 3)
    b[[2, 0]] = torch.tensor(x[:2] * 3)
    assert_close(a, b)
