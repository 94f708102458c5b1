"""Shared helpers. Comparisons with PyTorch need Debian's python3-torch (CI installs it);
without it those tests skip with that reason, never silently."""
import os

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


# Under CI=true a skipped test fails the run (as tests/common/test_main.cpp does for the C++
# tests) unless tests/ci_skip_allowlist.txt lists it: a missing dependency in CI is a defect.
def _allowlist():
    src = os.environ.get("TANDEM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    path = os.environ.get("TANDEM_CI_SKIP_ALLOWLIST", os.path.join(src, "tests", "ci_skip_allowlist.txt"))
    names = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    names.append(line.split()[0])
    except OSError:
        pass
    return names


def _allowed(nodeid, names):
    # Entries are python/<file>::<test>, a trailing * matches a prefix.
    full = "python/tests/" + nodeid.split("/")[-1]
    return any(full.startswith(n[:-1]) if n.endswith("*") else full == n for n in names)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and os.environ.get("CI") == "true" and not hasattr(rep, "wasxfail"):
        if not _allowed(item.nodeid, _allowlist()):
            rep.outcome = "failed"
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            rep.longrepr = (f"skipped under CI=true and not in tests/ci_skip_allowlist.txt: {reason}")
