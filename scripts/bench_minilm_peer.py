"""sentence-transformers peer for `swiftcap bench embed`: ms per caption embedding (all-MiniLM-L6-v2,
one caption per encode call) on the first N COCO val2014 captions, median, for each thread count.

    /work/venv-minilm/bin/python scripts/bench_minilm_peer.py --sentences 200 --threads 1,2

Same pipeline as fixtures/gen/minilm.py (Transformer(max_seq_length=256) -> mean Pooling -> Normalize),
sentence-transformers 6.3.0 on torch 2.13 CPU.
"""
import argparse
import json
import os
import statistics
import time

import torch
from sentence_transformers import SentenceTransformer, models

ASSETS = os.environ.get("SWIFTCAP_ASSETS") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "swiftcap", "assets")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    with open(os.path.join(ASSETS, "coco-captions", "captions_val2014.json")) as f:
        texts = [x["caption"] for x in json.load(f)["annotations"]][: a.sentences]
    transformer = models.Transformer(os.path.join(ASSETS, "minilm"), max_seq_length=256)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    model.eval()
    print(f"captions: {len(texts)} COCO val2014; one caption per encode call; torch {torch.__version__}")
    for t in [int(x) for x in a.threads.split(",")]:
        torch.set_num_threads(t)
        with torch.inference_mode():
            for text in texts[:20]:
                model.encode(text, show_progress_bar=False)
            ms = []
            for text in texts:
                t0 = time.perf_counter()
                model.encode(text, show_progress_bar=False)
                ms.append((time.perf_counter() - t0) * 1e3)
        ms.sort()
        print(f"threads {t}: median {statistics.median(ms):.2f} ms, p90 {ms[len(ms) * 9 // 10]:.2f} ms, "
              f"mean {statistics.fmean(ms):.2f} ms per caption")


if __name__ == "__main__":
    main()
