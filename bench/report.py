#!/usr/bin/python3
"""Prints the side-by-side Markdown table from the JSON files bench/run.sh wrote.

    /usr/bin/python3 bench/report.py RESULTS_DIR

RESULTS_DIR holds, per thread count T: tandem_tT.json (Google Benchmark JSON from
tandem_bench), torch_py_tT.json (bench/torch_bench.py) and, when libtorch was found at
build time, torch_cpp_tT.json (torch_dispatch_bench). Every time is the median over the
repetitions; ratio = tandem speed / PyTorch speed (> 1: tandem faster).
"""
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import datetime, timezone

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load_gbench(path):
    """{case: {"time_ns", "counters"} or {"error"}} from Google Benchmark JSON."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}, {}  # e.g. a filter that matched no case in this program
    runs = {}
    for b in data["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates: we take our own median of the repetitions below
        name = re.sub(r"/real_time$", "", b.get("run_name", b["name"]))
        r = runs.setdefault(name, {"times": [], "counters": {}})
        if b.get("error_occurred"):
            r["error"] = b.get("error_message", "error")
            continue
        r["times"].append(b["real_time"] * UNIT_NS[b.get("time_unit", "ns")])
        for key in ("flop", "bytes"):
            if key in b:
                r["counters"][key] = b[key]
    out = {}
    for name, r in runs.items():
        if "error" in r or not r["times"]:
            out[name] = {"error": r.get("error", "no result")}
        else:
            out[name] = {"time_ns": statistics.median(r["times"]), "counters": r["counters"],
                         "reps": len(r["times"]), "spread": max(r["times"]) / min(r["times"])}
    return out, data.get("context", {})


def load_torch_py(path):
    with open(path) as f:
        data = json.load(f)
    for b in data["benchmarks"]:
        reps = b.get("repetitions_ns") or [b["time_ns"]]
        b["spread"] = max(reps) / min(reps)
    return {b["name"]: b for b in data["benchmarks"]}, data["context"]


NOISY = 1.5  # slowest / fastest repetition above this: the cell gets a mark


def noisy(text, result):
    return text + " ⚠" if result and result.get("spread", 1.0) > NOISY else text


def metric(result, kind):
    """(value, text) in the case's unit; higher value = faster for every kind."""
    if result is None:
        return None, "—"
    if "error" in result:
        err = result["error"]
        return None, "n/a (not implemented)" if "not implemented" in err else f"n/a ({err[:60]})"
    t = result["time_ns"]
    if kind == "gflops":
        v = result["counters"]["flop"] / t
        return v, f"{v:.1f} GFLOP/s"
    if kind == "gbs":
        v = result["counters"]["bytes"] / t
        return v, f"{v:.1f} GB/s"
    scale, unit = {"ns": (1, "ns"), "us": (1e3, "µs"), "ms": (1e6, "ms")}[kind]
    return 1.0 / t, f"{sig3(t / scale)} {unit}"


def sig3(v):
    """About 3 significant digits, never in exponent notation: 1210, 27.5, 3.57."""
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def machine():
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except OSError:
        pass
    model = info.get("Model name", platform.processor() or "unknown CPU")
    cores = int(info.get("Core(s) per socket", 0) or 0) * int(info.get("Socket(s)", 0) or 0)
    smt = int(info.get("Thread(s) per core", 1) or 1)
    return f"{model}, {cores or os.cpu_count()} cores" + (f" ({smt} threads each)" if smt > 1 else "")


