"""Server-side time of a full rerun of every page, warm caches: ``python -m explorer.bench [--json]``.

For a 100-token and a 512-token sentence, each page is run once to warm the
caches (model, trace, top words), then rerun ``--repeats`` times; the median
wall time of ``AppTest.run()`` is reported. That is the whole script (frame and
page) plus AppTest's own small overhead, so it errs on the slow side.
Targets (docs/design.md): 0.5 s at 100 tokens, 2 s at 512 tokens.

``page_times()`` returns the rows, for ``python -m core bench``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APP = ROOT / "explorer" / "app.py"
PAGES = ("tokens", "rnn", "lstm", "gru", "bidirectional", "attention", "memory", "about")
TARGETS = {100: 0.5, 512: 2.0}  # seconds, warm caches
MEMORY_TARGET = 1.5  # seconds: the memory page computing all four models for a new 300-token sentence


def sentence_of(n: int) -> str:
    """Exactly ``n`` tokens: the lecture's example sentences, repeated."""
    from core.text import tokenize

    examples = json.loads((ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
    pool = [t for e in examples["examples"] for t in tokenize(e["text"]).tokens]
    tokens = (pool * (n // len(pool) + 1))[:n]
    text = " ".join(tokens)
    assert tokenize(text, cap=10_000).total == n, "the benchmark sentence must have exactly n tokens"
    return text


def _page_app(page: str, text: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["sentence"] = text
    at.run()
    if page != "tokens":
        at.switch_page(f"views/{page}.py").run()
    at.run()  # warm: every cache of this page is filled now
    if at.exception:
        raise RuntimeError(f"page {page} raised: {at.exception[0].value}")
    return at


def page_times(repeats: int = 5, sizes: tuple[int, ...] = (100, 512), pages: tuple[str, ...] = PAGES) -> list[dict]:
    """One row per page and size: median seconds of a warm full rerun, and the target."""
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    rows = []
    for n in sizes:
        text = sentence_of(n)
        for page in pages:
            at = _page_app(page, text)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                at.run()
                times.append(time.perf_counter() - t0)
            target = TARGETS.get(n)
            median = statistics.median(times)
            rows.append(
                {
                    "page": page,
                    "tokens": n,
                    "median_s": round(median, 4),
                    "max_s": round(max(times), 4),
                    "target_s": target,
                    "ok": target is None or median <= target,
                }
            )
    return rows


def memory_times(repeats: int = 5) -> list[dict]:
    """The memory page on the lecture's sentence with 300 tokens or more (filler of 285 words and more, after
    a first, untimed run at 280): every timed run moves the filler slider, so the text is new and all four models
    compute afresh (models loaded)."""
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    at = _page_app("memory", "I grew up in the Middle East but now live in London. I speak fluent ___")
    times, tokens = [], []
    for filler in range(280, 281 + 5 * repeats, 5):  # a new filler length each run: nothing cached
        at.slider(key="memory_filler").set_value(filler)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"page memory raised: {at.exception[0].value}")
        tokens.append(filler + 16)  # the lecture's sentence up to the blank is 16 tokens
    times, tokens = times[1:], tokens[1:]  # the first run also fills the corpus and filler caches
    median = statistics.median(times)
    return [{"page": "memory (new 300-token sentence, 4 models)", "tokens": min(tokens), "median_s": round(median, 4),
             "max_s": round(max(times), 4), "target_s": MEMORY_TARGET, "ok": median <= MEMORY_TARGET}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--repeats", type=int, default=5, help="timed reruns per page and size (default 5)")
    p.add_argument("--quick", action="store_true", help="2 reruns instead of --repeats (a smoke run)")
    args = p.parse_args(argv)
    repeats = 2 if args.quick else args.repeats

    from tests import app_models  # the shipped models, or untrained ones of the same shapes

    with tempfile.TemporaryDirectory() as scratch:
        folder = app_models.models_for_tests(Path(scratch))
        os.environ["GATESCOPE_MODELS"] = str(folder)
        rows = page_times(repeats) + memory_times(repeats)
    if args.json:
        print(json.dumps({"models": str(folder), "pages": rows}, indent=2))
    else:
        print(f"models: {folder}")
        print(f"{'page':<44}{'tokens':>7}{'median s':>10}{'max s':>8}{'target s':>10}  ok")
        for r in rows:
            ok = "yes" if r["ok"] else "NO"
            times = f"{r['median_s']:>10.3f}{r['max_s']:>8.3f}{r['target_s']:>10.1f}"
            print(f"{r['page']:<44}{r['tokens']:>7}{times}  {ok}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
