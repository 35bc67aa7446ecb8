#!/usr/bin/env python3
"""PyTorch CPU peers for `swiftcap bench peers`: the same networks at full size, the same thread count.

    /work/venv/bin/python scripts/bench_torch_peers.py --threads 2 [--runs 10] [--warmup 2] [--tokens 20] [--json]
    /work/venv/bin/python scripts/bench_torch_peers.py --threads 2 --serve      # driven by `swiftcap bench peers`

Workloads (names shared with the Swift side; random weights unless said otherwise):
  clip-vit-b32      CLIP ViT-B/32 vision tower + visual projection on one 224x224 image
                    (transformers CLIPVisionModelWithProjection, sdpa attention)
  gpt2-prefill      GPT-2 124M on a 10-vector embedding prefix (ClipCap shape) -> next-token logits
  gpt2-greedy       prefill + greedy decoding of --tokens tokens with a KV cache (no stop token)
  gpt2-beam3        prefill + beam search, 3 beams, --tokens tokens (no stop token)
  decoder-prefill   the default concept decoder (models/concept-decoder.safetensors, trained weights) on a
                    caption prompt -> next-token logits
  decoder-beam5     prefill + beam search, 5 beams, --tokens tokens (no stop token)

The GPT workloads run on a lean hand-written GPT-2 forward (`LeanGPT`: fused qkv matmul,
F.scaled_dot_product_attention, a preallocated KV cache, logits for the last position only), because
transformers' GPT2Model spends milliseconds per step in Python bookkeeping that a careful user would not
pay. The transformers model is timed too (`gpt2-greedy-hf`, `decoder-beam5-hf`: same loop, HF forward with
its DynamicCache) so the table shows both; the Swift side compares against the faster.

Beam search is the fixed-work form SwiftCap's `Generator` runs without stop tokens: the first token comes
from the prefill logits, then tokens-1 steps of [beams] rows; per step log-softmax, add the beam scores,
top-2k over beams x vocabulary, keep the best k, reorder the cache.

Serve protocol (one JSON object per line on stdin/stdout): after building the models the script prints
{"ready": true, "torch": ..., "threads": ..., "workloads": [...]}; then answers
  {"run": NAME, "runs": N}        -> {"name": NAME, "ms": [N samples]}
  {"logits": [ids]}               -> {"logits": [vocab floats]}   (concept decoder, last position, float32)
  {"quit": true}                  -> exits
Errors are answered as {"error": "..."}.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A typical default-captioner prompt: concepts, <sep>, 3 retrieved captions, <bos> (about 45 tokens).
EXAMPLE_PROMPT = ("[dog] [person] <x2> [frisbee] <sep> a man throwing a frisbee to a dog in a park <sep> "
                  "two people playing with a dog on the grass <sep> a dog jumping to catch a frisbee in a field <sep> <bos>")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class LeanGPT:
    """GPT-2 forward from a Hugging Face GPT2LMHeadModel state dict (keys with or without `transformer.`),
    weights fp32, lm head tied to wte unless `lm_head.weight` is given."""

    def __init__(self, sd, n_head, eps=1e-5):
        import torch
        self.torch = torch
        g = lambda k: sd[k] if k in sd else sd["transformer." + k]
        self.wte = g("wte.weight").float().contiguous()
        self.wpe = g("wpe.weight").float().contiguous()
        # [d, vocab]: x @ W with W stored [in, out] is MKL's faster layout for few rows on this machine.
        self.lm_head_t = sd.get("lm_head.weight", self.wte).float().t().contiguous()
        self.n_head = n_head
        self.eps = eps
        self.d = self.wte.shape[1]
        self.layers = []
        i = 0
        while ("h.%d.ln_1.weight" % i) in sd or ("transformer.h.%d.ln_1.weight" % i) in sd:
            p = "h.%d." % i
            # Conv1D weights stay [in, out]: y = addmm(bias, x, W), as transformers' Conv1D computes it.
            w = lambda n: (g(p + n + ".bias").float().contiguous(), g(p + n + ".weight").float().contiguous())
            self.layers.append(dict(
                ln1=(g(p + "ln_1.weight").float(), g(p + "ln_1.bias").float()),
                qkv=w("attn.c_attn"), proj=w("attn.c_proj"),
                ln2=(g(p + "ln_2.weight").float(), g(p + "ln_2.bias").float()),
                fc=w("mlp.c_fc"), fcp=w("mlp.c_proj"),
            ))
            i += 1
        self.lnf = (g("ln_f.weight").float(), g("ln_f.bias").float())
        self.max_pos = self.wpe.shape[0]

    def new_cache(self, batch):
        t = self.torch
        h, dh = self.n_head, self.d // self.n_head
        return {"k": [t.zeros(batch, h, self.max_pos, dh) for _ in self.layers],
                "v": [t.zeros(batch, h, self.max_pos, dh) for _ in self.layers], "len": 0}

    def reorder(self, cache, rows):
        """Beam rows: gathers only the filled positions (the buffers may grow from 1 row to len(rows))."""
        idx = self.torch.tensor(rows, dtype=self.torch.long)
        n = cache["len"]
        for key in ("k", "v"):
            bufs = []
            for buf in cache[key]:
                if buf.shape[0] != len(rows):
                    new = buf.new_zeros((len(rows),) + tuple(buf.shape[1:]))
                else:
                    new = buf
                new[:, :, :n] = buf[:, :, :n].index_select(0, idx)
                bufs.append(new)
            cache[key] = bufs

    @staticmethod
    def _lin(torch, x, bw):
        """x: [..., in] @ W [in, out] + b."""
        b, w = bw
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[1])

    def forward(self, x, cache):
        """x: [batch, seq, d] token (or prefix) embeddings without positions -> last-position logits [batch, vocab]."""
        t = self.torch
        F = t.nn.functional
        lin = lambda y, bw: LeanGPT._lin(t, y, bw)
        b, s, d = x.shape
        start = cache["len"]
        x = x + self.wpe[start:start + s]
        h, dh = self.n_head, d // self.n_head
        for li, L in enumerate(self.layers):
            a = F.layer_norm(x, (d,), *L["ln1"], self.eps)
            qkv = lin(a, L["qkv"]).view(b, s, 3, h, dh).permute(2, 0, 3, 1, 4)
            cache["k"][li][:, :, start:start + s] = qkv[1]
            cache["v"][li][:, :, start:start + s] = qkv[2]
            k = cache["k"][li][:, :, :start + s]
            v = cache["v"][li][:, :, :start + s]
            if s == 1:
                o = F.scaled_dot_product_attention(qkv[0], k, v)
            elif start == 0:
                o = F.scaled_dot_product_attention(qkv[0], k, v, is_causal=True)
            else:
                mask = t.ones(s, start + s, dtype=t.bool).tril(start)
                o = F.scaled_dot_product_attention(qkv[0], k, v, attn_mask=mask)
            x = x + lin(o.transpose(1, 2).reshape(b, s, d), L["proj"])
            m = F.layer_norm(x, (d,), *L["ln2"], self.eps)
            x = x + lin(F.gelu(lin(m, L["fc"]), approximate="tanh"), L["fcp"])
        cache["len"] = start + s
        last = F.layer_norm(x[:, -1], (d,), *self.lnf, self.eps)
        return last @ self.lm_head_t

    def embed(self, ids):
        return self.wte[self.torch.tensor(ids, dtype=self.torch.long)].view(len(ids), 1, self.d)


class HFGPT:
    """The same interface on transformers' GPT2LMHeadModel (DynamicCache; last-position logits)."""

    def __init__(self, model):
        import torch
        from transformers import DynamicCache
        self.torch, self.model, self.DynamicCache = torch, model, DynamicCache
        self.wte = model.transformer.wte.weight

    def new_cache(self, batch):
        return {"pkv": self.DynamicCache(), "len": 0}

    def reorder(self, cache, rows):
        cache["pkv"].reorder_cache(self.torch.tensor(rows, dtype=self.torch.long))

    def forward(self, x, cache):
        out = self.model.transformer(inputs_embeds=x, past_key_values=cache["pkv"], use_cache=True)
        cache["pkv"] = out.past_key_values
        cache["len"] += x.shape[1]
        return self.model.lm_head(out.last_hidden_state[:, -1])

    def embed(self, ids):
        return self.wte[self.torch.tensor(ids, dtype=self.torch.long)].view(len(ids), 1, -1)


