#!/usr/bin/python3
"""Writes tests/data/distributed/sampler.json: torch.utils.data.DistributedSampler's indices
for each (N, num_replicas, rank, shuffle, seed, epoch, drop_last) case, which
tests/distributed/test_sampler.cpp compares with tandem's DistributedSampler.

Run with Debian's python3 + torch: /usr/bin/python3 tests/reference/gen_distributed.py
"""
import json
import os

import torch
from torch.utils.data import DistributedSampler

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "distributed")
os.makedirs(OUT, exist_ok=True)

cases = []
# (N, R, shuffle, seed, epoch, drop_last): the N=10, R=3, padding that wraps the list
# more than once (N < R), drop_last cutting, exact multiples, and a larger shuffled set.
configs = [
    (10, 3, False, 0, 0, False),
    (10, 3, True, 0, 0, False),
    (10, 3, True, 0, 1, False),
    (10, 3, True, 42, 5, True),
    (10, 3, False, 0, 0, True),
    (2, 5, False, 0, 0, False),
    (2, 5, True, 7, 3, False),
    (12, 4, True, 1, 2, False),
    (12, 4, True, 1, 2, True),
    (1000, 2, True, 0, 0, False),
    (1001, 8, True, 123456789, 9, False),
    (1001, 8, True, 3, 0, True),
]
for n, r, shuffle, seed, epoch, drop_last in configs:
    for rank in range(r):
        s = DistributedSampler(range(n), num_replicas=r, rank=rank, shuffle=shuffle, seed=seed,
                               drop_last=drop_last)
        s.set_epoch(epoch)
        cases.append({"n": n, "num_replicas": r, "rank": rank, "shuffle": shuffle, "seed": seed,
                      "epoch": epoch, "drop_last": drop_last, "indices": list(iter(s))})

with open(os.path.join(OUT, "sampler.json"), "w") as f:
    json.dump({"torch_version": torch.__version__.split("+")[0], "cases": cases}, f,
              sort_keys=True)
    f.write("\n")
