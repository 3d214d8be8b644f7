"""The frame every page shares (the sentence, the lecture's examples) and the controls pages share.

Safety rule of the whole app: text a user typed is shown only through ``st.text``, ``st.code``,
widget values and ``st.dataframe`` cells, and in figures only after ``charts.esc``. It never
reaches Markdown, HTML or a label.

The pickers put their values in the URL through ``explorer.common.url`` (see its docstring).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import streamlit as st

import core
from core.text import tokenize

from . import url
from .cache import model, trace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_FILE = ROOT / "assets" / "examples.json"
MAX_CHARS = 20_000  # the text area's limit; the token cap (512) usually bites first
UNIT_CHOICES = (8, 16, 32, 64, 128, "all")
WINDOW_FROM = 160  # longer sentences get a "tokens shown" range selector


# -- the lecture's examples ------------------------------------------------------------------
def _examples() -> dict:
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


_EX = _examples()
DEFAULT_SENTENCE: str = _EX["default"]
EXAMPLES: list[str] = [e["text"] for e in _EX["examples"]]


# -- the frame: sentence and examples -----------------------------------------------------------
def _use_example() -> None:
    if st.session_state.get("example"):
        st.session_state["sentence"] = st.session_state["example"]


def _typed() -> None:
    st.session_state["example"] = None  # the picker no longer describes the text


def sentence_frame() -> str:
    """The sidebar's sentence box and example picker; keeps ``?sentence=`` in the URL in step."""
    if "sentence" not in st.session_state:
        linked = st.query_params.get("sentence")
        st.session_state["sentence"] = linked[:MAX_CHARS] if linked is not None else DEFAULT_SENTENCE
    with st.sidebar:
        st.selectbox(
            "Lecture examples",
            EXAMPLES,
            index=None,
            key="example",
            on_change=_use_example,
            placeholder="Pick one of the lecture's sentences",
        )
        st.text_area(
            "Sentence",
            key="sentence",
            height=140,
            max_chars=MAX_CHARS,
            on_change=_typed,
            help="Up to 512 tokens are analysed. Type ___ for a blank (Bidirectional page).",
        )
    text = st.session_state["sentence"]
    url.write("sentence", text)
    return text


def sentence() -> str:
    return st.session_state.get("sentence", DEFAULT_SENTENCE)


def model_picker(allowed: Sequence[str], key: str, label: str = "Model") -> str:
    """A model choice in the sidebar (in the URL) when the page can show several; the name chosen."""
    allowed = list(allowed)
    if len(allowed) == 1:
        return allowed[0]
    return url.selectbox(label, allowed, key=key, where=st.sidebar, format_func=describe_model)


def describe_model(name: str) -> str:
    return {
        "rnn": "rnn: vanilla RNN, next word",
        "lstm": "lstm: LSTM, next word",
        "gru": "gru: GRU, next word",
        "transformer": "transformer: 2 layers x 4 heads, next word",
        "bilstm": "bilstm: bidirectional LSTM, fills ___",
    }.get(name, name)


def page_trace(name: str, text: str | None = None) -> core.Trace | None:
    """The trace of the sentence by ``name``, or None after a prompt (empty text) or an error (bad model).

    Shows the truncation note when the token cap cut the text.
    """
    text = sentence() if text is None else text
    tk = tokenize(text)
    if not tk.tokens:
        st.info(
            "Type a sentence in the sidebar, or pick one of the lecture's examples, to see inside the model.", icon="✍️"
        )
        return None
    if model(name) is None:
        return None
    tr = trace(name, text)
    if tr.truncated:
        truncation_warning(tr.meta["total_tokens"], tr.length, tr.meta["cap"])
    return tr


def truncation_warning(total: int, kept: int, cap: int) -> None:
    st.warning(f"The input has {total:,} tokens; the models read at most {cap}, so only the first "
               f"{kept:,} are shown ({total - kept:,} cut).", icon="✂️")


# -- controls shared by the recurrent pages (all in the URL) ----------------------------------------------
def window_picker(T: int, key: str, above: int = WINDOW_FROM, span: int | None = None) -> tuple[int, int]:
    """(first, last+1) positions to draw: all of them, or, above ``above`` tokens, a range the reader picks.

    The range starts as the first ``span`` tokens (all when None)."""
    if T <= above:
        return 0, T
    default = (0, min(T, span)) if span else (0, T)
    a, b = url.slider(
        "Tokens shown (positions)",
        0,
        T,
        default,
        key=key,
        help="Long sentences: narrow the range to read every word.",
    )
    return (a, b) if b > a else (0, T)


def cursor_picker(tokens: Sequence[str], key: str) -> int:
    """The step being inspected (a token position); it starts at the last word that is not a blank,
    where "what comes next?" is the lecture's question ("I speak fluent ___")."""
    T = len(tokens)
    if T == 1:
        return 0
    words = [i for i, t in enumerate(tokens) if t != "___"]
    return url.slider("Step cursor: token position", 0, T - 1, words[-1] if words else T - 1, key=key)


def units_picker(H: int, key: str) -> int | None:
    """How many units the heatmaps show (the ones that change most); None means all."""
    n = url.selectbox(
        "Units shown (the ones that change most)",
        UNIT_CHOICES,
        index=2,
        key=key,
        help="Units are ranked by their mean absolute change from one step to the next.",
    )
    return None if n == "all" or n >= H else int(n)


def num(x: float, digits: int = 4) -> str:
    """A number for an equation with numbers: negatives in parentheses, so "0.4 × (-0.1)" reads right."""
    text = f"{x:.{digits}f}"
    return f"({text})" if x < 0 else text


def show_token(position: int, token: str) -> None:
    """Name the token at a position, as literal text."""
    st.text(f"Step {position}: {token}")


