#!/usr/bin/python3
"""PyTorch reference data for tests/optim (optimizers, LR schedulers, gradient clipping).

Run with Debian's python (torch 1.13 + numpy), from anywhere:

    /usr/bin/python3 tests/reference/gen_optim.py

It rewrites tests/data/optim/ from scratch; running it again gives identical files.

Layout (tests/data/optim/):
    init.npy        [N] float64: the initial values of all parameters, flattened and
                    concatenated in order (shapes in cases.json "shapes")
    grads.npy       [STEPS, N] float64: the gradient fed to every parameter at each step
    opt_<case>.npy  [STEPS, N] float64: all parameters after each optimizer step
    cases.json      "shapes"; "optimizers": one entry per case with the optimizer name, its
                    parameter groups (indices into the parameter list + complete options in
                    tandem's key names) and "skip" ([step, param] pairs whose grad is None);
                    "schedulers": the lr of every group after construction and after each
                    step (and the cycled momentum for OneCycleLR); "clip": clip_grad_norm_ /
                    clip_grad_value_ results on the step-0 gradients.

Adding a case: add a line to OPTIMIZERS / SCHEDULERS / CLIP below and regenerate; the C++
test reads every optimizer and clip case from cases.json and has one construction line per
scheduler case (tests/optim/test_lr_scheduler.cpp).
"""
import json
import math
import os
import shutil

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "optim")

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

SHAPES = [[3, 4], [5], [2, 3]]
STEPS = 6
rng = np.random.default_rng(20261129)
INIT = rng.standard_normal(sum(int(np.prod(s)) for s in SHAPES))
GRADS = rng.standard_normal((STEPS, INIT.size))
# Large gradients at one step exercise clipping-free large updates and Adam's normalization.
GRADS[3] *= 10.0

DEFAULTS = {
    "SGD": dict(lr=float("nan"), momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=0),
    "Adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=0),
    "AdamW": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=0),
    "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=0),
    "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10),
}

ALL = [0, 1, 2]
# name, optimizer, groups [(param indices, options)], skip [(step, param)]
OPTIMIZERS = [
    ("sgd_plain", "SGD", [(ALL, dict(lr=0.1))], []),
    ("sgd_momentum", "SGD", [(ALL, dict(lr=0.05, momentum=0.9))], []),
    ("sgd_dampening_wd", "SGD", [(ALL, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1))], []),
    ("sgd_nesterov", "SGD", [(ALL, dict(lr=0.05, momentum=0.9, nesterov=1, weight_decay=0.01))], []),
    ("sgd_groups_skip", "SGD", [([0, 2], dict(lr=0.1, momentum=0.9)), ([1], dict(lr=0.01, weight_decay=0.5))],
     [(1, 1), (2, 0), (4, 2)]),
    ("adam_default", "Adam", [(ALL, dict())], []),
    ("adam_wd", "Adam", [(ALL, dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1))], []),
    ("adam_amsgrad", "Adam", [(ALL, dict(lr=0.02, amsgrad=1))], []),
    ("adam_groups_skip", "Adam", [([1], dict(lr=0.05)), ([0, 2], dict(lr=0.01, amsgrad=1, weight_decay=0.05))],
     [(0, 2), (3, 1)]),
    ("adamw_default", "AdamW", [(ALL, dict(lr=0.01))], []),
    ("adamw_amsgrad", "AdamW", [(ALL, dict(lr=0.02, weight_decay=0.2, amsgrad=1, beta2=0.9))], []),
    ("adamw_groups", "AdamW", [([0], dict(lr=0.03, weight_decay=0.0)), ([1, 2], dict(lr=0.01, weight_decay=0.5))], []),
    ("rmsprop_default", "RMSprop", [(ALL, dict())], []),
    ("rmsprop_momentum_wd", "RMSprop", [(ALL, dict(lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.1))], []),
    ("rmsprop_centered", "RMSprop", [(ALL, dict(lr=0.005, centered=1, eps=1e-6))], []),
    ("rmsprop_centered_momentum", "RMSprop", [(ALL, dict(lr=0.005, centered=1, momentum=0.5))], [(2, 1)]),
    ("adagrad_default", "Adagrad", [(ALL, dict(lr=0.1))], []),
    ("adagrad_decay_wd", "Adagrad", [(ALL, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5))],
     [(1, 0)]),
    ("adagrad_groups", "Adagrad", [([2, 0], dict(lr=0.2, eps=1e-3)), ([1], dict(lr=0.05))], []),
]


def torch_options(name, opts):
    o = dict(opts)
    if "beta1" in o:
        o["betas"] = (o.pop("beta1"), o.pop("beta2"))
    for k in ("nesterov", "amsgrad", "centered"):
        if k in o:
            o[k] = bool(o[k])
    return o


def split(flat):
    out, off = [], 0
    for s in SHAPES:
        n = int(np.prod(s))
        out.append(flat[off:off + n].reshape(s))
        off += n
    return out


