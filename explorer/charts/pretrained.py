"""The pretrained MiniLM's views: head view, model view (72 small maps), neuron view, head patterns, Apple.

Pure functions from a Trace (or a core result) to a plotly Figure; what is drawn
comes from core (``core.heads``, ``core.contextual``); here we only pick and place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .attention import _weights_scale
from .base import (
    WEIGHT_SCALE,
    _ax,
    _colorbar,
    _colour_scale,
    _f32,
    _figure,
    _title,
    _window,
    _wrapped,
    esc,
    short,
    token_axis,
    values,
)

# one colour per head, distinguishable on light and dark backgrounds (plotly's Dark24, first twelve)
HEAD_COLOURS = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#B68100",
                "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080")
MIN_LINE = 0.02  # head view: weights below this draw no line
# head view: weights binned into four line styles (from, to, opacity, width): one plotly trace per head and bin
LINE_BINS = ((0.02, 0.1, 0.12, 0.8), (0.1, 0.3, 0.3, 1.2), (0.3, 0.6, 0.55, 2.0), (0.6, 1.01, 0.85, 3.0))
ROW = 22  # head view: pixels per piece


def head_view(trace, layer: int, heads: list[int], window: tuple[int, int] | None = None,
              focus: int | None = None) -> go.Figure:
    """bertviz's head view: pieces on the left (queries) and right (keys), a line per weight >= MIN_LINE,
    stronger lines darker and thicker, one colour per head. ``focus``: only that query's lines."""
    lo, hi = _window(trace, window)
    tokens = trace.labels()
    w = values(trace, f"layers.{layer}.attention.weights")[:, lo:hi, lo:hi]  # (heads, n, n)
    n = hi - lo
    queries = [focus - lo] if focus is not None and lo <= focus < hi else range(n)
    traces = []
    for h in heads:
        colour = HEAD_COLOURS[h % len(HEAD_COLOURS)]
        for b, (a, z, opacity, width) in enumerate(LINE_BINS):
            xs, ys = [], []
            for i in queries:
                for j in np.nonzero((w[h, i] >= max(a, MIN_LINE)) & (w[h, i] < z))[0]:
                    xs += [0.03, 0.97, None]
                    ys += [i, int(j), None]
            traces.append(dict(type="scatter", mode="lines", x=xs, y=ys, line=dict(color=colour, width=width),
                               opacity=opacity, hoverinfo="skip", legendgroup=f"h{h}", showlegend=False))
        # the legend's entry: the head's colour at full strength (clicking it hides the head's lines)
        traces.append(dict(type="scatter", mode="lines", x=[None], y=[None], line=dict(color=colour, width=4),
                           legendgroup=f"h{h}", name=f"head {h}"))
    labels = [esc(short(t, 18)) for t in tokens[lo:hi]]
    hover_q, hover_k = [], []
    for i in range(n):
        top = sorted(((float(w[h, i, j]), h, j) for h in heads for j in range(n)), reverse=True)[:6]
        lines = "<br>".join(f"head {h} → {lo + j}: {_wrapped(tokens[lo + j])} {v:.4f}" for v, h, j in top)
        hover_q.append(f"query {lo + i}: {_wrapped(tokens[lo + i])}<br>{lines}")
        hover_k.append(f"key {lo + i}: {_wrapped(tokens[lo + i])}")
    faded = ["#888888" if focus is not None and lo + i != focus else None for i in range(n)]
    for x, pos, hover in ((0.0, "middle left", hover_q), (1.0, "middle right", hover_k)):
        traces.append(dict(type="scatter", mode="text+markers", x=[x] * n, y=list(range(n)), text=labels,
                           textposition=pos, marker=dict(size=6, color="#888888", opacity=0.5),
                           textfont=dict(size=13, color=[c or "#444444" for c in faded] if focus is not None else None),
                           hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", showlegend=False))
    height = max(260, ROW * n + 90)
    return _figure(
        traces, height, hovermode="closest", legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0, font_size=12),
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(range=[-1.1, 2.1], visible=False, fixedrange=True),  # the lines take the middle third
        yaxis=dict(range=[n - 0.5, -0.5], visible=False, fixedrange=True),
    )


def head_view_frame(trace, layer: int, heads: list[int], window: tuple[int, int] | None = None) -> pd.DataFrame:
    """The weights behind the head view (every pair, drawn or not)."""
    lo, hi = _window(trace, window)
    f = trace.to_frame(f"layers.{layer}.attention.weights")
    f = f[f["head"].isin(heads) & f.position.between(lo, hi - 1) & f.unit.between(lo, hi - 1)]
    return f.rename(columns={"position": "query_position", "token": "query_token", "unit": "key_position",
                             "value": "weight"})


def model_view(trace, window: tuple[int, int] | None = None) -> go.Figure:
    """Every head of every layer as a small map (queries down, keys across), one colour scale for all."""
    lo, hi = _window(trace, window)
    L = len(trace.names("layers.*.attention.weights"))
    H = int(trace["layers.0.attention.weights"].shape[0])
    axis = token_axis(trace.labels()[lo:hi], lo, trace.unknown, max_ticks=1)
    shown = np.stack([values(trace, f"layers.{l}.attention.weights")[:, lo:hi, lo:hi] for l in range(L)])
    gap_x, cell, gap_y, top = 0.012, 92, 26, 30
    height = top + L * (cell + gap_y)
    width = (0.93 - gap_x * (H - 1)) / H
    traces, layout, notes = [], {"coloraxis": _weights_scale(shown)}, []
    for l in range(L):
        y1 = 1 - (top + l * (cell + gap_y)) / height
        for h in range(H):
            k = l * H + h + 1
            x0 = h * (width + gap_x)
            traces.append(dict(type="heatmap", z=_f32(shown[l, h]), x=axis.categories, y=axis.categories,
                               coloraxis="coloraxis", xaxis=f"x{_ax(k)}", yaxis=f"y{_ax(k)}",
                               hovertemplate=f"layer {l}, head {h}<br>query %{{y}}<br>key %{{x}}<br>"
                               "weight %{z:.6g}<extra></extra>"))
            layout[f"xaxis{_ax(k)}"] = dict(type="category", domain=[x0, x0 + width], anchor=f"y{_ax(k)}",
                                            showticklabels=False, ticks="")
            layout[f"yaxis{_ax(k)}"] = dict(type="category", domain=[y1 - cell / height, y1], anchor=f"x{_ax(k)}",
                                            autorange="reversed", showticklabels=False, ticks="")
            if l == 0:
                notes.append(_title(f"head {h}", x=x0, y=y1 + 2 / height, size=12))
        notes.append(dict(text=f"<b>layer {l}</b>", x=0.935, y=y1 - cell / (2 * height), xref="paper", yref="paper",
                          xanchor="left", showarrow=False, font=dict(size=13)))
    return _figure(traces, height, annotations=notes, margin=dict(l=6, r=6, t=6, b=6), **layout)


def neuron_view(breakdown, tokens, window: tuple[int, int] | None = None) -> go.Figure:
    """How one query's weights are formed in one head: q, each key's k, q*k per dimension (rows: keys),
    then the sum q.k, scaled by 1/sqrt(d), and the softmax over the keys."""
    b = breakdown
    lo, hi = window or (0, len(tokens))
    axis = token_axis(list(tokens)[lo:hi], lo, max_ticks=64)
    d = b.q.shape[0]
    dims = [f"dim {i}" for i in range(d)]
    prod = _f32(b.products.numpy()[lo:hi])
    keys = b.keys.iloc[lo:hi]
    rows = len(axis.categories)
    strip, gap, bottom = 40, 40, 80  # pixels: the query vector's strip on top, the titles' gap, the dims' labels
    height = max(380, 16 * rows + strip + gap + bottom)
    q_row = strip / height
    below = 1 - (strip + gap) / height  # top of the lower panels
    traces = [
        dict(type="heatmap", z=_f32(b.q.numpy()[None, :]), x=dims, y=["q (query)"], coloraxis="coloraxis2",
             xaxis="x", yaxis="y", hovertemplate="query vector<br>%{x}: %{z:.6g}<extra></extra>"),
        dict(type="heatmap", z=prod, x=dims, y=axis.categories, coloraxis="coloraxis", xaxis="x2", yaxis="y2",
             customdata=_f32(b.k.numpy()[lo:hi]),
             hovertemplate="key %{y}<br>%{x}: q × k = %{z:.6g}<br>k = %{customdata:.6g}<extra></extra>"),
        dict(type="bar", orientation="h", x=_f32(keys["scaled"]), y=axis.categories, xaxis="x3", yaxis="y3",
             marker_color="#8c6d31", customdata=np.stack([keys["dot"], keys["scaled"]], axis=1),
             hovertemplate="key %{y}<br>q·k = %{customdata[0]:.6g}<br>q·k / √d = %{customdata[1]:.6g}<extra></extra>"),
        dict(type="bar", orientation="h", x=_f32(keys["weight"]), y=axis.categories, xaxis="x4", yaxis="y4",
             marker_color="#4c72b0", hovertemplate="key %{y}<br>softmax weight %{x:.6g}<extra></extra>"),
    ]
    yk = axis.layout(autorange="reversed", tickangle=0, tickfont_size=11)
    return _figure(
        traces, height, showlegend=False, bargap=0.15,
        coloraxis=dict(**_colour_scale("free", prod), colorbar=dict(_colorbar("q × k"), x=1.0, y=0.45, len=0.8)),
        coloraxis2=dict(**_colour_scale("free", b.q.numpy()), showscale=False),
        annotations=[_title("<b>q × k, per dimension</b> (each row sums to q·k)", y=below + 6 / height),
                     _title(f"<b>q·k / √{d}</b>", x=0.64, y=below + 6 / height),
                     _title("<b>softmax</b>", x=0.83, y=below + 6 / height)],
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(domain=[0, 0.6], anchor="y", showticklabels=False, type="category"),
        yaxis=dict(domain=[1 - q_row, 1], anchor="x", type="category"),
        xaxis2=dict(domain=[0, 0.6], anchor="y2", type="category", tickangle=-90, tickfont_size=9, matches="x"),
        yaxis2=dict(yk, domain=[0, below], anchor="x2"),
        xaxis3=dict(domain=[0.64, 0.8], anchor="y3", zeroline=True),
        yaxis3=dict(yk, domain=[0, below], anchor="x3", matches="y2", showticklabels=False),
        xaxis4=dict(domain=[0.83, 0.96], anchor="y4", rangemode="tozero"),  # at 512 pieces weights are ~0.01
        yaxis4=dict(yk, domain=[0, below], anchor="x4", matches="y2", showticklabels=False),
    )


def neuron_frame(breakdown) -> pd.DataFrame:
    """One row per key piece and dimension: q, k and their product; plus the key's sum, scaling and weight."""
    b = breakdown
    T, d = b.k.shape
    keys = b.keys
    return pd.DataFrame({
        "layer": b.layer, "head": b.head, "query_position": b.query,
        "key_position": np.repeat(np.arange(T), d),
        "key_token": np.repeat(keys["token"].to_numpy(dtype=object), d),
        "dimension": np.tile(np.arange(d), T),
        "q": np.tile(b.q.numpy(), T),
        "k": b.k.numpy().reshape(-1),
        "q_times_k": b.products.numpy().reshape(-1),
        "q_dot_k": np.repeat(keys["dot"].to_numpy(), d),
        "scaled": np.repeat(keys["scaled"].to_numpy(), d),
        "weight": np.repeat(keys["weight"].to_numpy(), d),
    })


def head_patterns_chart(patterns: pd.DataFrame, columns: tuple[str, ...]) -> go.Figure:
    """One layer x head map per pattern: the share of weight each head puts there (0..1)."""
    L = int(patterns["layer"].max()) + 1
    H = int(patterns["head"].max()) + 1
    n = len(columns)
    per_row = 3
    rows = -(-n // per_row)
    gap_x, gap_y = 0.04, 0.16
    width = (0.93 - gap_x * (per_row - 1)) / per_row
    height_each = (1 - gap_y * (rows - 1)) / rows
    traces, layout, notes = [], {}, []
    heads = [f"head {h}" for h in range(H)]
    layers = [f"layer {l}" for l in range(L)]
    for k, col in enumerate(columns):
        r, c = divmod(k, per_row)
        x0 = c * (width + gap_x)
        y1 = 1 - r * (height_each + gap_y)
        z = patterns.pivot(index="layer", columns="head", values=col).to_numpy()
        m = k + 1
        traces.append(dict(type="heatmap", z=_f32(z), x=heads, y=layers, coloraxis="coloraxis", xaxis=f"x{_ax(m)}",
                           yaxis=f"y{_ax(m)}", hovertemplate=f"{esc(col)}<br>%{{y}}, %{{x}}<br>share %{{z:.4f}}<extra></extra>"))
        layout[f"xaxis{_ax(m)}"] = dict(domain=[x0, x0 + width], anchor=f"y{_ax(m)}", type="category", tickangle=-60,
                                        tickfont_size=10, tickvals=heads, ticktext=[str(h) for h in range(H)])
        layout[f"yaxis{_ax(m)}"] = dict(domain=[y1 - height_each, y1], anchor=f"x{_ax(m)}", type="category",
                                        autorange="reversed", tickfont_size=11, showticklabels=c == 0)
        notes.append(_title(f"<b>{esc(col)}</b>", x=x0, y=y1 + 0.01, size=14))
    return _figure(traces, 300 * rows + 40, annotations=notes, margin=dict(l=10, r=10, t=30, b=30),
                   coloraxis=dict(colorscale=WEIGHT_SCALE, cmin=0, cmax=1, colorbar=_colorbar("share of weight")),
                   **layout)


def contextual_chart(closest: pd.DataFrame, labels: dict[str, str], references: list[str]) -> go.Figure:
    """One panel per layer: for each sentence (``labels``: sentence -> short label), its cosine with each
    reference word's vector, as grouped bars."""
    layers = sorted(closest["layer"].unique()) if not closest.empty else []
    n = len(layers)
    gap = 0.015
    width = (1 - gap * (n - 1)) / max(n, 1)
    colours = ("#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd")
    traces, layout, notes = [], {}, []
    for k, layer in enumerate(layers):
        part = closest[closest["layer"] == layer]
        x = [esc(labels[s]) for s in part["sentence"]]
        for r, ref in enumerate(references):
            traces.append(dict(type="bar", x=x, y=_f32(part[ref]), name=esc(ref), legendgroup=ref, showlegend=k == 0,
                               marker_color=colours[r % len(colours)], xaxis=f"x{_ax(k + 1)}", yaxis=f"y{_ax(k + 1)}",
                               hovertemplate=f"%{{x}}<br>layer {layer}<br>cosine with {esc(ref)}: %{{y:.4f}}<extra></extra>"))
        layout[f"xaxis{_ax(k + 1)}"] = dict(domain=[k * (width + gap), k * (width + gap) + width],
                                            anchor=f"y{_ax(k + 1)}", tickangle=-60, tickfont_size=11, type="category")
        layout[f"yaxis{_ax(k + 1)}"] = dict(anchor=f"x{_ax(k + 1)}", showticklabels=k == 0, zeroline=True,
                                            matches="y" if k else None, title_text="cosine" if k == 0 else None)
        name = "embeddings" if layer == 0 else f"after layer {layer - 1}"
        notes.append(_title(f"<b>{name}</b>", x=k * (width + gap), y=1.0, size=13))
    return _figure(traces, 430, annotations=notes, barmode="group", margin=dict(l=10, r=10, t=60, b=10),
                   legend=dict(orientation="h", y=1.12, yanchor="bottom", x=0), **layout)


__all__ = ["HEAD_COLOURS", "MIN_LINE", "contextual_chart", "head_patterns_chart", "head_view", "head_view_frame",
           "model_view", "neuron_frame", "neuron_view"]
