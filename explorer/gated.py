"""The view the LSTM and GRU pages share: every gate and state on one token axis, a step cursor, chosen units.

Each page gives its panels (which trace values, in the lecture's order), the
value that ranks the units, and a function that draws the cell at the cursor
with its equations. The ranking, the feature tracks and LSTMVis's
select-and-match come from ``explorer.units_view`` (also used by the RNN and
Bidirectional pages).
"""

from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from explorer import charts, common, units_view


def controls(tokens: list[str], H: int, prefix: str) -> tuple[int | None, tuple[int, int], int]:
    """Units shown, token window, step cursor."""
    T = len(tokens)
    c1, c2 = st.columns([1, 2])
    with c1:
        n_units = common.units_picker(H, key=f"{prefix}_units")
    with c2:
        window = common.window_picker(T, key=f"{prefix}_window", above=units_view.WINDOW, span=units_view.WINDOW)
    cursor = common.cursor_picker(tokens, key=f"{prefix}_cursor")
    return n_units, window, cursor


def view(
    tr,
    panels: Sequence[charts.Panel],
    rank_name: str,
    rank_label: str,
    prefix: str,
    cell: Callable[[int, int, list[int]], None],
    model_id: str,
) -> None:
    """Heatmaps, the cell at the cursor, chosen units over time, units in the chosen ranking, select-and-match.

    ``model_id`` names the model (and direction) shown: chosen unit numbers are reset when it changes."""
    tokens = tr.labels()
    H = tr[rank_name].shape[1]
    n_units, window, cursor = controls(tokens, H, prefix)
    c1, c2 = st.columns([1, 1])
    with c1:
        ranked = units_view.ranking(tr, rank_name, prefix, cursor)
    with c2:
        show_tracks, normalise = units_view.display(prefix)
    units = ranked.top(n_units)

    st.subheader(f"Gates and states: {len(units)} of {H} units by token")
    st.caption(
        f"Rows are the units of the {rank_label} ranked by “{ranked.criterion}”, in the same order in every panel; "
        "the outlined column is the step cursor. Gates run from 0 (closed) to 1 (open); a value with no bound (the "
        "LSTM's cell state) is coloured over the 1st to 99th percentile of what is shown, its true range stated "
        "beside its colour bar."
    )
    tracks = units_view.tracks_frame(tr) if show_tracks else None
    fig = charts.state_heatmaps(tr, panels, units, window, cursor, tracks=tracks, normalise=normalise)
    common.chart(fig, f"{prefix}_gates", lambda: charts.state_frame(tr, panels, units, window), f"{prefix}_gates")

    st.subheader("The cell at the cursor")
    common.show_token(cursor, tokens[cursor])
    unit = common.selectbox(
        "Unit",
        units,
        key=f"{prefix}_unit",
        reset_on=model_id,
        format_func=lambda u: f"unit {u}",
        help="Units listed in the chosen ranking, the first first.",
    )
    cell(cursor, unit, units)

    st.subheader("Chosen units over time")
    c1, c2 = st.columns([1, 2])
    titles = {p.title: p for p in panels}
    with c1:
        which = common.selectbox(
            "Value",
            list(titles),
            index=len(panels) - 2 if len(panels) > 4 else len(panels) - 1,
            key=f"{prefix}_line_value",
        )
    with c2:
        chosen = common.multiselect(
            "Units",
            list(range(H)),
            default=units[:3],
            key=f"{prefix}_line_units",
            reset_on=model_id,
            format_func=lambda u: f"unit {u}",
            max_selections=12,
        )
    p = titles[which]
    fig = charts.unit_lines(tr, p.name, chosen, p.title, window, cursor, p.scale)
    common.chart(
        fig, f"{prefix}_lines", lambda: charts.lines_frame(tr, p.name, chosen, window), f"{prefix}_units_over_time"
    )

    st.subheader(f"Units ranked: {ranked.criterion}")
    fig = charts.unit_rank_bars(ranked.scores, units, ranked.criterion, ranked.score_label)
    common.chart(fig, f"{prefix}_rank", lambda: charts.unit_rank_frame(ranked.scores, units, ranked.score_label),
                 f"{prefix}_unit_ranking")

    units_view.match_section(tr, panels, prefix, window)
