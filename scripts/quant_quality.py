#!/usr/bin/env python3
"""Size / time / quality of fp32, f16, int8 and q4 weights on the models with real weights (issue 14, item 4).

    /work/venv-minilm/bin/python scripts/quant_quality.py [--out DIR] [--threads 2] [--parts classifier,detector,llm,head]
        [--classifier-limit N] [--llm-captions-per-photo N]

Needs a release build (`swift build -c release`) and a Python with pycocotools (the detector's AP50).
Parts (each prints its rows; the combined markdown table comes last):
  classifier  EfficientNet-Lite0: top-1 agreement with fp32 over the ../shared photos (coco-dev + coco-train)
              (`swiftcap bench quant-quality --part classifier`)
  detector    PicoDet-S 416: detections of each format on the 273 photos of ../shared/eval/coco-boxes, scored here
              with pycocotools' COCOeval (AP50 and mAP@[.5:.95]) (`--part detector`)
  llm         SmolLM2-135M: perplexity on coco-dev reference captions (Karpathy val) (`--part llm`)
  head        the default captioner's trained concept head: `swiftcap quantize --to FORMAT` of
              models/concept-head.safetensors, then `swiftcap eval` on all 419 coco-dev photos with that head
              (`--concept-head`), CIDEr-D and its paired-bootstrap interval against the fp32 run (`--compare`)
The conv nets and SmolLM2 compute in fp32 on quantize-dequantized weights (their time does not move with the
format); the concept head file really is stored in the format (its MLPs widen it to fp32 at load).
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMATS = ["f32", "f16", "int8", "q4"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="quant-quality-out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parts", default="classifier,detector,llm,head")
    ap.add_argument("--classifier-limit", type=int, default=0, help="0 = every photo")
    ap.add_argument("--llm-captions-per-photo", type=int, default=1)
    ap.add_argument("--llm-photos", type=int, default=0, help="captions of the first N coco-dev photos only (0 = all 419)")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="only print the table of earlier runs' OUT/quant-quality.json files (parts merged)")
    args = ap.parse_args()
    if args.from_json:
        merged = {}
        for f in args.from_json:
            merged.update(json.load(open(f)))
        print_table(merged)
        return
    shared = os.environ.get("SWIFTCAP_SHARED", os.path.join(REPO, "..", "shared"))
    binary = run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO).strip() + "/swiftcap"
    os.makedirs(args.out, exist_ok=True)
    parts = [p for p in args.parts.split(",") if p]
    th = ["--threads", str(args.threads)]
    results = {}
    loads = [open("/proc/loadavg").read().split()[:3]]

    if "classifier" in parts:
        cmd = [binary, "bench", "quant-quality", "--part", "classifier", "--json"] + th
        if args.classifier_limit:
            cmd += ["--limit", str(args.classifier_limit)]
        results["classifier"] = json.loads(run(cmd))

    if "detector" in parts:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        rep = json.loads(run([binary, "bench", "quant-quality", "--part", "detector", "--json", "--out", args.out] + th))
        gt = COCO(os.path.join(shared, "eval/coco-boxes/instances.json"))
        for row in rep["rows"]:
            dets = json.load(open(os.path.join(args.out, f"detections-{row['format']}.json")))
            e = COCOeval(gt, gt.loadRes(dets), "bbox")
            e.evaluate(); e.accumulate(); e.summarize()
            row["quality"]["mAP"] = float(e.stats[0])
            row["quality"]["AP50"] = float(e.stats[1])
        results["detector"] = rep

    if "llm" in parts:
        results["llm"] = json.loads(run([binary, "bench", "quant-quality", "--part", "llm", "--json",
                                         "--captions-per-photo", str(args.llm_captions_per_photo),
                                         "--limit", str(args.llm_photos)] + th))

    if "head" in parts:
        head = os.path.join(REPO, "models", "concept-head.safetensors")
        rows = []
        images = os.path.join(shared, "eval/coco-dev/images")
        refs = os.path.join(shared, "eval/coco-dev/references.json")
        for f in FORMATS:
            path = os.path.join(args.out, f"concept-head-{f}.safetensors")
            run([binary, "quantize", "--to", f, head, path])
            out = os.path.join(args.out, f"eval-head-{f}")
            cmd = [binary, "eval", "--images", images, "--references", refs, "--concept-head", path, "--no-meteor",
                   "--no-report", "--json", "--out", out] + th
            if f != "f32":
                cmd += ["--compare", os.path.join(args.out, "eval-head-f32", "results.json")]
            t0 = time.perf_counter()
            got = json.loads(run(cmd))
            seconds = time.perf_counter() - t0
            rows.append({"format": f, "bytes": os.path.getsize(path), "seconds": seconds, "eval": got})
        results["head"] = {"rows": rows, "shipped_bytes": os.path.getsize(head)}

    loads.append(open("/proc/loadavg").read().split()[:3])
    results["load_average_before_after"] = loads
    json.dump(results, open(os.path.join(args.out, "quant-quality.json"), "w"), indent=1)
    print_table(results)


def mb(b):
    return f"{b / 1e6:.2f}"


def print_table(results):
    print("| model (what is quantized) | format | weights MB | median ms | quality |")
    print("|---|---|---|---|---|")
    if "classifier" in results:
        r = results["classifier"]
        for row in r["rows"]:
            q = row["quality"].get("top1_agreement_with_f32")
            print(f"| EfficientNet-Lite0 ({row['quantizedTensors']} conv/fc tensors, {row['quantizedParameters']:,} params; "
                  f"q4 -> int8 fallbacks {row['int8Fallbacks']}) | {row['format']} | {mb(row['storedBytes'])} | "
                  f"{row['medianMs']:.2f} | top-1 agreement with fp32 {q * 100:.2f} % ({r['items']} photos) |")
    if "detector" in results:
        r = results["detector"]
        for row in r["rows"]:
            q = row["quality"]
            print(f"| PicoDet-S 416 ({row['quantizedTensors']} conv weights, {row['quantizedParameters']:,} params; "
                  f"q4 -> int8 fallbacks {row['int8Fallbacks']}) | {row['format']} | {mb(row['storedBytes'])} | "
                  f"{row['medianMs']:.2f} | AP50 {q['AP50']:.4f}, mAP {q['mAP']:.4f} ({r['items']} photos) |")
    if "llm" in results:
        r = results["llm"]
        for row in r["rows"]:
            print(f"| SmolLM2-135M ({row['quantizedTensors']} matrices, {row['quantizedParameters']:,} params) | "
                  f"{row['format']} | {mb(row['storedBytes'])} | {row['medianMs']:.2f} | "
                  f"perplexity {row['quality']['perplexity']:.3f} ({r['itemsDescription']}) |")
    if "head" in results:
        for row in results["head"]["rows"]:
            e = row["eval"]
            cider = find(e, "CIDEr-D")
            cmp = ""
            metrics = (e.get("comparison") or {}).get("metrics") or {}
            if "CIDEr-D" in metrics:
                c = metrics["CIDEr-D"]
                cmp = f", vs fp32 {c['diff']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]"
            print(f"| concept head (default captioner; 6 matrices) | {row['format']} | {mb(row['bytes'])} | "
                  f"{row['seconds'] * 1000 / 419:.0f} (whole caption incl. load, per photo) | coco-dev CIDEr-D "
                  f"{cider if cider is None else f'{cider:.4f}'}{cmp} (419 photos) |")
    la = results.get("load_average_before_after")
    if la:
        print(f"\nload average (1/5/15 min) before: {' '.join(la[0])}, after: {' '.join(la[1])}")


def find(obj, key):
    """The first number under `key` anywhere in a nested JSON object (eval's corpus scores)."""
    if isinstance(obj, dict):
        if key in obj and isinstance(obj[key], (int, float)):
            return obj[key]
        for k, v in obj.items():
            if k == "comparison":
                continue
            got = find(v, key)
            if got is not None:
                return got
    return None


if __name__ == "__main__":
    main()
