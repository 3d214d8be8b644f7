"""Two sentences side by side: how far apart each model's states are, position by position.

    compare(models, "The food was good, not bad at all", "The food was bad, not good at all")

The lecture's order criterion, measured: the two sentences hold the same
words in another order, so a model that only counts words cannot tell them
apart at their end. The ``bag_of_words`` rows are that model: the running
mean of the embeddings of the words read so far. Its state after the last
word is the mean of the same multiset of vectors, summed in sorted order, so
its distance there is exactly 0; a model that reads order is not.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
import torch
from torch import Tensor

from .models import WordModel, load
from .predictions import _special_ids
from .text import DEFAULT_CAP, encode

BAG_OF_WORDS = "bag_of_words"


def _states(model: WordModel, ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The last layer's state (T, D) and the next-word (or blank) scores (T, V) for one text."""
    with torch.no_grad():
        values = model.trace_embeddings(model.embedding(torch.tensor(list(ids))))
    return values["output"].double(), values["logits"]


def bag_of_words(embedding: Tensor, ids: Sequence[int]) -> Tensor:
    """Running mean of the embeddings (T, E): row t is the mean over tokens 0..t.

    Each row sums the vectors in sorted id order, so two texts holding the
    same words up to t get bit-identical rows whatever their order."""
    table = embedding.detach().double()
    ids = torch.tensor(list(ids))
    return torch.stack([table[torch.sort(ids[: t + 1]).values].sum(0) / (t + 1) for t in range(len(ids))])


def _top_word(logits: Tensor, vocab) -> str:
    ranked = logits.detach().clone()
    ranked[_special_ids(vocab)] = -math.inf
    return vocab.itos[int(ranked.argmax())]


def _rows(name: str, a: Tensor, b: Tensor, tokens_a, tokens_b) -> pd.DataFrame:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return pd.DataFrame(
        {
            "model": name,
            "position": range(n),
            "token_a": tokens_a[:n],
            "token_b": tokens_b[:n],
            "distance": (a - b).norm(dim=1).numpy(),
            "cosine": torch.nn.functional.cosine_similarity(a, b, dim=1).numpy(),
        }
    )


def compare(models: Sequence[WordModel | str], text_a: str, text_b: str, cap: int = DEFAULT_CAP) -> pd.DataFrame:
    """One row per model and position: ``model``, ``position``, ``token_a``, ``token_b``, ``distance``
    (L2 norm of h_a - h_b, the last layer's state: the model's ``output`` at that position), ``cosine``.

    ``models`` are loaded models (or names for ``core.load``); the
    ``bag_of_words`` rows come last, built on the first model's embedding
    table. Positions run to the shorter text's end. ``attrs["models"]``
    holds, per model: ``top_a`` and ``top_b`` (the top word guessed after
    each whole text, special tokens left out; None for the fill-in-the-blank
    model and the baseline, which predict nothing there), ``end_distance`` (between the two
    states after each text's last token, lengths may differ),
    ``first_token_difference`` (first position where the tokens differ) and
    ``first_prediction_difference`` (first position where the two top
    guesses differ), None where there is none. ``attrs`` also carry
    ``tokens_a``, ``tokens_b`` and ``bag_of_words_embedding`` (which model's
    table the baseline used).
    """
    models = [load(m) if isinstance(m, str) else m for m in models]
    if not models:
        raise ValueError("compare needs at least one model")
    vocab = models[0].vocab
    enc_a, enc_b = encode(text_a, vocab, cap), encode(text_b, vocab, cap)
    if not enc_a.ids or not enc_b.ids:
        raise ValueError("both sentences need at least one word")
    n = min(len(enc_a.ids), len(enc_b.ids))
    first_token = next((i for i in range(n) if enc_a.tokens[i] != enc_b.tokens[i]), None)
    frames, summary = [], {}
    for model in models:
        if model.vocab.itos != vocab.itos:
            raise ValueError(
                f"{model.name} has another vocabulary than {models[0].name}; compare models that share one"
            )
        h_a, logits_a = _states(model, enc_a.ids)
        h_b, logits_b = _states(model, enc_b.ids)
        frames.append(_rows(model.name, h_a, h_b, enc_a.tokens, enc_b.tokens))
        summary[model.name] = {
            "end_distance": float((h_a[-1] - h_b[-1]).norm()),
            "first_token_difference": first_token,
            "top_a": None,
            "top_b": None,
            "first_prediction_difference": None,
        }
        if model.config.task == "next_word":  # a fill-in-the-blank model's guess at a word it sees is no prediction
            tops_a = [_top_word(r, vocab) for r in logits_a[:n]]
            tops_b = [_top_word(r, vocab) for r in logits_b[:n]]
            summary[model.name].update(
                top_a=_top_word(logits_a[-1], vocab),
                top_b=_top_word(logits_b[-1], vocab),
                first_prediction_difference=next((i for i in range(n) if tops_a[i] != tops_b[i]), None),
            )
    table = models[0].embedding.weight
    bag_a, bag_b = bag_of_words(table, enc_a.ids), bag_of_words(table, enc_b.ids)
    frames.append(_rows(BAG_OF_WORDS, bag_a, bag_b, enc_a.tokens, enc_b.tokens))
    summary[BAG_OF_WORDS] = {
        "end_distance": float((bag_a[-1] - bag_b[-1]).norm()),
        "first_token_difference": first_token,
        "top_a": None,
        "top_b": None,
        "first_prediction_difference": None,
    }
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(
        models=summary,
        tokens_a=list(enc_a.tokens),
        tokens_b=list(enc_b.tokens),
        bag_of_words_embedding=models[0].name,
        truncated=enc_a.truncated or enc_b.truncated,
    )
    return frame


GATES = {
    "lstm": ("forget_gate", "input_gate", "candidate", "output_gate", "cell", "hidden"),
    "gru": ("reset_gate", "update_gate", "candidate", "hidden"),
}


def gate_difference(
    model: WordModel, text_a: str, text_b: str, position: int, n: int = 24, cap: int = DEFAULT_CAP
) -> pd.DataFrame:
    """Every gate and state of a recurrent model's last layer at ``position`` for both texts, side by side.

    Keeps the ``n`` units whose values differ most between the two texts
    (largest sum of |a - b| over the gates and states). Columns: ``gate``,
    ``unit``, ``a``, ``b``, ``difference`` (a - b); units in that order.
    """
    arch = model.config.arch
    if arch not in GATES:
        raise ValueError(f"gate_difference takes an lstm or gru, got {model.name}")
    enc_a, enc_b = encode(text_a, model.vocab, cap), encode(text_b, model.vocab, cap)
    limit = min(len(enc_a.ids), len(enc_b.ids))
    if not 0 <= position < limit:
        raise ValueError(f"position {position} is outside the shorter text's {limit} tokens")
    prefix = f"layers.{model.config.num_layers - 1}.forward."
    with torch.no_grad():
        va = model.trace_embeddings(model.embedding(torch.tensor(list(enc_a.ids))))
        vb = model.trace_embeddings(model.embedding(torch.tensor(list(enc_b.ids))))
    a = torch.stack([va[prefix + g][position] for g in GATES[arch]]).double()  # (G, H)
    b = torch.stack([vb[prefix + g][position] for g in GATES[arch]]).double()
    units = torch.argsort((a - b).abs().sum(0), descending=True, stable=True)[: max(1, n)]
    rows = [
        {"gate": g, "unit": int(u), "a": float(a[i, u]), "b": float(b[i, u]), "difference": float(a[i, u] - b[i, u])}
        for i, g in enumerate(GATES[arch])
        for u in units
    ]
    return pd.DataFrame(rows)
