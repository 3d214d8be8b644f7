"""Which earlier words a prediction rests on: word saliency, live, for every model.

    saliency(model, text, target_position=-1, word=None, method="grad_x_input")

The target is f = log p(word) read at ``target_position``:

* next-word models (rnn, lstm, gru, transformer): the output at position t
  predicts token t+1, so only tokens 0..t are inputs and get a row. The word
  defaults to the token that actually follows t, or, at the end of the text
  or before a blank ``___``, to the model's top guess (special tokens such
  as ``<unk>`` left out).
* the bidirectional model (bilstm): its output at t fills the word at t, so
  the target is a blank ``___`` (the first one by default) and every token of
  the text is an input. The word defaults to its top guess for the blank.

Methods, per input token s with embedding x_s (E,) and g_s = df/dx_s
(the names follow Captum, PyTorch's interpretability library):

* ``"gradient"``: |g_s|, the L2 norm (Captum's ``Saliency`` takes |g| per
  coordinate; the norm is what the Memory page's gradient-by-distance plots).
  Never negative: it says how much the word *could* move the prediction.
* ``"grad_x_input"``: g_s . x_s (Captum's ``InputXGradient``, summed over the
  embedding). Signed: positive means this word, as it is, pushes the
  prediction up, to first order.
* ``"integrated_gradients"``: (x_s - x'_s) . integral_0^1 g_s(x' + a (x - x')) da
  along the straight line from a baseline x' (Captum's ``IntegratedGradients``).
  Its scores add up to f(x) - f(x') ("completeness"); the difference is
  Captum's convergence delta. With ``n_steps`` given, the integral is
  Captum's default rule, ``n_steps`` Gauss-Legendre nodes on [0, 1]. With
  ``n_steps=None`` (the default) it is adaptive: composite Gauss-Legendre,
  intervals halved where completeness fails, until the completeness gap
  |delta| / |f(x) - f(x')| is under ``tolerance`` (1%) or ``max_steps``
  nodes are used, and ``attrs`` say which. (A fixed rule is not enough on
  the shipped RNN: its f jumps by more than 1 nat within 1/2000 of the path,
  and 512 uniform nodes still left a 6.5% gap.)

Gradients are taken with ``torch.autograd.grad`` with respect to the input
embeddings only (leaves of our own), so a shared, cached model is never
changed and no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .models import WordModel
from .predictions import _special_ids
from .text import BLANK, DEFAULT_CAP, PAD, UNK, encode, tokenize

METHODS = ("gradient", "grad_x_input", "integrated_gradients")
BASELINES = ("zero", "pad")  # zero vectors, or the <pad> embedding at every position
PER_INTERVAL = 8  # Gauss-Legendre nodes per interval of the adaptive rule
MAX_STEPS = 512
TOLERANCE = 0.01
# The longest input the app offers integrated gradients for: at 300 tokens the RNN's path needed close to
# MAX_STEPS nodes and minutes of CPU (python -m core bench --only attribution times it at this length).
IG_MAX_TOKENS = 120
STEP_BATCH_TOKENS = 8192  # integrated gradients runs its nodes in batches of about this many tokens


def _private_precision(model: WordModel, dtype: torch.dtype) -> WordModel:
    """The model itself, or a private copy in ``dtype`` (the shared model is never converted in place)."""
    return model if model.head.weight.dtype == dtype else copy.deepcopy(model).to(dtype)


def _word_index(model: WordModel, word: str) -> int:
    """The vocabulary index of one word as typed; refuses several words and words outside the vocabulary."""
    vocab = model.vocab
    if word in vocab.stoi:  # "<unk>", "<num>" asked for by name
        return vocab.stoi[word]
    toks = tokenize(word).tokens
    if len(toks) != 1:
        raise ValueError(f"the target word must be one word; {word[:60]!r} is {len(toks)} tokens")
    index = vocab.index(toks[0])
    if index == vocab.stoi[UNK]:
        raise ValueError(
            f"{toks[0][:60]!r} is not in the models' vocabulary (8,000 words); the model could only "
            "score it as <unk>, any rare word"
        )
    return index


def _target(model: WordModel, ids: Sequence[int], tokens: Sequence[str], target_position: int) -> tuple[int, int]:
    """(position whose output is read, number of input tokens the output can see)."""
    T = len(ids)
    if not -T <= target_position < T:
        raise ValueError(f"target_position {target_position} is outside a {T}-token text")
    if model.config.task == "next_word":
        t = target_position % T
        return t, t + 1
    blanks = [i for i, k in enumerate(ids) if k == model.vocab.stoi[BLANK]]
    if not blanks:
        raise ValueError(f"{model.name} fills a blank from both sides: put ___ where the word should go")
    t = blanks[0] if target_position == -1 else target_position % T
    if t not in blanks:
        raise ValueError(
            f"{model.name} fills blanks: target_position {target_position} is the token "
            f"{tokens[t][:40]!r}, not a blank ___ (blanks are at {blanks[:10]})"
        )
    return t, T


def _log_p(model: WordModel, x: Tensor, t: int) -> Tensor:
    """log-probabilities (B, V) read at position ``t`` from input vectors ``x`` (B, T, E)."""
    logits = model.logits_from_embeddings(x, torch.full((x.shape[0],), t, dtype=torch.long))
    return torch.log_softmax(logits, dim=-1)


def _baseline(model: WordModel, x: Tensor, baselines: str | Tensor) -> Tensor:
    if isinstance(baselines, Tensor):
        if baselines.shape != x.shape:
            raise ValueError(
                f"a baseline tensor must have the input's shape {tuple(x.shape)}, got {tuple(baselines.shape)}"
            )
        return baselines.to(x.dtype)
    if baselines == "zero":
        return torch.zeros_like(x)
    if baselines == "pad":
        return model.embedding.weight[model.vocab.stoi[PAD]].to(x.dtype).expand_as(x).clone()
    raise ValueError(f"baselines must be one of {BASELINES} or a (T, E) tensor, got {baselines!r}")


class _Path:
    """f(x' + a (x - x')) and its per-token gradient terms along the straight path, for any a in [0, 1]."""

    def __init__(self, model: WordModel, x: Tensor, base: Tensor, t: int, word: int):
        self.model, self.base, self.diff, self.t, self.word = model, base, x - base, t, word  # diff (T, E)
        self.batch = max(1, STEP_BATCH_TOKENS // x.shape[0])
        self.evaluations = 0  # gradient evaluations made, nodes of discarded intervals included

    def _points(self, alphas: Tensor) -> Tensor:
        return self.base[None] + alphas[:, None, None] * self.diff[None]  # (n, T, E)

    def value(self, alphas: Tensor) -> Tensor:
        """f at each alpha: (n,)."""
        with torch.no_grad():
            return torch.cat(
                [
                    _log_p(self.model, self._points(alphas[i : i + self.batch]), self.t)[:, self.word]
                    for i in range(0, len(alphas), self.batch)
                ]
            )

    def terms(self, alphas: Tensor) -> Tensor:
        """(x - x')_s . df/dx_s at each alpha, per token: (n, T)."""
        out = []
        with torch.enable_grad():
            for i in range(0, len(alphas), self.batch):
                path = self._points(alphas[i : i + self.batch]).requires_grad_(True)  # (b, T, E)
                logp = _log_p(self.model, path, self.t)[:, self.word]  # (b,)
                (grad,) = torch.autograd.grad(logp.sum(), path)  # each node's own gradient: rows are independent
                out.append((grad * self.diff[None]).sum(2).detach())
        self.evaluations += len(alphas)
        return torch.cat(out)


def _gauss_legendre(n: int, a: float, b: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [a, b]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)  # on [-1, 1]
    return (torch.tensor(a + (b - a) * (nodes + 1) / 2, dtype=dtype), torch.tensor((b - a) * weights / 2, dtype=dtype))


def _integrate_uniform(path: _Path, n_steps: int, dtype: torch.dtype) -> tuple[Tensor, int]:
    """Captum's rule: n_steps Gauss-Legendre nodes on [0, 1]. Returns per-token scores (T,) and nodes used."""
    alphas, weights = _gauss_legendre(n_steps, 0.0, 1.0, dtype)
    return (weights[:, None] * path.terms(alphas)).sum(0), n_steps


def _integrate_adaptive(
    path: _Path, target: float, tolerance: float, max_steps: int, dtype: torch.dtype
) -> tuple[Tensor, int]:
    """Composite Gauss-Legendre on [0, 1], halving the intervals that break completeness most.

    For an interval [a, b] the exact increment f(b) - f(a) is known from two
    forward passes, so each interval's own completeness error is known: the
    intervals holding the larger half of the error are halved until the
    errors add up to under ``tolerance`` of |f(x) - f(x')| or the next round
    would pass ``max_steps`` nodes. (A recurrent model's f can jump by 1 nat
    within 1/2000 of the path, which a fixed number of nodes misses.)
    Returns per-token scores (T,) and the nodes of the final partition.
    """
    k = PER_INTERVAL
    intervals: dict[tuple[float, float], tuple[Tensor, float]] = {}
    ends: dict[float, float] = {}

    def evaluate(pieces: list[tuple[float, float]]) -> None:
        new = sorted({e for piece in pieces for e in piece} - set(ends))
        if new:
            ends.update(zip(new, path.value(torch.tensor(new, dtype=dtype)).tolist()))
        rules = [_gauss_legendre(k, a, b, dtype) for a, b in pieces]
        terms = path.terms(torch.cat([r[0] for r in rules]))  # (len(pieces) * k, T)
        for i, ((a, b), (_, w)) in enumerate(zip(pieces, rules)):
            part = (w[:, None] * terms[i * k : (i + 1) * k]).sum(0)  # (T,)
            intervals[(a, b)] = (part, float(part.sum()) - (ends[b] - ends[a]))

    evaluate([(0.0, 0.5), (0.5, 1.0)])
    scale = abs(target) if target != 0 else 1.0
    while True:
        errors = sorted(intervals, key=lambda ab: -abs(intervals[ab][1]))
        total = sum(abs(intervals[ab][1]) for ab in errors)
        if total < tolerance * scale:
            break
        split, covered = [], 0.0
        for ab in errors:  # the worst intervals, until they hold half of the error
            split.append(ab)
            covered += abs(intervals[ab][1])
            if covered >= total / 2:
                break
        room = (max_steps - len(intervals) * k) // k  # each split adds one interval
        if room <= 0:
            break
        split = split[:room]
        for ab in split:
            del intervals[ab]
        evaluate([piece for a, b in split for piece in ((a, (a + b) / 2), ((a + b) / 2, b))])
    return torch.stack([part for part, _ in intervals.values()]).sum(0), len(intervals) * k


def saliency(
    model: WordModel,
    text: str,
    target_position: int = -1,
    word: str | None = None,
    method: str = "grad_x_input",
    baselines: str | Tensor = "zero",
    n_steps: int | None = None,
    max_steps: int = MAX_STEPS,
    tolerance: float = TOLERANCE,
    dtype: torch.dtype = torch.float32,
    cap: int = DEFAULT_CAP,
) -> pd.DataFrame:
    """One row per input token (``position``, ``token``, ``score``): how much the prediction rests on it.

    See the module docstring for the target and the methods. ``attrs``:
    ``word`` (the vocabulary entry scored), ``word_index``, ``word_source``
    ("given", "next token" or "top guess"), ``target_position``, ``log_p``
    (log p(word) at the target), ``probability``, ``method``, ``model``,
    ``tokens`` (the whole text's tokens), ``truncated``. For
    integrated gradients also ``baseline``, ``n_steps`` (nodes of the
    final rule), ``evaluations`` (gradient evaluations made), ``rule``
    ("adaptive" or "uniform"), ``cap_reached``, ``log_p_baseline``,
    ``convergence_delta`` (sum of scores - (f(x) - f(x'))) and
    ``completeness_gap`` (|delta| / |f(x) - f(x')|).
    Runs in float32 by default; ``dtype=torch.float64`` uses a private copy.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    enc = encode(text, model.vocab, cap)
    if not enc.ids:
        raise ValueError("the text has no words: type a sentence")
    t, n_in = _target(model, enc.ids, enc.tokens, target_position)
    model = _private_precision(model, dtype)
    ids = torch.tensor(enc.ids[:n_in])
    with torch.enable_grad():
        x = model.embedding(ids).detach().to(dtype)  # (n_in, E), ours: the shared weights get no graph
        xg = x.clone().requires_grad_(True)
        logp_all = _log_p(model, xg[None], t)[0]  # (V,)
        if word is not None:
            index, source = _word_index(model, word), "given"
        elif model.config.task == "next_word" and t + 1 < len(enc.ids) and enc.ids[t + 1] != model.vocab.stoi[BLANK]:
            index, source = enc.ids[t + 1], "next token"
        else:
            ranked = logp_all.detach().clone()
            ranked[_special_ids(model.vocab)] = -math.inf
            index, source = int(ranked.argmax()), "top guess"
        (grad,) = torch.autograd.grad(logp_all[index], xg)  # (n_in, E)
    log_p = float(logp_all[index].detach())
    attrs = dict(
        model=model.name,
        method=method,
        word=model.vocab.itos[index],
        word_index=index,
        word_source=source,
        target_position=t,
        log_p=log_p,
        probability=math.exp(log_p),
        tokens=list(enc.tokens),
        truncated=enc.truncated,
    )
    if method == "gradient":
        scores = grad.norm(dim=1)
    elif method == "grad_x_input":
        scores = (grad * x).sum(1)
    else:
        base = _baseline(model, x, baselines)
        with torch.no_grad():
            log_p_base = float(_log_p(model, base[None], t)[0, index])
        target = log_p - log_p_base
        path = _Path(model, x, base, t, index)
        if n_steps:
            scores, used = _integrate_uniform(path, int(n_steps), dtype)
        else:
            scores, used = _integrate_adaptive(path, target, tolerance, max_steps, dtype)
        delta = float(scores.sum()) - target
        gap = abs(delta) / abs(target) if target != 0 else (0.0 if delta == 0 else math.inf)
        attrs.update(
            baseline=baselines if isinstance(baselines, str) else "tensor",
            n_steps=used,
            evaluations=path.evaluations,
            rule="uniform" if n_steps else "adaptive",
            cap_reached=bool(not n_steps and gap >= tolerance),
            log_p_baseline=log_p_base,
            convergence_delta=delta,
            completeness_gap=gap,
            tolerance=tolerance,
        )
    frame = pd.DataFrame(
        {
            "position": range(n_in),
            "token": enc.tokens[:n_in],
            "score": scores.detach().double().numpy(),
        }
    )
    frame.attrs.update(attrs)
    return frame