def run_optimizer(name, opt_name, groups, skip):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in split(INIT)]
    full_groups = []
    torch_groups = []
    for idx, opts in groups:
        full = dict(DEFAULTS[opt_name])
        full.update(opts)
        full_groups.append({"params": idx, "options": full})
        torch_groups.append({"params": [params[i] for i in idx], **torch_options(opt_name, full)})
    ctor = {}
    if opt_name == "Adagrad":
        # PyTorch fills the accumulators from the constructor's value, not the group's
        # (tandem uses each group's); the cases give all groups the same value.
        ctor["initial_accumulator_value"] = full_groups[0]["options"]["initial_accumulator_value"]
    opt = getattr(torch.optim, opt_name)(torch_groups, **ctor)
    traj = np.zeros((STEPS, INIT.size))
    for step in range(STEPS):
        for i, (p, g) in enumerate(zip(params, split(GRADS[step]))):
            p.grad = None if [step, i] in [list(s) for s in skip] else torch.tensor(g.copy())
        opt.step()
        traj[step] = np.concatenate([p.detach().numpy().ravel() for p in params])
    np.save(os.path.join(OUT_DIR, f"opt_{name}.npy"), traj)
    return {"name": name, "optimizer": opt_name, "groups": full_groups, "skip": [list(s) for s in skip]}


# name, optimizer factory, group lrs, scheduler factory, epochs, metrics (plateau) or None
def sgd2(momentum=0.0):
    p = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    return torch.optim.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.02}], lr=0.1,
                           momentum=momentum)


def adam2():
    p = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    return torch.optim.Adam([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.02}])


S = torch.optim.lr_scheduler
PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.8, 0.81, 0.82, 0.83, 0.799, 0.9, 0.9, 0.9, 0.7, 0.7,
                   0.7, 0.7, 0.7, 0.7, 0.7]
SCHEDULERS = [
    ("steplr", sgd2, lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12, None),
    ("multisteplr", sgd2, lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 12, None),
    ("exponentiallr", sgd2, lambda o: S.ExponentialLR(o, gamma=0.9), 10, None),
    ("cosine", sgd2, lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 25, None),
    ("cosine_no_min", sgd2, lambda o: S.CosineAnnealingLR(o, T_max=7), 10, None),
    ("linearlr_warmup", sgd2, lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4), 8, None),
    ("linearlr_decay", sgd2, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5), 8, None),
    ("onecycle_cos", lambda: sgd2(0.9), lambda o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20), 19, None),
    ("onecycle_linear_3phase", adam2,
     lambda o: S.OneCycleLR(o, max_lr=0.3, total_steps=16, pct_start=0.25, anneal_strategy="linear",
                            three_phase=True, div_factor=10.0, final_div_factor=100.0), 16, None),
    ("onecycle_no_momentum", sgd2,
     lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=10, pct_start=0.5, cycle_momentum=False), 9, None),
    ("sequential_warmup_cosine", sgd2,
     lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3),
                                  S.CosineAnnealingLR(o, T_max=8, eta_min=0.001)], milestones=[3]), 14, None),
    ("sequential_three", sgd2,
     lambda o: S.SequentialLR(o, [S.ExponentialLR(o, gamma=0.8), S.MultiStepLR(o, milestones=[1, 3], gamma=0.5),
                                  S.StepLR(o, step_size=2, gamma=0.7)], milestones=[2, 6]), 12, None),
    ("plateau_min_rel", sgd2,
     lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1,
                                   min_lr=0.01), len(PLATEAU_METRICS), PLATEAU_METRICS),
    ("plateau_max_abs", sgd2,
     lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.2, patience=1, threshold=0.1,
                                   threshold_mode="abs", min_lr=[0.001, 0.0005]),
     len(PLATEAU_METRICS), [-m for m in PLATEAU_METRICS]),
]


def run_scheduler(name, make_opt, make_sched, epochs, metrics):
    opt = make_opt()
    sched = make_sched(opt)
    def momenta():
        return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]
    lrs = [[g["lr"] for g in opt.param_groups]]
    mom = [momenta()]
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        lrs.append([g["lr"] for g in opt.param_groups])
        mom.append(momenta())
    out = {"name": name, "lrs": lrs, "momentum": mom}
    if metrics is not None:
        out["metrics"] = metrics
    return out


CLIP = [("norm", 0.5, 2.0), ("norm", 1e3, 2.0), ("norm", 0.5, 1.0), ("norm", 2.0, 3.5),
        ("norm", 0.5, float("inf")), ("value", 0.3, None)]


def run_clip(kind, limit, norm_type):
    params = [torch.zeros(s, requires_grad=True) for s in SHAPES]
    for p, g in zip(params, split(GRADS[0])):
        p.grad = torch.tensor(g.copy())
    out = {"kind": kind, "limit": limit}
    if kind == "norm":
        total = torch.nn.utils.clip_grad_norm_(params, limit, norm_type)
        out["norm_type"] = "inf" if math.isinf(norm_type) else norm_type
        out["total"] = float(total)
    else:
        torch.nn.utils.clip_grad_value_(params, limit)
    out["clipped"] = np.concatenate([p.grad.numpy().ravel() for p in params]).tolist()
    return out


def main():
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    os.makedirs(OUT_DIR)
    np.save(os.path.join(OUT_DIR, "init.npy"), INIT)
    np.save(os.path.join(OUT_DIR, "grads.npy"), GRADS)
    cases = {
        "shapes": SHAPES,
        "steps": STEPS,
        "optimizers": [run_optimizer(*c) for c in OPTIMIZERS],
        "schedulers": [run_scheduler(*c) for c in SCHEDULERS],
        "clip": [run_clip(*c) for c in CLIP],
    }
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
