#!/usr/bin/python3
"""Entropy (KL-divergence) calibration references for tests/quant/test_quant_calib.cpp.

    /usr/bin/python3 tests/reference/gen_quant_calib.py   # writes tests/data/quant_calib/*.npy

The algorithm, in NumPy, from its description (TensorRT's entropy calibrator, ONNX Runtime's
CalibrationMethod.Entropy), as include/tandem/onnx/quantize.h states it:
  histogram of |x|: B bins over [0, M], M = max |x|, bin = min(floor(|x| / M * B), B - 1);
  levels L = 256 when no value is negative, else 128; bin 0's count replaced by bin 1's
  (exact zeros, as a ReLU writes them, would otherwise dominate P);
  for i = L .. B: P = hist[:i] with sum(hist[i:]) added to P[i-1]; Q = hist[:i] (without the
  clipped outliers) merged into L groups of i // L bins (the last group takes the remainder),
  each group's sum spread evenly over its bins where P > 0; P and Q normalized to sum 1;
  KL = sum over P > 0 of p ln(p / q), infinite where some q is 0 under a p > 0;
  the first i with the smallest KL gives the threshold T = i * M / B.

Cases (each [4, n] float32: four calibration batches):
  gauss_outliers  N(0, 1) and six far outliers (+-40 .. +-60): entropy clips them, min-max does not
  relu_outliers   |N(0, 1)| (never negative: 256 levels) and outliers up to 30
  uniform         U(-1, 1): nothing to clip, the threshold is close to max |x|
Files: <case>.npy the data; <case>_hist.npy the histogram (float64 [2048]);
       <case>_ref.npy float64 [4]: max |x|, levels, threshold, bin width.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data", "quant_calib")
BINS = 2048


def histogram(x, bins):
    m = float(np.abs(x).max())
    b = np.minimum((np.abs(x.astype(np.float64)) / m * bins).astype(np.int64), bins - 1)
    return np.bincount(b.ravel(), minlength=bins).astype(np.float64), m


def entropy_threshold(hist, max_abs, levels):
    bins = hist.size
    hist = hist.copy()
    hist[0] = hist[1]
    suffix = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])
    best_kl, best_i = np.inf, bins
    for i in range(levels, bins + 1):
        p = hist[:i].copy()
        p[-1] += suffix[i]
        merged = i // levels
        group = np.minimum(np.arange(i) // merged, levels - 1)
        nz = p > 0
        sums = np.bincount(group, weights=hist[:i], minlength=levels)
        counts = np.bincount(group, weights=nz.astype(np.float64), minlength=levels)
        q = np.where(nz, sums[group] / np.maximum(counts[group], 1), 0.0)
        if np.any(q[nz] == 0) or q.sum() == 0:
            continue
        pn = p[nz] / p.sum()
        qn = q[nz] / q.sum()
        kl = float(np.sum(pn * np.log(pn / qn)))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i * max_abs / bins


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(2026)
    n = 5000
    cases = {}
    g = rng.normal(0, 1, (4, n)).astype(np.float32)
    g[0, :3] = [60, -45, 40]
    g[2, 10:13] = [-60, 50, -40]
    cases["gauss_outliers"] = g
    r = np.abs(rng.normal(0, 1, (4, n))).astype(np.float32)
    r[1, :2] = [30, 25]
    r[3, 5] = 28
    cases["relu_outliers"] = r
    cases["uniform"] = rng.uniform(-1, 1, (4, n)).astype(np.float32)
    for name, x in cases.items():
        hist, m = histogram(x, BINS)
        levels = 256 if x.min() >= 0 else 128
        t = entropy_threshold(hist, m, levels)
        np.save(os.path.join(OUT, name + ".npy"), x)
        np.save(os.path.join(OUT, name + "_hist.npy"), hist)
        np.save(os.path.join(OUT, name + "_ref.npy"), np.array([m, levels, t, m / BINS], np.float64))
        print(f"{name}: max |x| {m:.4f}, levels {levels}, threshold {t:.4f}")


if __name__ == "__main__":
    main()
