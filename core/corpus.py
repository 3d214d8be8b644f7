"""The training corpus: WordNet 3.0 glosses and example sentences.

``assets/corpus/wordnet.tsv.gz`` holds one sentence a line, ``split<TAB>kind<TAB>text``
(split: train / valid / test, kind: gloss / example). It is derived from the
WordNet database by ``assets/corpus/derive_wordnet.py``; see the licence
notice ``assets/corpus/LICENSE-WordNet.txt`` beside it.

Sentences keep the file's order, in which neighbouring lines are about
related words, so a run of consecutive sentences reads as running text on one
topic: that is what ``filler_tokens`` cuts the probes' filler from.
"""
from __future__ import annotations

import functools
import gzip
import random
from pathlib import Path
from typing import Collection

from core.text import tokenize

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_PATH = REPO_ROOT / "assets" / "corpus" / "wordnet.tsv.gz"
DERIVE_COMMAND = "python assets/corpus/derive_wordnet.py --wordnet-dir /usr/share/wordnet --out assets/corpus/wordnet.tsv.gz"

SPLITS = ("train", "valid", "test")
KINDS = ("gloss", "example")


def _check(split: str, kind: str | None) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be None or one of {KINDS}, got {kind!r}")


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """split -> ((kind, text), ...) in file order."""
    if not path.is_file():
        raise FileNotFoundError(f"corpus file {path} is missing; rebuild it from the repository root with: {DERIVE_COMMAND}")
    table: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0] not in table or parts[1] not in KINDS:
                raise ValueError(f"{path}:{n}: expected 'split<TAB>kind<TAB>text' with a known split and kind")
            table[parts[0]].append((parts[1], parts[2]))
    return {s: tuple(v) for s, v in table.items()}


@functools.lru_cache(maxsize=None)
def sentences(split: str, kind: str | None = None) -> tuple[str, ...]:
    """The sentences of one split (``train``, ``valid``, ``test``), in file order.

    ``kind`` None gives glosses and examples interleaved as in the file;
    ``"gloss"`` or ``"example"`` gives only that kind. Raises FileNotFoundError
    naming the file and the command that rebuilds it when the corpus is missing.
    """
    _check(split, kind)
    return tuple(text for k, text in _load(CORPUS_PATH)[split] if kind is None or k == kind)


@functools.lru_cache(maxsize=200_000)
def _sentence_tokens(split: str, index: int) -> tuple[str, ...]:
    return tokenize(sentences(split)[index], cap=10_000).tokens


def _avoided(tokens: tuple[str, ...], words: frozenset[str], phrases: tuple[tuple[str, ...], ...]) -> bool:
    if words and not words.isdisjoint(tokens):
        return True
    for ph in phrases:
        n = len(ph)
        for i in range(len(tokens) - n + 1):
            if tokens[i : i + n] == ph:
                return True
    return False


def filler_tokens(split: str, n: int, rng: random.Random, avoid: Collection[str] = ()) -> list[str]:
    """``n`` tokens of running corpus text from ``split``.

    One random start sentence is drawn from ``rng`` (always exactly one draw,
    whatever ``n`` is); the following sentences are appended in file order
    (wrapping round at the end), tokenised with ``core.text.tokenize``, and the
    result is cut to exactly ``n`` tokens, so it may stop mid-sentence.

    ``avoid``: words or space-separated phrases (in token form, e.g.
    ``"middle east"``); sentences containing any of them are skipped.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    pool = sentences(split)
    if not pool:
        raise ValueError(f"corpus split {split!r} is empty")
    start = rng.randrange(len(pool))
    phrases = tuple(tuple(a.split()) for a in avoid if " " in a.strip())
    words = frozenset(a for a in avoid if " " not in a.strip())
    out: list[str] = []
    i = start
    skipped = 0
    while len(out) < n:
        toks = _sentence_tokens(split, i)
        if _avoided(toks, words, phrases):
            skipped += 1
            if skipped >= len(pool):
                raise ValueError(f"every sentence of split {split!r} contains an avoided word")
        else:
            out.extend(toks)
        i = (i + 1) % len(pool)
    return out[:n]
