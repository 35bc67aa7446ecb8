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
  clipcap-caption   ClipCap end to end: transformers CLIPVisionModelWithProjection (ViT-B/32) -> MLP mapper
                    512 -> 3840 -> 7680 (tanh) -> 10-vector prefix -> LeanGPT GPT-2 124M, beam 3 x --tokens
  smallcap-caption  SmallCap end to end: transformers CLIPVisionModel (ViT-B/32) last hidden states [50, 768]
                    -> LeanGPT GPT-2 124M with SmallCap's cross-attention at width 192 (factor 4; transformers
                    has no such model) on a 60-token prompt, beam 3 x --tokens
  (--quant int8: the caption workloads' nn.Linear layers through torch.ao.quantization.quantize_dynamic, qint8;
   LeanGPT's projections and lm head become such layers)
  blip-caption      BLIP base end to end: transformers BlipForConditionalGeneration (ViT-B/16 at 384, text
                    decoder with 12 heads as published) .generate(num_beams=3, min_new_tokens = max_new_tokens
                    = --tokens) after "[DEC] a picture of"

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
        self.cross = False
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
            if (p + "crossattention.q_attn.weight") in sd or ("transformer." + p + "crossattention.q_attn.weight") in sd:
                # SmallCap's reduced-width cross-attention (Conv1D weights [in, out]).
                self.cross = True
                self.layers[-1].update(
                    lnx=(g(p + "ln_cross_attn.weight").float(), g(p + "ln_cross_attn.bias").float()),
                    xq=w("crossattention.q_attn"), xkv=w("crossattention.c_attn"), xproj=w("crossattention.c_proj"))
            i += 1
        self.lnf = (g("ln_f.weight").float(), g("ln_f.bias").float())
        self.max_pos = self.wpe.shape[0]

    def new_cache(self, batch):
        t = self.torch
        h, dh = self.n_head, self.d // self.n_head
        return {"k": [t.zeros(batch, h, self.max_pos, dh) for _ in self.layers],
                "v": [t.zeros(batch, h, self.max_pos, dh) for _ in self.layers], "len": 0}

    def set_encoder(self, cache, states):
        """Cross-attention keys and values of encoder states [batch, tokens, width], once per image."""
        h = self.n_head
        ks, vs = [], []
        for L in self.layers:
            kv = LeanGPT._lin(self.torch, states, L["xkv"])
            b, t, two_w = kv.shape
            k, v = kv.split(two_w // 2, dim=-1)
            ks.append(k.reshape(b, t, h, -1).transpose(1, 2).contiguous())
            vs.append(v.reshape(b, t, h, -1).transpose(1, 2).contiguous())
        cache["xk"], cache["xv"] = ks, vs

    def reorder(self, cache, rows):
        """Beam rows: gathers only the filled positions (the buffers may grow from 1 row to len(rows))."""
        idx = self.torch.tensor(rows, dtype=self.torch.long)
        if "xk" in cache and cache["xk"][0].shape[0] != len(rows):
            cache["xk"] = [k.index_select(0, idx) for k in cache["xk"]]
            cache["xv"] = [v.index_select(0, idx) for v in cache["xv"]]
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

    def quantize_int8(self):
        """Every projection (and the lm head) as an nn.Linear converted by torch.ao.quantization.quantize_dynamic
        (qint8 weights, activations quantized per call): what a PyTorch user does to get int8 on CPU."""
        import torch
        nn = torch.nn

        def qlinear(b, w_in_out):
            lin = nn.Linear(w_in_out.shape[0], w_in_out.shape[1], bias=b is not None)
            with torch.no_grad():
                lin.weight.copy_(w_in_out.t())
                if b is not None:
                    lin.bias.copy_(b)
            return torch.ao.quantization.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)

        for L in self.layers:
            for key in ("qkv", "proj", "fc", "fcp", "xq", "xkv", "xproj"):
                if key in L:
                    L[key] = qlinear(*L[key])
        self.lm_head_q = qlinear(None, self.lm_head_t)
        return self

    @staticmethod
    def _lin(torch, x, bw):
        """x: [..., in] @ W [in, out] + b (or a quantized module)."""
        if isinstance(bw, torch.nn.Module):
            return bw(x)
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
            if "xq" in L:
                c = F.layer_norm(x, (d,), *L["lnx"], self.eps)
                q = lin(c, L["xq"])
                q = q.view(b, s, h, -1).transpose(1, 2)
                o = F.scaled_dot_product_attention(q, cache["xk"][li], cache["xv"][li])
                x = x + lin(o.transpose(1, 2).reshape(b, s, -1), L["xproj"])
            m = F.layer_norm(x, (d,), *L["ln2"], self.eps)
            x = x + lin(F.gelu(lin(m, L["fc"]), approximate="tanh"), L["fcp"])
        cache["len"] = start + s
        last = F.layer_norm(x[:, -1], (d,), *self.lnf, self.eps)
        if getattr(self, "lm_head_q", None) is not None:
            return self.lm_head_q(last)
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


def beam(gpt, prefix, beams, tokens, cache=None):
    """Fixed-work beam search (no stop token): -> best beam's `tokens` ids. `cache`: a fresh one with any
    cross-attention states already set (SmallCap)."""
    import torch
    cache = cache if cache is not None else gpt.new_cache(1)
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


CAPTION_WORKLOADS = ("clipcap-caption", "smallcap-caption", "blip-caption")


def clip_vision_config(CLIPVisionConfig, **extra):
    """CLIP ViT-B/32 vision tower as published (OpenAI, transformers names)."""
    return CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            image_size=224, patch_size=32, hidden_act="quick_gelu", **extra)


