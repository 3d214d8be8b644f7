"""Models, traces and measurements, cached for every session of the server.

- Models: ``st.cache_resource``, one per name, folder and file stamp (a retrained model replaces
  the cached one). ``trace()`` stores nothing on a model, so one serves every session.
- Traces: ``st.cache_resource`` too, bounded (``TRACE_ENTRIES``, ``TRACE_TTL``): a hit hands out
  the same object, where ``st.cache_data`` would unpickle a fresh 20-40 MiB copy each time.
  Traces are read-only (``core.Trace`` is a read-only mapping, ``charts.values`` returns
  read-only arrays), so sharing them is safe; never write into a tensor you got from one.
  The cached trace leaves out ``logits`` (T x 8000, about three quarters of a trace): read the
  words through ``top_words`` and ``word_probability`` here, small results cached on their own.
- Small per-sentence results (top words, memory measurements): ``st.cache_data``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Sequence

import pandas as pd
import streamlit as st

import core
from core import models as core_models

TRACE_ENTRIES = 32  # traces kept across all sessions and models
TRACE_TTL = 3600  # seconds: a trace nobody asked for in an hour is dropped
LEFT_OUT = ("logits",)  # not kept in cached traces


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


@st.cache_resource(show_spinner=False, max_entries=TRACE_ENTRIES, ttl=TRACE_TTL)
def _trace(name: str, folder: str, stamp: tuple, text: str) -> core.Trace:
    full = _load(name, folder, stamp).trace(text)
    kept = {k: v for k, v in full.items() if k not in LEFT_OUT}
    return core.Trace(kept, tokens=full.tokens, unknown=full.unknown, truncated=full.truncated, meta=full.meta)


@st.cache_data(show_spinner=False, max_entries=64)
def _top_words(name: str, folder: str, stamp: tuple, text: str, k: int) -> list[list[tuple[str, float]]]:
    return _load(name, folder, stamp).predict(text, k)


@st.cache_data(show_spinner=False, max_entries=256)
def _word_probability(name: str, folder: str, stamp: tuple, text: str, position: int, word: str) -> tuple[float, int]:
    model = _load(name, folder, stamp)
    return core_models.word_probability(model.trace(text)["logits"][position], model.vocab.index(word))


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
    """The model's trace of ``text``, shared and read-only, without ``logits`` (see the module's docstring)."""
    return _trace(*_key(name), text)


def top_words(name: str, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """``model.predict(text, k)``: the k likeliest words at each position, with probabilities."""
    return _top_words(*_key(name), text, k)


def word_probability(name: str, text: str, position: int, word: str) -> tuple[float, int]:
    """p(``word``) at ``position`` of ``text`` and its rank (1 = the model's top word)."""
    return _word_probability(*_key(name), text, position, word)


def available() -> list[str]:
    return core.available(models_dir())


def metrics(name: str) -> dict:
    return core_models.metrics(name, models_dir())


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
