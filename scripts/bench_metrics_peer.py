#!/usr/bin/env python3
"""Times pycocoevalcap 1.2 (the reference COCO caption scorer) on the Karpathy-test set that
SwiftCap's metric parity fixtures use: 5,000 images, candidate = the first caption by annotation id,
references = the image's other captions. Reports PTB tokenisation, BLEU, ROUGE-L and CIDEr-D
seconds (and METEOR with --meteor), as wall-clock medians of --runs runs.

Also writes the same inputs as swiftcap eval files with --write-inputs DIR
(DIR/references.json: file name -> references, DIR/captions.json: file name -> caption), so
`swiftcap eval --references DIR/references.json --captions DIR/captions.json` scores the same set.

Usage: /work/venv/bin/python scripts/bench_metrics_peer.py [--runs 3] [--meteor] [--write-inputs DIR]
Needs java and the unpacked pycocoevalcap package under $SWIFTCAP_ASSETS
(default ~/.cache/swiftcap/assets) and ../shared/data/karpathy/karpathy_test_images.txt.
Run it with `taskset -c 0,1` to pin it to two cores.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ASSETS = Path(os.environ.get("SWIFTCAP_ASSETS", Path.home() / ".cache/swiftcap/assets"))
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWIFTCAP_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ASSETS / "pycocoevalcap"))


def inputs():
    d = json.load(open(ASSETS / "coco-captions/captions_val2014.json"))
    by_image = {}
    for a in sorted(d["annotations"], key=lambda a: a["id"]):
        by_image.setdefault(a["image_id"], []).append(a["caption"])
    ids = [int(l.split()[1]) for l in open(SHARED / "data/karpathy/karpathy_test_images.txt") if l.strip()]
    return ids, {i: by_image[i][1:] for i in ids}, {i: by_image[i][:1] for i in ids}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--meteor", action="store_true")
    ap.add_argument("--write-inputs")
    args = ap.parse_args()
    ids, gts_raw, res_raw = inputs()
    if args.write_inputs:
        out = Path(args.write_inputs)
        out.mkdir(parents=True, exist_ok=True)
        name = lambda i: "COCO_val2014_%012d.jpg" % i
        (out / "references.json").write_text(json.dumps({name(i): gts_raw[i] for i in ids}, indent=1))
        (out / "captions.json").write_text(json.dumps({name(i): res_raw[i][0] for i in ids}, indent=1))
        print("wrote", out / "references.json", "and", out / "captions.json")

    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.cider.cider import Cider

    times = {"tokenize": [], "bleu": [], "rouge": [], "cider": [], "total": [], "meteor": []}
    for _ in range(args.runs):
        t0 = time.perf_counter()
        tok = PTBTokenizer()
        gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in gts_raw.items()})
        res = tok.tokenize({k: [{"caption": c} for c in v] for k, v in res_raw.items()})
        t1 = time.perf_counter()
        b, _ = Bleu(4).compute_score(gts, res, verbose=0)
        t2 = time.perf_counter()
        r, _ = Rouge().compute_score(gts, res)
        t3 = time.perf_counter()
        c, _ = Cider().compute_score(gts, res)
        t4 = time.perf_counter()
        times["tokenize"].append(t1 - t0)
        times["bleu"].append(t2 - t1)
        times["rouge"].append(t3 - t2)
        times["cider"].append(t4 - t3)
        times["total"].append(t4 - t0)
        if args.meteor:
            from pycocoevalcap.meteor.meteor import Meteor
            t5 = time.perf_counter()
            m = Meteor()
            ms, _ = m.compute_score(gts, res)
            del m
            times["meteor"].append(time.perf_counter() - t5)
    print("pycocoevalcap 1.2, Karpathy test (5,000 images, 1 candidate + 4-5 references each)")
    print("scores: BLEU-4 %.6f ROUGE-L %.6f CIDEr-D %.6f" % (b[3], r, c))
    for k, v in times.items():
        if v:
            print("%-9s median %.2f s  (runs: %s)" % (k, statistics.median(v), ", ".join("%.2f" % x for x in v)))


if __name__ == "__main__":
    main()
