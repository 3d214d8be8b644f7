"""States and gates: unit-by-token heatmaps on one token axis, units as lines, units ranked by change, vectors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import units as core_units

from .base import (
    CURSOR_COLOUR,
    GATE_SCALE,
    SIGNED_SCALE,
    _ax,
    _colorbar,
    _colour_scale,
    _f32,
    _figure,
    _title,
    _window,
    esc,
    short,
    token_axis,
    values,
)

# -- which units to show --------------------------------------------------------------------
def top_units(change: np.ndarray, n: int | None) -> list[int]:
    """Units ordered by ``change`` (largest first; from ``Trace.unit_change``); the first ``n``, or all when None."""
    order = np.argsort(-np.asarray(change), kind="stable")
    return [int(u) for u in (order if n is None else order[:n])]


def unit_change_bars(change: np.ndarray, units: Sequence[int], quantity: str) -> go.Figure:
    """Bar chart: the shown units, ranked by mean |change| per step of ``quantity`` (``Trace.unit_change``)."""
    bar = dict(
        type="bar",
        x=[f"unit {u}" for u in units],
        y=_f32(change[list(units)]),
        marker_color="#4c72b0",
        hovertemplate="%{x}<br>mean |change| per step: %{y:.6g}<extra></extra>",
    )
    return _figure(
        [bar],
        320,
        showlegend=False,
        xaxis=dict(type="category", title_text=f"unit, ranked by the change of its {quantity}", tickangle=-45),
        yaxis=dict(title_text="mean |change| per step"),
    )


def unit_change_frame(change: np.ndarray, units: Sequence[int]) -> pd.DataFrame:
    return pd.DataFrame({"rank": range(1, len(units) + 1), "unit": list(units), "mean_abs_change": change[list(units)]})


# -- the gate chart: states and gates as unit-by-token heatmaps on one token axis ------------
@dataclass(frozen=True)
class Panel:
    name: str  # trace name, e.g. "layers.0.forward.forget_gate"
    title: str  # what the reader sees, e.g. "forget gate f_t"
    scale: str  # "gate" (0..1), "tanh" (-1..1) or "free" (symmetric around 0 at its own range)
    colorbar: str = ""  # colour-scale title; defaults to the panel title


def _row_height(n_units: int, n_panels: int) -> int:
    per_unit = 10 if n_panels == 1 else 6  # a lone panel can afford taller rows
    return int(min(420 if n_panels == 1 else 340, max(120, per_unit * n_units + 40)))


def state_heatmaps(
    trace,
    panels: Sequence[Panel],
    units: Sequence[int],
    window: tuple[int, int] | None = None,
    cursor: int | None = None,
    unit_names: Sequence[str] | None = None,
    tracks: pd.DataFrame | None = None,
    normalise: bool = False,
) -> go.Figure:
    """Unit-by-token heatmaps, one row per panel, sharing the token axis (zoom one, zoom all).

    ``units`` are the rows (the same units in every panel, so a row reads across gates);
    ``window`` = (first, last+1) positions shown; ``cursor`` outlines the step being inspected.

    Colours: gates 0..1 and tanh values -1..1 as they are; an unbounded ("free")
    value gets a robust range (``core.units.colour_range``: +-the 1st-99th
    percentile of what is shown), the true range stated in its colour bar.
    ``normalise`` divides each row by its own largest |value| (``core.units.normalise_rows``),
    so every unit uses the whole scale; hover always gives the true value.
    ``tracks``: feature tracks (``core.units.features`` of the whole text, one row per
    token) drawn as thin grey rows under the heatmaps, on the same token axis.
    """
    lo, hi = _window(trace, window)
    axis = token_axis(trace.labels()[lo:hi], lo, trace.unknown)
    units = list(units)
    ynames = list(unit_names) if unit_names is not None else [f"unit {u}" for u in units]
    ytick = ynames[:: max(1, math.ceil(len(ynames) / 10))]
    row = _row_height(len(units), len(panels))
    label = 20 + 6 * max((len(short(t)) for t in trace.labels()[lo:hi]), default=1)  # room for slanted tick labels
    labels_on_top = len(panels) > 1  # tall stacks repeat the token labels above the first panel
    gap, top, bottom = 44, (label + 28 if labels_on_top else 30), label  # pixels
    shown_tracks = list(tracks.columns) if tracks is not None and len(tracks.columns) else []
    track_height = TRACK_ROW * len(shown_tracks)
    height = top + bottom + len(panels) * row + (len(panels) - 1) * gap + (gap + track_height if shown_tracks else 0)
    last = len(panels) + (1 if shown_tracks else 0)  # the subplot that carries the bottom token labels
    traces, layout, notes, shapes = [], {}, [], []
    for r, p in enumerate(panels, start=1):
        y1 = 1 - (top + (r - 1) * (row + gap)) / height  # paper coordinates of this panel
        y0 = y1 - row / height
        raw = values(trace, p.name)[lo:hi][:, units].T  # (U, W)
        z = _f32(core_units.normalise_rows(raw) if normalise else raw)
        hover = f"<b>{esc(p.title)}</b><br>token %{{x}}<br>%{{y}}<br>value %{{z:.6g}}<extra></extra>"
        extra = {}
        if normalise:
            extra = dict(customdata=_f32(raw))
            hover = (f"<b>{esc(p.title)}</b><br>token %{{x}}<br>%{{y}}<br>value %{{customdata:.6g}}"
                     "<br>÷ the row's largest |value|: %{z:.3f}<extra></extra>")
        traces.append(
            dict(
                type="heatmap",
                z=z,
                x=axis.categories,
                y=ynames,
                coloraxis=f"coloraxis{_ax(r)}",
                xaxis=f"x{_ax(r)}",
                yaxis=f"y{_ax(r)}",
                hovertemplate=hover,
                **extra,
            )
        )
        scale, bar_title = _panel_colours(p, raw, normalise)
        layout[f"coloraxis{_ax(r)}"] = dict(**scale, colorbar=_colorbar(bar_title, (y0 + y1) / 2, row / height))
        layout[f"xaxis{_ax(r)}"] = axis.layout(
            anchor=f"y{_ax(r)}",
            domain=[0, 1],
            showticklabels=r == last or (r == 1 and labels_on_top),
            side="top" if r == 1 and labels_on_top else "bottom",
            **({} if r == 1 else dict(matches="x")),
        )
        layout[f"yaxis{_ax(r)}"] = dict(
            type="category",
            autorange="reversed",
            domain=[y0, y1],
            anchor=f"x{_ax(r)}",
            tickmode="array",
            tickvals=ytick,
        )
        notes.append(_title(f"<b>{esc(p.title)}</b>", y=y1 + (label + 4 if r == 1 and labels_on_top else 6) / height))
        if cursor is not None and lo <= cursor < hi:
            shapes.append(
                dict(
                    type="rect",
                    x0=cursor - lo - 0.5,
                    x1=cursor - lo + 0.5,
                    y0=0,
                    y1=1,
                    xref=f"x{_ax(r)}",
                    yref=f"y{_ax(r)} domain",
                    line=dict(color=CURSOR_COLOUR, width=3),
                    fillcolor="rgba(0,0,0,0)",
                )
            )
    if shown_tracks:
        r = last
        y1 = 1 - (top + len(panels) * (row + gap)) / height
        y0 = y1 - track_height / height
        window_tracks = tracks.iloc[lo:hi]
        raw = window_tracks.to_numpy(np.float64).T  # (F, W)
        traces.append(
            dict(
                type="heatmap",
                z=_f32(core_units.normalise_rows(raw)),
                customdata=_f32(raw),
                x=axis.categories,
                y=shown_tracks,
                zmin=0.0,
                zmax=1.0,
                colorscale="Greys",
                showscale=False,
                xgap=0,
                ygap=1,
                xaxis=f"x{_ax(r)}",
                yaxis=f"y{_ax(r)}",
                hovertemplate="<b>%{y}</b><br>token %{x}<br>value %{customdata:.6g}<extra></extra>",
            )
        )
        layout[f"xaxis{_ax(r)}"] = axis.layout(anchor=f"y{_ax(r)}", domain=[0, 1], showticklabels=True, matches="x")
        layout[f"yaxis{_ax(r)}"] = dict(type="category", autorange="reversed", domain=[y0, y1], anchor=f"x{_ax(r)}",
                                        tickfont=dict(size=11))
        notes.append(_title("<b>feature tracks</b> (from the tokens; darker = larger, each row on its own scale)",
                            y=y1 + 6 / height, size=13))
    return _figure(traces, height, annotations=notes, shapes=shapes, margin=dict(l=10, r=10, t=10, b=10), **layout)


TRACK_ROW = 15  # pixels per feature track


def _panel_colours(p: Panel, raw: np.ndarray, normalise: bool) -> tuple[dict, str]:
    """Colour scale and colour-bar title of one panel (see ``state_heatmaps``)."""
    title = esc(p.colorbar or p.title)
    if normalise:
        gate = p.scale == "gate"
        scale = dict(colorscale=GATE_SCALE if gate else SIGNED_SCALE, cmin=0.0 if gate else -1.0, cmax=1.0)
        return scale, f"{title}<br>÷ row max |value|"
    if p.scale != "free":
        return _colour_scale(p.scale, raw), title
    c = core_units.colour_range(raw)
    if not np.isfinite(c.true_min):
        return dict(colorscale=SIGNED_SCALE, cmin=c.cmin, cmax=c.cmax), title
    return (dict(colorscale=SIGNED_SCALE, cmin=c.cmin, cmax=c.cmax),
            f"{title}<br>colours ±{c.cmax:.3g} (1st-99th pct)<br>true {c.true_min:.3g} to {c.true_max:.3g}")


def state_frame(
    trace, panels: Sequence[Panel], units: Sequence[int], window: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Long table behind ``state_heatmaps``: value_name, position, token, unit, value."""
    lo, hi = _window(trace, window)
    tokens = np.array(trace.labels()[lo:hi], dtype=object)
    units = list(units)
    rows = []
    for p in panels:
        z = values(trace, p.name)[lo:hi][:, units]  # (W, U)
        rows.append(
            pd.DataFrame(
                {
                    "value_name": p.name,
                    "position": np.repeat(np.arange(lo, hi), len(units)),
                    "token": np.repeat(tokens, len(units)),
                    "unit": np.tile(units, hi - lo),
                    "value": z.reshape(-1).astype(np.float64),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def unit_lines(
    trace,
    name: str,
    units: Sequence[int],
    title: str,
    window: tuple[int, int] | None = None,
    cursor: int | None = None,
    scale: str = "free",
) -> go.Figure:
    """Chosen units of one value as lines over the tokens."""
    lo, hi = _window(trace, window)
    axis = token_axis(trace.labels()[lo:hi], lo, trace.unknown)
    v = values(trace, name)[lo:hi]
    traces = [
        dict(
            type="scatter",
            x=axis.categories,
            y=_f32(v[:, u]),
            mode="lines+markers" if hi - lo <= 80 else "lines",
            name=f"unit {u}",
            hovertemplate=f"unit {u}<br>token %{{x}}<br>value %{{y:.6g}}<extra></extra>",
        )
        for u in units
    ]
    shapes = []
    if cursor is not None and lo <= cursor < hi:
        shapes.append(
            dict(
                type="line",
                x0=cursor - lo,
                x1=cursor - lo,
                y0=0,
                y1=1,
                xref="x",
                yref="y domain",
                line=dict(color=CURSOR_COLOUR, width=2, dash="dot"),
            )
        )
    yr = dict(range=[-0.02, 1.02]) if scale == "gate" else dict(range=[-1.05, 1.05]) if scale == "tanh" else {}
    return _figure(
        traces,
        400,
        shapes=shapes,
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        xaxis=axis.layout(title_text="token"),
        yaxis=dict(title_text=esc(title), zeroline=True, **yr),
    )


def lines_frame(trace, name: str, units: Sequence[int], window: tuple[int, int] | None = None) -> pd.DataFrame:
    return state_frame(trace, [Panel(name, name, "free")], units, window)


# -- words to vectors ------------------------------------------------------------------------------
def vector_heatmap(trace, name: str, title: str, colorbar: str, window: tuple[int, int] | None = None) -> go.Figure:
    """A (T, E) value (embedding, positional encoding) as dimensions by tokens."""
    lo, hi = _window(trace, window)
    axis = token_axis(trace.labels()[lo:hi], lo, trace.unknown)
    z = _f32(values(trace, name)[lo:hi].T)  # (E, W)
    dims = [f"dim {d}" for d in range(z.shape[0])]
    heat = dict(
        type="heatmap",
        z=z,
        x=axis.categories,
        y=dims,
        coloraxis="coloraxis",
        hovertemplate=f"<b>{esc(title)}</b><br>token %{{x}}<br>%{{y}}<br>value %{{z:.6g}}<extra></extra>",
    )
    return _figure(
        [heat],
        560,
        title=dict(text=esc(title), font_size=16),
        coloraxis=dict(**_colour_scale("free", z), colorbar=_colorbar(esc(colorbar))),
        xaxis=axis.layout(title_text="token"),
        yaxis=dict(
            type="category",
            autorange="reversed",
            title_text="dimension",
            tickmode="array",
            tickvals=dims[:: max(1, len(dims) // 16)],
        ),
    )


def vector_frame(trace, name: str, window: tuple[int, int] | None = None) -> pd.DataFrame:
    lo, hi = _window(trace, window)
    v = values(trace, name)[lo:hi]
    W, E = v.shape
    return pd.DataFrame(
        {
            "position": np.repeat(np.arange(lo, hi), E),
            "token": np.repeat(np.array(trace.labels()[lo:hi], dtype=object), E),
            "dimension": np.tile(np.arange(E), W),
            "value": v.reshape(-1).astype(np.float64),
        }
    )
