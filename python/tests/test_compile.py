"""tandem.compile from Python: the C++ tracer, cache and re-trace reasons."""
import numpy as np
import pytest

import tandem
import tandem.nn as nn
import tandem.nn.functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)
        self.gain = nn.Parameter(tandem.ones(3))

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x))) * self.gain


def test_compiled_forward_matches_eager_and_caches():
    tandem.manual_seed(0)
    model = MLP()
    fwd = tandem.compile(model)
    x = tandem.randn(4, 6)
    with tandem.no_grad():
        ref = model(x)
        out = fwd(x)
        out2 = fwd(x * 2)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out2.numpy(), model(x * 2).detach().numpy(), rtol=1e-5, atol=1e-6)
    s = fwd.stats()
    assert s["traces"] == 1 and s["cache_hits"] == 1
    with tandem.no_grad():
        fwd(tandem.randn(5, 6))
    assert "shape" in fwd.stats()["reasons"][-1]
    assert "fc1.weight" in fwd.graph()


def test_compiled_training_step_equals_eager():
    def run(compiled):
        tandem.manual_seed(1)
        model = MLP()
        opt = tandem.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        f = tandem.compile(step, modules=[model]) if compiled else step
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(6):
            x = tandem.tensor(rng.standard_normal((8, 6)).astype(np.float32))
            y = tandem.tensor(rng.integers(0, 3, 8))
            losses.append(f(x, y).item())
        return losses, [p.detach().clone() for p in model.parameters()], f
    (le, pe, _), (lc, pc, f) = run(False), run(True)
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    for a, b in zip(pe, pc):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert f.stats()["traces"] == 1


def test_retrace_on_mode_and_static_args():
    model = MLP()

    def fwd(x, scale):
        return model(x) * scale
    f = tandem.compile(fwd, modules=[model])
    x = tandem.randn(2, 6)
    with tandem.no_grad():
        f(x, 1.0)
        f(x, 1.0)
        f(x, 2.0)
        model.eval()
        f(x, 2.0)
    s = f.stats()
    assert s["traces"] == 3 and s["cache_hits"] == 1 and len(s["reasons"]) == 3


def test_host_reads_while_tracing_are_errors():
    def bad(x):
        if x.sum().item() > 0:
            return x
        return -x
    f = tandem.compile(bad)
    with pytest.raises(tandem.Error):
        f(tandem.ones(2))
    with pytest.raises(tandem.Error, match="Tensor or a tuple"):
        tandem.compile(lambda x: 3)(tandem.ones(1))
