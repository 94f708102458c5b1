#!/usr/bin/python3
"""Prints bench/distributed_run.sh's tables (markdown) from its result folder."""
import json
import os
import sys

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        return None
    return json.load(open(p))


def rounds(prefix):
    runs, i = [], 1
    while os.path.exists(os.path.join(d, f"{prefix}_{i}.json")):
        r = load(f"{prefix}_{i}")
        if r:
            runs.append(r)
        i += 1
    return runs


def best(prefix):
    """The median round by throughput (the machine is shared: repeat, then take the middle)."""
    # samples_per_second counts every rank's samples (the Trainer reports global numbers).
    runs = sorted(rounds(prefix), key=lambda r: r["samples_per_second"])
    return runs[(len(runs) - 1) // 2] if runs else None


print("### CNN training, one epoch of", "Fashion-MNIST images (global batch 128)\n")
print("| configuration | samples/s (all ranks) | vs 1x1 | test acc | all-reduce in flight | not hidden (share of training) | hidden |")
print("|---|---|---|---|---|---|---|")
base = None
for label, prefix in [("1 rank x 1 thread", "1x1"), ("1 rank x 2 threads", "1x2"),
                      ("2 ranks x 1 thread (25 MB buckets)", "2x1"),
                      ("1 rank x 1 thread, compiled", "1x1c"),
                      ("2 ranks x 1 thread, compiled (25 MB buckets)", "2x1c")]:
    r = best(prefix)
    if not r:
        print(f"| {label} | failed | | | | | |")
        continue
    sps = r["samples_per_second"]
    base = base or sps
    if "allreduce_seconds" in r:
        a, e, t = r["allreduce_seconds"], r["allreduce_exposed_seconds"], r["train_seconds"]
        comm = f"{a:.2f} s | {e:.2f} s ({100 * e / t:.1f}%) | {100 * (1 - e / a) if a else 0:.0f}%"
    else:
        comm = "- | - | -"
    print(f"| {label} | {sps:.0f} | {sps / base:.2f} | {100 * r['test_accuracy']:.2f}% | {comm} |")

print("\n### Bucket size (2 ranks x 1 thread)\n")
print("| bucket | samples/s | all-reduce in flight | not hidden (share) | hidden |")
print("|---|---|---|---|---|")
for mb, name in [(1, "2x1_bucket1"), (5, "2x1_bucket5"), (25, "2x1"), (100, "2x1_bucket100")]:
    r = best(name)
    if not r:
        print(f"| {mb} MB | failed | | | |")
        continue
    a, e, t = r["allreduce_seconds"], r["allreduce_exposed_seconds"], r["train_seconds"]
    print(f"| {mb} MB | {r['samples_per_second']:.0f} | {a:.2f} s | {e:.2f} s "
          f"({100 * e / t:.1f}%) | {100 * (1 - e / a) if a else 0:.0f}% |")


def sweep(impl):
    """Seconds per call for each size, one value per round (each already a median of 5)."""
    times = {}
    i = 1
    while os.path.exists(os.path.join(d, f"allreduce_{impl}_{i}.jsonl")):
        for line in open(os.path.join(d, f"allreduce_{impl}_{i}.jsonl")):
            if line.startswith("{"):
                r = json.loads(line)
                times.setdefault(r["bytes"], []).append(r["seconds"])
        i += 1
    return times


def median(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2]


m, t = sweep("mpi"), sweep("tandem")
n = max((len(v) for v in m.values()), default=0)
print(f"\n### all_reduce, float32 sum, 2 ranks (median of {n} rounds, each the median of 5 calls)\n")
print("| size | MPI_Allreduce | tandem all_reduce | tandem / MPI bandwidth | ratio per round (min-max) |")
print("|---|---|---|---|---|")
for b in sorted(m):
    if b not in t:
        continue
    size = f"{b // 1024} KB" if b < 1 << 20 else f"{b >> 20} MB"
    mm, tm = median(m[b]), median(t[b])
    ratios = [x / y for x, y in zip(m[b], t[b])]
    print(f"| {size} | {mm * 1e6:.1f} us ({b / mm / 1e9:.2f} GB/s) | {tm * 1e6:.1f} us "
          f"({b / tm / 1e9:.2f} GB/s) | {100 * mm / tm:.0f}% | {100 * min(ratios):.0f}-{100 * max(ratios):.0f}% |")
