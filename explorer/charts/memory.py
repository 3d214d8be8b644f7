"""Memory: which model still remembers the beginning (gradients, probability by filler, recall, w^n, Jacobians)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .base import _figure, _wrapped, esc, short

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
