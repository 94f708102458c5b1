#!/usr/bin/python3
"""PyTorch's side of the graph-mode table: the cases of bench_graph.cpp, same names, same
models (bench/train_torch.py's copies of the zoo's mlp and cnn), same optimizers and batch
sizes, timed as torch_bench.py times its cases.

    /usr/bin/python3 bench/graph_torch.py --threads 1 [--min-time 0.05] [--repetitions 5]

Modes per case:
  torch_eager  the step / forward as a PyTorch user writes it (inference under no_grad)
  torch_jit    inference: torch.jit.freeze(torch.jit.trace(model.eval(), x)) under no_grad;
               training: the model's forward traced with torch.jit.trace (freeze does not
               apply to a module being trained), loss, backward and optimizer step as eager
Prints JSON like torch_bench.py: {"context", "benchmarks": [{"name", "time_ns", ...}]}.
"""
import argparse
import json
import os
import re
import statistics
import sys

import torch

from torch_bench import loop, measure
from train_torch import make_model, make_optimizer, train_step


def train_cases():
    for model_name, batch in [("mlp", 1), ("mlp", 32), ("mlp", 128), ("cnn", 128)]:
        for mode in ("torch_eager", "torch_jit"):
            torch.manual_seed(0)
            model = make_model(model_name)
            model.train()
            opt = make_optimizer(model_name, model)
            x = torch.randn(batch, 1, 28, 28)
            y = torch.randint(0, 10, (batch,))
            net = torch.jit.trace(model, x) if mode == "torch_jit" else model

            yield (f"graph/{model_name}_train_b{batch}/{mode}",
                   loop(lambda net=net, opt=opt, x=x, y=y: train_step(net, opt, x, y)))


def infer_cases():
    for model_name in ("mlp", "cnn"):
        for batch in (1, 64):
            for mode in ("torch_eager", "torch_jit"):
                torch.manual_seed(0)
                model = make_model(model_name).eval()
                x = torch.randn(batch, 1, 28, 28)
                with torch.no_grad():
                    net = torch.jit.freeze(torch.jit.trace(model, x)) if mode == "torch_jit" else model

                def fwd(net=net, x=x):
                    with torch.no_grad():
                        return net(x)
                yield f"graph/{model_name}_infer_b{batch}/{mode}", loop(fwd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per repetition (at least)")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    out = {"context": {"torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
                       "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                         "OPENBLAS_CORETYPE", "OMP_WAIT_POLICY")
                               if k in os.environ},
                       "statistic": "median"},
           "benchmarks": []}
    torch.empty(30 << 18)  # glibc's mmap threshold up front (see torch_bench.py)
    selected = [c for c in list(train_cases()) + list(infer_cases()) if re.search(args.filter, c[0])]
    times = measure([run for _, run in selected], args.min_time, args.repetitions)  # interleaved
    for (name, _), ts in zip(selected, times):
        out["benchmarks"].append({"name": name, "time_ns": statistics.median(ts) * 1e9,
                                  "repetitions_ns": [t * 1e9 for t in ts]})
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
