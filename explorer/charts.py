"""Every chart of the explorer: a Trace (or plain rows) in, a plotly Figure out.

Pure functions: no streamlit here, so a notebook can draw the same figures.
Conventions shared by all of them:

* Tokens run along an axis in sentence order. Each position is its own
  category, ``"12: the"``, so a repeated word keeps its own column; the tick
  labels show the word alone, shortened to ``LABEL_CHARS`` and thinned to at
  most ``MAX_TICKS``; hovering shows the position and the whole word.
* Plotly renders a subset of HTML in tick labels, hover boxes and titles, so
  every string that came from the user goes through ``esc`` first.
* Hover shows the exact value; every colour scale carries a title; values go
  to the browser as float32 arrays (plotly sends numpy as base64), so 512
  tokens stay light.
* A figure is built from plain dicts in one ``go.Figure(...)`` call: plotly
  validates it once, instead of once per added shape or axis (10x faster).
* ``*_frame`` functions give the data behind a chart, for its CSV download.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

LABEL_CHARS = 16  # a tick label shows at most this many characters of a word
HOVER_LINE = 60  # a long word wraps in the hover box every this many characters
MAX_TICKS = 48  # token labels on one axis before they are thinned
FONT = dict(size=14)
UNKNOWN_COLOUR = "#c0392b"

# colour scales, by what a value is: a gate opens from 0 to 1, tanh lives in [-1, 1],
# anything else (cell state, pre-activations, embeddings) is centred on 0 at its own range
GATE_SCALE = "Viridis"
SIGNED_SCALE = "RdBu_r"
WEIGHT_SCALE = "Blues"


# -- text that came from the user ---------------------------------------------------------
def esc(text: str) -> str:
    """HTML-escape for plotly (which would otherwise render <b>, <a href>, <br> ...)."""
    return html.escape(str(text), quote=False)


def short(token: str, n: int = LABEL_CHARS) -> str:
    """A tick label: the token, cut to ``n`` characters with an ellipsis."""
    return token if len(token) <= n else token[: n - 1] + "…"


def _wrapped(token: str) -> str:
    """The whole token for a hover box, escaped, with a line break every HOVER_LINE characters."""
    parts = [token[i : i + HOVER_LINE] for i in range(0, len(token), HOVER_LINE)] or [""]
    return "<br>".join(esc(p) for p in parts)


@dataclass(frozen=True)
class TokenAxis:
    """Categories and tick labels for positions ``start .. start+len(tokens)-1``."""

    categories: list[str]  # unique per position: "12: the"; what hover shows
    tickvals: list[str]
    ticktext: list[str]

    def layout(self, **extra) -> dict:
        """Axis settings; labels slant when there are many (pass tickangle=0 for a y axis)."""
        return dict(
            dict(
                type="category",
                tickmode="array",
                tickvals=self.tickvals,
                ticktext=self.ticktext,
                tickangle=-45 if len(self.tickvals) > 12 else 0,
            ),
            **extra,
        )


def token_axis(
    tokens: Sequence[str],
    start: int = 0,
    unknown: Sequence[int] = (),
    max_ticks: int = MAX_TICKS,
    label_chars: int = LABEL_CHARS,
) -> TokenAxis:
    """Axis for the tokens shown (``tokens`` are already the window); unknown positions in red with a "?"."""
    unknown = set(unknown)
    categories = [f"{start + i}: {_wrapped(t)}" for i, t in enumerate(tokens)]
    step = max(1, math.ceil(len(tokens) / max_ticks))
    keep = range(0, len(tokens), step)
    ticktext = []
    for i in keep:
        label = esc(short(tokens[i], label_chars))
        if start + i in unknown:  # our own markup around an escaped label
            label = f'<span style="color:{UNKNOWN_COLOUR}">{label}?</span>'
        ticktext.append(label)
    return TokenAxis(categories, [categories[i] for i in keep], ticktext)


def _figure(traces: list[dict], height: int, **layout) -> go.Figure:
    base = dict(height=height, font=FONT, hoverlabel=dict(font_size=14), margin=dict(l=10, r=10, t=40, b=10))
    base.update(layout)
    return go.Figure(data=traces, layout=base)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def values(trace, name: str) -> np.ndarray:
    """One value of a trace as a float32 array (the figures' payload)."""
    return trace[name].detach().cpu().numpy().astype(np.float32, copy=False)


def _window(trace, window: tuple[int, int] | None) -> tuple[int, int]:
    return window or (0, trace.length)


def _title(text: str, x: float = 0.0, y: float = 1.0, size: int = 15) -> dict:
    """A subplot title: an annotation above a plot area (paper coordinates)."""
    return dict(
        text=text,
        x=x,
        y=y,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=size),
    )


