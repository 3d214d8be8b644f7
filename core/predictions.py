"""Predictions scored against the text: what each next-word model guessed, and how it did.

    score(model, text)          one row per token: the probability the model gave it one
                                step earlier, its rank among the guesses, its surprisal
    top_k(logits, vocab, k)     the k best guesses per position, special tokens left out
    special_top_share(logits, vocab)
                                the share of steps whose single best guess was a special token

Special tokens (``<pad>``, ``<unk>``, ``<num>``, ``<blank>``) are not words:
``<unk>`` stands for every word outside the 8,000-word vocabulary, ``<num>``
for any number. A model that puts most of its mass on ``<unk>`` is saying "a
rare word comes next", which is not a guess a reader can check, so rankings
and top-k lists leave the specials out unless asked (``specials=True``); when
asked, each comes with a label saying what it is (``SPECIAL_LABELS``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import Tensor

from .text import BLANK, DEFAULT_CAP, NUM, PAD, SPECIALS, UNK, Vocab, encode

if TYPE_CHECKING:
    from .models import WordModel

SPECIAL_LABELS = {
    PAD: "padding, not a word",
    UNK: "a word outside the vocabulary",
    NUM: "any number",
    BLANK: "the blank mark ___",
}


def _special_ids(vocab: Vocab) -> list[int]:
    return [vocab.stoi[s] for s in SPECIALS if s in vocab.stoi]


def top_k(logits: Tensor, vocab: Vocab, k: int = 5, specials: bool = False) -> pd.DataFrame:
    """The ``k`` most likely entries at each row of ``logits`` (T, V).

    Columns: ``position``, ``rank`` (1 = best), ``word``, ``p`` (the model's
    probability, out of the whole vocabulary, specials included), ``special``
    (True for ``<unk>`` and the like; then ``label`` says what it stands for).
    With ``specials=False`` (the default) special tokens are skipped, so the
    ranks count words only. Ties go to the lower vocabulary index.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (T, V), got shape {tuple(logits.shape)}")
    probs = torch.softmax(logits.detach().double(), dim=-1)  # (T, V)
    ranked = probs.clone()
    if not specials:
        ranked[:, _special_ids(vocab)] = -1.0
    k = max(1, min(int(k), ranked.shape[1] - (0 if specials else len(_special_ids(vocab)))))
    order = torch.sort(ranked, dim=-1, descending=True, stable=True).indices[:, :k]  # (T, k)
    T = probs.shape[0]
    words = [vocab.itos[i] for i in order.reshape(-1).tolist()]
    return pd.DataFrame({
        "position": [t for t in range(T) for _ in range(k)],
        "rank": list(range(1, k + 1)) * T,
        "word": words,
        "p": probs.gather(1, order).reshape(-1).numpy(),
        "special": [w in SPECIAL_LABELS for w in words],
        "label": [SPECIAL_LABELS.get(w, "") for w in words],
    })


def special_top_share(logits: Tensor, vocab: Vocab) -> dict[str, float]:
    """For each special token, the share of rows of ``logits`` (T, V) where it is the single best guess."""
    if logits.shape[0] == 0:
        return {s: 0.0 for s in SPECIALS}
    best = logits.detach().argmax(dim=-1)  # (T,)
    return {s: float((best == vocab.stoi[s]).double().mean()) for s in SPECIALS if s in vocab.stoi}


def rank_of(probs: Tensor, index: Tensor, vocab: Vocab, specials: bool = False) -> Tensor:
    """Rank (1 = best) of entry ``index[t]`` under each row of ``probs`` (T, V).

    Counts the entries with a strictly higher probability; with
    ``specials=False`` special tokens are not counted (the entry itself
    still gets a rank when it is one)."""
    p = probs.gather(1, index[:, None])  # (T, 1)
    higher = probs > p  # (T, V)
    if not specials:
        higher[:, _special_ids(vocab)] = False
    return higher.sum(dim=1) + 1


def score(model: "WordModel", text: str, specials: bool = False, cap: int = DEFAULT_CAP) -> pd.DataFrame:
    """How well a next-word model predicted each token of ``text``.

    One row per token: ``position``, ``token`` (as typed), ``scored_as``
    (the vocabulary entry the model had to predict: the word itself,
    ``<unk>`` or ``<num>``), ``p`` (the probability the model gave it at the
    step before), ``rank`` (1 = its top guess; special tokens not counted
    unless ``specials``), ``surprisal_bits`` (-log2 p). The first token has
    no prediction before it: NaN there. ``attrs`` carry the mean surprisal,
    the perplexity over the scored tokens and the share of steps whose top
    guess was each special token.
    """
    if model.config.task != "next_word":
        raise ValueError(f"{model.name} fills blanks from both sides, so it sees every word it would be scored on; "
                         "score takes a next-word model (rnn, lstm, gru, transformer)")
    enc = encode(text, model.vocab, cap)
    if not enc.ids:
        raise ValueError("the text has no words to score: type at least one word")
    ids = torch.tensor(enc.ids)  # (T,)
    with torch.no_grad():
        logits = model(ids[None])[0]  # (T, V): row t scores token t+1
    logp = torch.log_softmax(logits.double(), dim=-1)[:-1]  # (T-1, V)
    nxt = ids[1:]
    p = logp.gather(1, nxt[:, None])[:, 0].exp()  # (T-1,)
    rank = rank_of(logp, nxt, model.vocab, specials)
    nan = [math.nan]
    surprisal = (-logp.gather(1, nxt[:, None])[:, 0] / math.log(2)).tolist()
    frame = pd.DataFrame({
        "position": range(len(ids)),
        "token": enc.tokens,
        "scored_as": model.vocab.decode(enc.ids),
        "p": nan + p.tolist(),
        "rank": pd.array([pd.NA] + rank.tolist(), dtype="Int64"),
        "surprisal_bits": nan + surprisal,
    })
    scored = frame["surprisal_bits"].iloc[1:]
    frame.attrs.update(
        model=model.name,
        mean_surprisal_bits=float(scored.mean()) if len(scored) else math.nan,
        perplexity=float(2 ** scored.mean()) if len(scored) else math.nan,
        special_top_share=special_top_share(logits, model.vocab),
        truncated=enc.truncated,
        specials_ranked=specials,
    )
    return frame
