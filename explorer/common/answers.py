"""Answers about a prediction, cached per model and text: scores, top guesses, saliency, two sentences compared.

Each is a ``core`` function (``core.predictions``, ``core.attribution``, ``core.compare``) behind
``st.cache_data``: small DataFrames, cheap to copy on a hit.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

import core
from core import attribution, comparison, predictions
from core.text import encode

from .cache import _key, _load


@st.cache_data(show_spinner=False, max_entries=64)
def _score(name: str, folder: str, stamp: tuple, text: str, specials: bool) -> pd.DataFrame:
    return _load(name, folder, stamp).score(text, specials=specials)


@st.cache_data(show_spinner=False, max_entries=64)
def _guesses(name: str, folder: str, stamp: tuple, text: str, k: int, specials: bool) -> tuple[pd.DataFrame, dict]:
    model = _load(name, folder, stamp)
    ids = encode(text, model.vocab).ids
    with torch.no_grad():
        logits = model(torch.tensor(ids)[None])[0]  # (T, V)
    return predictions.top_k(logits, model.vocab, k, specials), predictions.special_top_share(logits, model.vocab)


@st.cache_data(show_spinner=False, max_entries=64)
def _saliency(
    name: str, folder: str, stamp: tuple, text: str, target: int, word: str | None, method: str
) -> pd.DataFrame:
    return attribution.saliency(_load(name, folder, stamp), text, target, word, method=method)


@st.cache_data(show_spinner=False, max_entries=32)
def _compare(names: tuple[str, ...], folder: str, stamps: tuple, text_a: str, text_b: str) -> pd.DataFrame:
    return core.compare([_load(n, folder, s) for n, s in zip(names, stamps)], text_a, text_b)


@st.cache_data(show_spinner=False, max_entries=32)
def _gates(name: str, folder: str, stamp: tuple, text_a: str, text_b: str, position: int, n: int) -> pd.DataFrame:
    return comparison.gate_difference(_load(name, folder, stamp), text_a, text_b, position, n)


def score(name: str, text: str, specials: bool = False) -> pd.DataFrame:
    """``model.score(text)``: each token's p one step earlier, its rank and surprisal."""
    return _score(*_key(name), text, specials)


def guesses(name: str, text: str, k: int = 5, specials: bool = False) -> tuple[pd.DataFrame, dict]:
    """``core.predictions.top_k`` at every position, and the share of steps each special token tops."""
    return _guesses(*_key(name), text, k, specials)


def saliency(name: str, text: str, target: int, word: str | None, method: str) -> pd.DataFrame:
    """``core.attribution.saliency`` for one model."""
    return _saliency(*_key(name), text, target, word, method)


def compare(names, text_a: str, text_b: str) -> pd.DataFrame:
    """``core.compare`` over the named models (plus the bag-of-words baseline)."""
    keys = [_key(n) for n in names]
    return _compare(tuple(names), keys[0][1], tuple(k[2] for k in keys), text_a, text_b)


def gate_difference(name: str, text_a: str, text_b: str, position: int, n: int = 24) -> pd.DataFrame:
    """``core.comparison.gate_difference``: one model's gates for both texts at ``position``."""
    return _gates(*_key(name), text_a, text_b, position, n)