def _colorbar(title: str, y: float = 0.5, length: float = 1.0) -> dict:
    return dict(title=dict(text=title, side="right"), y=y, len=length, yanchor="middle", thickness=14)


def _ax(n: int) -> str:
    """Trace-side axis name: "x", "x2", ... (n from 1)."""
    return "" if n == 1 else str(n)


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


def _colour_scale(scale: str, z: np.ndarray) -> dict:
    if scale == "gate":
        return dict(colorscale=GATE_SCALE, cmin=0.0, cmax=1.0)
    if scale == "tanh":
        return dict(colorscale=SIGNED_SCALE, cmin=-1.0, cmax=1.0)
    m = float(np.abs(z).max()) if z.size else 1.0
    m = m if m > 0 else 1.0
    return dict(colorscale=SIGNED_SCALE, cmin=-m, cmax=m)


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
) -> go.Figure:
    """Unit-by-token heatmaps, one row per panel, sharing the token axis (zoom one, zoom all).

    ``units`` are the rows (the same units in every panel, so a row reads across gates);
    ``window`` = (first, last+1) positions shown; ``cursor`` outlines the step being inspected.
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
    height = top + bottom + len(panels) * row + (len(panels) - 1) * gap
    traces, layout, notes, shapes = [], {}, [], []
    for r, p in enumerate(panels, start=1):
        y1 = 1 - (top + (r - 1) * (row + gap)) / height  # paper coordinates of this panel
        y0 = y1 - row / height
        z = _f32(values(trace, p.name)[lo:hi][:, units].T)  # (U, W)
        traces.append(
            dict(
                type="heatmap",
                z=z,
                x=axis.categories,
                y=ynames,
                coloraxis=f"coloraxis{r}",
                xaxis=f"x{_ax(r)}",
                yaxis=f"y{_ax(r)}",
                hovertemplate=f"<b>{esc(p.title)}</b><br>token %{{x}}<br>%{{y}}<br>value %{{z:.6g}}<extra></extra>",
            )
        )
        layout[f"coloraxis{r}"] = dict(
            **_colour_scale(p.scale, z), colorbar=_colorbar(esc(p.colorbar or p.title), (y0 + y1) / 2, row / height)
        )
        layout[f"xaxis{_ax(r)}"] = axis.layout(
            anchor=f"y{_ax(r)}",
            domain=[0, 1],
            showticklabels=r == len(panels) or (r == 1 and labels_on_top),
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
                    line=dict(color="black", width=2),
                    fillcolor="rgba(0,0,0,0)",
                )
            )
    return _figure(traces, height, annotations=notes, shapes=shapes, margin=dict(l=10, r=10, t=10, b=10), **layout)


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
                line=dict(color="black", width=1.5, dash="dot"),
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
                tickfont_size=10,
                tickangle=-60,
                showticklabels=layer == L - 1,  # the bottom row names the keys for all
            )
            layout[f"yaxis{_ax(n)}"] = yaxis.layout(
                domain=[y0, y1],
                anchor=f"x{_ax(n)}",
                tickfont_size=10,
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


def query_steps_frame(trace, layer: int, head: int, query: int) -> pd.DataFrame:
    """Q K^T, / sqrt(d), mask, softmax for one query, one row per key: the numbers of the step-by-step view.

    ``q_dot_k`` is the trace's scaled score times sqrt(d); masked keys (after the query,
    in a causal model: ``trace.meta["causal"]``) read -inf.
    """
    prefix = f"layers.{layer}.attention."
    scores = values(trace, prefix + "scores")[head, query].astype(np.float64)  # Q K^T / sqrt(d), before the mask
    weights = values(trace, prefix + "weights")[head, query].astype(np.float64)
    d = trace[prefix + "query"].shape[-1]
    hidden = (np.arange(trace.length) > query) & bool(trace.meta.get("causal", False))
    masked = np.where(hidden, -np.inf, scores)
    return pd.DataFrame(
        {
            "key_position": np.arange(trace.length),
            "key_token": trace.labels(),
            "q_dot_k": scores * math.sqrt(d),
            "scaled": scores,
            "masked": masked,
            "weight": weights,
        }
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
    # two scales: one key's share is small next to their sum, and would fade on a shared scale
    return _figure(
        traces,
        500,
        coloraxis=dict(**_colour_scale("free", weighted), colorbar=dict(_colorbar("weight × value"), x=1.0)),
        coloraxis2=dict(**_colour_scale("free", ctx), colorbar=dict(_colorbar("context"), x=1.09)),
        annotations=[_title("<b>weight × value vector, per key</b>"), _title("<b>context = sum</b>", x=0.82)],
        xaxis=axis.layout(domain=[0, 0.8], anchor="y"),
        yaxis=dict(**yaxis, anchor="x"),
        xaxis2=dict(domain=[0.82, 0.88], anchor="y2", type="category"),
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


# -- a cell with one step's numbers ------------------------------------------------------------------
GATE_COLOUR, TANH_COLOUR, STATE_COLOUR, WIRE_COLOUR = "#2a788e", "#c0392b", "#333333", "#888888"


class _Diagram:
    """Boxes, operators and arrows in data coordinates (x 0..12, y 0..6), turned into one figure at the end."""

    R = 0.24  # operator circle radius

    def __init__(self):
        self.shapes: list[dict] = []
        self.notes: list[dict] = []

    def box(self, x: float, y: float, text: str, colour: str, w: float = 0.75, h: float = 0.42) -> None:
        self.shapes.append(
            dict(
                type="rect", x0=x - w, x1=x + w, y0=y - h, y1=y + h, line=dict(color=colour, width=2), fillcolor="white"
            )
        )
        self.notes.append(dict(x=x, y=y, text=text, showarrow=False, font=dict(size=14, color="black")))

    def op(self, x: float, y: float, symbol: str) -> None:
        r = self.R
        self.shapes.append(
            dict(
                type="circle",
                x0=x - r,
                x1=x + r,
                y0=y - r,
                y1=y + r,
                line=dict(color="#444", width=2),
                fillcolor="#f4f4f4",
            )
        )
        self.notes.append(dict(x=x, y=y, text=symbol, showarrow=False, font=dict(size=18)))

    def arrow(self, x0: float, y0: float, x1: float, y1: float, colour: str = "#444") -> None:
        """From (x0, y0) to (x1, y1): give the points on the edges of what the arrow joins."""
        self.notes.append(
            dict(
                x=x1,
                y=y1,
                ax=x0,
                ay=y0,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                text="",
                showarrow=True,
                arrowhead=2,
                arrowsize=1.1,
                arrowwidth=2,
                arrowcolor=colour,
                standoff=0,
                startstandoff=0,
            )
        )

    def line(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.shapes.append(dict(type="line", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=WIRE_COLOUR, width=2)))

    def label(self, x: float, y: float, text: str, size: int = 13, colour: str = "black", anchor: str = "left") -> None:
        self.notes.append(
            dict(x=x, y=y, text=text, showarrow=False, xanchor=anchor, font=dict(size=size, color=colour))
        )

    def figure(self, height: int = 440) -> go.Figure:
        return _figure(
            [],
            height,
            shapes=self.shapes,
            annotations=self.notes,
            plot_bgcolor="white",
            showlegend=False,
            margin=dict(l=5, r=5, t=10, b=5),
            xaxis=dict(visible=False, range=[-0.1, 12.4], fixedrange=True),
            yaxis=dict(visible=False, range=[-0.3, 5.7], fixedrange=True),
        )


def lstm_cell_diagram(v: dict[str, float]) -> go.Figure:
    """The LSTM cell of the lecture with one unit's numbers at one step.

    ``v`` holds f, i, g, o, c_prev, c, h_prev, h (floats from the trace)."""
    d, r = _Diagram(), _Diagram.R
    top, gates, wire = 5.0, 2.2, 0.95
    # the cell state runs along the top: c_{t-1} -> x f -> + i*g -> c_t
    d.box(1.0, top, f"c<sub>t-1</sub> = {v['c_prev']:.3f}", STATE_COLOUR, w=0.95)
    d.op(3.5, top, "×")
    d.op(6.05, top, "+")
    d.box(11.45, top, f"c<sub>t</sub> = {v['c']:.3f}", STATE_COLOUR, w=0.85)
    d.arrow(1.95, top, 3.5 - r, top)
    d.arrow(3.5 + r, top, 6.05 - r, top)
    d.arrow(6.05 + r, top, 10.6, top)
    d.label(3.65, top - 0.55, f"f·c<sub>t-1</sub> = {v['f'] * v['c_prev']:.3f}")
    # the four gates read [h_{t-1}, x_t] from below
    d.box(1.0, 0.3, f"h<sub>t-1</sub> = {v['h_prev']:.3f}, x<sub>t</sub>", STATE_COLOUR, w=0.95)
    d.line(1.0, 0.72, 1.0, wire)
    d.line(1.0, wire, 8.6, wire)
    d.box(3.5, gates, f"forget f<sub>t</sub><br>σ = {v['f']:.3f}", GATE_COLOUR)
    d.box(5.2, gates, f"input i<sub>t</sub><br>σ = {v['i']:.3f}", GATE_COLOUR)
    d.box(6.9, gates, f"candidate g<sub>t</sub><br>tanh = {v['g']:.3f}", TANH_COLOUR, w=0.85)
    d.box(8.75, gates, f"output o<sub>t</sub><br>σ = {v['o']:.3f}", GATE_COLOUR)
    for x in (3.5, 5.2, 6.9, 8.6):
        d.arrow(x, wire, x, gates - 0.42, WIRE_COLOUR)
    d.arrow(3.5, gates + 0.42, 3.5, top - r, GATE_COLOUR)
    d.op(6.05, 3.6, "×")
    d.arrow(5.2, gates + 0.42, 6.05 - r * 0.7, 3.6 - r * 0.7, GATE_COLOUR)
    d.arrow(6.9, gates + 0.42, 6.05 + r * 0.7, 3.6 - r * 0.7, TANH_COLOUR)
    d.arrow(6.05, 3.6 + r, 6.05, top - r)
    d.label(6.4, 3.75, f"i·g = {v['i'] * v['g']:.3f}")
    # the output: h_t = o_t * tanh(c_t)
    d.box(10.25, 3.6, f"tanh(c<sub>t</sub>) = {math.tanh(v['c']):.3f}", TANH_COLOUR, w=0.95, h=0.32)
    d.arrow(10.25, top, 10.25, 3.92)
    d.op(10.25, gates, "×")
    d.arrow(10.25, 3.28, 10.25, gates + r)
    d.arrow(9.5, gates, 10.25 - r, gates, GATE_COLOUR)
    d.box(10.25, 0.3, f"h<sub>t</sub> = {v['h']:.3f}", STATE_COLOUR, w=0.85)
    d.arrow(10.25, gates - r, 10.25, 0.72)
    return d.figure()


def gru_cell_diagram(v: dict[str, float]) -> go.Figure:
    """The GRU cell (PyTorch's equations) with one unit's numbers at one step.

    ``v`` holds r, z, n, h_prev, h (floats from the trace)."""
    d, r = _Diagram(), _Diagram.R
    top, wire = 5.0, 0.95
    # the hidden state runs along the top: h_{t-1} -> x z -> + (1-z) n -> h_t
    d.box(1.0, top, f"h<sub>t-1</sub> = {v['h_prev']:.3f}", STATE_COLOUR, w=0.95)
    d.op(4.5, top, "×")
    d.op(8.0, top, "+")
    d.box(11.45, top, f"h<sub>t</sub> = {v['h']:.3f}", STATE_COLOUR, w=0.85)
    d.arrow(1.95, top, 4.5 - r, top)
    d.arrow(4.5 + r, top, 8.0 - r, top)
    d.arrow(8.0 + r, top, 10.6, top)
    d.label(4.65, top - 0.55, f"z·h<sub>t-1</sub> = {v['z'] * v['h_prev']:.3f}")
    # gates and candidate read [h_{t-1}, x_t] from below
    d.box(1.0, 0.3, "h<sub>t-1</sub>, x<sub>t</sub>", STATE_COLOUR, w=0.95)
    d.line(1.0, 0.72, 1.0, wire)
    d.line(1.0, wire, 8.0, wire)
    d.box(2.6, 2.0, f"reset r<sub>t</sub><br>σ = {v['r']:.3f}", GATE_COLOUR)
    d.box(4.5, 3.45, f"update z<sub>t</sub><br>σ = {v['z']:.3f}", GATE_COLOUR)
    d.box(8.0, 2.0, f"candidate n<sub>t</sub><br>tanh = {v['n']:.3f}", TANH_COLOUR, w=0.9)
    d.arrow(2.6, wire, 2.6, 1.58, WIRE_COLOUR)
    d.arrow(8.0, wire, 8.0, 1.58, WIRE_COLOUR)
    d.arrow(4.5, wire, 4.5, 3.03, WIRE_COLOUR)
    d.arrow(3.35, 2.0, 7.1, 2.0, GATE_COLOUR)
    d.label(5.25, 1.72, "r × (W<sub>hn</sub>h<sub>t-1</sub> + b<sub>hn</sub>)", size=12, colour="#555", anchor="center")
    d.arrow(4.5, 3.87, 4.5, top - r, GATE_COLOUR)
    d.op(8.0, 3.6, "×")
    d.arrow(5.25, 3.45, 8.0 - r, 3.58, GATE_COLOUR)
    d.label(6.6, 3.75, "1 − z", size=12, colour="#555", anchor="center")
    d.arrow(8.0, 2.42, 8.0, 3.6 - r, TANH_COLOUR)
    d.arrow(8.0, 3.6 + r, 8.0, top - r)
    d.label(8.35, 3.95, f"(1 − z)·n = {(1 - v['z']) * v['n']:.3f}")
    return d.figure()


# -- downloads ---------------------------------------------------------------------------------------
def figure_html(fig: go.Figure) -> str:
    """A standalone HTML page of the figure (plotly.js inlined: it opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


# -- memory: which model still remembers the beginning ------------------------------------
MODEL_COLOURS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c", "transformer": "#9467bd", "bilstm": "#ff7f0e"}
# Trained models often tie (recall 1.0 for three of them): wide lines drawn first, narrower ones on top,
# and a marker of their own, so every model stays visible where the lines coincide.
MODEL_LINES = {"rnn": (3, "circle"), "lstm": (8, "square"), "gru": (5, "diamond"), "transformer": (2, "x"),
               "bilstm": (3, "triangle-up")}


def _positive(values) -> list[float | None]:
    """Values for a log axis: zeros (and below) become gaps instead of breaking the scale."""
    return [float(v) if v > 0 else None for v in values]


def _line(name: str, x, y, hover: str, customdata=None, dash: str = "solid") -> dict:
    x = list(x)
    mode = "lines+markers" if len(x) <= 120 else "lines"  # hundreds of markers only blur a long sentence's line
    return dict(type="scatter", mode=mode, name=esc(name), x=x, y=y, customdata=customdata,
                line=dict(color=MODEL_COLOURS.get(name, "#555555"), width=MODEL_LINES.get(name, (2.5,))[0], dash=dash),
                marker=dict(size=7, symbol=MODEL_LINES.get(name, (0, "circle"))[1]),
                hovertemplate=hover + "<extra>" + esc(name) + "</extra>")


def gradient_distance_chart(frames: dict[str, pd.DataFrame], cue_distance: int | None = None) -> go.Figure:
    """|d log p(word) / d embedding| against how far back the word is, one line per model, log scale."""
    traces = []
    for name, f in frames.items():
        tokens = [_wrapped(t) for t in f["token"]]
        traces.append(_line(name, f["distance"], _positive(f["grad_norm"]),
                            "%{x} tokens back: %{customdata}<br>gradient norm %{y:.3e}", tokens))
    shapes, notes = [], []
    if cue_distance is not None:
        shapes.append(dict(type="line", x0=cue_distance, x1=cue_distance, y0=0, y1=1, yref="paper",
                           line=dict(color="#444", dash="dot", width=1.5)))
        notes.append(dict(x=cue_distance, y=1, yref="paper", text=" the beginning", showarrow=False,
                          xanchor="left", yanchor="top", font=dict(size=13, color="#444")))
    return _figure(traces, 430, shapes=shapes, annotations=notes, legend=dict(orientation="h", y=1.12),
                   xaxis=dict(title_text="distance: tokens back from the prediction", autorange="reversed"),
                   yaxis=dict(title_text="gradient norm (log scale)", type="log", exponentformat="power"))


def gradient_distance_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(model=name) for name, f in frames.items()], ignore_index=True)


