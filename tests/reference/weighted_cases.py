"""The case runner shared by the generators whose cases are one PyTorch expression each
(gen_grid_sample.py, gen_scatter.py): a case evaluates `expr` over inputs x0, x1, ..., weights
its output with a seeded random tensor w and takes the gradient of sum(y * w) in the inputs
listed in `grad`; write_cases saves every case as .npy files with a one-line-per-case
manifest.json, the layout tests/ops reads."""
import json
import os
import shutil

import numpy as np
import torch


def run_case(expr, inputs, grad, rng, env):
    xs = [torch.from_numpy(a.copy()) for a in inputs]
    for i in grad:
        xs[i].requires_grad_(True)
    scope = {f"x{i}": x for i, x in enumerate(xs)}
    scope.update(env)
    y = eval(expr, scope)
    files = {f"in_{i}": a for i, a in enumerate(inputs)}
    files["out_0"] = y.detach().numpy().copy()
    w = rng.standard_normal(y.shape).astype(files["out_0"].dtype)
    files["w_0"] = w
    gs = torch.autograd.grad((y * torch.from_numpy(w)).sum(), [xs[i] for i in grad], allow_unused=True)
    for i, gi in zip(grad, gs):
        files[f"grad_{i}"] = (torch.zeros_like(xs[i]) if gi is None else gi).detach().numpy().copy()

    def sig(a):
        return f"{a.dtype}{list(a.shape)}".replace(" ", "")

    entry = {"expr": expr,
             "inputs": [sig(a) + (" grad" if i in grad else "") for i, a in enumerate(inputs)],
             "outputs": [sig(files["out_0"]) + " weighted"]}
    return files, entry


def write_cases(out_dir, generator, cases, env):
    """cases: (name, expr, inputs, grad, rng) tuples; env: the names expr may use."""
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    manifest = {}
    for name, expr, inputs, grad, rng in cases:
        files, entry = run_case(expr, inputs, grad, rng, env)
        os.makedirs(os.path.join(out_dir, name))
        for fname, arr in files.items():
            np.save(os.path.join(out_dir, name, fname + ".npy"), np.array(arr, order="C"))
        manifest[name] = entry
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:  # one line per case
        f.write(f'{{\n"generator": "{generator}",\n')
        f.write(f'"torch": {json.dumps(torch.__version__)},\n"cases": {{\n')
        f.write(",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in manifest.items()))
        f.write("\n}}\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs)
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {os.path.relpath(out_dir)}")
