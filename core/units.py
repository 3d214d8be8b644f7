"""Finding the units that mean something: feature tracks, correlation ranking, LSTMVis-style match and search.

A recurrent layer has hundreds of units; most of what a heatmap shows is noise
or a word counter. This module gives the tools of LSTMVis (Strobelt et al.,
2018), live on any text:

    import core
    from core import units
    model = core.load("lstm")
    tr = model.trace("the plan (which nobody liked) did not work.")
    units.features(tr.tokens)                              # one row per token: position, paren_depth, ...
    units.correlate(tr, "layers.0.forward.cell", "paren_depth")   # unit, r, r_detrended (largest |r| first)
    units.rank(tr, "layers.0.forward.cell", "detrended")  # unit, score: how the app orders its rows
    sel = units.match(tr, "layers.0.forward.hidden", span=(2, 7), threshold=0.3)   # unit, score
    units.search(model, "layers.0.forward.hidden", sel["unit"][:5], 0.3)          # held-out spans, ranked

Spans are half-open token ranges ``(start, end)``, as Python slices: ``(2, 7)``
is tokens 2, 3, 4, 5 and 6.

``search`` looks in held-out corpus sentences whose traces are computed once
per (model, value name, sentences) and kept in a small bounded cache as one
float16 array per name (``bank``); nothing is stored on the model.
"""
from __future__ import annotations

import contextlib
import functools
import random
import threading
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

FEATURES = ("position", "paren_depth", "in_quotes", "sentence_start", "sentence_end", "negation", "since_full_stop")

# -- feature tracks -------------------------------------------------------------
_TERMINAL = {".", "!", "?", "…"}
# a "." after one of these does not end a sentence ("dr. smith", "e.g.": single letters are covered separately)
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "prof", "jr", "sr"}
_NEGATION_WORDS = {"not", "no", "never", "cannot"}
_OPEN_QUOTE, _CLOSE_QUOTE, _QUOTE = {"“", "«", "„"}, {"”", "»"}, {'"'}
_CLOSERS = {")", "]", "}", "”", "»", "’"}  # closing marks after a full stop belong to the sentence it ends


def _is_punctuation(token: str) -> bool:
    """Every character is Unicode punctuation (category P*): . , ; : ( ) " — and so on; not emoji or symbols."""
    return bool(token) and all(unicodedata.category(ch).startswith("P") for ch in token)


def _is_negation(token: str) -> bool:
    return token in _NEGATION_WORDS or token.endswith(("n't", "n’t"))


def features(tokens: Sequence[str]) -> pd.DataFrame:
    """Feature tracks of a token sequence: one row per token, integer columns.

    Rules (tokens as ``core.text.tokenize`` gives them: lower case, one
    punctuation character per token):

    * ``position``: the token's index, 0, 1, 2, ...
    * ``paren_depth``: how many "(" are open at this token. An opening "(" is
      inside the parentheses it opens and a closing ")" inside those it closes,
      so "a ( b ( c ) ) d" gives 0 1 1 2 2 2 1 0. A ")" with nothing open is
      ignored (the depth never goes below 0). Only round brackets count.
    * ``in_quotes``: 1 from an opening quotation mark to its closing mark, both
      marks included. A straight double quote " opens when no quote is open and
      closes otherwise; “ « „ open and ” » close. An unclosed quote runs to the
      end of the text. Single quotes are not counted (an apostrophe and a
      closing single quote are one character).
    * ``sentence_end``: 1 on a token that ends a sentence: the last of a run of
      ". ! ? …" (so "?!" and "..." end once), and the last token of the text.
      A "." after a one-letter word or a title (mr, dr, st, vs, ...) is an
      abbreviation, not an end ("e.g.", "dr. smith"); other abbreviations
      ("etc.") do end a sentence by this rule.
    * ``sentence_start``: 1 on the first token of the text and on the first
      token after a sentence end that is not a closing mark (a ")" or closing
      quote right after the full stop belongs to the sentence it closes).
    * ``negation``: 1 on a negation word ("not", "no", "never", "cannot", or a
      word ending in "n't" such as "isn't") and on every token after it up to,
      not including, the next punctuation token (any token made only of
      Unicode punctuation: , . ; ( " and so on).
    * ``since_full_stop``: tokens since the last sentence end before this
      token (1 on the token right after it); before the first sentence end it
      counts from a virtual end just before the text, so it is position + 1.
    """
    return pd.DataFrame(_feature_arrays(tokens), columns=list(FEATURES))