def rows():
    """(label, case, unit kind, torch source, ceiling case) in table order."""
    yield ("dispatch: a + b, 1-element float32", "dispatch/add_1elem", "ns", "cpp", None)
    yield ("dispatch: a + b, 1-element float32 [PyTorch from Python]", "dispatch/add_1elem",
           "ns", "py:dispatch/add_1elem_python", None)
    for shape in ["128x128x128", "256x256x256", "512x512x512", "1024x1024x1024",
                  "2048x2048x2048", "128x784x512", "128x512x256"]:
        m, k, n = shape.split("x")
        yield (f"matmul [{m}x{k}] @ [{k}x{n}]", f"matmul/{shape}", "gflops", "py",
               [f"onednn_matmul/{shape}", f"onednn_sgemm/{shape}"])
    yield ("conv2d fwd+bwd, b128 1→32 3x3 pad1, 28x28", "conv2d_fwd_bwd/b128_1to32_28x28", "ms", "py", None)
    yield ("conv2d fwd+bwd, b128 32→64 3x3 pad1, 14x14", "conv2d_fwd_bwd/b128_32to64_14x14", "ms", "py", None)
    for size in ["1M", "16M"]:
        for op in ["add", "mul", "gelu"]:
            yield (f"{op}, {size} float32", f"{op}/{size}", "gbs", "py",
                   [f"memcpy/{size}", f"clone/{size}"])
        yield (f"copy (clone), {size} float32", f"clone/{size}", "gbs", "py", [f"memcpy/{size}"])
    yield ("softmax(dim=-1), 128x4096", "softmax/128x4096", "us", "py", None)
    yield ("layer_norm(4096), 128x4096", "layer_norm/128x4096", "us", "py", None)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    threads = sorted(int(re.search(r"_t(\d+)\.json$", p).group(1))
                     for p in glob.glob(os.path.join(d, "tandem_t*.json")))
    if not threads:
        sys.exit(f"report.py: no tandem_t*.json in {d}")
    res = {}
    torch_version, reps = "?", set()
    for t in threads:
        tandem, _ = load_gbench(os.path.join(d, f"tandem_t{t}.json"))
        reps |= {r["reps"] for r in tandem.values() if "reps" in r}
        py, ctx = load_torch_py(os.path.join(d, f"torch_py_t{t}.json"))
        torch_version = ctx.get("torch_version", torch_version)
        cpp_path = os.path.join(d, f"torch_cpp_t{t}.json")
        cpp = load_gbench(cpp_path)[0] if os.path.exists(cpp_path) else None
        res[t] = (tandem, py, cpp)

    load = ""
    load_path = os.path.join(d, "loadavg")
    if os.path.exists(load_path):
        with open(load_path) as f:
            load = f" Load average before the run: {f.read().split()[0]}."
    others = []
    for t in threads:
        path = os.path.join(d, f"others_t{t}")
        if os.path.exists(path):
            with open(path) as f:
                ticks, hz, end, start = f.read().split()
            share = max(0, int(ticks)) / int(hz) / max(1e-9, float(end) - float(start))
            others.append(f"{100 * share:.0f}% of a core during the {t}-thread pass")
    if others:
        load += " Other processes used " + ", ".join(others) + "."
    print(f"Machine: {machine()}. Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
          f"PyTorch {torch_version}.{load}")
    print(f"Each number is the median of {'/'.join(map(str, sorted(reps))) or '?'} repetitions "
          "(each repetition runs the op for at least the minimum time). "
          "ratio = tandem speed / PyTorch speed (> 1: tandem faster). "
          "Ceiling = oneDNN called directly, the faster of its matmul primitive and dnnl_sgemm "
          "(matmul), or the faster copy of the same bytes, a parallel memcpy or tandem's clone "
          "(elementwise); in brackets tandem's share of it. "
          f"⚠: the slowest repetition took over {NOISY}x the fastest (other load; rerun).\n")
    print("| case | threads | tandem | PyTorch | ratio | ceiling (oneDNN direct / copy) |")
    print("|---|---|---|---|---|---|")
    for label, case, kind, source, ceiling in rows():
        for t in threads:
            tandem, py, cpp = res[t]
            if case not in tandem:
                continue  # filtered out of this run
            tv, tt = metric(tandem.get(case), kind)
            tt = noisy(tt, tandem.get(case))
            if source == "cpp":
                if cpp is None:
                    continue  # no libtorch: the Python row below stands alone
                pv, pt = metric(cpp.get(case), kind)
                pt = noisy(pt, cpp.get(case))
                row_label = label + " [PyTorch C++ API]"
            elif source.startswith("py:"):
                pv, pt = metric(py.get(source[3:]), kind)
                pt = noisy(pt, py.get(source[3:]))
                row_label = label
            else:
                pv, pt = metric(py.get(case), kind)
                pt = noisy(pt, py.get(case))
                row_label = label
            ratio = f"{tv / pv:.2f}" if tv and pv else "—"
            ceil_text = ""
            if ceiling:
                # Several ceiling cases (oneDNN matmul primitive, dnnl_sgemm): the fastest.
                best = (None, "—", "")
                for c in ceiling:
                    cv, ct = metric(tandem.get(c), kind)
                    if cv and (best[0] is None or cv > best[0]):
                        best = (cv, ct, c.split("/")[0].removeprefix("onednn_"))
                cv, ct, which = best
                if len(ceiling) > 1 and cv:
                    ct += f" {which}"
                ceil_text = ct + (f" (tandem {100 * tv / cv:.0f}%)" if tv and cv else "")
            print(f"| {row_label} | {t} | {tt} | {pt} | {ratio} | {ceil_text} |")


if __name__ == "__main__":
    main()
