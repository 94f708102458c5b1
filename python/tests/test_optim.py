"""Optimizers and schedulers against PyTorch 1.13: the same parameters after several steps,
the same learning-rate sequences."""
import numpy as np
import pytest

import tandem
from conftest import assert_close

OPTS = [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                   "weight_decay": 1e-3}),
    ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True,
                                      "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
]


@pytest.mark.parametrize("name,kw", OPTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTS)])
def test_optimizer_steps_match_torch(torch, name, kw):
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((8, 4))
    wa, wb = tandem.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    oa = getattr(tandem.optim, name)([wa], **kw)
    ob = getattr(torch.optim, name)([wb], **kw)
    for _ in range(5):
        oa.zero_grad()
        ob.zero_grad()
        (tandem.tensor(x0) @ wa).tanh().pow(2).sum().backward()
        (torch.tensor(x0) @ wb).tanh().pow(2).sum().backward()
        oa.step()
        ob.step()
    assert_close(wa, wb, rtol=1e-9, atol=1e-12)


def test_param_groups_write_through():
    a, b = tandem.ones(2, requires_grad=True), tandem.ones(2, requires_grad=True)
    opt = tandem.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    opt.param_groups[0]["lr"] = 0.5
    (a.sum() + b.sum()).backward()
    opt.step()
    assert a.tolist() == [0.5, 0.5] and b.tolist() == [0.0, 0.0]
    with pytest.raises(tandem.Error, match="lr"):
        tandem.optim.SGD([a])


def _lrs(torch, lib, make, steps=12):
    p = lib.zeros(1, requires_grad=True)
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = make(lib, opt)
    out = []
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


SCHEDS = {
    "StepLR": lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 3, gamma=0.5),
    "MultiStepLR": lambda lib, o: lib.optim.lr_scheduler.MultiStepLR(o, [2, 5], gamma=0.1),
    "ExponentialLR": lambda lib, o: lib.optim.lr_scheduler.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001),
    "LinearLR": lambda lib, o: lib.optim.lr_scheduler.LinearLR(o, 0.2, 1.0, 4),
    "OneCycleLR": lambda lib, o: lib.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=13),
}


@pytest.mark.parametrize("name", list(SCHEDS))
def test_schedulers_match_torch(torch, name):
    ours = _lrs(torch, tandem, SCHEDS[name])
    theirs = _lrs(torch, torch, SCHEDS[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_reduce_on_plateau_and_clip(torch):
    lrs = {}
    for lib in (tandem, torch):
        p = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=1.0)
        s = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        lrs[lib] = []
        for metric in [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]:
            s.step(metric)
            lrs[lib].append(opt.param_groups[0]["lr"])
    assert lrs[tandem] == lrs[torch]
    w = tandem.tensor([3.0, 4.0], requires_grad=True)
    (w * w).sum().backward()
    n = tandem.nn.utils.clip_grad_norm_([w], 1.0)
    assert abs(n.item() - 10.0) < 1e-5 and abs(w.grad.norm().item() - 1.0) < 1e-5


def test_optimizer_state_dict_roundtrip():
    w = tandem.ones(3, requires_grad=True)
    opt = tandem.optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    w2 = w.detach().clone().requires_grad_()
    opt2 = tandem.optim.Adam([w2], lr=0.1)
    opt2.load_state_dict(sd)
    for o, p in [(opt, w), (opt2, w2)]:
        o.zero_grad()
        (p * p).sum().backward()
        o.step()
    assert tandem.equal(w, w2)
