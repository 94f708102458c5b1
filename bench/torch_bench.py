#!/usr/bin/python3
"""PyTorch's side of the benchmark table: the cases of bench_tandem.cpp, same names,
same shapes, same work counters, timed the way Google Benchmark times them.

    /usr/bin/python3 bench/torch_bench.py --threads 1 [--min-time 0.05] [--repetitions 5]

Prints JSON: {"context": {...}, "benchmarks": [{"name", "time_ns", "repetitions_ns",
"counters"}]}. For each case: warm up, pick an iteration count whose run takes at least
--min-time seconds, then time --repetitions runs of that many iterations, interleaved
across cases; time_ns is the median time per iteration (bench/report.py takes the median
of tandem's repetitions too).
"""
import argparse
import json
import os
import random
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def calibrate(run, min_time):
    """Warms run(n) (which executes the op n times) up and returns the iteration count
    whose run takes at least min_time seconds."""
    run(1)  # first-call allocations, oneDNN primitive creation
    n = 1
    while True:
        t0 = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n
        # Same growth rule as Google Benchmark: aim 40% past min_time, at most 10x a step.
        n = max(n + 1, min(n * 10, int(n * min_time * 1.4 / max(dt, 1e-9))))


def time_run(run, n):
    t0 = time.perf_counter()
    run(n)
    return (time.perf_counter() - t0) / n


def measure(runs, min_time, repetitions):
    """Per run(n): `repetitions` times per iteration, each over an iteration count calibrated
    to take at least min_time, repetitions interleaved across runs in a seeded random order."""
    iters = [calibrate(run, min_time) for run in runs]
    times = [[] for _ in runs]
    rng = random.Random(0)
    for _ in range(repetitions):
        order = list(range(len(runs)))
        rng.shuffle(order)
        for i in order:
            times[i].append(time_run(runs[i], iters[i]))
    return times


def loop(fn):
    def run(n):
        for _ in range(n):
            fn()
    return run


def cases():
    """(name, run(n), counters) in the same order and with the same names as tandem's."""
    a, b = torch.randn(1), torch.randn(1)

    def dispatch(n):
        for _ in range(n):
            a + b  # noqa: B018 (the op itself is what is timed)
    yield "dispatch/add_1elem_python", dispatch, {}

    shapes = [(128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
              (2048, 2048, 2048), (128, 784, 512), (128, 512, 256)]
    for m, k, n in shapes:
        x, y = torch.randn(m, k), torch.randn(k, n)
        yield f"matmul/{m}x{k}x{n}", loop(lambda x=x, y=y: torch.matmul(x, y)), {"flop": 2.0 * m * k * n}

    # One Fashion-MNIST CNN conv layer, forward + backward; the second layer's input is an
    # activation, so its gradient is computed as well (as in bench_tandem.cpp).
    for name, cin, cout, hw in [("b128_1to32_28x28", 1, 32, 28), ("b128_32to64_14x14", 32, 64, 14)]:
        x = torch.randn(128, cin, hw, hw, requires_grad=cin > 1)
        w = (torch.randn(cout, cin, 3, 3) * 0.1).requires_grad_()
        bias = torch.randn(cout, requires_grad=True)
        gy = torch.randn(128, cout, hw, hw)

        def step(x=x, w=w, bias=bias, gy=gy):
            F.conv2d(x, w, bias, padding=1).backward(gy)
            w.grad = None
            bias.grad = None
            x.grad = None
        yield f"conv2d_fwd_bwd/{name}", loop(step), {}

    for size, n in [("1M", 1 << 20), ("16M", 16 << 20)]:
        x, y = torch.randn(n), torch.randn(n)
        yield f"add/{size}", loop(lambda x=x, y=y: x + y), {"bytes": 12.0 * n}
        yield f"mul/{size}", loop(lambda x=x, y=y: x * y), {"bytes": 12.0 * n}
        yield f"gelu/{size}", loop(lambda x=x: F.gelu(x)), {"bytes": 8.0 * n}
        yield f"clone/{size}", loop(lambda x=x: x.clone()), {"bytes": 8.0 * n}

    x, w, bias = torch.randn(128, 4096), torch.randn(4096), torch.randn(4096)
    yield "softmax/128x4096", loop(lambda: torch.softmax(x, -1)), {"bytes": 8.0 * x.numel()}
    yield "layer_norm/128x4096", loop(lambda: F.layer_norm(x, (4096,), w, bias)), {"bytes": 8.0 * x.numel()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per repetition (at least)")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    out = {
        "context": {
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "python": sys.version.split()[0],
            "statistic": "median",
        },
        "benchmarks": [],
    }
    # NOTE: glibc serves allocations below its mmap threshold from the heap and larger ones
    # with fresh mmap'd pages (a page fault per 4 KiB on every call). The threshold rises to
    # the size of the largest mmap'd block freed so far (at most 32 MiB), so a process that
    # has done any work allocates differently from a fresh one: PyTorch's conv case ran 5x
    # slower or not depending on which case happened to run before it. One 30 MiB
    # allocation up front puts every run in the state a long-running process reaches.
    torch.empty(30 << 18)  # 30 MiB of float32, freed at once

    # Repetitions are interleaved across cases (as --benchmark_enable_random_interleaving
    # does for tandem) so a burst of other load spoils one repetition of many cases, and
    # the median discards it, rather than every repetition of one case.
    selected = [c for c in cases() if re.search(args.filter, c[0])]
    times = measure([run for _, run, _ in selected], args.min_time, args.repetitions)
    for (name, _, counters), ts in zip(selected, times):
        out["benchmarks"].append({
            "name": name,
            "time_ns": statistics.median(ts) * 1e9,
            "repetitions_ns": [t * 1e9 for t in ts],
            "counters": counters,
        })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
