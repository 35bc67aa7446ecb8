#!/usr/bin/env python3
"""Independent reference for PairedBootstrap (Tests/SwiftCapMetricsTests/PairedBootstrapTests.swift).

Writes fixtures/bootstrap/paired.json: two systems' per-image scores over the same images
(CIDEr-D-like: non-negative, correlated, B slightly worse on average) and numpy's 95% percentile
intervals of mean(A), mean(B) and mean(A) - mean(B) from a paired bootstrap with numpy's own RNG
(20000 resamples). The Swift sampler (SplitMix64) draws different indices, so the test asserts
statistical agreement of the endpoints, not equality.

    python3 scripts/make_bootstrap_fixture.py   # needs numpy
"""
import json
import os

import numpy as np

N_IMAGES = 200
RESAMPLES = 20000

rng = np.random.default_rng(20240601)
quality = rng.gamma(shape=2.0, scale=0.45, size=N_IMAGES)          # per-image "difficulty"
a = np.clip(quality + rng.normal(0.0, 0.55, N_IMAGES), 0.0, None)
b = np.clip(quality - 0.12 + rng.normal(0.0, 0.55, N_IMAGES), 0.0, None)
a = np.round(a, 6)
b = np.round(b, 6)

idx = rng.integers(0, N_IMAGES, size=(RESAMPLES, N_IMAGES))
ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
md = ma - mb


def ci(x):
    lo, hi = np.percentile(x, [2.5, 97.5])
    return [float(lo), float(hi)]


out = {
    "description": "per-image scores of systems A and B; numpy paired-bootstrap 95%% percentile "
                   "intervals (numpy default_rng, %d resamples, np.percentile linear)" % RESAMPLES,
    "numpy": np.__version__,
    "resamples": RESAMPLES,
    "a": [float(x) for x in a],
    "b": [float(x) for x in b],
    "mean_a": float(a.mean()),
    "mean_b": float(b.mean()),
    "mean_diff": float(a.mean() - b.mean()),
    "ci_a": ci(ma),
    "ci_b": ci(mb),
    "ci_diff": ci(md),
}
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bootstrap")
os.makedirs(root, exist_ok=True)
path = os.path.join(root, "paired.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(path, "ci_diff", out["ci_diff"], "mean_diff", out["mean_diff"])
