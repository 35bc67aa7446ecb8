"""Peer figures for `swiftcap bench tokenizers`: sentences/second of the reference tokenizers
(Hugging Face `tokenizers` for GPT-2, BERT and SmolLM2's GGUF vocabulary, open_clip's SimpleTokenizer for CLIP) encoding the
same sentences one at a time on one thread, median of --runs. Prints one JSON object per line.

Usage: python scripts/bench_tokenizers_peer.py --sentences FILE [--runs 5]
(FILE: JSON array of strings, written by the Swift command.)
"""
import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def timed(fn, texts, runs):
    fn(texts[:100])  # warm caches
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(texts)
        samples.append(time.perf_counter() - t0)
    return len(texts) / statistics.median(samples)


def open_clip_tokenizer(assets):
    wheel = os.path.join(assets, ".downloads", "clip", "open_clip_torch-3.3.0-py3-none-any.whl")
    tmp = tempfile.mkdtemp(prefix="swiftcap-openclip-")
    with zipfile.ZipFile(wheel) as z, z.open("open_clip/tokenizer.py") as src, open(os.path.join(tmp, "tokenizer.py"), "wb") as dst:
        dst.write(src.read())
    bpe = os.path.join(assets, "clip", "bpe_simple_vocab_16e6.txt.gz")
    shutil.copy(bpe, tmp)
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", os.path.join(tmp, "tokenizer.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SimpleTokenizer(bpe_path=bpe)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--assets", default=os.environ.get("SWIFTCAP_ASSETS", os.path.expanduser("~/.cache/swiftcap/assets")))
    a = ap.parse_args()
    with open(a.sentences, encoding="utf-8") as f:
        texts = json.load(f)
    def emit(name, impl, fn):
        try:
            print(json.dumps({"tokenizer": name, "impl": impl, "sentences_per_s": timed(fn(), texts, a.runs)}), flush=True)
        except Exception as e:  # report, keep going
            print(json.dumps({"tokenizer": name, "impl": impl, "error": repr(e)[:200]}), flush=True)
    import tokenizers
    from tokenizers import ByteLevelBPETokenizer, BertWordPieceTokenizer
    v = "tokenizers " + tokenizers.__version__

    def gpt2():
        t = ByteLevelBPETokenizer(os.path.join(a.assets, "gpt2", "gpt2_vocab.json"), os.path.join(a.assets, "gpt2", "gpt2_merges.txt"))
        return lambda xs: [t.encode(x).ids for x in xs]
    def clip():
        t = open_clip_tokenizer(a.assets)
        return lambda xs: [t.encode(x) for x in xs]
    def bert():
        t = BertWordPieceTokenizer(os.path.join(a.assets, "minilm", "vocab.txt"), lowercase=True)
        return lambda xs: [t.encode(x).ids for x in xs]
    def smollm2():
        from gguf import GGUFReader
        from tokenizers import Tokenizer, models, pre_tokenizers, AddedToken
        r = GGUFReader(os.path.join(a.assets, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
        def strings(key):
            f = r.fields[key]
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
        f = r.fields["tokenizer.ggml.token_type"]
        t = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(tokens)}, merges=[tuple(m.split(" ")) for m in merges]))
        t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False)])
        types = [int(f.parts[i][0]) for i in f.data]
        t.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, k in enumerate(types) if k == 3])
        return lambda xs: [t.encode(x).ids for x in xs]
    emit("gpt2", v, gpt2)
    emit("clip", "open_clip 3.3.0 SimpleTokenizer (Python, ftfy)", clip)
    emit("bert", v, bert)
    emit("smollm2", v + " (BPE from the GGUF fields)", smollm2)


if __name__ == "__main__":
    sys.exit(main())
