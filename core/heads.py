"""What attention heads do on one sentence, and how one attention weight is formed.

Works on any Trace with ``layers.{l}.attention.*`` (the pretrained MiniLM, the
Transformer trained here, an instrumented ``MultiheadAttention``).

    patterns = head_patterns(trace)             # one row per (layer, head): share of weight per pattern
    best_heads(patterns)                        # the head that fits each pattern best, with its share
    b = score_breakdown(trace, layer=2, head=5, query=3)
    b.products.sum(-1) / math.sqrt(d)           # == trace["layers.2.attention.scores"][5, 3]

The share of a pattern is the weight a head puts on the pattern's keys,
averaged over the query pieces where the pattern exists (Clark et al. 2019,
"What does BERT look at?", measured the same way over a corpus; here it is
one sentence, the user's):

| pattern | keys of query i | queries averaged |
| --- | --- | --- |
| ``previous`` | i - 1 | 1 .. T-1 |
| ``next`` | i + 1 | 0 .. T-2 |
| ``self`` | i | all |
| ``[CLS]``, ``[SEP]`` | every piece that is that token | all (NaN if the sentence has none) |
| ``punctuation`` | every piece made only of Unicode punctuation (categories P*) | all (NaN if none) |

``uniform`` in ``best_heads`` is what a head spreading its weight evenly would get.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from .trace import Trace

PATTERNS = ("previous", "next", "self", "[CLS]", "[SEP]", "punctuation")


def is_punctuation(token: str) -> bool:
    """A piece made only of Unicode punctuation (``,`` ``.`` ``"`` ``(`` ``—``; a ``##`` prefix is ignored)."""
    t = token.removeprefix("##")
    return bool(t) and all(unicodedata.category(c).startswith("P") for c in t)


def attention_layers(trace: Trace) -> int:
    """How many layers of attention weights the trace holds."""
    return len(trace.names("layers.*.attention.weights"))


def key_masks(tokens: tuple[str, ...]) -> dict[str, Tensor]:
    """For each token pattern, which key positions are its keys: (T,) bool."""
    return {
        "[CLS]": torch.tensor([t == "[CLS]" for t in tokens]),
        "[SEP]": torch.tensor([t == "[SEP]" for t in tokens]),
        "punctuation": torch.tensor([is_punctuation(t) for t in tokens]),
    }


def head_patterns(trace: Trace) -> pd.DataFrame:
    """Columns ``layer``, ``head``, then one share per pattern of ``PATTERNS`` (0..1, NaN where undefined)."""
    tokens = tuple(trace.labels())
    T = len(tokens)
    masks = key_masks(tokens)
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    rows = []
    for l in range(attention_layers(trace)):
        w = trace[f"layers.{l}.attention.weights"].detach().double()  # (nh, T, T)
        shares = {
            "previous": w.diagonal(offset=-1, dim1=1, dim2=2).mean(-1) if T > 1 else nan.expand(w.shape[0]),
            "next": w.diagonal(offset=1, dim1=1, dim2=2).mean(-1) if T > 1 else nan.expand(w.shape[0]),
            "self": w.diagonal(dim1=1, dim2=2).mean(-1),
        }
        for name, mask in masks.items():
            shares[name] = w[:, :, mask].sum(-1).mean(-1) if mask.any() else nan.expand(w.shape[0])
        for h in range(w.shape[0]):
            rows.append({"layer": l, "head": h, **{p: float(shares[p][h]) for p in PATTERNS}})
    return pd.DataFrame(rows, columns=["layer", "head", *PATTERNS])


def uniform_shares(tokens: tuple[str, ...]) -> dict[str, float]:
    """What a head that spreads its weight evenly over all T pieces gets for each pattern."""
    T = len(tokens)
    masks = key_masks(tuple(tokens))
    out = {"previous": 1 / T if T > 1 else float("nan"), "next": 1 / T if T > 1 else float("nan"), "self": 1 / T}
    out.update({k: float(m.sum()) / T if m.any() else float("nan") for k, m in masks.items()})
    return out


def best_heads(patterns: pd.DataFrame, tokens: tuple[str, ...], top: int = 1) -> pd.DataFrame:
    """The ``top`` heads per pattern by share: ``pattern``, ``layer``, ``head``, ``share``, ``mean_over_heads``,
    ``uniform``. Patterns the sentence lacks (NaN everywhere) are left out."""
    uniform = uniform_shares(tokens)
    rows = []
    for p in PATTERNS:
        col = patterns[p]
        if col.isna().all():
            continue
        for _, r in patterns.assign(_s=col).nlargest(top, "_s").iterrows():
            rows.append({"pattern": p, "layer": int(r["layer"]), "head": int(r["head"]), "share": float(r["_s"]),
                         "mean_over_heads": float(col.mean()), "uniform": uniform[p]})
    return pd.DataFrame(rows, columns=["pattern", "layer", "head", "share", "mean_over_heads", "uniform"])


@dataclass(frozen=True)
class ScoreBreakdown:
    """How the weights of one query piece, in one head, come out of Q and K (float64).

    ``products[j, i] = q[i] * k[j, i]``; ``keys`` has one row per key piece:
    ``position``, ``token``, ``dot`` (sum of the products), ``scaled`` (dot / sqrt(d),
    the trace's ``scores``), ``weight`` (softmax of ``scaled`` over the keys, recomputed
    here) and ``trace_weight`` (the trace's own ``weights``, for comparison).
    Reads only ``query``, ``key`` and ``weights`` of the trace.
    """

    layer: int
    head: int
    query: int
    q: Tensor  # (d,)
    k: Tensor  # (T, d)
    products: Tensor  # (T, d)
    keys: pd.DataFrame

    @property
    def scale(self) -> float:
        return math.sqrt(self.q.shape[0])


def score_breakdown(trace: Trace, layer: int, head: int, query: int) -> ScoreBreakdown:
    """bertviz's neuron view as numbers: q, each k, q * k per dimension, their sum, the scaling, the softmax."""
    prefix = f"layers.{layer}.attention."
    q = trace[prefix + "query"][head, query].detach().double()  # (d,)
    k = trace[prefix + "key"][head].detach().double()  # (T, d)
    products = q[None, :] * k  # (T, d)
    dot = products.sum(-1)  # (T,)
    scaled = dot / math.sqrt(q.shape[0])  # (T,)
    keys = pd.DataFrame({
        "position": range(k.shape[0]),
        "token": trace.labels(),
        "dot": dot.numpy(),
        "scaled": scaled.numpy(),
        "weight": torch.softmax(scaled, dim=-1).numpy(),
        "trace_weight": trace[prefix + "weights"][head, query].detach().double().numpy(),
    })
    return ScoreBreakdown(layer, head, query, q, k, products, keys)