def greedy(gpt, prefix, tokens):
    """prefix: [1, p, d] -> `tokens` greedy ids (no stop token)."""
    cache = gpt.new_cache(1)
    logits = gpt.forward(prefix, cache)
    out = []
    for i in range(tokens):
        tok = int(logits[0].argmax())
        out.append(tok)
        if i + 1 < tokens:
            logits = gpt.forward(gpt.embed([tok]), cache)
    return out


def beam(gpt, prefix, beams, tokens):
    """Fixed-work beam search (no stop token): -> best beam's `tokens` ids."""
    import torch
    cache = gpt.new_cache(1)
    logits = gpt.forward(prefix, cache)
    gpt.reorder(cache, [0] * beams)
    logits = logits.expand(beams, -1)
    scores = torch.full((beams,), -1e9)
    scores[0] = 0
    seqs = [[] for _ in range(beams)]
    vocab = logits.shape[1]
    for i in range(tokens):
        lp = torch.log_softmax(logits, dim=-1) + scores[:, None]
        top, idx = lp.view(-1).topk(2 * beams)
        src = (idx // vocab).tolist()[:beams]
        tok = (idx % vocab).tolist()[:beams]
        scores = top[:beams]
        seqs = [seqs[s] + [t] for s, t in zip(src, tok)]
        if i + 1 < tokens:
            gpt.reorder(cache, src)
            logits = gpt.forward(gpt.embed(tok), cache)
    return seqs[0]


def timed(fn, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def decoder_vocab_and_state(path):
    from safetensors import safe_open
    import torch
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        sd = {k: f.get_tensor(k).float() for k in f.keys()}
    shape = json.loads(meta["shape"])
    vocab = meta["vocabulary"].split("\n")
    return shape, vocab, sd


def prompt_ids(vocab, text=EXAMPLE_PROMPT):
    ids = {t: i for i, t in enumerate(vocab)}
    out, i, words = [], 0, text.split(" ")
    while i < len(words):
        w = words[i]
        if w.startswith("[") and not w.endswith("]"):  # multi-word concept like "[traffic light]"
            j = i
            while not words[j].endswith("]"):
                j += 1
            w = " ".join(words[i:j + 1])
            i = j
        out.append(ids.get(w, 4))  # 4 = <unk>
        i += 1
    return out


def build(args):
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    work, info = {}, {}
    with torch.inference_mode():
        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            image_size=224, patch_size=32, projection_dim=512, hidden_act="quick_gelu")).eval()
        pixels = torch.full((1, 3, 224, 224), 0.1)
        work["clip-vit-b32"] = lambda: clip(pixel_values=pixels).image_embeds

        hf = GPT2LMHeadModel(GPT2Config()).eval()  # 124M, random weights (normal, std 0.02)
        lean = LeanGPT(hf.state_dict(), n_head=12)
        prefix = torch.randn(1, 10, 768) * 0.1
        T = args.tokens
        work["gpt2-prefill"] = lambda: lean.forward(prefix, lean.new_cache(1))
        work["gpt2-greedy"] = lambda: greedy(lean, prefix, T)
        work["gpt2-beam3"] = lambda: beam(lean, prefix, 3, T)
        hfg = HFGPT(hf)
        work["gpt2-greedy-hf"] = lambda: greedy(hfg, prefix, T)
        work["gpt2-beam3-hf"] = lambda: beam(hfg, prefix, 3, T)
        # Same logits from both implementations (same weights): a check on LeanGPT.
        c1, c2 = lean.new_cache(1), hfg.new_cache(1)
        info["gpt2_lean_vs_hf_max_abs"] = float((lean.forward(prefix, c1) - hfg.forward(prefix, c2)).abs().max())

        path = os.path.join(ROOT, "models", "concept-decoder.safetensors")
        shape, vocab, sd = decoder_vocab_and_state(path)
        dec = LeanGPT(sd, n_head=shape["heads"])
        cfg = GPT2Config(vocab_size=shape["vocabSize"], n_positions=shape["positions"], n_embd=shape["dim"],
                         n_layer=shape["layers"], n_head=shape["heads"], n_inner=shape["ffDim"],
                         activation_function="gelu_new", layer_norm_epsilon=1e-5)
        dec_hf = GPT2LMHeadModel(cfg).eval()
        missing, unexpected = dec_hf.load_state_dict({"transformer." + k: v for k, v in sd.items()}, strict=False)
        if [m for m in missing if m != "lm_head.weight"] or unexpected:
            raise RuntimeError(f"concept decoder keys: missing {missing}, unexpected {unexpected}")
        dec_hf.tie_weights()
        dech = HFGPT(dec_hf)
        ids = prompt_ids(vocab)
        emb = dec.embed(ids).view(1, len(ids), -1)
        work["decoder-prefill"] = lambda: dec.forward(emb, dec.new_cache(1))
        work["decoder-beam5"] = lambda: beam(dec, emb, 5, T)
        work["decoder-beam5-hf"] = lambda: beam(dech, emb, 5, T)
        c1, c2 = dec.new_cache(1), dech.new_cache(1)
        info["decoder_lean_vs_hf_max_abs"] = float((dec.forward(emb, c1) - dech.forward(emb, c2)).abs().max())
        info["decoder_prompt"] = ids

        def decoder_logits(prompt):
            e = dec.embed(prompt).view(1, len(prompt), -1)
            return dec.forward(e, dec.new_cache(1))[0].tolist()
    return work, info, decoder_logits


