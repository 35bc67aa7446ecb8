#!/usr/bin/env python3
"""PicoDet against ground truth nobody here wrote: the official COCO boxes in ../shared/eval/coco-boxes.

Runs `swiftcap detect --json --threshold 0.05` (release build) on every photo that instances.json annotates,
scores the detections with pycocotools' COCOeval (mAP@[.5:.95], AP50), and picks, by ground-truth properties
only, the photos the Swift test re-checks (non-crowd boxes covering ≥ 5 % of the photo). Also scores the same
detections shifted by half a stride-16 cell, to show what a box-decoding error costs.

Writes fixtures/vision/picodet_coco_boxes.json. Needs: pycocotools, numpy; `swift build -c release`.
"""
import copy, json, os, subprocess, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
shared = os.environ.get("SWIFTCAP_SHARED", os.path.join(repo, "..", "shared"))
binary = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=repo, text=True).strip() + "/swiftcap"
gt = COCO(os.path.join(shared, "eval/coco-boxes/instances.json"))
cat_of_name = {c["name"]: c["id"] for c in gt.loadCats(gt.getCatIds())}

dets = []
for img in gt.loadImgs(gt.getImgIds()):
    out = json.loads(subprocess.check_output([binary, "detect", "--json", "--threshold", "0.05", "--threads", "2",
                                              os.path.join(shared, img["file_name"])], text=True))
    for obj in out["concepts"]["objects"]:
        for inst in obj["instances"]:
            b = inst["box"]
            dets.append({"image_id": img["id"], "category_id": cat_of_name[obj["word"]], "score": inst["score"],
                         "bbox": [b["x0"], b["y0"], b["x1"] - b["x0"], b["y1"] - b["y0"]]})

def evaluate(detections):
    e = COCOeval(gt, gt.loadRes(detections), "bbox")
    e.evaluate(); e.accumulate(); e.summarize()
    return float(e.stats[0]), float(e.stats[1])

mAP, ap50 = evaluate(dets)
shifted = copy.deepcopy(dets)
for d in shifted:
    img = gt.loadImgs(d["image_id"])[0]
    d["bbox"][0] += 8 * img["width"] / 416  # half a stride-16 cell at the 416 input
    d["bbox"][1] += 8 * img["height"] / 416
sm, s50 = evaluate(shifted)

check = []
for img in gt.loadImgs(sorted(gt.getImgIds())):
    anns = [a for a in gt.loadAnns(gt.getAnnIds(imgIds=img["id"])) if not a["iscrowd"] and a["area"] >= 0.05 * img["width"] * img["height"]]
    if anns:
        check.append({"file": img["file_name"], "boxes": [{"category": gt.loadCats(a["category_id"])[0]["name"], "bbox": a["bbox"]} for a in anns]})
check = check[::max(1, len(check) // 12)][:12]
json.dump({"images": len(gt.getImgIds()), "threshold": 0.05, "mAP": round(mAP, 4), "AP50": round(ap50, 4),
           "shiftedHalfCell": {"mAP": round(sm, 4), "AP50": round(s50, 4)},
           "published": {"mAP": 0.307, "AP50": 0.458, "note": "all of val2017 at full size"},
           "check": check},
          open(os.path.join(repo, "fixtures/vision/picodet_coco_boxes.json"), "w"), indent=1)
print(f"mAP {mAP:.4f} AP50 {ap50:.4f}; shifted half a cell: mAP {sm:.4f} AP50 {s50:.4f}; {len(check)} check photos")
