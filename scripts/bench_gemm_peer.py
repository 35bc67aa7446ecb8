"""Peer figures for `swiftcap bench gemm`: GFLOP/s of numpy's bundled OpenBLAS (float32 `a @ b.T`,
i.e. sgemm with B transposed, as SwiftCap's bench) on the same shapes and thread count, median of --runs.

numpy's OpenBLAS reads OPENBLAS_CORETYPE and the thread count when it is imported, so each
configuration runs in a child process:
  inherited  - the environment as given (here OPENBLAS_CORETYPE=Haswell is exported)
  autodetect - OPENBLAS_CORETYPE removed (OpenBLAS's own CPU detection)

Usage: /work/venv/bin/python scripts/bench_gemm_peer.py [--threads 2] [--runs 15]
"""
import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = [
    ("square", 256, 256, 256), ("square", 512, 512, 512), ("square", 1024, 1024, 1024),
    ("square", 2048, 2048, 2048),
    ("ViT-B/32 qkv (50x768x2304)", 50, 2304, 768), ("ViT-B/32 mlp (50x768x3072)", 50, 3072, 768),
    ("attn proj (50x768x768)", 50, 768, 768), ("decode step mlp (1x768x3072)", 1, 3072, 768),
    ("decode step lm head (1x768x50257)", 1, 50257, 768), ("ViT-B/16 mlp (197x768x3072)", 197, 3072, 768),
]


def child(runs):
    import numpy as np
    rng = np.random.default_rng(1)
    config = ""
    try:
        info = np.show_config(mode="dicts")
        config = info["Build Dependencies"]["blas"].get("openblas configuration", "")
    except Exception:  # older numpy
        pass
    core = ""
    try:
        import threadpoolctl
        for lib in threadpoolctl.threadpool_info():
            if lib.get("internal_api") == "openblas":
                core = lib.get("architecture", "")
                threads = lib.get("num_threads")
    except ImportError:
        pass
    rows = []
    for label, m, n, k in SHAPES:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((n, k), dtype=np.float32)
        flops = 2.0 * m * n * k
        def once():
            np.matmul(a, b.T)
        once()
        t0 = time.perf_counter_ns(); once(); single = time.perf_counter_ns() - t0
        inner = max(1, int(2e6 / max(single, 1))) if single < 2e6 else 1
        samples = []
        for _ in range(runs):
            s = time.perf_counter_ns()
            for _ in range(inner):
                once()
            samples.append((time.perf_counter_ns() - s) / inner)
        samples.sort()
        # flop per ns = GFLOP/s; median and fastest sample, as `swiftcap bench gemm`.
        rows.append({"shape": label, "m": m, "n": n, "k": k, "gflops": flops / samples[len(samples) // 2],
                     "best": flops / samples[0]})
    print(json.dumps({"numpy": np.__version__, "config": config, "core": core, "rows": rows}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.runs)
        return
    results = {}
    for mode in ("inherited", "autodetect"):
        env = dict(os.environ)
        env["OPENBLAS_NUM_THREADS"] = str(args.threads)
        env["OMP_NUM_THREADS"] = str(args.threads)
        if mode == "autodetect":
            env.pop("OPENBLAS_CORETYPE", None)
        out = subprocess.run([sys.executable, __file__, "--child", "--runs", str(args.runs)], env=env,
                             check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    inh, auto = results["inherited"], results["autodetect"]
    print(f"numpy {inh['numpy']}, {inh['config'].strip()}; threads {args.threads}")
    print(f"inherited OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}: core {inh['core'] or '?'}; "
          f"autodetect: core {auto['core'] or '?'}")
    print(f"{'shape':36}{'M':6}{'N':7}{'K':6}{'GFLOP/s inherited median / best':34}{'GFLOP/s autodetect median / best':34}")
    for r1, r2 in zip(inh["rows"], auto["rows"]):
        c1 = "%.1f / %.1f" % (r1["gflops"], r1["best"])
        c2 = "%.1f / %.1f" % (r2["gflops"], r2["best"])
        print(f"{r1['shape']:36}{r1['m']:<6}{r1['n']:<7}{r1['k']:<6}{c1:34}{c2:34}")

if __name__ == "__main__":
    main()