def probability_filler_chart(frames: dict[str, pd.DataFrame], word: str) -> go.Figure:
    """Probability of the right word as filler is inserted, one line per model."""
    traces = []
    for name, f in frames.items():
        custom = [[int(r), _wrapped(w)] for r, w in zip(f["rank"], f["top_word"])]
        traces.append(_line(name, f["filler"], [float(p) for p in f["probability"]],
                            "filler %{x} words: p = %{y:.4f}<br>rank %{customdata[0]}, top word %{customdata[1]}", custom))
    return _figure(traces, 400, legend=dict(orientation="h", y=1.12), hovermode="x unified",
                   xaxis=dict(title_text="filler words inserted between the two halves"),
                   yaxis=dict(title_text=f"p({esc(short(word, 24))} | sentence)", range=[0, 1.06]))


def probability_filler_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(model=name) for name, f in frames.items()], ignore_index=True)


def recall_chart(curves: dict[str, dict[str, float]]) -> go.Figure:
    """Held-out recall (accuracy of the dependent word) against filler distance, from each model's metrics."""
    traces = []
    for name, curve in curves.items():
        xs = sorted(int(d) for d in curve)
        traces.append(_line(name, xs, [float(curve[str(d)]) for d in xs], "distance %{x}: accuracy %{y:.2f}"))
    return _figure(traces, 400, legend=dict(orientation="h", y=1.12), hovermode="x unified",
                   xaxis=dict(title_text="filler distance (tokens between the cue and the answer)"),
                   yaxis=dict(title_text="accuracy on held-out probes", range=[0, 1.06]))


