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
    runs = sorted(rounds(prefix), key=lambda r: r["samples_per_second"] * r.get("world_size", 1))
    return runs[(len(runs) - 1) // 2] if runs else None


print("### CNN training, one epoch of", "Fashion-MNIST images (global batch 128)\n")
print("| configuration | samples/s (all ranks) | vs 1x1 | test acc | all-reduce in flight | not hidden (share of training) | hidden |")
print("|---|---|---|---|---|---|---|")
base = None
for label, prefix in [("1 rank x 1 thread", "1x1"), ("1 rank x 2 threads", "1x2"),
                      ("2 ranks x 1 thread (25 MB buckets)", "2x1")]:
    r = best(prefix)
    if not r:
        print(f"| {label} | failed | | | | | |")
        continue
    sps = r["samples_per_second"] * r.get("world_size", 1)
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
    print(f"| {mb} MB | {r['samples_per_second'] * r['world_size']:.0f} | {a:.2f} s | {e:.2f} s "
          f"({100 * e / t:.1f}%) | {100 * (1 - e / a) if a else 0:.0f}% |")


def sweep(impl):
    """Seconds per call for each size: the median over rounds (each already a median of 5)."""
    times = {}
    i = 1
    while os.path.exists(os.path.join(d, f"allreduce_{impl}_{i}.jsonl")):
        for line in open(os.path.join(d, f"allreduce_{impl}_{i}.jsonl")):
            if line.startswith("{"):
                r = json.loads(line)
                times.setdefault(r["bytes"], []).append(r["seconds"])
        i += 1
    return {b: sorted(v)[(len(v) - 1) // 2] for b, v in times.items()}


m, t = sweep("mpi"), sweep("tandem")
print("\n### all_reduce, float32 sum, 2 ranks (median over rounds of the median of 5 repetitions)\n")
print("| size | MPI_Allreduce | tandem all_reduce | tandem / MPI bandwidth |")
print("|---|---|---|---|")
for b in sorted(m):
    if b not in t:
        continue
    size = f"{b // 1024} KB" if b < 1 << 20 else f"{b >> 20} MB"
    print(f"| {size} | {m[b] * 1e6:.1f} us ({b / m[b] / 1e9:.2f} GB/s) | {t[b] * 1e6:.1f} us "
          f"({b / t[b] / 1e9:.2f} GB/s) | {100 * m[b] / t[b]:.0f}% |")
