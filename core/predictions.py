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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import pandas as pd
import torch
from torch import Tensor

from .text import BLANK, DEFAULT_CAP, NUM, PAD, SPECIALS, UNK, Vocab, encode, tokenize

BLANK_TOKEN = "___"  # how a blank reads in a tokenized sentence (``<blank>`` is its vocabulary entry)

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
    return pd.DataFrame(
        {
            "position": [t for t in range(T) for _ in range(k)],
            "rank": list(range(1, k + 1)) * T,
            "word": words,
            "p": probs.gather(1, order).reshape(-1).numpy(),
            "special": [w in SPECIAL_LABELS for w in words],
            "label": [SPECIAL_LABELS.get(w, "") for w in words],
        }
    )


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
        raise ValueError(
            f"{model.name} fills blanks from both sides, so it sees every word it would be scored on; "
            "score takes a next-word model (rnn, lstm, gru, transformer)"
        )
    enc = encode(text, model.vocab, cap)
    if not enc.ids:
        raise ValueError("the text has no words to score: type at least one word")
    ids = torch.tensor(enc.ids)  # (T,)
    with torch.no_grad():
        logits = model(ids[None])[0]  # (T, V): row t scores token t+1
    logp = torch.log_softmax(logits, dim=-1)[:-1]  # (T-1, V), in the model's precision: float64 here took 0.1 s at T=512
    nxt = ids[1:]
    actual = logp.gather(1, nxt[:, None])[:, 0].double()  # (T-1,) log p of each actual next token
    p = actual.exp()
    rank = rank_of(logp, nxt, model.vocab, specials)
    nan = [math.nan]
    surprisal = (-actual / math.log(2)).tolist()
    frame = pd.DataFrame(
        {
            "position": range(len(ids)),
            "token": enc.tokens,
            "scored_as": model.vocab.decode(enc.ids),
            "p": nan + p.tolist(),
            "rank": pd.array([pd.NA] + rank.tolist(), dtype="Int64"),
            "surprisal_bits": nan + surprisal,
        }
    )
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


@dataclass(frozen=True)
class Target:
    """The word a sentence asks the models to predict, and the words they read before it."""

    prompt: tuple[str, ...]  # the tokens read before the target
    word: str | None  # the vocabulary word to predict; None when the sentence has no natural target
    reason: str  # where the word came from, in words (user text only inside repr quotes)
    problem: str | None  # why there is no target, when word is None


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def natural_target(tokens: Sequence[str], vocab: Vocab, blank_word: str = "") -> Target:
    """The target a sentence gives, for measurements that need one (the Memory page).

    * With a blank ``___``: the models read the words before the first blank,
      and the target is ``blank_word``, the word the reader says belongs there.
    * Without a blank: the target is the sentence's last word (punctuation at
      the end is not a word and is dropped), read after the words before it.

    No target (``word`` None, ``problem`` says why) when there is nothing
    before it, when the blank's word is not given or not one word, or when the
    word is not in the vocabulary or is a number (the models could only
    predict ``<unk>`` or ``<num>``, not that word).
    """
    tokens = list(tokens)
    blank_word = blank_word.strip()
    if BLANK_TOKEN in tokens:
        prompt = tokens[: tokens.index(BLANK_TOKEN)]
        if not prompt:
            return Target((), None, "", "The blank is the first word: there is nothing before it to remember.")
        if not blank_word:
            return Target(
                tuple(prompt),
                None,
                "",
                "The sentence has a blank ___: type the word that belongs in it, "
                "and the models are measured on predicting that word after the words before the blank.",
            )
        typed = tokenize(blank_word).tokens
        if len(typed) != 1:
            return Target(
                tuple(prompt),
                None,
                "",
                f"The word for the blank must be one word; {blank_word[:40]!r} is {len(typed)} tokens.",
            )
        word, reason = typed[0], f"the word you gave for the blank at position {len(prompt)}"
    else:
        words = list(tokens)
        while words and not _is_word(words[-1]):
            words.pop()
        if len(words) < 2:
            return Target(
                (),
                None,
                "",
                "The sentence needs at least two words: the models read the words before "
                "its last word and are measured on predicting that last word.",
            )
        prompt, word = words[:-1], words[-1]
        dropped = len(tokens) - len(words)
        reason = f"the last word of your sentence (position {len(prompt)})" + (
            "; the punctuation after it is not a word" if dropped else ""
        )
    index = vocab.index(word)
    if vocab.itos[index] != word:
        what = "a number" if vocab.itos[index] == NUM else "not among the models' 8,000 words"
        return Target(
            tuple(prompt),
            None,
            "",
            f"The target word {word[:40]!r} is {what}: the models could only "
            f"predict {vocab.itos[index]} ({SPECIAL_LABELS[vocab.itos[index]]}), not that word. End the "
            "sentence with another word, or use a blank ___ and type a word for it.",
        )
    return Target(tuple(prompt), word, reason, None)
