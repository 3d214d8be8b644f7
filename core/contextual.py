"""One word's contextual vector, layer by layer, compared with reference words: the lecture's Apple example, measured.

The lecture says a model that reads the whole sentence gives "apple" a different
vector in "Apple is my favorite fruit" than in "Apple is my favorite company,
and I work there". For an encoder such as MiniLM that is checkable: take the
vector of the word at every layer (layer 0 = the embeddings after their
LayerNorm, ``embedding_norm``; layer l = ``layers.{l-1}.hidden``), and compare it
by cosine similarity with the vectors of reference words in reference
sentences (a fruit in a sentence about fruit, a company in one about a
company). A word split in several pieces gets the mean of its pieces' vectors;
where the word occurs more than once, its first occurrence is used.

    frame, notes = compare_word(model, "apple", sentences, [("fruit", "She ate a ripe pear.", "pear"), ...])

Everything is measured on the sentences given; nothing is assumed about which
reference "should" win.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor

from .bert import BertEncoder, words
from .trace import Trace


def layer_states(trace: Trace) -> list[Tensor]:
    """The (T, D) vectors entering layer 0 and leaving each layer: index 0 is the embeddings, L the output."""
    L = len(trace.names("layers.*.hidden"))
    return [trace["embedding_norm"]] + [trace[f"layers.{l}.hidden"] for l in range(L)]


def find_word(model: BertEncoder, trace: Trace, word: str) -> list[int] | None:
    """Piece positions of the first occurrence of ``word`` (compared after the tokenizer's normalization)."""
    target = "".join(model.normalize(word).split())
    for text, positions in words(trace):
        if text == target:
            return positions
    return None


def word_vectors(model: BertEncoder, trace: Trace, word: str) -> Tensor | None:
    """(L + 1, D) float64: the word's vector at every layer (mean over its pieces), or None if absent."""
    positions = find_word(model, trace, word)
    if positions is None:
        return None
    return torch.stack([s[positions].double().mean(0) for s in layer_states(trace)])  # (L+1, D)


def compare_word(
    model: BertEncoder,
    word: str,
    sentences: Sequence[str],
    references: Sequence[tuple[str, str, str]],
    trace=None,
) -> tuple[pd.DataFrame, list[str]]:
    """Cosine of ``word`` in each sentence with each reference ``(label, sentence, reference word)``, per layer.

    Returns a long frame (``sentence``, ``layer``, ``reference``, ``reference_word``,
    ``cosine``) and notes naming the sentences or references left out because the word
    is not in them (or the text has no pieces). ``trace`` (text -> Trace) lets a caller
    pass a cached trace function; by default ``model.trace``."""
    trace = trace or model.trace
    notes: list[str] = []

    def vectors(text: str, w: str, what: str) -> Tensor | None:
        try:
            v = word_vectors(model, trace(text), w)
        except ValueError:
            v = None
        if v is None:
            notes.append(f"{what}: {w!r} is not a word of {text!r}; left out")
        return v

    refs = [(label, w, v) for label, text, w in references if (v := vectors(text, w, f"reference {label!r}")) is not None]
    rows = []
    for text in sentences:
        v = vectors(text, word, "sentence")
        if v is None:
            continue
        for label, w, r in refs:
            cos = torch.nn.functional.cosine_similarity(v, r, dim=-1)  # (L+1,)
            rows += [{"sentence": text, "layer": layer, "reference": label, "reference_word": w, "cosine": float(c)}
                     for layer, c in enumerate(cos)]
    return pd.DataFrame(rows, columns=["sentence", "layer", "reference", "reference_word", "cosine"]), notes


def closest(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per sentence and layer: each reference's cosine as a column, the closest reference, and the
    margin (closest minus runner-up; NaN with fewer than two references)."""
    if frame.empty:
        return pd.DataFrame(columns=["sentence", "layer", "closest", "margin"])
    wide = frame.pivot_table(index=["sentence", "layer"], columns="reference", values="cosine", sort=False)
    ordered = wide.apply(lambda r: r.sort_values(ascending=False).to_list(), axis=1)
    out = wide.reset_index()
    out.columns.name = None
    out["closest"] = wide.idxmax(axis=1).to_list()
    out["margin"] = [o[0] - o[1] if len(o) > 1 else float("nan") for o in ordered]
    return out