def smallcap_state_dict(gpt2_sd, torch, factor=4, encoder_width=768):
    """GPT-2 weights plus SmallCap's per-layer cross-attention at width d/factor (random, normal std 0.02)."""
    sd = dict(gpt2_sd)
    d = sd["transformer.wte.weight"].shape[1]
    r = d // factor
    i = 0
    while ("transformer.h.%d.ln_1.weight" % i) in sd:
        p = "transformer.h.%d." % i
        sd[p + "ln_cross_attn.weight"], sd[p + "ln_cross_attn.bias"] = torch.ones(d), torch.zeros(d)
        for name, (fin, fout) in (("q_attn", (d, r)), ("c_attn", (encoder_width, 2 * r)), ("c_proj", (r, d))):
            sd[p + "crossattention." + name + ".weight"] = torch.randn(fin, fout) * 0.02
            sd[p + "crossattention." + name + ".bias"] = torch.zeros(fout)
        i += 1
    return sd


def build(args):
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    selected = set(n for n in args.only.split(",") if n)
    want = lambda *names: not selected or any(n in selected for n in names)
    work, info = {}, {}
    T = args.tokens
    decoder_logits = None
    with torch.inference_mode():
        if want("clip-vit-b32"):
            clip = CLIPVisionModelWithProjection(clip_vision_config(CLIPVisionConfig, projection_dim=512)).eval()
            pixels = torch.full((1, 3, 224, 224), 0.1)
            work["clip-vit-b32"] = lambda: clip(pixel_values=pixels).image_embeds

        if want("gpt2-prefill", "gpt2-greedy", "gpt2-beam3"):
            hf = GPT2LMHeadModel(GPT2Config()).eval()  # 124M, random weights (normal, std 0.02)
            lean = LeanGPT(hf.state_dict(), n_head=12)
            prefix = torch.randn(1, 10, 768) * 0.1
            work["gpt2-prefill"] = lambda: lean.forward(prefix, lean.new_cache(1))
            work["gpt2-greedy"] = lambda: greedy(lean, prefix, T)
            work["gpt2-beam3"] = lambda: beam(lean, prefix, 3, T)
            hfg = HFGPT(hf)
            work["gpt2-greedy-hf"] = lambda: greedy(hfg, prefix, T)
            work["gpt2-beam3-hf"] = lambda: beam(hfg, prefix, 3, T)
            # Same logits from both implementations (same weights): a check on LeanGPT.
            c1, c2 = lean.new_cache(1), hfg.new_cache(1)
            info["gpt2_lean_vs_hf_max_abs"] = float((lean.forward(prefix, c1) - hfg.forward(prefix, c2)).abs().max())

        if want("decoder-prefill", "decoder-beam5"):
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

        for name in CAPTION_WORKLOADS:
            if want(name):
                work[name] = build_captioner(name, args, info)
    return work, info, decoder_logits


