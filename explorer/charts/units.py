"""Units ranked by a stated criterion, and LSTMVis's match view as a table (the numbers come from core.units)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from .base import _f32, _figure, esc


def unit_rank_bars(scores: pd.DataFrame, units: Sequence[int], criterion: str, score_label: str) -> go.Figure:
    """Bars: the shown ``units`` in ranking order, their score (``core.units.rank``: columns unit, score)."""
    by_unit = scores.set_index("unit")["score"]
    units = list(units)
    bar = dict(
        type="bar",
        x=[f"unit {u}" for u in units],
        y=_f32(by_unit.loc[units].to_numpy() if units else []),
        marker_color="#4c72b0",
        hovertemplate=f"%{{x}}<br>{esc(score_label)}: %{{y:.6g}}<extra></extra>",
    )
    return _figure(
        [bar],
        320,
        showlegend=False,
        xaxis=dict(type="category", title_text=f"unit, ranked: {esc(criterion)}", tickangle=-45),
        yaxis=dict(title_text=esc(score_label)),
    )


def unit_rank_frame(scores: pd.DataFrame, units: Sequence[int], score_label: str) -> pd.DataFrame:
    by_unit = scores.set_index("unit")["score"]
    units = list(units)
    return pd.DataFrame({"rank": range(1, len(units) + 1), "unit": units, score_label: by_unit.loc[units].to_numpy()})


CONTEXT = 12  # tokens of context shown on each side of a match


def match_frame(found: pd.DataFrame, context: int = CONTEXT) -> pd.DataFrame:
    """``core.units.search`` results as a concordance: the words before, the match, the words after.

    Columns ``score``, ``sentence`` (its index in the searched sample), ``before``, ``match``, ``after``;
    ``before``/``after`` hold at most ``context`` tokens, with "…" where the sentence goes on. Plain text,
    for a table cell: never rendered as Markdown or HTML."""
    rows = []
    for r in found.itertuples(index=False):
        toks = list(r.tokens)
        a, e = int(r.start), int(r.end)
        before = toks[max(0, a - context) : a]
        after = toks[e : e + context]
        rows.append(
            {
                "score": float(r.score),
                "sentence": int(r.sentence),
                "before": ("… " if a > context else "") + " ".join(before),
                "match": " ".join(toks[a:e]),
                "after": " ".join(after) + (" …" if e + context < len(toks) else ""),
            }
        )
    return pd.DataFrame(rows, columns=["score", "sentence", "before", "match", "after"])
