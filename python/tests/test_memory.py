"""Reference cycles and leaks: 10k forward/backward/step iterations keep RSS flat."""
import gc
import os

import tandem
import tandem.nn as nn
import tandem.nn.functional as F


def _rss_mb():
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)
        self.me = self  # a reference cycle through the module itself

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def test_training_loop_keeps_rss_flat():
    model = Tiny()
    opt = tandem.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = tandem.randn(8, 16), tandem.randint(0, 4, (8,))
    hook_calls = [0]
    model.fc1.weight.register_hook(lambda g: hook_calls.__setitem__(0, hook_calls[0] + 1))

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            _ = out.detach().numpy()
            _ = loss.item()
    steps(1000)
    gc.collect()
    before = _rss_mb()
    steps(9000)
    gc.collect()
    after = _rss_mb()
    assert hook_calls[0] == 10000
    assert after - before < 8, f"RSS grew by {after - before:.1f} MB over 9000 steps"


def test_numpy_roundtrips_do_not_leak():
    import numpy as np
    a = np.ones(100_000, dtype=np.float32)
    for _ in range(200):
        tandem.from_numpy(a).numpy()
    gc.collect()
    before = _rss_mb()
    for _ in range(5000):
        t = tandem.from_numpy(a) * 2
        t.numpy()
    gc.collect()
    assert _rss_mb() - before < 8