def qdyn(module):
    """torch.ao.quantization.quantize_dynamic: every nn.Linear with qint8 weights."""
    import torch
    return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)


def build_captioner(name, args, info):
    """One end-to-end caption workload (random weights at full size): a function running one whole caption."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection, GPT2Config, GPT2LMHeadModel
    T = args.tokens
    torch.manual_seed(1)
    if name == "clipcap-caption":
        clip = CLIPVisionModelWithProjection(clip_vision_config(CLIPVisionConfig, projection_dim=512)).eval()
        mapper = torch.nn.Sequential(torch.nn.Linear(512, 3840), torch.nn.Tanh(), torch.nn.Linear(3840, 7680)).eval()
        gpt = LeanGPT(GPT2LMHeadModel(GPT2Config()).state_dict(), n_head=12)
        if args.quant == "int8":
            clip, mapper, gpt = qdyn(clip), qdyn(mapper), gpt.quantize_int8()
        pixels = torch.full((1, 3, 224, 224), 0.1)

        def run():
            e = clip(pixel_values=pixels).image_embeds
            return beam(gpt, mapper(e).view(1, 10, 768), 3, T)
    elif name == "smallcap-caption":
        enc = CLIPVisionModel(clip_vision_config(CLIPVisionConfig)).eval()
        gpt = LeanGPT(smallcap_state_dict(GPT2LMHeadModel(GPT2Config()).state_dict(), torch), n_head=12)
        assert gpt.cross
        if args.quant == "int8":
            enc, gpt = qdyn(enc), gpt.quantize_int8()
        pixels = torch.full((1, 3, 224, 224), 0.1)
        prompt = [100 + (i * 37) % 5000 for i in range(60)]  # the same ids as the Swift side

        def run():
            states = enc(pixel_values=pixels).last_hidden_state
            cache = gpt.new_cache(1)
            gpt.set_encoder(cache, states)
            return beam(gpt, gpt.embed(prompt).view(1, len(prompt), -1), 3, T, cache=cache)
    elif name == "blip-caption":
        from transformers import BlipConfig, BlipForConditionalGeneration
        model = BlipForConditionalGeneration(BlipConfig(text_config={"num_attention_heads": 12})).eval()
        if args.quant == "int8":
            model = qdyn(model)
        pixels = torch.full((1, 3, 384, 384), 0.1)
        # [CLS] a picture of [SEP]: generate() swaps [CLS] for [DEC] and drops the [SEP] -> 4 prompt tokens.
        ids = torch.tensor([[101, 1037, 3861, 1997, 102]])

        def run():
            return model.generate(pixel_values=pixels, input_ids=ids, num_beams=3, max_new_tokens=T, min_new_tokens=T,
                                  do_sample=False, early_stopping=False, length_penalty=1.0)
        out = run()
        info["blip_generated_length"] = int(out.shape[-1])
    else:
        raise KeyError(name)
    return run


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
                    if decoder_logits is None:
                        raise KeyError("the concept decoder was not built (see --only)")
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
    ap.add_argument("--quant", default="f32", choices=["f32", "int8"],
                    help="weights of the caption workloads (int8: torch.ao quantize_dynamic, qint8)")
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
