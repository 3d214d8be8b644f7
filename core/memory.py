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

import copy
import math
import random
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import pandas as pd
import torch

from . import probes as probe_sets
from . import recurrent
from .models import WordModel, word_probability
from .text import BLANK, UNK, encode, tokenize


def _answer_logits(model: WordModel, prompts: list[tuple[str, ...]]) -> torch.Tensor:
    """Scores for the word after each prompt (next-word) or in the blank after it (bilstm); (N, V).

    Prompts of equal length run as one batch, so there is no padding to get wrong."""
    vocab = model.vocab
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    out = torch.empty(len(prompts), len(vocab), dtype=model.head.weight.dtype)
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


# -- the user's own sentence ----------------------------------------------------
def _next_word_model(model: WordModel) -> None:
    if model.config.task != "next_word":
        raise ValueError(f"{model.name} fills blanks; memory measurements take a next-word model (rnn, lstm, gru, transformer)")


def _ids(model: WordModel, text: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    enc = encode(text, model.vocab)
    if not enc.ids:
        raise ValueError("the text has no words: type a sentence")
    if enc.truncated:  # the cap would cut the end, where the prediction is measured
        raise ValueError(f"the text has {enc.total} tokens; memory measurements read at most {len(enc.ids)}")
    return torch.tensor(enc.ids), enc.tokens


def _position(T: int, target_position: int) -> int:
    if not -T <= target_position < T:
        raise ValueError(f"target_position {target_position} is outside a {T}-token text")
    return target_position % T


def word_index(model: WordModel, word: str) -> int:
    """The vocabulary index of a target word (lower-cased). A word outside the vocabulary is scored as ``<unk>``,
    the token every unknown word becomes, and a ``UserWarning`` says so; the frames' ``attrs["word"]`` is then ``<unk>``."""
    word = word.lower()
    index = model.vocab.index(word)
    if index == model.vocab.stoi[UNK] and word != UNK:
        warnings.warn(f"{word!r} is not in the vocabulary of {model.name}: measuring <unk>, the token every unknown "
                      f"word becomes", UserWarning, stacklevel=3)
    return index


def _in_precision(model: WordModel, dtype: torch.dtype) -> WordModel:
    """The model itself, or a private copy in ``dtype`` (the shared model is never converted in place)."""
    return model if model.head.weight.dtype == dtype else copy.deepcopy(model).to(dtype)


def gradient_by_distance(model: WordModel, text: str, target_position: int = -1, target_word: str | None = None,
                         dtype: torch.dtype = torch.float64) -> pd.DataFrame:
    """How much each earlier word can still move the prediction at ``target_position``.

    The prediction is the next word after ``target_position`` (default: the
    last token): ``target_word`` if given, else the model's own top word. For
    every position s <= t, ``grad_norm`` is the L2 norm of
    d log p(word | tokens <= t) / d embedding_s; ``distance`` is t - s.
    Columns: position, token, distance, grad_norm (plus the word and its
    probability in ``.attrs``).

    The backward pass runs in float64 by default (on a private copy of the
    model): a vanilla RNN's gradient 50 words back is often below float32's
    smallest number (1.4e-45) and would read as exactly 0.
    """
    _next_word_model(model)
    ids, tokens = _ids(model, text)
    model = _in_precision(model, dtype)
    t = _position(len(ids), target_position)
    with torch.enable_grad():
        x = model.embedding(ids[: t + 1]).detach().requires_grad_(True)  # (t+1, E), a leaf of our own
        logp = torch.log_softmax(model.logits_from_embeddings(x[None], torch.tensor([t]))[0], dim=-1)  # (V,)
        word = int(logp.argmax()) if target_word is None else word_index(model, target_word)
        (grad,) = torch.autograd.grad(logp[word], x)
    frame = pd.DataFrame({
        "position": range(t + 1),
        "token": tokens[: t + 1],
        "distance": [t - s for s in range(t + 1)],
        "grad_norm": grad.norm(dim=1).numpy(),
    })
    frame.attrs.update(word=model.vocab.itos[word], probability=float(logp[word].detach().exp()), target_position=t)
    return frame


@dataclass(frozen=True)
class FilledText:
    """A text with filler inserted (``with_filler``): the tokens the models read, and where the filler sits."""

    tokens: tuple[str, ...]  # the whole text, tokenized
    head: int  # tokens before the filler: the first sentence (or the first half)
    filler: int  # filler tokens inserted after ``head``

    @property
    def text(self) -> str:
        """The tokens joined by spaces; tokenizes back to ``tokens``."""
        return " ".join(self.tokens)

    @property
    def cue_distance(self) -> int:
        """From the last token back to the last token before the filler (the end of the first sentence)."""
        return len(self.tokens) - self.head


def with_filler(text: str, n: int, seed: int = 0) -> FilledText:
    """``text`` with ``n`` tokens of held-out corpus text inserted after its first sentence.

    The one place the rule lives: the lecture's "I grew up in the Middle East
    but now live in London. I speak fluent" becomes "... london . <n filler
    tokens> i speak fluent". Without a full stop before the last token the
    filler goes after the first half. The filler comes from the corpus test
    split and avoids every country, language and city of the probes, so it
    cannot give the answer away. Deterministic per seed.
    """
    from . import corpus

    tokens = list(tokenize(text).tokens)
    head = tokens.index(".") + 1 if "." in tokens[:-1] else max(1, len(tokens) // 2)
    if n <= 0 or not tokens:
        return FilledText(tuple(tokens), min(head, len(tokens)), 0)
    filler = corpus.filler_tokens("test", n, random.Random(seed), avoid=probe_sets.FILLER_AVOID)
    return FilledText(tuple(tokens[:head] + filler + tokens[head:]), head, len(filler))


def insert_filler(text: str, n: int, seed: int = 0) -> str:
    """``with_filler(text, n, seed).text``: the filled text as a string."""
    return with_filler(text, n, seed).text


def probability_by_filler(model: WordModel, text: str, word: str, fillers: Iterable[int] = (0, 10, 25, 50, 100, 200), seed: int = 0) -> pd.DataFrame:
    """Probability of ``word`` as the next word after ``text``, as filler is inserted (``insert_filler``).

    Columns: filler, tokens, probability, rank (1 = the model's top word), top_word.
    """
    _next_word_model(model)
    index = word_index(model, word)
    rows = []
    for n in fillers:
        ids, _ = _ids(model, with_filler(text, n, seed).text)
        with torch.no_grad():
            logits = model.logits_from_embeddings(model.embedding(ids)[None], torch.tensor([len(ids) - 1]))[0]
        probability, rank = word_probability(logits, index)
        rows.append({
            "filler": n,
            "tokens": len(ids),
            "probability": probability,
            "rank": rank,
            "top_word": model.vocab.itos[int(logits.argmax())],
        })
    frame = pd.DataFrame(rows)
    frame.attrs.update(word=model.vocab.itos[index])
    return frame


def perturbation_retention(model: WordModel, text: str, fillers: Iterable[int] = (0, 10, 25, 50, 100, 200),
                           position: int = 0, replacement: str = "the", seed: int = 0) -> pd.DataFrame:
    """Replace one early word (default the first) and see what still changes at the end.

    For each filler length n (``insert_filler``): ``state_change`` is
    |h_end' - h_end| / |h_end| for the final state (the top layer's output at
    the last position), ``prediction_change`` the total-variation distance
    between the two next-word distributions (0 = identical, 1 = disjoint), and
    ``top_word_changed`` whether the most likely next word differs.
    """
    _next_word_model(model)
    rows = []
    for n in fillers:
        ids, tokens = _ids(model, with_filler(text, n, seed).text)
        p = _position(len(ids), position)
        swapped = ids.clone()
        swapped[p] = word_index(model, replacement)
        if int(swapped[p]) == int(ids[p]):
            raise ValueError(f"the replacement {replacement!r} is the word already at position {p}")
        with torch.no_grad():
            h = [model.trace_embeddings(model.embedding(v))["output"][-1] for v in (ids, swapped)]
            probs = [torch.softmax(model.head(v), -1) for v in h]
        rows.append({
            "filler": n,
            "replaced": tokens[p],
            "state_change": float((h[1] - h[0]).norm() / h[0].norm().clamp_min(1e-12)),
            "prediction_change": float(0.5 * (probs[1] - probs[0]).abs().sum()),
            "top_word_changed": bool(probs[0].argmax() != probs[1].argmax()),
        })
    return pd.DataFrame(rows)


# -- Jacobians: the lecture's w^n, measured ------------------------------------------
def step_jacobians(model_or_module, values: dict[str, torch.Tensor], layer: int = 0, steps: slice = slice(None)) -> torch.Tensor:
    """d state_t / d state_{t-1} for the steps ``steps`` of one layer's forward direction: (n, S, S).

    The state is h (S = H) for RNN and GRU, and (h, c) stacked (S = 2H) for the
    LSTM. Computed in closed form from the traced gates (the derivation is in
    each branch); the layer's input is held fixed. Ask for a slice of steps at
    a time: an LSTM with H = 256 takes 1 MB per step in float32.
    """
    body = getattr(model_or_module, "body", model_or_module)
    mode = body.mode
    k = f"layers.{layer}.forward."
    h_all = values[k + "hidden"]  # (T, H)
    H = h_all.shape[1]
    h_prev = torch.cat([h_all.new_zeros(1, H), h_all[:-1]])[steps]
    h = h_all[steps]
    get = lambda name: values[k + name][steps]  # noqa: E731
    W = getattr(body, f"weight_hh_l{layer}")  # (G*H, H)
    if mode in ("RNN_TANH", "RNN_RELU"):
        # h_t = phi(a_t), a_t = W_hh h_{t-1} + ...  =>  J_t = diag(phi'(a_t)) W_hh
        if mode == "RNN_TANH":
            slope = 1 - h**2
        else:  # relu' = 1 where a > 0, else 0; NaN stays NaN instead of reading as a slope of 0
            a = get("preactivation")
            slope = torch.where(a.isnan(), a, (a > 0).to(h.dtype))
        return slope[:, :, None] * W[None]
    if mode == "GRU":
        r, z, n = get("reset_gate"), get("update_gate"), get("candidate")
        W_r, W_z, W_n = W.chunk(3)
        b_n = getattr(body, f"bias_hh_l{layer}")[2 * H :] if body.bias else 0.0
        hn = h_prev @ W_n.T + b_n  # (n, H) W_hn h_{t-1} + b_hn
        dr = (r * (1 - r))[:, :, None] * W_r[None]  # dr/dh_{t-1}
        dz = (z * (1 - z))[:, :, None] * W_z[None]
        dn = (1 - n**2)[:, :, None] * (r[:, :, None] * W_n[None] + hn[:, :, None] * dr)
        # h_t = (1 - z) n + z h_{t-1}
        return (1 - z)[:, :, None] * dn + (h_prev - n)[:, :, None] * dz + torch.diag_embed(z)
    # LSTM, state (h, c): c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
    i, f, g, o, c = (get(n) for n in ("input_gate", "forget_gate", "candidate", "output_gate", "cell"))
    c_all = values[k + "cell"]
    c_prev = torch.cat([c_all.new_zeros(1, H), c_all[:-1]])[steps]
    W_i, W_f, W_g, W_o = W.chunk(4)
    d = lambda s, Wx: s[:, :, None] * Wx[None]  # noqa: E731  diag(s_t) W for every t
    dc_dh = d(c_prev * f * (1 - f), W_f) + d(g * i * (1 - i), W_i) + d(i * (1 - g**2), W_g)
    tc = torch.tanh(c)
    dh_dh = d(tc * o * (1 - o), W_o) + (o * (1 - tc**2))[:, :, None] * dc_dh
    dh_dc = torch.diag_embed(o * (1 - tc**2) * f)
    dc_dc = torch.diag_embed(f)
    return torch.cat([torch.cat([dh_dh, dh_dc], 2), torch.cat([dc_dh, dc_dc], 2)], 1)  # (n, 2H, 2H)


def jacobian_norms(model: WordModel, text: str, layer: int = 0, distances: Iterable[int] | None = None,
                   chunk: int = 16) -> pd.DataFrame:
    """Spectral norm of dh_T/dh_s = J_T J_{T-1} ... J_{s+1} through the real model, by distance T - s.

    T is the last token. For the LSTM the norm is of dh_T / d(h_s, c_s): how
    much the whole state s steps back can still move the final hidden state.
    The running product is renormalised at every step (its logarithm kept
    apart), since it reaches 1e-60 and below; the spectral norm (an SVD) is
    taken only at ``distances``. ``log10_norm`` is the result: it stays exact
    where the norm itself is below float64's range (1e-308) and would read 0;
    it is -inf only where the product is exactly zero, and NaN where the
    trace has NaN (a NaN pre-activation is not a slope of 0). ``jacobian_norm``
    is 10**log10_norm as a float (0.0 below 1e-308). Next to it, the lecture's
    scalar arithmetic: 0.5^n and 2^n.
    Columns: distance, log10_norm, jacobian_norm, lecture_0.5^n, lecture_2^n.
    """
    if not hasattr(model.body, "mode"):
        raise ValueError("the Transformer has no recurrent state: use gradient_by_distance")
    if model.body.bidirectional:
        raise ValueError("jacobian_norms follows the forward direction of a one-directional model")
    ids, _ = _ids(model, text)
    T, H = len(ids), model.config.hidden_size
    wanted = sorted({int(d) for d in (distances or range(1, T))} & set(range(1, T)))
    rows = []
    with torch.no_grad():
        values = recurrent.trace_values(model.body, model.embedding(ids))
        # P holds the rows of h_T of J_T ... J_{s+1}, built backwards a chunk of steps at a time and kept at
        # largest entry 1 (its scale goes to log_scale), so that neither float32 nor float64 under- or overflows
        P, log_scale = None, 0.0
        last = wanted[-1] if wanted else 0
        for hi in range(T, T - last, -chunk):
            J = step_jacobians(model, values, layer, slice(max(hi - chunk, T - last), hi))
            for j in range(J.shape[0] - 1, -1, -1):
                P = J[j][:H] if P is None else P @ J[j]
                scale = float(P.abs().max())  # not P.norm(): squaring a 1e-200 entry underflows to 0
                if math.isnan(scale) or math.isnan(log_scale):
                    log_scale = math.nan
                elif scale == 0.0:
                    log_scale = -math.inf
                elif math.isfinite(log_scale):
                    P, log_scale = P / scale, log_scale + math.log(scale)
                dist = T - (hi - J.shape[0] + j)  # the product now spans the steps after state T - dist
                if dist in wanted:
                    log_norm = log_scale
                    if math.isfinite(log_scale):  # an SVD of NaN or of 0 has nothing to add
                        log_norm += math.log(float(torch.linalg.matrix_norm(P.double(), ord=2)))
                    rows.append({"distance": dist, "log10_norm": log_norm / math.log(10)})
    frame = pd.DataFrame(rows, columns=["distance", "log10_norm"])
    frame["jacobian_norm"] = [math.inf if x >= 308 else 10.0**x for x in frame["log10_norm"]]  # NaN stays NaN
    frame["lecture_0.5^n"] = [0.5 ** int(n) for n in frame["distance"]]
    frame["lecture_2^n"] = [2.0 ** int(n) for n in frame["distance"]]
    return frame


# -- the lecture's arithmetic -----------------------------------------------------
def lecture_power(w: float, n: int) -> float:
    """w^n: the factor a gradient picks up through n steps of a scalar recurrent weight w.

    The lecture's numbers: lecture_power(0.5, 50) = 8.881784197001252e-16 and
    lecture_power(2, 50) = 1125899906842624.0, both exact in binary floating point.
    """
    return float(w) ** int(n)


def scalar_rnn(w: float, n: int, activation: str = "tanh", x: float = 0.5, h0: float = 0.0) -> pd.DataFrame:
    """A one-unit RNN h_t = act(w h_{t-1} + x) run for n steps; dh_t/dh_0 at each step.

    With relu (and positive states) the gradient is exactly w^t; with tanh every
    step also multiplies by tanh' = 1 - h_t^2 <= 1, so it shrinks faster.
    Columns: step, h, slope (act' at that step), gradient (dh_t/dh_0), w_power (w^t).
    """
    if activation not in ("tanh", "relu"):
        raise ValueError("activation must be 'tanh' or 'relu'")
    rows, h, grad = [{"step": 0, "h": h0, "slope": 1.0, "gradient": 1.0, "w_power": 1.0}], h0, 1.0
    for t in range(1, int(n) + 1):
        a = w * h + x
        if activation == "tanh":
            h = math.tanh(a)
            slope = 1.0 - h * h
        else:
            h = max(a, 0.0)
            slope = 1.0 if a > 0 else 0.0
        grad *= w * slope
        rows.append({"step": t, "h": h, "slope": slope, "gradient": grad, "w_power": lecture_power(w, t)})
    return pd.DataFrame(rows)


# -- what the numbers say, in words (the app prints these under its charts) ----------------
NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer", "bilstm": "bidirectional LSTM"}


def _num(x: float) -> str:
    """3 significant digits; scientific notation for very small or large numbers."""
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _times(a: float, b: float) -> str:
    if b == 0:
        return "above 0, while it is exactly 0 in" if a > 0 else "as large as"
    r = a / b
    return f"{_num(r)} times" if r >= 1 else f"1/{_num(1 / r)} of"


def read_gradients(frames: dict[str, pd.DataFrame], far: int) -> str:
    """A plain-language reading of ``gradient_by_distance`` results for several models.

    ``far``: the distance from which on a word counts as "the beginning"; the
    reading compares the median gradient norm over those words.
    """
    far_g = {n: float(f.loc[f["distance"] >= far, "grad_norm"].median()) for n, f in frames.items() if (f["distance"] >= far).any()}
    if not far_g:
        return f"The sentence is shorter than {far} tokens: no word is that far back."
    near_g = {n: float(f.loc[f["distance"].between(1, 5), "grad_norm"].median()) for n, f in frames.items()}
    order = sorted(far_g, key=far_g.get, reverse=True)
    parts = [f"{NAMES.get(n, n)} {_num(far_g[n])}" for n in order]
    text = f"Median gradient norm {far} or more tokens back: " + ", ".join(parts) + "."
    if "lstm" in far_g and "rnn" in far_g:
        text += f" The LSTM's gradient there is {_times(far_g['lstm'], far_g['rnn'])} the RNN's."
    kept = [f"{NAMES.get(n, n)} {_num(far_g[n] / near_g[n])}" for n in order if near_g.get(n, 0) > 0]
    if kept:
        text += " That gradient relative to the one 1-5 tokens back: " + ", ".join(kept) + "."
    return text


def read_probability(frames: dict[str, pd.DataFrame], word: str) -> str:
    """A reading of ``probability_by_filler`` results: how much of p(word) survives the filler."""
    parts = []
    for n, f in frames.items():
        f = f.sort_values("filler")
        p0, p1 = float(f["probability"].iloc[0]), float(f["probability"].iloc[-1])
        kept = f"keeps {p1 / p0:.0%} of it" if p0 > 0 else "starts at 0"
        parts.append(f"{NAMES.get(n, n)}: p = {_num(p0)} with {int(f['filler'].iloc[0])} filler words, "
                     f"{_num(p1)} with {int(f['filler'].iloc[-1])} (rank {int(f['rank'].iloc[-1])}; {kept})")
    best = max(frames, key=lambda n: float(frames[n].sort_values("filler")["probability"].iloc[-1]))
    return f"Probability of {word!r} as the next word. " + "; ".join(parts) + f". Longest filler: {NAMES.get(best, best)} is most sure."


def read_recall(curves: dict[str, dict[str, float]], at: Sequence[int] = (50, 200)) -> str:
    """A reading of held-out recall curves (from metrics.json) at a few distances."""
    parts = []
    for d in at:
        have = {n: c[str(d)] for n, c in curves.items() if str(d) in c}
        if have:
            order = sorted(have, key=have.get, reverse=True)
            parts.append(f"at distance {d}: " + ", ".join(f"{NAMES.get(n, n)} {have[n]:.2f}" for n in order))
    if not parts:
        return "No model has a recall curve yet: train one with python -m core train."
    return "Held-out recall (share of probes whose answer is the model's top word), " + "; ".join(parts) + "."


def read_power(w: float, n: int, tanh: pd.DataFrame, relu: pd.DataFrame) -> str:
    """A reading of the lecture's what-if: w^n, and what tanh and relu make of it."""
    wn = lecture_power(w, n)
    g_tanh, g_relu = float(tanh["gradient"].iloc[-1]), float(relu["gradient"].iloc[-1])
    verdict = "vanishes" if abs(wn) < 1e-6 else "explodes" if abs(wn) > 1e6 else "stays usable"
    relu_note = ("exactly w^n, since every step's state stayed positive" if g_relu == wn
                 else "0: a step's pre-activation went negative and relu passed no gradient" if g_relu == 0 else _num(g_relu))
    return (f"w^n = {w:g}^{n} = {_num(wn)}: the gradient through {n} steps {verdict}. In a one-unit RNN, "
            f"relu gives {relu_note}; tanh multiplies every step by tanh' <= 1 as well, giving {_num(g_tanh)}.")


def _num_log10(lg: float) -> str:
    """A number given by its log10, written without going through a float that could underflow (1e-400 stays 1e-400)."""
    if math.isnan(lg):
        return "NaN"
    if lg == -math.inf:
        return "0"
    if -300 < lg < 300:
        return _num(10.0**lg)
    e = math.floor(lg)
    return f"{10.0 ** (lg - e):.2f}e{e:+d}"


def read_jacobians(frames: dict[str, pd.DataFrame], at: int = 50) -> str:
    """A reading of ``jacobian_norms`` results at one distance, next to the lecture's 0.5^n and 2^n."""
    have = {}
    for n, f in frames.items():
        row = f.loc[f["distance"] == at]
        if len(row):
            have[n] = float(row["log10_norm"].iloc[0])
    if not have:
        return f"The sentence is shorter than {at + 1} tokens."
    order = sorted(have, key=lambda n: -math.inf if math.isnan(have[n]) else have[n], reverse=True)
    return (f"After {at} steps, the norm of dh_T/dh_s is " + ", ".join(f"{NAMES.get(n, n)} {_num_log10(have[n])}" for n in order)
            + f"; the lecture's scalar picture gives 0.5^{at} = {_num(0.5 ** at)} and 2^{at} = {_num(2.0 ** at)}.")
