"""Attention: every head at once, one head large, one query's weights, and weights times values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .base import WEIGHT_SCALE, _ax, _colorbar, _colour_scale, _f32, _figure, _title, _window, token_axis, values

# -- attention -------------------------------------------------------------------------------------
def attention_shape(trace) -> tuple[int, int]:
    """(layers, heads) of a traced Transformer."""
    layers = sorted({int(n.split(".")[1]) for n in trace.names("layers.*.attention.weights")})
    return len(layers), int(trace[f"layers.{layers[0]}.attention.weights"].shape[0])


def _weights_scale(w: np.ndarray) -> dict:
    """0 to (nearly) the largest weight shown: on long inputs most weights are small, and a 0..1 scale
    would leave everything pale but the first token. The few larger weights saturate."""
    top = float(np.quantile(w, 0.995)) if w.size else 1.0
    top = min(1.0, max(top, 0.05))
    title = "attention weight" if top >= 0.999 else f"attention weight (darkest ≥ {top:.2f})"
    return dict(colorscale=WEIGHT_SCALE, cmin=0.0, cmax=top, colorbar=_colorbar(title))


def attention_grid(trace, window: tuple[int, int] | None = None) -> go.Figure:
    """Every layer (rows) by every head (columns): attention weights, queries down, keys across."""
    L, Hh = attention_shape(trace)
    lo, hi = _window(trace, window)
    xaxis = token_axis(trace.labels()[lo:hi], lo, trace.unknown, max_ticks=10, label_chars=10)
    yaxis = token_axis(trace.labels()[lo:hi], lo, trace.unknown, max_ticks=16, label_chars=10)
    cell, gap_x, gap_y, top, bottom = 300, 0.025, 40, 40, 90
    height = top + bottom + L * cell + (L - 1) * gap_y
    width = (0.92 - gap_x * (Hh - 1)) / Hh  # the colour bar takes the right edge
    shown = np.stack([values(trace, f"layers.{layer}.attention.weights")[:, lo:hi, lo:hi] for layer in range(L)])
    traces, layout, notes = [], {"coloraxis": _weights_scale(shown)}, []
    for layer in range(L):
        w = shown[layer]
        y1 = 1 - (top + layer * (cell + gap_y)) / height
        y0 = y1 - cell / height
        for h in range(Hh):
            n = layer * Hh + h + 1
            x0 = h * (width + gap_x)
            traces.append(
                dict(
                    type="heatmap",
                    z=_f32(w[h]),
                    x=xaxis.categories,
                    y=yaxis.categories,
                    coloraxis="coloraxis",
                    xaxis=f"x{_ax(n)}",
                    yaxis=f"y{_ax(n)}",
                    hovertemplate=f"layer {layer}, head {h}<br>query %{{y}}<br>key %{{x}}<br>"
                    "weight %{z:.6g}<extra></extra>",
                )
            )
            layout[f"xaxis{_ax(n)}"] = xaxis.layout(
                domain=[x0, x0 + width],
                anchor=f"y{_ax(n)}",
                tickfont=dict(size=10),
                tickangle=-60,
                showticklabels=layer == L - 1,  # the bottom row names the keys for all
            )
            layout[f"yaxis{_ax(n)}"] = yaxis.layout(
                domain=[y0, y1],
                anchor=f"x{_ax(n)}",
                tickfont=dict(size=10),
                tickangle=0,
                autorange="reversed",
                showticklabels=h == 0,
            )
            notes.append(_title(f"<b>layer {layer}, head {h}</b>", x=x0, y=y1 + 4 / height, size=14))
    return _figure(traces, height, annotations=notes, margin=dict(l=10, r=10, t=10, b=10), **layout)


def attention_grid_frame(trace, window: tuple[int, int] | None = None) -> pd.DataFrame:
    L, _ = attention_shape(trace)
    lo, hi = _window(trace, window)
    frames = []
    for layer in range(L):
        f = trace.to_frame(f"layers.{layer}.attention.weights")
        f = f[(f.position >= lo) & (f.position < hi) & (f.unit >= lo) & (f.unit < hi)]
        frames.append(
            f.rename(
                columns={
                    "position": "query_position",
                    "token": "query_token",
                    "unit": "key_position",
                    "value": "weight",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def attention_head_frame(trace, layer: int, head: int, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """The table behind ``attention_head``: one head's weights in the window (the rows of ``attention_grid_frame``)."""
    f = attention_grid_frame(trace, window)
    return f[(f["layer"] == layer) & (f["head"] == head)].reset_index(drop=True)


