"""What every page shares: the sentence frame, cached models and traces, chart display with downloads.

Safety rule of the whole app: text a user typed is shown only through
``st.text``, ``st.code``, widget values and ``st.dataframe`` cells, and in
figures only after ``charts.esc``. It never reaches Markdown, HTML or a label.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import streamlit as st

import core
from core import models as core_models
from core.text import tokenize
from explorer import charts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_FILE = ROOT / "assets" / "examples.json"
MAX_CHARS = 20_000  # the text area's limit; the token cap (512) usually bites first
UNIT_CHOICES = (8, 16, 32, 64, 128, "all")
WINDOW_FROM = 160  # longer sentences get a "tokens shown" range selector

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


# -- the lecture's examples ------------------------------------------------------------------
def _examples() -> dict:
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


_EX = _examples()
DEFAULT_SENTENCE: str = _EX["default"]
EXAMPLES: list[str] = [e["text"] for e in _EX["examples"]]


# -- models and traces, cached -------------------------------------------------------------------
def models_dir() -> str:
    """Where the models are: $GATESCOPE_MODELS (read on every call, so tests can switch), else assets/models."""
    return os.environ.get("GATESCOPE_MODELS") or str(core_models.MODELS_DIR)


def _stamp(name: str, folder: str) -> tuple:
    """Changes when a model's files change, so a retrained model replaces the cached one."""
    out = []
    for f in ("model.safetensors", "config.json", "vocab.json"):
        try:
            s = (Path(folder) / name / f).stat()
            out.append((s.st_mtime_ns, s.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(name: str, folder: str, stamp: tuple) -> core.WordModel:
    return core.load(name, folder)  # shared by every session: trace() stores nothing on the model


@st.cache_data(show_spinner=False, max_entries=16)
def _trace(name: str, folder: str, stamp: tuple, text: str) -> core.Trace:
    return _load(name, folder, stamp).trace(text)


@st.cache_data(show_spinner=False, max_entries=64)
def _top_words(name: str, folder: str, stamp: tuple, text: str, k: int) -> list[list[tuple[str, float]]]:
    model = _load(name, folder, stamp)
    return core_models.top_words(_trace(name, folder, stamp, text)["logits"], model.vocab, k)


def _key(name: str) -> tuple[str, str, tuple]:
    folder = models_dir()
    return name, folder, _stamp(name, folder)


def model(name: str) -> core.WordModel | None:
    """The model, or None after showing why it cannot be loaded (the rest of the app keeps working)."""
    try:
        return _load(*_key(name))
    except core.CheckpointError as e:
        st.error(str(e), icon="⚠️")  # our own message: it names the file and the command that rebuilds it
        return None


def trace(name: str, text: str) -> core.Trace:
    return _trace(*_key(name), text)


def top_words(name: str, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    return _top_words(*_key(name), text, k)


def available() -> list[str]:
    """The word models (the pretrained encoder has its own page)."""
    return core.word_models(models_dir())


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
    if st.query_params.get("sentence") != text:
        st.query_params["sentence"] = text
    return text


def sentence() -> str:
    return st.session_state.get("sentence", DEFAULT_SENTENCE)


def model_picker(allowed: Sequence[str], key: str, label: str = "Model") -> str:
    """A model choice in the sidebar when the page can show several; the name chosen."""
    allowed = list(allowed)
    if len(allowed) == 1:
        return allowed[0]
    return st.sidebar.selectbox(label, allowed, key=key, format_func=describe_model)


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


# -- controls shared by the recurrent pages ---------------------------------------------------------
def _clamp(key: str, lo: int, hi: int) -> None:
    """Keep a keyed slider's remembered value inside a range that shrank with a shorter sentence."""
    v = st.session_state.get(key)
    if isinstance(v, (tuple, list)):
        a, b = (min(max(int(x), lo), hi) for x in v)
        fixed = (a, b) if a < b else (lo, hi)
    elif v is not None:
        fixed = min(max(int(v), lo), hi)
    else:
        return
    if fixed != (tuple(v) if isinstance(v, list) else v):
        st.session_state[key] = fixed


def window_picker(T: int, key: str, above: int = WINDOW_FROM, span: int | None = None) -> tuple[int, int]:
    """(first, last+1) positions to draw: all of them, or, above ``above`` tokens, a range the reader picks.

    The range starts as the first ``span`` tokens (all when None)."""
    if T <= above:
        return 0, T
    _clamp(key, 0, T)
    default = (0, min(T, span)) if span else (0, T)
    a, b = st.slider(
        "Tokens shown (positions)", 0, T, default, key=key, help="Long sentences: narrow the range to read every word."
    )
    return (a, b) if b > a else (0, T)


def cursor_picker(tokens: Sequence[str], key: str) -> int:
    """The step being inspected (a token position); it starts at the last word that is not a blank,
    where "what comes next?" is the lecture's question ("I speak fluent ___")."""
    T = len(tokens)
    if T == 1:
        return 0
    _clamp(key, 0, T - 1)
    if key not in st.session_state:
        words = [i for i, t in enumerate(tokens) if t != "___"]
        st.session_state[key] = words[-1] if words else T - 1
    return st.slider("Step cursor: token position", 0, T - 1, key=key)


def units_picker(H: int, key: str) -> int | None:
    """How many units the heatmaps show (the ones that change most); None means all."""
    n = st.selectbox(
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


# -- charts with downloads ------------------------------------------------------------------------------
def chart(fig, key: str, data: Callable[[], pd.DataFrame], filename: str) -> None:
    """Draw a figure, then offer its data (CSV) and the figure (HTML) for download.

    Both downloads are built only when clicked (the callable runs then), so reruns stay fast.
    The camera button of the chart itself saves a PNG.
    """
    config = dict(PLOTLY_CONFIG, toImageButtonOptions={"format": "png", "filename": filename, "scale": 2})
    st.plotly_chart(fig, key=f"chart_{key}", config=config, width="stretch")
    with st.container(horizontal=True, gap="small"):
        csv_download(data, filename, key)
        st.download_button(
            "Figure (HTML)",
            data=lambda: charts.figure_html(fig).encode("utf-8"),
            file_name=f"{filename}.html",
            mime="text/html",
            key=f"html_{key}",
            on_click="ignore",
            icon=":material/download:",
            type="tertiary",
        )


def csv_download(data: Callable[[], pd.DataFrame], filename: str, key: str) -> None:
    """A "Data (CSV)" button; the table is built only when clicked."""
    st.download_button(
        "Data (CSV)",
        data=lambda: data().to_csv(index=False).encode("utf-8"),
        file_name=f"{filename}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        on_click="ignore",
        icon=":material/table:",
        type="tertiary",
    )


# -- memory measurements, cached per model and text -------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=8)
def _load_float64(name: str, folder: str, stamp: tuple) -> core.WordModel:
    return copy.deepcopy(_load(name, folder, stamp)).double()  # a copy: the shared float32 model stays as it is


@st.cache_data(show_spinner=False, max_entries=64)
def _memory(kind: str, name: str, folder: str, stamp: tuple, text: str, word: str, fillers: tuple[int, ...]) -> pd.DataFrame:
    from core import memory

    model = _load(name, folder, stamp)
    if kind == "gradient":  # in float64, on a cached float64 copy (a vanilla RNN's gradient underflows float32)
        return memory.gradient_by_distance(_load_float64(name, folder, stamp), text, target_word=word)
    if kind == "probability":
        return memory.probability_by_filler(model, text, word, fillers)
    if kind == "jacobian":
        return memory.jacobian_norms(model, text, distances=fillers)
    raise ValueError(f"unknown memory measurement {kind!r}")


def memory_result(kind: str, name: str, text: str, word: str = "", fillers: Sequence[int] = ()) -> pd.DataFrame:
    """``core.memory`` measurements for one model (gradient, probability, jacobian), cached."""
    return _memory(kind, *_key(name), text, word, tuple(fillers))


def metrics(name: str) -> dict:
    return core_models.metrics(name, models_dir())
