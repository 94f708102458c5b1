"""tandem from Python next to PyTorch 1.13 in the same run (and tandem's C++ numbers for the
same models when build/release/bench/tandem_bench_graph exists).

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [--threads 1] [--reps 7]

Cases: Python overhead of one small op (a + b on 1-element tensors); a training step of the
zoo MLP (784-512-256-10, SGD lr 0.01 momentum 0.9) at batch 1, eager and tandem.compile; a
training step of the zoo CNN (Adam lr 1e-3) at batch 128 (x 469 = one Fashion-MNIST epoch);
tensor.numpy() and from_numpy() for 1 and 10^7 elements. Each case runs for at least
--min-time seconds per repetition; repetitions are interleaved across cases; the median is
printed."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--reps", type=int, default=7)
parser.add_argument("--min-time", type=float, default=0.2)
parser.add_argument("--cpp-bench", default="build/release/bench/tandem_bench_graph")
args = parser.parse_args()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tandem  # noqa: E402
import torch  # noqa: E402

tandem.set_num_threads(args.threads)
torch.set_num_threads(args.threads)


def timer(fn):
    """Seconds per call of fn, over at least min_time."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= args.min_time:
            return dt / n
        n = max(n * 2, int(n * args.min_time / max(dt, 1e-9)) + 1)


def add_case(lib):
    a, b = lib.ones(1), lib.ones(1)

    def f():
        for _ in range(100):
            a + b
    return lambda: f(), 100


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256),
                         nn.ReLU(), nn.Linear(256, 10))


def cnn(lib):
    nn, F = lib.nn, lib.nn.functional

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(64 * 7 * 7, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
    return CNN()


def train_case(lib, model_fn, batch, opt_fn, compiled=False):
    lib.manual_seed(0)
    model = model_fn(lib)
    opt = opt_fn(lib, model)
    x = lib.randn(batch, 1, 28, 28)
    y = lib.randint(0, 10, (batch,))
    F = lib.nn.functional

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tandem.compile(step, modules=[model])
    return lambda: step(x, y), 1


sgd = lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)  # noqa: E731
adam = lambda lib, m: lib.optim.Adam(m.parameters(), lr=1e-3)  # noqa: E731


def numpy_case(lib, n, direction):
    t = lib.zeros(n)
    a = np.zeros(n, dtype=np.float32)
    if direction == "numpy":
        return lambda: t.numpy(), 1
    return lambda: lib.from_numpy(a), 1


cases = {
    "a + b, 1 element (per op)": lambda lib: add_case(lib),
    "MLP train step, batch 1": lambda lib: train_case(lib, mlp, 1, sgd),
    "CNN train step, batch 128": lambda lib: train_case(lib, cnn, 128, adam),
    "tensor.numpy(), 1 element": lambda lib: numpy_case(lib, 1, "numpy"),
    "tensor.numpy(), 10^7 elements": lambda lib: numpy_case(lib, 10**7, "numpy"),
    "from_numpy, 1 element": lambda lib: numpy_case(lib, 1, "from"),
    "from_numpy, 10^7 elements": lambda lib: numpy_case(lib, 10**7, "from"),
}
runs = {}
for name, make in cases.items():
    runs[(name, "tandem")] = make(tandem)
    runs[(name, "torch")] = make(torch)
runs[("MLP train step, batch 1", "tandem.compile")] = train_case(tandem, mlp, 1, sgd, True)

times = {k: [] for k in runs}
for rep in range(args.reps):
    for k, (fn, per) in runs.items():
        times[k].append(timer(fn) / per)
med = {k: statistics.median(v) for k, v in times.items()}

cpp = {}
if os.path.exists(args.cpp_bench):
    out = subprocess.run([args.cpp_bench, f"--threads={args.threads}",
                          "--benchmark_filter=graph/(mlp_train_b1|cnn_train_b128)/eager",
                          "--benchmark_format=json", "--benchmark_min_time=0.2",
                          f"--benchmark_repetitions={args.reps}",
                          "--benchmark_report_aggregates_only=true"],
                         capture_output=True, text=True)
    try:
        for b in json.loads(out.stdout)["benchmarks"]:
            if b.get("aggregate_name") == "median":
                unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
                cpp[b["run_name"].removesuffix("/real_time")] = b["real_time"] * unit
    except (ValueError, KeyError):
        print("(the C++ benchmark's output could not be read)", file=sys.stderr)


def fmt(s):
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e3:.2f} ms"


load = os.getloadavg()[0]
print(f"threads {args.threads}, {args.reps} repetitions, tandem {tandem.__version__}, "
      f"torch {torch.__version__}, load average {load:.1f}\n")
print("| case | tandem (Python) | PyTorch | PyTorch / tandem | tandem C++ | Python / C++ |")
print("|---|---|---|---|---|---|")
cpp_names = {"MLP train step, batch 1": "graph/mlp_train_b1/eager",
             "CNN train step, batch 128": "graph/cnn_train_b128/eager"}
for name in cases:
    a, b = med[(name, "tandem")], med[(name, "torch")]
    c = cpp.get(cpp_names.get(name, ""), None)
    cs = f"{fmt(c)} | {a / c:.2f}x" if c else "– | –"
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {b / a:.2f}x | {cs} |")
    if name == "MLP train step, batch 1":
        k = med[(name, "tandem.compile")]
        print(f"| MLP train step, batch 1, tandem.compile | {fmt(k)} | {fmt(b)} | {b / k:.2f}x | – | – |")
e = med[("CNN train step, batch 128", "tandem")] * 469
t = med[("CNN train step, batch 128", "torch")] * 469
print(f"\nCNN epoch (469 steps of batch 128, data loading excluded): tandem {e:.1f} s, "
      f"PyTorch {t:.1f} s")