def attention_head(
    trace, layer: int, head: int, window: tuple[int, int] | None = None, query: int | None = None
) -> go.Figure:
    """One head, large: queries down, keys across, with the chosen query's row outlined."""
    lo, hi = _window(trace, window)
    axis = token_axis(trace.labels()[lo:hi], lo, trace.unknown, max_ticks=32)
    w = values(trace, f"layers.{layer}.attention.weights")[head, lo:hi, lo:hi]
    heat = dict(
        type="heatmap",
        z=_f32(w),
        x=axis.categories,
        y=axis.categories,
        coloraxis="coloraxis",
        hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.6g}<extra></extra>",
    )
    shapes = []
    if query is not None and lo <= query < hi:
        shapes.append(
            dict(
                type="rect",
                x0=-0.5,
                x1=hi - lo - 0.5,
                y0=query - lo - 0.5,
                y1=query - lo + 0.5,
                line=dict(color="#d62728", width=2),
            )
        )
    side = min(900, max(460, 13 * (hi - lo) + 200))
    return _figure(
        [heat],
        side,
        shapes=shapes,
        coloraxis=_weights_scale(w),
        title=dict(text=f"layer {layer}, head {head}", font_size=16),
        xaxis=axis.layout(title_text="key (the word looked at)"),
        yaxis=axis.layout(title_text="query (the word looking)", autorange="reversed", tickangle=0),
    )


def query_weight_bars(trace, layer: int, head: int, query: int) -> go.Figure:
    """The attention of one query over every key (its row in the head's heatmap), as bars."""
    axis = token_axis(trace.labels(), 0, trace.unknown)
    w = values(trace, f"layers.{layer}.attention.weights")[head, query]
    bar = dict(
        type="bar",
        x=axis.categories,
        y=_f32(w),
        marker_color="#4c72b0",
        hovertemplate="key %{x}<br>weight %{y:.6g}<extra></extra>",
    )
    shapes = [
        dict(
            type="line",
            x0=query,
            x1=query,
            y0=0,
            y1=1,
            xref="x",
            yref="y domain",
            line=dict(color="#d62728", width=1.5, dash="dot"),
        )
    ]
    return _figure(
        [bar],
        340,
        shapes=shapes,
        showlegend=False,
        xaxis=axis.layout(title_text="key"),
        yaxis=dict(title_text="softmax weight", range=[0, min(1.02, float(w.max()) * 1.15 + 1e-6)]),
    )


def value_mix(trace, layer: int, head: int, query: int) -> go.Figure:
    """weights x V: each key's value vector scaled by its weight (left), summed into the context vector (right)."""
    prefix = f"layers.{layer}.attention."
    w = values(trace, prefix + "weights")[head, query]  # (T,)
    v = values(trace, prefix + "value")[head]  # (T, d)
    ctx = values(trace, prefix + "context")[head, query]  # (d,)
    keys = query + 1 if trace.meta.get("causal", False) else trace.length  # a causal model never looks later
    axis = token_axis(trace.labels()[:keys], 0, trace.unknown, max_ticks=40)
    dims = [f"dim {i}" for i in range(v.shape[1])]
    weighted = _f32((w[:keys, None] * v[:keys]).T)  # (d, keys)
    traces = [
        dict(
            type="heatmap",
            z=weighted,
            x=axis.categories,
            y=dims,
            coloraxis="coloraxis",
            xaxis="x",
            yaxis="y",
            hovertemplate="key %{x}<br>%{y}<br>weight × value %{z:.6g}<extra></extra>",
        ),
        dict(
            type="heatmap",
            z=_f32(ctx[:, None]),
            x=["context"],
            y=dims,
            coloraxis="coloraxis2",
            xaxis="x2",
            yaxis="y2",
            hovertemplate="context<br>%{y}<br>value %{z:.6g}<extra></extra>",
        ),
    ]
    yaxis = dict(type="category", autorange="reversed", tickmode="array", tickvals=dims[::4])
    # two scales: one key's share is small next to their sum, and would fade on a shared scale. Both colour
    # bars, with their titles, stand inside the figure: past x = 1 the second one's title was cut off.
    return _figure(
        traces,
        500,
        coloraxis=dict(**_colour_scale("free", weighted), colorbar=dict(_colorbar("weight × value"), x=0.78)),
        coloraxis2=dict(**_colour_scale("free", ctx), colorbar=dict(_colorbar("context"), x=0.9)),
        annotations=[_title("<b>weight × value vector, per key</b>"), _title("<b>context = sum</b>", x=0.68)],
        xaxis=axis.layout(domain=[0, 0.66], anchor="y"),
        yaxis=dict(**yaxis, anchor="x"),
        xaxis2=dict(domain=[0.69, 0.75], anchor="y2", type="category"),
        yaxis2=dict(**yaxis, anchor="x2", matches="y", showticklabels=False),
    )


def value_mix_frame(trace, layer: int, head: int, query: int) -> pd.DataFrame:
    prefix = f"layers.{layer}.attention."
    w = values(trace, prefix + "weights")[head, query]
    v = values(trace, prefix + "value")[head]
    T, d = v.shape
    return pd.DataFrame(
        {
            "key_position": np.repeat(np.arange(T), d),
            "key_token": np.repeat(np.array(trace.labels(), dtype=object), d),
            "dimension": np.tile(np.arange(d), T),
            "weight": np.repeat(w.astype(np.float64), d),
            "value": v.reshape(-1).astype(np.float64),
            "weighted_value": (w[:, None] * v).reshape(-1).astype(np.float64),
        }
    )
