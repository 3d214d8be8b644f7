"""Finding the units that mean something, on every recurrent page (RNN, LSTM, GRU, Bidirectional).

- ``ranking``: the stated order of the units (``core.units.rank``), chosen by the reader.
- ``display``: feature tracks under the heatmaps, and one scale per row.
- ``match_section``: LSTMVis's select-and-match: a span and a threshold give the units that are on
  there and off elsewhere (``core.units.match``), and where else those units are on together in
  held-out text (``core.units.search``), shown as a concordance with the match in its own column.

Every number comes from ``core.units``; the corpus text and the user's text reach the page only as
``st.text`` and table cells.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core import units as core_units
from explorer import charts, common

FEATURE_LABELS = {
    "position": "position (token index)",
    "paren_depth": "depth inside parentheses",
    "in_quotes": "inside quotation marks",
    "sentence_start": "sentence start",
    "sentence_end": "sentence end",
    "negation": 'negation scope ("not", "n\'t" ... to the next punctuation)',
    "since_full_stop": "tokens since the last full stop",
}
TRACKS = [f for f in core_units.FEATURES if f != "position"]  # position is the token axis itself
# held-out sentences searched (core.units.heldout_sample); GATESCOPE_SEARCH_SAMPLE (a multiple of 50) makes
# tests and development faster
SEARCH_SAMPLE = int(os.environ.get("GATESCOPE_SEARCH_SAMPLE", "2000"))
WINDOW = 100  # longer texts open on this many tokens; the window slider reaches the rest


@dataclass(frozen=True)
class Ranking:
    by: str  # a key of core.units.RANKINGS
    criterion: str  # what the reader sees, e.g. "follows feature X: depth inside parentheses"
    scores: pd.DataFrame  # unit, score, in ranking order
    score_label: str  # what the score is

    def top(self, n: int | None) -> list[int]:
        order = [int(u) for u in self.scores["unit"]]
        return order if n is None else order[:n]


def choose_ranking(prefix: str, cursor: int | None = None, where=st) -> tuple[str, str | None]:
    """The "Rank units by" control and, for "follows feature X", the feature: (a key of core.units.RANKINGS,
    feature or None). "most active at the cursor" is offered only where the page has a cursor."""
    options = [k for k in core_units.RANKINGS if k != "cursor" or cursor is not None]
    by = common.selectbox(
        "Rank units by",
        options,
        key=f"{prefix}_rank",
        where=where,
        format_func=lambda k: core_units.RANKINGS[k],
        help="Which units come first in the heatmaps. A unit that only counts words changes a lot but means little; "
        "removing the straight-line trend along the text ranks it low.",
    )
    feature = None
    if by == "feature":
        feature = common.selectbox(
            "Feature X",
            list(core_units.FEATURES),
            index=list(core_units.FEATURES).index("paren_depth"),
            key=f"{prefix}_rank_feature",
            where=where,
            format_func=lambda f: FEATURE_LABELS[f],
            help="Rank by |Pearson r| between the unit and this feature track, over the tokens of your text.",
        )
    return by, feature


def rank(tr, name: str, by: str, feature: str | None = None, cursor: int | None = None, where=st) -> Ranking:
    """``tr[name]``'s units in the chosen order (``core.units.rank``), with what the order means."""
    scores = core_units.rank(tr, name, by, feature=feature, cursor=cursor)
    if by == "detrended":
        label, criterion = "mean |change| per step after removing the position line", core_units.RANKINGS[by]
    elif by == "change":
        label, criterion = "mean |change| per step", core_units.RANKINGS[by]
    elif by == "feature":
        label, criterion = f"|r| with {feature}", f"follows {FEATURE_LABELS[feature]}"
        if scores["score"].isna().all():
            where.caption(
                f"ℹ️ In this text “{FEATURE_LABELS[feature]}” is the same at every token (or the text has fewer "
                "than 3 tokens), so no unit can follow it: units are in number order."
            )
    else:
        label, criterion = f"|value| at token {cursor}", f"most active at the cursor (token {cursor})"
    return Ranking(by, criterion, scores, label)


