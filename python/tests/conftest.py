"""Shared helpers. Comparisons with PyTorch need Debian's python3-torch (CI installs it);
without it those tests skip with that reason, never silently."""
import numpy as np
import pytest

import tandem


def torch_or_skip():
    return pytest.importorskip("torch", reason="python3-torch is not installed "
                               "(apt-get install python3-torch); the PyTorch comparisons need it")


@pytest.fixture
def torch():
    return torch_or_skip()


def to_np(t):
    return t.detach().numpy() if isinstance(t, tandem.Tensor) else t.detach().cpu().numpy()


def assert_close(a, b, rtol=1e-5, atol=1e-6):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol)
