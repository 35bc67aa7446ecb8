#!/usr/bin/env python3
"""Makes N distinct photos for the batch scale check by cropping and re-encoding the shared COCO training
photos (Pillow): crop box, JPEG quality and an occasional mirror vary per copy. Writes into OUT/NNN/ folders
of 1,000 photos each. Usage: make-scale-photos.py OUT [--count 20000] [--shared ../shared]"""
import argparse, os, random
from PIL import Image, ImageOps

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--count", type=int, default=20000)
ap.add_argument("--shared", default=os.environ.get("SWIFTCAP_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared")))
a = ap.parse_args()
src_dir = os.path.join(a.shared, "data", "coco-train", "images")
sources = sorted(f for f in os.listdir(src_dir) if f.lower().endswith((".jpg", ".jpeg", ".png")))
rng = random.Random(16)
for i in range(a.count):
    im = Image.open(os.path.join(src_dir, sources[i % len(sources)])).convert("RGB")
    w, h = im.size
    cw, ch = int(w * rng.uniform(0.7, 1.0)), int(h * rng.uniform(0.7, 1.0))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    im = im.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.3:
        im = ImageOps.mirror(im)
    d = os.path.join(a.out, "%03d" % (i // 1000))
    os.makedirs(d, exist_ok=True)
    im.save(os.path.join(d, "photo-%05d.jpg" % i), quality=rng.choice([70, 80, 90]))
print("wrote %d photos under %s" % (a.count, a.out))
