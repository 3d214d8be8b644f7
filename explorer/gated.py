"""The view the LSTM and GRU pages share: every gate and state on one token axis, a step cursor, chosen units.

Each page gives its panels (which trace values, in the lecture's order), the
value that ranks the units, and a function that draws the cell at the cursor
with its equations.
"""

from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from explorer import charts, common


def controls(tokens: list[str], H: int, prefix: str) -> tuple[int | None, tuple[int, int], int]:
    """Units shown, token window, step cursor."""
    T = len(tokens)
    c1, c2 = st.columns([1, 2])
    with c1:
        n_units = common.units_picker(H, key=f"{prefix}_units")
    with c2:
        window = common.window_picker(T, key=f"{prefix}_window")
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
    """Heatmaps, the cell at the cursor, chosen units over time, units ranked by change.

    ``model_id`` names the model (and direction) shown: chosen unit numbers are reset when it changes."""
    tokens = tr.labels()
    ranked_by = tr.unit_change(rank_name).numpy()  # (H,)
    H = ranked_by.shape[0]
    n_units, window, cursor = controls(tokens, H, prefix)
    units = charts.top_units(ranked_by, n_units)

    st.subheader(f"Gates and states: {len(units)} of {H} units by token")
    st.caption(
        f"Rows are the units whose {rank_label} changes most, in the same order in every panel; "
        "the outlined column is the step cursor. Gates run from 0 (closed) to 1 (open)."
    )
    fig = charts.state_heatmaps(tr, panels, units, window, cursor)
    common.chart(fig, f"{prefix}_gates", lambda: charts.state_frame(tr, panels, units, window), f"{prefix}_gates")

    st.subheader("The cell at the cursor")
    common.show_token(cursor, tokens[cursor])
    unit = common.selectbox(
        "Unit",
        units,
        key=f"{prefix}_unit",
        reset_on=model_id,
        format_func=lambda u: f"unit {u}",
        help="Units listed by how much they change, the most first.",
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

    st.subheader("Units ranked by how much they change")
    fig = charts.unit_change_bars(ranked_by, units, rank_label)
    common.chart(fig, f"{prefix}_rank", lambda: charts.unit_change_frame(ranked_by, units), f"{prefix}_unit_ranking")