def ranking(tr, name: str, prefix: str, cursor: int | None = None, where=st) -> Ranking:
    """``choose_ranking`` and ``rank`` for one value."""
    by, feature = choose_ranking(prefix, cursor, where)
    return rank(tr, name, by, feature, cursor, where)


def display(prefix: str, where=st) -> tuple[bool, bool]:
    """(feature tracks shown, each row on its own scale)."""
    tracks = common.toggle(
        "Feature tracks under the heatmaps",
        value=True,
        key=f"{prefix}_tracks",
        where=where,
        help="Parentheses, quotes, sentence starts and ends, negation scope and distance since the last "
        "full stop, computed from your tokens (rules: core.units.features).",
    )
    normalise = common.toggle(
        "Each row on its own scale",
        value=False,
        key=f"{prefix}_normalise",
        where=where,
        help="Divide each unit's row by its largest |value| in the window, so small units show their shape.",
    )
    return tracks, normalise


def tracks_frame(tr) -> pd.DataFrame:
    """The feature tracks of the whole text, as drawn under the heatmaps."""
    return core_units.features(tr.labels())[TRACKS]


def _first_bracket(tr) -> tuple[int, int]:
    """The first parenthesised stretch of the text, else the last token: where a span starts."""
    depth = core_units.features(tr.labels())["paren_depth"].to_numpy()
    inside = np.flatnonzero(depth > 0)
    if inside.size == 0:
        return tr.length - 1, tr.length
    a = int(inside[0])
    b = a
    while b < tr.length and depth[b] > 0:
        b += 1
    return a, b


def _threshold_control(tr, panel: charts.Panel, prefix: str) -> float:
    if panel.scale == "gate":
        lo, hi, start, step = 0.0, 1.0, 0.5, 0.05
    elif panel.scale == "tanh":
        lo, hi, start, step = -1.0, 1.0, 0.3, 0.05
    else:  # unbounded: the text's own range, rounded out to a tenth
        m = max(0.1, float(np.ceil(np.abs(charts.values(tr, panel.name)).max() * 10) / 10))
        lo, hi, start, step = -m, m, min(0.3, m), 0.05
    return common.slider(
        "Threshold: a unit is on at a token when its value is at least this",
        lo,
        hi,
        start,
        step=step,
        key=f"{prefix}_threshold",
        reset_on=panel.name,
    )


