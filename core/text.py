"""Words to numbers: the lecture's three steps.

    1. Vocabulary   a fixed list of known words (``Vocab``)
    2. Indexing     word -> index (``Vocab.encode``; unknown words -> ``<unk>``)
    3. Embedding    index -> vector (the model's ``nn.Embedding``, not here)

Tokenisation rules (``tokenize``), applied in this order:

* Unicode is normalised to NFC, so "é" typed as e + combining accent and "é"
  typed as one code point are the same word.
* Control characters are dropped: tabs and line breaks become spaces; every
  other C0/C1 control (NUL included), lone surrogates and invisible format
  characters go (direction marks, overrides and isolates, zero-width space,
  byte-order mark, soft hyphen). Kept: the joiners ZWJ and ZWNJ (emoji
  sequences and Persian words need them) and emoji tag characters (flags
  such as Scotland's).
* Everything is lower-cased: "Apple" and "apple" are one word.
* A word is a run of letters, marks and digits, with inner apostrophes kept
  ("don't", "someone's"). Hyphens split ("well-known" -> well, -, known).
* A number is a run of digits with inner "." or "," and an optional exponent
  ("1,200", "3.5", "8.88e-16"); every
  number maps to the one vocabulary entry ``<num>``, but keeps its own text.
* Two or more underscores ("___") are a blank, ``<blank>``, for the
  fill-in-the-blank model.
* Anything else that is not a space (punctuation, an emoji with its
  modifiers and joiners, a symbol) is one token per user-perceived character.
* At most ``cap`` tokens (512 by default) are kept; the cap counts tokens,
  not characters, and the result says when it cut.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import regex

DEFAULT_CAP = 512

PAD, UNK, NUM, BLANK = "<pad>", "<unk>", "<num>", "<blank>"
SPECIALS = (PAD, UNK, NUM, BLANK)

_KEPT_FORMAT = {"\u200c", "\u200d", *map(chr, range(0xE0020, 0xE0080))}  # ZWNJ, ZWJ, emoji tag characters

# atomic, so "12abc" is never split into "1" + "2abc"; an exponent keeps "8.88e-16" one number
_NUMBER = r"(?>\p{N}+(?:[.,]\p{N}+)*(?:e[-+]?\p{N}+)?)(?![\p{L}\p{M}\p{N}])"
_WORD = r"[\p{L}\p{M}\p{N}]+(?:['\u2019\u200c][\p{L}\p{M}\p{N}]+)*"  # inner apostrophes and ZWNJ (Persian) stay
_TOKEN = regex.compile(rf"(?P<blank>_{{2,}})|(?P<num>{_NUMBER})|(?P<word>{_WORD})|(?P<other>\X)")


def normalize(text: str) -> str:
    """NFC, control characters removed (whitespace controls become spaces), lower case."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch.isspace():
            out.append(" ")
        elif cat in ("Cc", "Cs") or (cat == "Cf" and ch not in _KEPT_FORMAT):
            continue
        else:
            out.append(ch)
    return "".join(out).lower()


@dataclass(frozen=True)
class Tokens:
    """Result of ``tokenize``: the tokens kept, and what happened on the way."""

    tokens: tuple[str, ...]
    truncated: bool  # True when the cap cut the text
    total: int  # tokens in the whole text, before the cap
    cap: int

    def __len__(self) -> int:
        return len(self.tokens)


def tokenize(text: str, cap: int = DEFAULT_CAP) -> Tokens:
    """Split ``text`` into word-level tokens following the module's rules.

    Empty or whitespace-only text gives zero tokens (no error here: the models'
    ``trace`` refuses it). Only the first ``cap`` tokens are kept.
    """
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    norm = normalize(text)
    tokens: list[str] = []
    total = 0
    for m in _TOKEN.finditer(norm):
        tok = m.group()
        if m.lastgroup == "other" and tok.isspace():
            continue
        if m.lastgroup == "blank":
            tok = "___"
        total += 1
        if total <= cap:
            tokens.append(tok)
    return Tokens(tuple(tokens), truncated=total > cap, total=total, cap=cap)


def is_number(token: str) -> bool:
    return regex.fullmatch(_NUMBER, token) is not None


class Vocab:
    """Word <-> index. Index 0..3 are ``<pad> <unk> <num> <blank>``, always."""

    def __init__(self, words: Iterable[str]):
        """``words`` either start with the specials in this order, or hold none of them (they are put first).

        A list that holds them elsewhere is refused: moving them would shift every id the weights were trained on."""
        words = list(words)
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            misplaced = {w: i for i, w in enumerate(words) if w in SPECIALS}
            if misplaced:
                raise ValueError(f"the special tokens must be the first {len(SPECIALS)} words in the order {', '.join(SPECIALS)}; "
                                 f"found {', '.join(f'{w} at {i}' for w, i in misplaced.items())}: reordering them would "
                                 f"shift the ids the model was trained with")
            words = list(SPECIALS) + words
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self.itos: tuple[str, ...] = tuple(words)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def index(self, token: str) -> int:
        """The index of one token: ``<num>`` for numbers, ``<blank>`` for ``___``, ``<unk>`` if unknown."""
        if token in self.stoi:
            return self.stoi[token]
        if token == "___":
            return self.stoi[BLANK]
        if is_number(token):
            return self.stoi[NUM]
        return self.stoi[UNK]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def unknown(self, tokens: Sequence[str]) -> list[int]:
        """Positions of tokens that map to ``<unk>``."""
        unk = self.stoi[UNK]
        return [i for i, t in enumerate(tokens) if self.index(t) == unk]

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], size: int, keep: Iterable[str] = ()) -> "Vocab":
        """The ``size`` most frequent tokens (ties broken alphabetically), plus ``keep``."""
        from collections import Counter

        counts: Counter[str] = Counter()
        for toks in token_lists:
            counts.update(t for t in toks if not is_number(t) and t != "___")
        keep = [w for w in dict.fromkeys(keep) if w not in SPECIALS]
        chosen = list(SPECIALS) + keep
        seen = set(chosen)
        for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(chosen) >= size:
                break
            if w not in seen:
                chosen.append(w)
                seen.add(w)
        return cls(chosen)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(list(self.itos), ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        words = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{path}: a vocabulary file is a JSON list of strings")
        return cls(words)


@dataclass(frozen=True)
class Encoded:
    """Tokens with their indices: what a model's ``trace(text)`` starts from."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    unknown: tuple[int, ...]  # positions that became <unk>
    truncated: bool
    total: int  # tokens in the text before the cap


def encode(text: str, vocab: Vocab, cap: int = DEFAULT_CAP) -> Encoded:
    tk = tokenize(text, cap)
    ids = vocab.encode(tk.tokens)
    return Encoded(tk.tokens, tuple(ids), tuple(vocab.unknown(tk.tokens)), tk.truncated, tk.total)