def _feature_arrays(tokens: Sequence[str]) -> dict[str, np.ndarray]:
    """``features`` as a dict of arrays (no DataFrame: the held-out filters call it on thousands of sentences)."""
    tokens = [str(t) for t in tokens]
    T = len(tokens)
    cols = {c: np.zeros(T, dtype=np.int64) for c in FEATURES}
    cols["position"] = np.arange(T, dtype=np.int64)
    depth, quoted, negated, last_end = 0, False, False, -1
    terminal = [False] * T
    for t, tok in enumerate(tokens):
        if tok in _TERMINAL:
            prev = tokens[t - 1] if t else ""
            abbreviation = tok == "." and t + 1 < T and (
                (len(prev) == 1 and prev.isalpha()) or prev in _ABBREVIATIONS)
            terminal[t] = not abbreviation
    start_pending = True
    for t, tok in enumerate(tokens):
        if tok == "(":
            depth += 1
            cols["paren_depth"][t] = depth
        elif tok == ")":
            cols["paren_depth"][t] = depth
            depth = max(0, depth - 1)
        else:
            cols["paren_depth"][t] = depth
        closes_quote = False
        if tok in _OPEN_QUOTE or (tok in _QUOTE and not quoted):
            quoted = True
        elif tok in _CLOSE_QUOTE or (tok in _QUOTE and quoted):
            cols["in_quotes"][t] = 1 if quoted else 0
            closes_quote, quoted = quoted, False
        if quoted:
            cols["in_quotes"][t] = 1
        if _is_negation(tok):
            negated = True
        elif _is_punctuation(tok):
            negated = False
        cols["negation"][t] = int(negated)
        if start_pending and not (t > 0 and (tok in _CLOSERS or closes_quote or terminal[t])):
            cols["sentence_start"][t] = 1
            start_pending = False
        cols["since_full_stop"][t] = t - last_end
        if (terminal[t] and not (t + 1 < T and terminal[t + 1])) or t == T - 1:
            cols["sentence_end"][t] = 1
            last_end, start_pending = t, True
    return cols


# -- correlation ---------------------------------------------------------------
def _values(trace, name: str) -> np.ndarray:
    v = trace[name]
    v = v.detach().to("cpu", torch.float64).numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"{name} has shape {tuple(v.shape)}; units are the columns of a (T, H) value")
    return v


def _feature_vector(trace, feature, T: int) -> np.ndarray:
    if isinstance(feature, str):
        if feature not in FEATURES:
            raise ValueError(f"feature must be one of {FEATURES} or a vector of {T} numbers, got {feature!r}")
        return features(trace.tokens if trace.tokens is not None else [""] * T)[feature].to_numpy(np.float64)
    f = np.asarray(feature, dtype=np.float64).reshape(-1)
    if f.shape[0] != T:
        raise ValueError(f"the feature vector has {f.shape[0]} values; the trace has {T} tokens")
    return f


