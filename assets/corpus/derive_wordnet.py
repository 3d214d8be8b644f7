#!/usr/bin/env python3
"""Derive gatescope's training corpus from the WordNet 3.0 database files.

Usage::

    python assets/corpus/derive_wordnet.py [--wordnet-dir /usr/share/wordnet]
                                           [--out assets/corpus/wordnet.tsv.gz]

Input: the four WordNet data files ``data.noun``, ``data.verb``, ``data.adj``
and ``data.adv`` (on Debian: package ``wordnet-base``). Every synset line ends
with ``| gloss``, where the gloss is a definition followed by zero or more
quoted example sentences::

    00001740 29 v 04 breathe 0 ... | draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"; "The patient is respiring"

Output: a gzip file (mtime 0, no file name in the header, so the bytes depend
only on the input) with one UTF-8 line per sentence::

    split<TAB>kind<TAB>text

* ``kind`` is ``gloss`` (the definition) or ``example`` (a quoted example).
* ``split`` is ``train``, ``valid`` or ``test``, chosen per synset from a
  SHA-256 hash of ``"<pos>:<offset>"`` (pos = n, v, a, r from the file name;
  offset = the synset's 8-digit byte offset): hash mod 100 < 90 is train,
  < 95 valid, else test. A synset's gloss and examples share its split.
* Lines appear in the order of the files (noun, verb, adj, adv) and of the
  synsets in them: neighbouring sentences are about related words, so
  consecutive lines read like running text on one topic.

Cleaning rules (simple on purpose):

1. The definition is the gloss up to its first double quote, with trailing
   ``;``, ``,`` and ``:`` removed. Examples are the ``"..."`` spans of the
   gloss; text outside quotes after the definition (attributions such as
   ``--Shakespeare``, or the rare stray unquoted fragment) is dropped, and so
   is an unterminated quote.
2. Parenthetical usage notes are removed from definitions: a ``(...)`` group
   with no nested brackets whose text starts with usually, often, sometimes,
   followed, used, plural, informal, formerly, archaic, obsolete, or contains a
   backquote (WordNet's `to' quoting), e.g. "(usually followed by `to')" or
   "(usually plural)". A leading domain label such as "(law)" or
   "(computer science)" (one to three words at the very start) is removed too.
   Every other parenthesis is kept: "(born in England)" is content.
3. Whitespace is collapsed; underscores (WordNet's multi-word joiner) become
   spaces; "``", "''" and the quotes of `word' become double quotes.
4. A sentence with fewer than 3 words (runs of letters or digits) is dropped.
5. A sentence that does not end in ``.``, ``!`` or ``?`` gets a final ``.``.
6. Exact duplicates (compared lower-cased) are dropped after their first
   occurrence, across all splits, so no sentence is in two splits.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
from pathlib import Path

FILES = (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r"))

_QUOTED = re.compile(r'"([^"]*)"')
_USAGE_NOTE = re.compile(
    r"\s*\((?:(?:usually|often|sometimes|followed|used|plural|informal|formerly|archaic|obsolete)\b[^()]*|[^()]*`[^()]*)\)",
    re.IGNORECASE,
)
_LEADING_LABEL = re.compile(r"^\(\s*[A-Za-z]+(?:[ -][A-Za-z]+){0,2}\s*\)\s*")
_BACKQUOTED = re.compile(r"`([^`']*)'")
_WORD = re.compile(r"[A-Za-z0-9]+")
MIN_WORDS = 3


def split_of(pos: str, offset: str) -> str:
    """Deterministic ~90/5/5 split of a synset, independent of Python's hash seed."""
    h = int.from_bytes(hashlib.sha256(f"{pos}:{offset}".encode("ascii")).digest()[:8], "big") % 100
    return "train" if h < 90 else ("valid" if h < 95 else "test")


def clean(text: str) -> str | None:
    """Whitespace, quote and end-of-sentence clean-up; None if too short."""
    text = text.replace("_", " ").replace("``", '"').replace("''", '"')
    text = _BACKQUOTED.sub(r'"\1"', text)
    text = " ".join(text.split())
    text = text.strip(" ;,:")
    if len(_WORD.findall(text)) < MIN_WORDS:
        return None
    if text[-1] not in ".!?":
        text += "."
    return text


def parse_gloss(gloss: str) -> tuple[str | None, list[str]]:
    """(cleaned definition or None, cleaned examples) of one gloss field."""
    definition = gloss.split('"', 1)[0]
    definition = _USAGE_NOTE.sub("", definition)
    definition = _LEADING_LABEL.sub("", definition.strip())
    examples = [c for c in (clean(m) for m in _QUOTED.findall(gloss)) if c]
    return clean(definition), examples


def iter_synsets(path: Path):
    """(offset, gloss) for every synset line of one data.* file (licence header skipped)."""
    with open(path, "rb") as f:
        for raw in f:
            if raw.startswith(b"  "):  # licence header lines start with two spaces
                continue
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            head, sep, gloss = line.partition(" | ")
            if not sep:
                continue
            offset = head.split(" ", 1)[0]
            if not offset.isdigit():
                continue
            yield offset, gloss.strip()


def derive(wordnet_dir: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for name, pos in FILES:
        path = wordnet_dir / f"data.{name}"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: WordNet data file not found (Debian: apt-get install wordnet-base)")
        for offset, gloss in iter_synsets(path):
            split = split_of(pos, offset)
            definition, examples = parse_gloss(gloss)
            items = ([("gloss", definition)] if definition else []) + [("example", e) for e in examples]
            for kind, text in items:
                key = text.lower()
                if key in seen:
                    continue
                seen.add(key)
                rows.append((split, kind, text))
    return rows


def write(rows: list[tuple[str, str, str]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for split, kind, text in rows:
            assert "\t" not in text and "\n" not in text
            gz.write(f"{split}\t{kind}\t{text}\n".encode("utf-8"))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--out", type=Path, default=here / "wordnet.tsv.gz")
    args = ap.parse_args(argv)
    rows = derive(args.wordnet_dir)
    write(rows, args.out)
    counts: dict[str, int] = {}
    for split, kind, _ in rows:
        counts[f"{split}/{kind}"] = counts.get(f"{split}/{kind}", 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"wrote {args.out} ({len(rows)} sentences: {summary}; {args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