def recall_frame(curves: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = [{"model": n, "distance": int(d), "accuracy": a} for n, c in curves.items() for d, a in c.items()]
    return pd.DataFrame(rows).sort_values(["model", "distance"], ignore_index=True)


def power_chart(frames: dict[str, pd.DataFrame], w: float) -> go.Figure:
    """The lecture's w^n against a one-unit RNN's dh_t/dh_0 with tanh and with relu, log scale."""
    colours = {"tanh": "#1f77b4", "relu": "#d62728"}
    any_frame = next(iter(frames.values()))
    traces = [dict(type="scatter", mode="lines", name=f"w^n = {w:g}^n", x=list(any_frame["step"]),
                   y=_positive(any_frame["w_power"].abs()), line=dict(color="#444", dash="dash", width=2),
                   hovertemplate="n = %{x}: |w^n| = %{y:.4e}<extra></extra>")]
    for act, f in frames.items():
        traces.append(dict(type="scatter", mode="lines", name=f"{act} RNN: |dh_n/dh_0|", x=list(f["step"]),
                           y=_positive(f["gradient"].abs()), line=dict(color=colours.get(act, "#555"), width=2.5),
                           hovertemplate="n = %{x}: %{y:.4e}<extra>" + act + "</extra>"))
    return _figure(traces, 380, legend=dict(orientation="h", y=1.15),
                   xaxis=dict(title_text="steps n"),
                   yaxis=dict(title_text="gradient factor (log scale)", type="log", exponentformat="power"))


def power_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(activation=a) for a, f in frames.items()], ignore_index=True)


def jacobian_chart(frames: dict[str, pd.DataFrame]) -> go.Figure:
    """||dh_T/dh_s|| through each real recurrent model, with the lecture's 0.5^n and 2^n for scale."""
    traces = [_line(n, f["distance"], _positive(f["jacobian_norm"]), "%{x} steps: norm %{y:.3e}") for n, f in frames.items()]
    f = next(iter(frames.values()), None)
    if f is not None:
        for col, dash in (("lecture_0.5^n", "dash"), ("lecture_2^n", "dot")):
            traces.append(dict(type="scatter", mode="lines", name=col.replace("lecture_", "lecture: "), x=list(f["distance"]),
                               y=list(f[col]), line=dict(color="#777", dash=dash), hovertemplate="%{x}: %{y:.3e}<extra></extra>"))
    return _figure(traces, 420, legend=dict(orientation="h", y=1.12),
                   xaxis=dict(title_text="distance T - s (steps)"),
                   yaxis=dict(title_text="spectral norm of dh_T/dh_s (log scale)", type="log", exponentformat="power"))


def jacobian_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(model=name) for name, f in frames.items()], ignore_index=True)
