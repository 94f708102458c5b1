#!/usr/bin/python3
"""PyTorch's side of the training benchmark (bench/train_run.sh prints the table).

    /usr/bin/python3 bench/train_torch.py --model cnn [--threads 1] [--steps 60]
        [--warmup 10] [--epochs 0] [--data DIR] [--seed 0]

Same models, data and recipe as `tandem train` in bench mode: Fashion-MNIST scaled to
[0, 1] and normalized with mean 0.2860 / std 0.3530, batch 128, shuffled each epoch,
MLP 784-512-256-10 with SGD(lr 0.01, momentum 0.9), CNN conv32-pool-conv64-pool-fc128-fc10
with Adam(lr 1e-3); no schedule, no augmentation.

Throughput is the steady state: --warmup training steps first (allocations, primitive
creation), then --steps timed training steps (forward, loss, backward, optimizer step,
batch gather included). With --epochs E > 0 the model is then trained for E full epochs
from a fresh initialization and the test accuracy reported. Prints one JSON object.
Environment (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS, OMP_WAIT_POLICY) is left to the
caller: train_run.sh runs this as installed and in the best configuration found here.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype_code == 0x08, f"{path}: not a uint8 IDX file"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"train_torch.py: {stem}[.gz] not found in {data_dir}")


def load(data_dir, train):
    prefix = "train" if train else "t10k"
    x = read_idx(find(data_dir, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - MEAN) / STD
    return x.reshape(-1, 1, 28, 28).contiguous(), torch.from_numpy(y.astype(np.int64))


def make_model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    raise SystemExit(f"train_torch.py: unknown model {name}")


def make_optimizer(name, model):
    if name == "mlp":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def batches(x, y, batch_size, gen):
    perm = torch.randperm(x.shape[0], generator=gen)
    for i in range(0, x.shape[0], batch_size):
        idx = perm[i:i + batch_size]
        yield x.index_select(0, idx), y.index_select(0, idx)


BF16 = False  # --precision bf16: forward and loss under torch.autocast (CPU, bfloat16)


def train_step(model, opt, xb, yb):
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=BF16):
        loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    return loss


def throughput(args, x, y):
    torch.manual_seed(args.seed)
    model = make_model(args.model)
    opt = make_optimizer(args.model, model)
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    done, t0 = 0, None
    while True:
        for xb, yb in batches(x, y, args.batch_size, gen):
            if xb.shape[0] != args.batch_size:
                continue
            if done == args.warmup:
                t0 = time.perf_counter()
            train_step(model, opt, xb, yb)
            done += 1
            if done == args.warmup + args.steps:
                dt = time.perf_counter() - t0
                return args.steps * args.batch_size / dt


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, x.shape[0], 1000):
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=BF16):
            out = model(x[i:i + 1000]).float()
        loss += F.cross_entropy(out, y[i:i + 1000], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / x.shape[0], loss / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    global BF16
    BF16 = args.precision == "bf16"
    torch.set_num_threads(args.threads)

    x, y = load(args.data, True)
    result = {"framework": "pytorch", "version": torch.__version__, "model": args.model,
              "threads": args.threads, "batch_size": args.batch_size, "precision": args.precision,
              "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                                  "OMP_WAIT_POLICY") if k in os.environ}}
    result["samples_per_second"] = throughput(args, x, y)
    if args.epochs > 0:
        xt, yt = load(args.data, False)
        torch.manual_seed(args.seed)
        model = make_model(args.model)
        opt = make_optimizer(args.model, model)
        gen = torch.Generator().manual_seed(args.seed)
        t0 = time.perf_counter()
        for _ in range(args.epochs):
            model.train()
            for xb, yb in batches(x, y, args.batch_size, gen):
                train_step(model, opt, xb, yb)
        result["train_seconds"] = time.perf_counter() - t0
        result["epochs"] = args.epochs
        result["test_accuracy"], result["test_loss"] = evaluate(model, xt, yt)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