def _around(span: tuple[int, int], T: int, window: tuple[int, int] | None) -> tuple[int, int]:
    """The page's window when it shows the whole span, else a window of up to ``WINDOW`` tokens around the span."""
    lo, hi = window or (0, T)
    if lo <= span[0] and span[1] <= hi:
        return lo, hi
    lo = max(0, min(span[0] - WINDOW // 4, T - WINDOW))
    return lo, min(T, max(span[1], lo + WINDOW))


def match_section(tr, panels: Sequence[charts.Panel], prefix: str, window: tuple[int, int] | None = None,
                  model_name: str | None = None) -> None:
    """LSTMVis's select-and-match for one value of ``panels``, on the whole text, and in held-out text."""
    T = tr.length
    st.subheader("Select a span: the units on there and off elsewhere, and where else they are on")
    st.caption(
        "As in LSTMVis (Strobelt et al.): pick a stretch of your text and a threshold; the units listed are "
        "on (at least the threshold) at every token of the stretch and off at every other token of the text, "
        "but for the share the tolerance allows (of the stretch's tokens, and of the others). Then find the same "
        "units on together in held-out sentences the model never trained on."
    )
    titles = {p.title: p for p in panels}
    hidden = [i for i, p in enumerate(panels) if p.name.endswith(".hidden")]
    c1, c2 = st.columns([1, 2])
    with c1:
        which = common.selectbox(
            "Value the units are read from", list(titles), index=hidden[0] if hidden else 0,
            key=f"{prefix}_match_value",
        )
    panel = titles[which]
    with c2:
        a, b = _first_bracket(tr)
        span = common.slider(
            "Span: token positions (first, last + 1)", 0, T, (a, b), key=f"{prefix}_span",
            help="Starts on your text's first parenthesis, if it has one, else on its last token.",
        )
    c1, c2 = st.columns(2)
    with c1:
        threshold = _threshold_control(tr, panel, prefix)
    with c2:
        tolerance = common.slider(
            "Tolerance: share of tokens allowed to break the rule (inside, and outside)", 0.0, 0.5, 0.1, step=0.05,
            key=f"{prefix}_tolerance",
        )
    start, end = span
    if end <= start:
        st.info("Widen the span to at least one token.", icon="↔️")
        return
    st.text(f"Span {start}-{end - 1}: " + " ".join(tr.labels()[start:end]))
    found = core_units.match(tr, panel.name, (start, end), threshold, tolerance)
    if found.empty:
        st.info(
            f"No unit of {panel.title} is on throughout tokens {start}-{end - 1} and off elsewhere at threshold "
            f"{threshold:g} with tolerance {tolerance:g}. Raise the tolerance, move the threshold or change the span.",
            icon="🔍",
        )
        return
    units = [int(u) for u in found["unit"]]
    st.markdown(f"**{len(units)} unit{'s' if len(units) != 1 else ''}** of {panel.title} match "
                "(score: the mean of the share of the span's tokens where the unit is on and the share of the other "
                "tokens where it is off).")
    around = _around(span, T, window)
    left, right = st.columns([1, 3])
    with left:
        st.dataframe(found.head(200), hide_index=True, height=min(320, 38 + 35 * len(units)))
    with right:
        fig = charts.state_heatmaps(tr, [panel], units[:20], around, tracks=tracks_frame(tr))
        common.chart(fig, f"{prefix}_match", lambda: charts.state_frame(tr, [panel], units[:20], around),
                     f"{prefix}_matching_units")

    c1, c2 = st.columns([2, 1])
    with c1:
        search = common.toggle(
            f"Find these units on together in {SEARCH_SAMPLE:,} held-out sentences",
            value=False,
            key=f"{prefix}_search",
            help="Held-out test sentences (runs of 50 neighbouring sentences, read as running text). The first "
            "search of a value traces them once, which takes a few seconds; later searches reuse it.",
        )
    with c2:
        k = common.number_input("Units searched (best first)", 1, min(20, len(units)), min(5, len(units)),
                                key=f"{prefix}_search_units")
    if not search:
        return
    model = common.model(model_name or tr.meta.get("model", ""))
    if model is None:
        return
    chosen = units[:k]
    with st.spinner(f"Tracing {SEARCH_SAMPLE:,} held-out sentences once for {panel.title} (kept for later searches)…"):
        results = core_units.search(model, panel.name, chosen, threshold, core_units.heldout_sample(SEARCH_SAMPLE),
                                    limit=50)
    if results.empty:
        st.info(f"Units {', '.join(map(str, chosen))} are never on together (at {threshold:g}) in the held-out "
                "sentences.", icon="🔍")
        return
    st.markdown(
        f"Where units {', '.join(map(str, chosen))} are on together in held-out text, best first. "
        "Score: the share of (unit, token) pairs of the sentence that are on inside the match and off outside it."
    )
    table = charts.match_frame(results)
    styled = (
        table.style.set_properties(subset=["match"], **{"background-color": "#ffe08a", "color": "#1a1a1a"})
        .format({"score": "{:.3f}"})
    )
    st.dataframe(styled, hide_index=True, height=min(420, 38 + 35 * len(table)))
    common.csv_download(lambda: table, f"{prefix}_matches", f"{prefix}_heldout_matches")