def _detrend(x: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares line a + b * position, column by column. x: (N,) or (N, H)."""
    p = position - position.mean()
    pp = float(p @ p)
    xc = x - x.mean(axis=0)
    if pp == 0.0:
        return xc
    slope = (p @ xc) / pp
    return xc - np.multiply.outer(p, slope) if x.ndim == 2 else xc - p * slope


def _pearson(vc: np.ndarray, fc: np.ndarray, v_scale: np.ndarray, f_scale: float) -> np.ndarray:
    """r of centred columns ``vc`` (N, H) with centred ``fc`` (N,). A column (or the feature) counts as
    constant, r NaN, when its centred norm is below 1e-9 of ``*_scale`` (the norm of the raw values): what
    is left after removing a mean or a line from an exactly constant or linear track is rounding noise."""
    vn = np.sqrt((vc * vc).sum(axis=0))
    fn = float(np.sqrt(fc @ fc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (fc @ vc) / (vn * fn)
    r[vn <= 1e-9 * v_scale] = np.nan
    if fn <= 1e-9 * f_scale:
        r[:] = np.nan
    return np.clip(r, -1.0, 1.0)


def correlate_arrays(values: np.ndarray, feature: np.ndarray, position: np.ndarray) -> pd.DataFrame:
    """``correlate`` on plain arrays: values (N, H), feature (N,), position (N,) (e.g. pooled over sentences)."""
    values = np.asarray(values, dtype=np.float64)
    feature = np.asarray(feature, dtype=np.float64)
    position = np.asarray(position, dtype=np.float64)
    if values.ndim != 2 or feature.shape != (values.shape[0],) or position.shape != feature.shape:
        raise ValueError(f"values (N, H), feature (N,) and position (N,) must agree; got {values.shape}, "
                         f"{feature.shape}, {position.shape}")
    N, H = values.shape
    r = np.full(H, np.nan)
    rd = np.full(H, np.nan)
    if N >= 3:
        v_scale = np.sqrt((values * values).sum(axis=0))
        f_scale = float(np.sqrt(feature @ feature))
        r = _pearson(values - values.mean(axis=0), feature - feature.mean(), v_scale, f_scale)
        rd = _pearson(_detrend(values, position), _detrend(feature, position), v_scale, f_scale)
    frame = pd.DataFrame({"unit": np.arange(H), "r": r, "r_detrended": rd})
    order = np.lexsort((frame["unit"].to_numpy(), -np.nan_to_num(np.abs(r), nan=-1.0)))
    return frame.iloc[order].reset_index(drop=True)


def correlate(trace, name: str, feature) -> pd.DataFrame:
    """Pearson r of every unit of ``trace[name]`` (T, H) with a feature track, before and after the position trend.

    ``feature`` is a column of ``features`` (e.g. ``"paren_depth"``) or any
    vector of T numbers. ``r_detrended`` is the correlation of what is left of
    the unit and of the feature once each has had its least-squares line in
    the token position removed (a partial correlation given position): a unit
    that only counts words has a large ``r`` with anything that grows along the
    text, and a small ``r_detrended``.

    Returns columns ``unit``, ``r``, ``r_detrended``, sorted by |r|, largest
    first (ties by unit; NaN, where a unit or the feature is constant or there
    are fewer than 3 tokens, last).
    """
    v = _values(trace, name)
    T = v.shape[0]
    return correlate_arrays(v, _feature_vector(trace, feature, T), np.arange(T, dtype=np.float64))


RANKINGS = {
    "detrended": "changes most after removing the position trend",
    "change": "changes most",
    "feature": "follows feature X",
    "cursor": "most active at the cursor",
}


def rank(trace, name: str, by: str = "detrended", feature=None, cursor: int | None = None) -> pd.DataFrame:
    """Units of ``trace[name]`` (T, H) in the order of one stated criterion: columns ``unit``, ``score``, largest first.

    * ``"detrended"``: ``"change"`` of what is left of the unit after removing
      its least-squares line in position, i.e. mean |v_t - v_{t-1} - slope|: a
      word counter, which moves by about the same step at every token, scores
      near 0, and a unit that jumps where something happens keeps its score;
    * ``"change"``: mean |v_t - v_{t-1}| over steps (``Trace.unit_change``);
    * ``"feature"``: |r| with ``feature`` (a ``features`` column or a vector), as ``correlate``;
    * ``"cursor"``: |v| at token ``cursor``.

    Ties (and NaN scores, last) are broken by unit index.
    """
    if by not in RANKINGS:
        raise ValueError(f"by must be one of {tuple(RANKINGS)}, got {by!r}")
    v = _values(trace, name)
    T, H = v.shape
    if by == "detrended":
        resid = _detrend(v, np.arange(T, dtype=np.float64))
        score = np.abs(resid if T < 2 else np.diff(resid, axis=0)).mean(axis=0)
    elif by == "change":
        score = np.abs(v if T < 2 else np.diff(v, axis=0)).mean(axis=0)
    elif by == "feature":
        if feature is None:
            raise ValueError('by="feature" needs feature= (a features() column or a vector)')
        c = correlate(trace, name, feature)
        score = np.abs(c.sort_values("unit")["r"].to_numpy())
    else:
        if cursor is None or not -T <= int(cursor) < T:
            raise ValueError(f'by="cursor" needs cursor= a token index in [0, {T})')
        score = np.abs(v[int(cursor)])
    order = np.lexsort((np.arange(H), -np.nan_to_num(score, nan=-np.inf)))
    return pd.DataFrame({"unit": order, "score": score[order]})


# -- reading a heatmap of unbounded values ------------------------------------------
@dataclass(frozen=True)
class ColourRange:
    """A colour range centred on 0 for a signed heatmap, and what it leaves out."""

    cmin: float
    cmax: float
    true_min: float  # the smallest value shown
    true_max: float  # the largest value shown
    clipped: float  # share of the values outside [cmin, cmax] (drawn in the end colours)


def colour_range(values, low: float = 1.0, high: float = 99.0) -> ColourRange:
    """A robust symmetric colour range: +-max(|p_low|, |p_high|) of the finite values (percentiles).

    One unit of a cell state at +-30 would otherwise stretch the scale so that
    every other row looks white; the true range is returned so that a page can
    state it beside the colour bar. NaN and inf are ignored; no finite value
    gives the range (-1, 1).
    """
    z = np.asarray(values, dtype=np.float64).ravel()
    z = z[np.isfinite(z)]
    if z.size == 0:
        return ColourRange(-1.0, 1.0, float("nan"), float("nan"), 0.0)
    p_lo, p_hi = np.percentile(z, [low, high])
    m = max(abs(float(p_lo)), abs(float(p_hi)))
    if m == 0.0:
        m = float(np.abs(z).max()) or 1.0
    return ColourRange(-m, m, float(z.min()), float(z.max()), float(np.mean(np.abs(z) > m)))


def normalise_rows(values) -> np.ndarray:
    """Each row divided by its own largest |value| (rows of zeros stay zero): every unit spans [-1, 1]."""
    z = np.asarray(values, dtype=np.float64)
    m = np.abs(z).max(axis=-1, keepdims=True) if z.size else np.ones(z.shape[:-1] + (1,))
    return z / np.where(m > 0, m, 1.0)


# -- LSTMVis selection and match ------------------------------------------------
def _check_span(span, T: int) -> tuple[int, int]:
    try:
        start, end = (int(s) for s in span)
    except (TypeError, ValueError):
        raise ValueError(f"span must be (start, end), a half-open token range; got {span!r}") from None
    if not 0 <= start < end <= T:
        raise ValueError(f"span ({start}, {end}) must satisfy 0 <= start < end <= {T} (tokens)")
    return start, end


def match(trace, name: str, span, threshold: float, tolerance: float = 0.0) -> pd.DataFrame:
    """LSTMVis's selection: the units that are on throughout ``span`` and off everywhere else.

    A unit is *on* at a token when its value is >= ``threshold``. The rule for
    a unit: on at every token of ``span`` (start, end), off at every other
    token of the text. ``tolerance`` is the share of tokens allowed to break
    it, counted on each side: a unit is selected when it is off at no more
    than that share of the span's tokens *and* on at no more than that share
    of the other tokens (counted over all tokens at once, a unit that is never
    on would pass in a long text, breaking the rule only on a short span).
    A unit's ``score`` is the mean of the two shares that follow the rule
    (on inside, off outside); when the span is the whole text, only the first.

    Returns columns ``unit``, ``score``: the selected units, best score first
    (ties by unit index).
    """
    if not 0.0 <= float(tolerance) <= 1.0:
        raise ValueError(f"tolerance is a share of tokens in [0, 1], got {tolerance!r}")
    v = _values(trace, name)
    T, H = v.shape
    start, end = _check_span(span, T)
    on = v >= float(threshold)  # (T, H)
    inside = on[start:end].mean(axis=0)  # share of the span's tokens on, per unit
    rest = np.concatenate([on[:start], on[end:]])
    outside = 1.0 - rest.mean(axis=0) if rest.shape[0] else np.ones(H)  # share of the other tokens off
    score = (inside + outside) / 2 if rest.shape[0] else inside
    slack = float(tolerance) + 1e-12
    keep = np.flatnonzero((1.0 - inside <= slack) & (1.0 - outside <= slack))
    keep = keep[np.lexsort((keep, -score[keep]))]
    return pd.DataFrame({"unit": keep.astype(np.int64), "score": score[keep]})


# -- held-out sentences, traced once --------------------------------------------
@functools.lru_cache(maxsize=8)
def heldout_sample(n: int = 2000, seed: int = 0, split: str = "test", run: int = 50) -> tuple[str, ...]:
    """``n`` sentences of a held-out corpus split: ``n / run`` runs of ``run`` consecutive sentences.

    The split is cut into blocks of ``run`` consecutive sentences; ``seed``
    draws ``n // run`` of them without replacement, kept in file order. Runs of
    neighbouring sentences read as running text on one topic (``core.corpus``),
    which is how ``search`` reads them; many runs spread the sample over the
    whole split.
    """
    from . import corpus

    pool = corpus.sentences(split)
    if run < 1 or n % run or not 0 < n <= len(pool) - len(pool) % run:
        raise ValueError(f"n must be a positive multiple of run={run}, at most {len(pool) - len(pool) % run} "
                         f"for split {split!r}; got n={n}")
    blocks = sorted(random.Random(seed).sample(range(len(pool) // run), n // run))
    return tuple(pool[i] for b in blocks for i in range(b * run, (b + 1) * run))


@dataclass(frozen=True)
class Bank:
    """One value name of a model on a list of sentences, read as running text.

    ``values`` is (H, N) float16: the units as rows, the N tokens of all
    sentences one after the other as columns. Sentence i is ``texts[i]``, its
    tokens ``tokens[i]``, its columns ``offsets[i]:offsets[i+1]``.
    """

    name: str
    texts: tuple[str, ...]
    index: tuple[int, ...]  # position of each sentence in the texts given (those without tokens are skipped)
    tokens: tuple[tuple[str, ...], ...]
    offsets: np.ndarray  # (S + 1,) int64
    values: np.ndarray  # (H, N) float16

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.offsets.nbytes)


def _trace_ids(model, ids: list[int]) -> dict:
    """Every value of ``model`` on token ids; for a recurrent body without the logits, which search never needs."""
    from . import recurrent

    body = getattr(model, "body", None)
    if isinstance(body, torch.nn.RNNBase) and hasattr(model, "embedding"):
        with torch.no_grad():
            return recurrent.trace_values(body, model.embedding(torch.tensor(ids)))
    return model.trace(ids, cap=len(ids))


def build_bank(model, name: str, texts: Sequence[str], chunk: int = 512) -> Bank:
    """Trace ``texts`` with ``model`` as running text and keep ``name`` only, as float16.

    Whole sentences are put one after the other into chunks of at most
    ``chunk`` tokens, and each chunk is traced as one sequence from a zero
    state (as LSTMVis reads its corpus as one stream, and as the app reads a
    paragraph): the state carries from one sentence to the next inside a
    chunk. A sentence longer than ``chunk`` tokens is cut to ``chunk``;
    sentences without tokens are skipped. ``model`` needs ``vocab`` and a
    ``trace`` that takes token ids (``core.WordModel``).
    """
    from .text import tokenize

    kept, index, toks = [], [], []
    for i, text in enumerate(texts):
        t = tokenize(str(text), cap=chunk).tokens
        if t:
            kept.append(str(text))
            index.append(i)
            toks.append(t)
    if not toks:
        raise ValueError("no text to search: every text was empty")
    rows, pending = [], []

    def flush():
        if pending:
            ids = [i for t in pending for i in model.vocab.encode(t)]
            values = _trace_ids(model, ids)
            if name not in values:
                raise KeyError(f"no value named {name!r} in this model's trace; names: {', '.join(values)}")
            v = values[name]
            if v.dim() != 2:
                raise ValueError(f"{name} has shape {tuple(v.shape)}; search takes a (T, H) value")
            rows.append(v.detach().to(torch.float16).numpy())
            pending.clear()

    size = 0
    for t in toks:
        if size + len(t) > chunk:
            flush()
            size = 0
        pending.append(t)
        size += len(t)
    flush()
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in toks])]).astype(np.int64)
    values = np.ascontiguousarray(np.concatenate(rows, axis=0).T)  # (H, N): a unit's values are contiguous
    return Bank(name, tuple(kept), tuple(index), tuple(toks), offsets, values)


BANK_CACHE_SIZE = 6  # banks kept at once; one name of 2,000 sentences (~24,000 tokens) at H = 256 is about 12 MB
_banks: OrderedDict = OrderedDict()
_banks_lock = threading.Lock()


@contextlib.contextmanager
def _one_intra_op_thread():
    """Build with one intra-op thread, then restore the setting. The build is thousands of steps on tiny
    tensors, where two threads meet at every step: on a busy 2-core machine the 2,000-sentence build took
    122 s with torch's two threads and 0.8 s with one (``python -m core bench --only units``). Builds hold
    the cache's lock, so one at a time sets and restores it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bank(model, name: str, texts: Sequence[str] | None = None) -> Bank:
    """The cached ``Bank`` of (model, name, texts), built on first use; ``texts`` None is ``heldout_sample()``.

    The cache is this module's, bounded to ``BANK_CACHE_SIZE`` entries (least
    recently used goes), keyed by a weak reference to the model, so nothing
    is stored on the model and a model that is dropped is not kept alive.
    Thread-safe: a build holds the cache's lock, so concurrent callers wait for it
    instead of building the same bank twice.
    """
    texts = heldout_sample() if texts is None else tuple(str(t) for t in texts)
    key = (weakref.ref(model), name, texts)
    with _banks_lock:
        if key in _banks:
            _banks.move_to_end(key)
            return _banks[key]
        with _one_intra_op_thread():
            built = build_bank(model, name, texts)
        _banks[key] = built
        while len(_banks) > BANK_CACHE_SIZE:
            _banks.popitem(last=False)
        return built


def search(model, name: str, units, threshold: float, texts: Sequence[str] | None = None,
           limit: int | None = 100) -> pd.DataFrame:
    """Spans of held-out sentences where all ``units`` of ``name`` are on (>= ``threshold``) together, ranked.

    A span is a maximal run of tokens within one sentence at which every
    selected unit is on. Its ``score`` is the share of (unit, token) pairs of
    its sentence that follow the LSTMVis pattern: on inside the span, off
    outside it (1.0 = the units do exactly this and nothing else in that
    sentence). The sentences are traced once, as running text in chunks of
    whole sentences up to 512 tokens (``build_bank``), and cached (``bank``);
    the values are kept as float16 (relative rounding below 0.05%).

    ``texts``: the sentences to search (default ``heldout_sample()``, 2,000
    held-out test sentences). Returns the best ``limit`` spans (all when None)
    with columns ``sentence`` (index into ``texts``), ``text``,
    ``tokens``, ``start``, ``end`` (half-open, token indices in that
    sentence), ``span`` (its tokens joined by spaces), ``score``; best score
    first, then longer spans, then earlier sentences.
    """
    b = bank(model, name, texts)
    return search_bank(b, units, threshold, limit)


def search_bank(b: Bank, units, threshold: float, limit: int | None = 100) -> pd.DataFrame:
    """``search`` on a ``Bank`` already built."""
    H, N = b.values.shape
    units = np.unique(np.asarray(list(units), dtype=np.int64))
    if units.size == 0:
        raise ValueError("select at least one unit to search for")
    if units.min() < 0 or units.max() >= H:
        raise ValueError(f"units must be in [0, {H}); got {units.tolist()}")
    columns = ["sentence", "text", "tokens", "start", "end", "span", "score"]
    k = (b.values[units].astype(np.float32) >= np.float32(threshold)).sum(axis=0)  # (N,) units on at each token
    all_on = k == units.size
    # runs of all_on that do not cross a sentence boundary
    boundary = np.zeros(N + 1, dtype=bool)
    boundary[b.offsets] = True
    edges = np.diff(np.concatenate([[0], all_on.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    if starts.size:  # split runs at sentence starts inside them
        cuts = np.flatnonzero(boundary[1:-1] & all_on[1:] & all_on[:-1]) + 1
        starts = np.sort(np.concatenate([starts, cuts]))
        ends = np.sort(np.concatenate([ends, cuts]))
    if starts.size == 0:
        return pd.DataFrame(columns=columns)
    sent = np.searchsorted(b.offsets, starts, side="right") - 1
    s0, s1 = b.offsets[sent], b.offsets[sent + 1]
    ck = np.concatenate([[0], np.cumsum(k)])
    inside = ck[ends] - ck[starts]  # units on inside the span (all of them)
    outside_on = (ck[s1] - ck[s0]) - inside
    outside_off = (s1 - s0 - (ends - starts)) * units.size - outside_on
    score = (inside + outside_off) / ((s1 - s0) * units.size)
    order = np.lexsort((sent, -(ends - starts), -score))
    if limit is not None:
        order = order[: int(limit)]
    rows = []
    for i in order:
        si = int(sent[i])
        a, e = int(starts[i] - s0[i]), int(ends[i] - s0[i])
        toks = b.tokens[si]
        rows.append((b.index[si], b.texts[si], toks, a, e, " ".join(toks[a:e]), float(score[i])))
    return pd.DataFrame(rows, columns=columns)


# -- measured on the shipped models --------------------------------------------------
def heldout_with(feature: str, split: str) -> tuple[str, ...]:
    """The sentences of a held-out split in which ``feature`` (a ``features`` column) is non-zero somewhere,
    in file order. ``"paren_depth"`` gives the sentences with a "(", ``"negation"`` those with a negation word."""
    from . import corpus
    from .text import tokenize

    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {FEATURES}, got {feature!r}")
    return tuple(s for s in corpus.sentences(split) if _feature_arrays(tokenize(s).tokens)[feature].any())


def pooled(model, texts: Sequence[str], names: Sequence[str]) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Each text traced on its own (zero state), the values of ``names`` stacked over all tokens, (N, H) float64,
    with the feature tracks of each text stacked the same way (``position`` is the position in its own text)."""
    from .text import tokenize

    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    tracks = []
    for text in texts:
        tokens = tokenize(text).tokens
        if not tokens:
            continue
        traced = _trace_ids(model, model.vocab.encode(tokens))
        for n in names:
            values[n].append(traced[n].detach().double().numpy())
        tracks.append(features(tokens))
    return {n: np.concatenate(v) for n, v in values.items()}, pd.concat(tracks, ignore_index=True)


def measure(models: Sequence[str] = ("rnn", "lstm", "gru", "bilstm"),
            features_: Sequence[str] = ("paren_depth", "negation"),
            splits: tuple[str, str] = ("valid", "test"), control_seed: int = 0) -> pd.DataFrame:
    """For each shipped recurrent model, value and feature: the unit with the largest |r| on one held-out sample,
    and what that unit does on a second, disjoint one.

    Samples: for ``paren_depth``, the sentences with a "(" of ``splits[0]``
    (sample A) and of ``splits[1]`` (sample B, without any sentence also in
    A); for ``negation``, the sentences with a negation word, likewise, and
    also the parenthesis sample. Each sentence is traced on its own from a
    zero state and r is computed over all tokens of a sample pooled
    (``correlate_arrays``; ``r_detrended`` removes the line in each token's
    position in its sentence). ``untrained_best_abs_r_A`` is the largest |r|
    on sample A of the same architecture with random weights (seed
    ``control_seed``): what units do with no training at all.
    """
    from . import models as models_mod

    samples = {}
    for f in dict.fromkeys(("paren_depth", *features_)):
        a = heldout_with(f, splits[0])
        seen = set(a)
        samples[f] = (a, tuple(s for s in heldout_with(f, splits[1]) if s not in seen))
    rows = []
    for name in models:
        model = models_mod.load(name)
        torch.manual_seed(control_seed)
        control = models_mod.WordModel(model.config, model.vocab).eval()
        names = [n for n in _trace_ids(model, [1]) if n.endswith((".hidden", ".cell"))]
        trained = {(f, side): pooled(model, samples[f][i], names) for f in samples for i, side in enumerate("AB")}
        untrained = {f: pooled(control, samples[f][0], names) for f in samples}
        for feature in features_:
            for sample_feature in dict.fromkeys(("paren_depth", feature)):
                a, b = samples[sample_feature]
                (va, fa), (vb, fb) = trained[(sample_feature, "A")], trained[(sample_feature, "B")]
                vc, fc = untrained[sample_feature]
                for n in names:
                    ca, cb, cc = (correlate_arrays(v[n], f[feature].to_numpy(float), f["position"].to_numpy(float))
                                  for v, f in ((va, fa), (vb, fb), (vc, fc)))
                    cb = cb.set_index("unit")
                    best = ca.iloc[0]
                    u = int(best["unit"])
                    rows.append({
                        "model": name, "value": n.removeprefix("layers."), "feature": feature,
                        "sample": f"sentences with {'a (' if sample_feature == 'paren_depth' else 'a negation'}",
                        "sentences A/B": f"{len(a)}/{len(b)}", "tokens A/B": f"{len(fa)}/{len(fb)}",
                        "feature tokens A/B": f"{int((fa[feature] > 0).sum())}/{int((fb[feature] > 0).sum())}",
                        "unit": u, "r_A": float(best["r"]), "r_B": float(cb.loc[u, "r"]),
                        "best_abs_r_B": float(cb["r"].abs().max()),
                        "r_detrended_A": float(best["r_detrended"]), "r_detrended_B": float(cb.loc[u, "r_detrended"]),
                        "untrained_best_abs_r_A": float(cc["r"].abs().max()),
                    })
    return pd.DataFrame(rows)


KEPT_SHARE = 0.8  # a unit "keeps" its r on sample B when r_B has the same sign and at least this share of |r_A|


def measure_table(frame: pd.DataFrame) -> str:
    """``measure``'s result as a Markdown table, with a ``kept`` column (see ``KEPT_SHARE``)."""
    lines = [("| model | value | feature | sample | sentences A/B | feature tokens A/B | unit (best on A) | r on A | "
              "r on B | kept | best abs r on B | r detrended A/B | untrained best abs r on A |"),
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for d in frame.to_dict("records"):
        kept = np.sign(d["r_A"]) == np.sign(d["r_B"]) and abs(d["r_B"]) >= KEPT_SHARE * abs(d["r_A"])
        lines.append(f"| {d['model']} | {d['value']} | {d['feature']} | {d['sample']} | {d['sentences A/B']} | "
                     f"{d['feature tokens A/B']} | {d['unit']} | {d['r_A']:+.2f} | {d['r_B']:+.2f} | "
                     f"{'yes' if kept else 'no'} | "
                     f"{d['best_abs_r_B']:.2f} | {d['r_detrended_A']:+.2f} / {d['r_detrended_B']:+.2f} | "
                     f"{d['untrained_best_abs_r_A']:.2f} |")
    return "\n".join(lines)
