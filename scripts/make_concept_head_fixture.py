#!/usr/bin/env python3
"""Fixtures for the concept head, from independent implementations (run once; CI reads the committed files).

- head.safetensors + head_expected.json: a random 2-member ensemble in SwiftCap's concept-head layout
  ([in, out] weights), written with safetensors; expected probabilities from torch (nn.functional).
- mlp_gradients.json: one MLP's parameters, inputs and targets; loss (sigmoid cross-entropy summed over
  words, mean over photos) and every parameter's gradient from torch autograd.
- average_precision.json: scores with ties and labels; scikit-learn's average_precision_score per column.

Needs: torch (the CPU wheel in /opt/wheels), safetensors, scikit-learn, numpy.
"""
import json, os
import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.metrics import average_precision_score

out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "concepts")
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(7)
D, H, V, E, R = 7, 5, 4, 2, 3
vocab = ["dog", "frisbee", "grass", "running"]
t = {"input.mean": torch.randn(D, generator=g), "input.std": torch.rand(D, generator=g) + 0.5}
for e in range(E):
    t[f"heads.{e}.fc1.weight"] = torch.randn(D, H, generator=g) * 0.5
    t[f"heads.{e}.fc1.bias"] = torch.randn(H, generator=g) * 0.1
    t[f"heads.{e}.fc2.weight"] = torch.randn(H, V, generator=g) * 0.5
    t[f"heads.{e}.fc2.bias"] = torch.randn(V, generator=g) * 0.1
save_file(t, os.path.join(out, "head.safetensors"), metadata={"format": "swiftcap-concept-head", "vocabulary": json.dumps(vocab)})
x = torch.randn(R, D, generator=g) * 2
xn = (x - t["input.mean"]) / t["input.std"]
probs = torch.stack([torch.sigmoid(torch.relu(xn @ t[f"heads.{e}.fc1.weight"] + t[f"heads.{e}.fc1.bias"]) @ t[f"heads.{e}.fc2.weight"]
                                   + t[f"heads.{e}.fc2.bias"]) for e in range(E)]).mean(0)
json.dump({"inputs": x.flatten().tolist(), "rows": R, "probabilities": probs.flatten().tolist()},
          open(os.path.join(out, "head_expected.json"), "w"))

# One MLP's loss and gradients by autograd.
w1 = (torch.randn(D, H, generator=g) * 0.5).requires_grad_()
b1 = (torch.randn(H, generator=g) * 0.1).requires_grad_()
w2 = (torch.randn(H, V, generator=g) * 0.5).requires_grad_()
b2 = (torch.randn(V, generator=g) * 0.1).requires_grad_()
xi = torch.randn(R, D, generator=g)
y = (torch.rand(R, V, generator=g) > 0.5).float()
z = torch.relu(xi @ w1 + b1) @ w2 + b2
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum") / R
loss.backward()
flat = lambda *ts: torch.cat([a.detach().flatten() for a in ts]).tolist()
json.dump({"inputs": xi.flatten().tolist(), "targets": y.flatten().tolist(), "D": D, "H": H, "V": V, "rows": R,
           "params": flat(w1, b1, w2, b2), "loss": loss.item(), "grads": flat(w1.grad, b1.grad, w2.grad, b2.grad)},
          open(os.path.join(out, "mlp_gradients.json"), "w"))

# Average precision with tied scores.
rng = np.random.default_rng(3)
cols = []
for c in range(6):
    s = np.round(rng.random(40), 1)  # coarse values: many ties
    lab = rng.random(40) < (0.2 + 0.1 * c)
    lab[0] = True
    cols.append({"scores": s.tolist(), "labels": lab.astype(int).tolist(), "ap": float(average_precision_score(lab, s))})
json.dump(cols, open(os.path.join(out, "average_precision.json"), "w"))
print("wrote", out)
