#!/usr/bin/env python3
"""onnxruntime peers for `swiftcap bench concepts`: the same networks, same thread count, medians.

    /work/venv/bin/python scripts/bench_concepts_peers.py --threads 2 [--runs 20] [--json]

PicoDet-S 416 is timed as shipped and with its initializers removed from the graph inputs (which
lets onnxruntime fold constants). EfficientNet-Lite0 is exported to ONNX from the reference
PyTorch module in fixtures/gen/vision.py, when torch and the checkpoint are available.
"""
import argparse
import json
import os
import statistics
import sys
import time

import warnings

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SWIFTCAP_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e3, min(samples) * 1e3


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = {}

    import onnx
    path = os.path.join(SHARED, "models", "picodet_s_416_coco.onnx")
    x = np.full((1, 3, 416, 416), 0.1, dtype=np.float32)
    s = session(path, args.threads)
    rows["detector network (onnxruntime, as shipped)"] = timed(lambda: s.run(None, {"image": x}), args.runs, args.warmup)
    m = onnx.load(path)
    inits = {i.name for i in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    s2 = session(m.SerializeToString(), args.threads)
    rows["detector network (onnxruntime, initializers not inputs)"] = timed(lambda: s2.run(None, {"image": x}), args.runs, args.warmup)

    try:
        sys.path.insert(0, os.path.join(ROOT, "fixtures", "gen"))
        import torch
        import vision
        net = vision.efficientnet_lite0_reference()
        import io
        buf = io.BytesIO()
        torch.onnx.export(net, torch.zeros(1, 3, 224, 224), buf, input_names=["x"], opset_version=13, dynamo=False)
        s3 = session(buf.getvalue(), args.threads)
        xi = np.zeros((1, 3, 224, 224), dtype=np.float32)
        rows["classifier network (onnxruntime)"] = timed(lambda: s3.run(None, {"x": xi}), args.runs, args.warmup)
    except Exception as e:  # torch or the checkpoint missing: detector only
        print(f"classifier skipped: {e}", file=sys.stderr)

    if args.json:
        print(json.dumps({k: {"median_ms": v[0], "min_ms": v[1]} for k, v in rows.items()}))
    else:
        print(f"onnxruntime {ort.__version__}, {args.threads} threads")
        for k, (med, mn) in rows.items():
            print(f"{k:58s} {med:8.2f} {mn:8.2f}")


if __name__ == "__main__":
    main()