def serve(args, work, info, decoder_logits):
    import torch
    out = sys.stdout
    out.write(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "workloads": list(work), "info": info}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("quit"):
                break
            with torch.inference_mode():
                if "run" in req:
                    name = req["run"]
                    if name not in work:
                        raise KeyError(f"unknown workload {name!r}")
                    reply = {"name": name, "ms": timed(work[name], int(req.get("runs", 1)))}
                elif "logits" in req:
                    reply = {"logits": decoder_logits([int(t) for t in req["logits"]])}
                else:
                    raise KeyError("request has neither 'run' nor 'logits'")
        except Exception as e:  # answer and keep serving
            reply = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    if args.tokens < 1 or args.runs < 1 or args.threads < 1:
        ap.error("--tokens, --runs and --threads must be at least 1")
    import torch
    t0 = time.perf_counter()
    work, info, decoder_logits = build(args)
    log(f"peer models built in {time.perf_counter() - t0:.1f} s")
    if args.serve:
        serve(args, work, info, decoder_logits)
        return
    names = [n for n in args.only.split(",") if n] or list(work)
    rows = {}
    with torch.inference_mode():
        for n in names:
            if n not in work:
                ap.error(f"unknown workload {n}; known: {', '.join(work)}")
            timed(work[n], args.warmup)
            s = timed(work[n], args.runs)
            rows[n] = {"median_ms": statistics.median(s), "min_ms": min(s), "runs": len(s)}
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "tokens": args.tokens,
                          "results": rows, "info": info}))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.tokens} tokens, "
              f"medians of {args.runs} runs after {args.warmup} warm-up")
        print(f"{'workload':20s} {'median ms':>10s} {'min ms':>10s}")
        for n, r in rows.items():
            print(f"{n:20s} {r['median_ms']:10.2f} {r['min_ms']:10.2f}")
        for k, v in info.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
