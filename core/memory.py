"""Which model still remembers the beginning? Three measurements, each a DataFrame.

* ``recall_curve``: accuracy (and mean probability) of the word that depends on
  a word far back, on the held-out long-range probes, per filler distance.
* ``gradient_by_distance``: |d log p(word) / d embedding_s| for every earlier
  position s: the vanishing gradient of the lecture, on any sentence.
* ``jacobian_norms``: the norm of dh_t/dh_s, the product of the step Jacobians
  through the real model, next to the lecture's scalar w^n.
* ``perturbation_retention``: swap the first word and see how much the final
  state and the prediction move, as the filler between them grows.

Everything here returns values from calls and takes gradients with
``torch.autograd.grad`` with respect to the input embeddings only, so it is
safe on a shared, cached model: no parameter's ``.grad`` is ever touched.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import pandas as pd
import torch

from . import probes as probe_sets
from .models import WordModel
from .text import BLANK


def _answer_logits(model: WordModel, prompts: list[tuple[str, ...]]) -> torch.Tensor:
    """Scores for the word after each prompt (next-word) or in the blank after it (bilstm); (N, V).

    Prompts of equal length run as one batch, so there is no padding to get wrong."""
    vocab = model.vocab
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    out = torch.empty(len(prompts), len(vocab))
    with torch.no_grad():
        for n, idx in groups.items():
            if model.config.task == "next_word":
                ids = torch.tensor([vocab.encode(prompts[i]) for i in idx])
                out[idx] = model(ids)[:, -1]
            else:  # the answer is a blank after the prompt, then the full stop
                ids = torch.tensor([vocab.encode(prompts[i]) + [vocab.stoi[BLANK], vocab.stoi["."]] for i in idx])
                out[idx] = model(ids)[:, n]
    return out


def recall_curve(model: WordModel, distances: Iterable[int] = (0, 5, 10, 20, 50, 100, 200),
                 probes: Sequence[probe_sets.Probe] | None = None, per_family: int = 50, by_family: bool = False) -> pd.DataFrame:
    """Accuracy and mean probability of the dependent word on held-out probes, per filler distance.

    ``probes`` defaults to ``core.probes.heldout_set(distances, per_family)``:
    held-out pairs, test-split fillers. A probe counts as recalled when the
    model's single most likely word is the answer. Columns: ``distance``,
    ``accuracy``, ``probability``, ``n`` (and ``family`` when ``by_family``).
    """
    distances = tuple(int(d) for d in distances)
    if probes is None:
        probes = probe_sets.heldout_set(distances, per_family=per_family)
    probes = [p for p in probes if p.distance in distances]
    if not probes:
        raise ValueError("no probes at the requested distances")
    logits = _answer_logits(model, [p.prompt for p in probes])
    prob = torch.softmax(logits, dim=-1)
    answer = torch.tensor([model.vocab.index(p.answer) for p in probes])
    rows = pd.DataFrame({
        "family": [p.family for p in probes],
        "distance": [p.distance for p in probes],
        "correct": (logits.argmax(-1) == answer).numpy(),
        "probability": prob[torch.arange(len(probes)), answer].numpy(),
    })
    keys = ["family", "distance"] if by_family else ["distance"]
    out = rows.groupby(keys).agg(accuracy=("correct", "mean"), probability=("probability", "mean"), n=("correct", "size"))
    return out.reset_index()
