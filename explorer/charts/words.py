"""Words a model predicts: the top-k bars of one position, and the blank filled in several sentences."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from .base import _ax, _f32, _figure, _title, esc

# -- word prediction ---------------------------------------------------------------------------
def _word_bars(predictions: Sequence[tuple[str, float]], colour: str, xaxis: str = "x", yaxis: str = "y") -> dict:
    return dict(
        type="bar",
        orientation="h",
        x=_f32([p for _, p in predictions]),
        y=[f"{i + 1}. {esc(w)}" for i, (w, _) in enumerate(predictions)],
        marker_color=colour,
        text=[f"{p:.3f}" for _, p in predictions],
        textposition="auto",
        xaxis=xaxis,
        yaxis=yaxis,
        showlegend=False,
        hovertemplate="%{y}<br>probability %{x:.6g}<extra></extra>",
    )


def top_words_bars(predictions: Sequence[tuple[str, float]], title: str) -> go.Figure:
    """Horizontal bars: the k most likely words and their probabilities, most likely on top."""
    top = max([p for _, p in predictions] + [0.05])
    return _figure(
        [_word_bars(predictions, "#55a868")],
        70 + 44 * len(predictions),
        title=dict(text=esc(title), font_size=15),
        xaxis=dict(title_text="probability", range=[0, top * 1.15]),
        yaxis=dict(type="category", autorange="reversed"),
        margin=dict(l=10, r=10, t=40, b=10),
    )


def top_words_frame(tokens: Sequence[str], predictions: Sequence[Sequence[tuple[str, float]]]) -> pd.DataFrame:
    """One row per position and rank: position, token, rank, word, probability."""
    rows = [
        (t, tok, r + 1, w, p)
        for t, (tok, preds) in enumerate(zip(tokens, predictions))
        for r, (w, p) in enumerate(preds)
    ]
    return pd.DataFrame(rows, columns=["position", "token", "rank", "word", "probability"])


def blank_fill_bars(cases: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> go.Figure:
    """Side by side: the words the model puts in the blank of each sentence (A, B, C ...)."""
    n = len(cases)
    top = max([p for _, preds in cases for _, p in preds] + [0.05])
    gap = 0.1
    width = (1 - gap * (n - 1)) / n
    traces, layout, notes = [], {}, []
    for c, (_, preds) in enumerate(cases, start=1):
        x0 = (c - 1) * (width + gap)
        traces.append(_word_bars(preds, "#8172b2", f"x{_ax(c)}", f"y{_ax(c)}"))
        layout[f"xaxis{_ax(c)}"] = dict(
            domain=[x0, x0 + width], anchor=f"y{_ax(c)}", range=[0, top * 1.15], title_text="probability"
        )
        layout[f"yaxis{_ax(c)}"] = dict(type="category", autorange="reversed", anchor=f"x{_ax(c)}", automargin=True)
        notes.append(_title(f"<b>sentence {chr(64 + c)}</b>", x=x0, y=1.0))
    return _figure(traces, 90 + 44 * max(len(p) for _, p in cases), annotations=notes, **layout)


def blank_fill_frame(cases: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> pd.DataFrame:
    rows = [(chr(65 + i), s, r + 1, w, p) for i, (s, preds) in enumerate(cases) for r, (w, p) in enumerate(preds)]
    return pd.DataFrame(rows, columns=["sentence_id", "sentence", "rank", "word", "probability"])
