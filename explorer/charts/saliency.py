"""Answers about a prediction: the sentence coloured by saliency, the surprisal strip, the top guesses at a
step, and two sentences compared (state distance by position, LSTM gates side by side).

The coloured sentence is text that wraps: each token is a box on its own line position (horizontal bars
on a character grid, monospace), so 300 tokens read as lines of text instead of a squeezed axis. Every
token and word goes through ``esc`` before it reaches the figure (bar text and hover).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .base import FONT, SIGNED_SCALE, _figure, _wrapped, esc, short, token_axis
from .memory import MODEL_COLOURS

MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
CHAR_PX = 8.2  # width of one character of MONO at 13 px
LINE_PX = 26  # height of one line of text
WORD_CHARS = 24  # a token box shows at most this many characters (the hover has the whole token)
UNREAD = "rgba(128,128,128,0.25)"
NAMES = {
    "rnn": "RNN",
    "lstm": "LSTM",
    "gru": "GRU",
    "transformer": "Transformer",
    "bilstm": "Bidirectional LSTM",
    "bag_of_words": "bag of words",
}


@dataclass(frozen=True)
class Row:
    """One model's saliency over the sentence, for ``saliency_text``."""

    model: str
    frame: pd.DataFrame  # core.attribution.saliency: position, token, score; attrs
    note: str = ""  # what the row's target is, in words (our text; tokens in it are escaped here)


def wrap(labels: Sequence[str], width: int) -> list[tuple[int, int, int]]:
    """(line, first column, columns) of each label on lines of ``width`` characters, one space between."""
    out, line, col = [], 0, 0
    for label in labels:
        n = len(label) + 1
        if col and col + n > width:
            line, col = line + 1, 0
        out.append((line, col, n))
        col += n
    return out


def normalised(scores: np.ndarray, signed: bool) -> np.ndarray:
    """Scores divided by the row's largest |score| (so each row uses its whole colour range)."""
    top = float(np.nanmax(np.abs(scores))) if len(scores) else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)


def saliency_text(
    rows: Sequence[Row], tokens: Sequence[str], width: int = 100, signed: bool = True, target: int | None = None
):
    """The sentence once per model, each token's background coloured by its score, normalised per row.

    ``tokens``: the whole sentence; a row's frame may cover fewer (a next-word model reads only the tokens
    before its target: the rest are grey). ``target``: a position outlined in every row (the word the
    next-word models predict), or None.
    """
    labels = [short(t, WORD_CHARS) for t in tokens]
    places = wrap(labels, width)
    n_lines = (places[-1][0] + 1) if places else 1
    traces, annotations, y0 = [], [], 0
    for row in rows:
        f = row.frame
        read = len(f)
        raw = f["score"].to_numpy(dtype=float)
        norm = normalised(raw, signed)
        name = NAMES.get(row.model, row.model)
        annotations.append(
            dict(
                x=0,
                y=y0 - 0.05,
                xref="x",
                yref="y",
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                text=f"<b>{esc(name)}</b>  {esc(row.note)}",
                font=dict(size=14),
            )
        )
        ys = [y0 + 1 + places[i][0] for i in range(len(tokens))]
        hover = [
            f"{esc(name)}<br>position {i}: {_wrapped(tokens[i])}<br>score {raw[i]:.4g}<br>normalised {norm[i]:+.2f}"
            for i in range(read)
        ]
        line_width = [3 if target is not None and i == target else 0 for i in range(read)]
        traces.append(
            dict(
                type="bar",
                orientation="h",
                name=name,
                showlegend=False,
                x=[places[i][2] - 0.15 for i in range(read)],
                base=[places[i][1] for i in range(read)],
                y=ys[:read],
                width=0.86,
                text=[esc(labels[i]) for i in range(read)],
                textposition="inside",
                insidetextanchor="middle",
                textfont=dict(family=MONO, size=13),
                hovertext=hover,
                hoverinfo="text",
                marker=dict(
                    color=norm.astype(np.float32),
                    cmin=-1 if signed else 0,
                    cmax=1,
                    colorscale=SIGNED_SCALE if signed else "Blues",
                    line=dict(width=line_width, color="#888888"),
                    colorbar=dict(
                        title=dict(text="score / row's largest |score|", side="right"),
                        len=0.5,
                        y=1,
                        yanchor="top",
                        thickness=14,
                    )
                    if not traces
                    else None,
                    showscale=not traces,
                ),
            )
        )
        if read < len(tokens):
            rest = range(read, len(tokens))
            traces.append(
                dict(
                    type="bar",
                    orientation="h",
                    showlegend=False,
                    name=f"{name}: not read",
                    x=[places[i][2] - 0.15 for i in rest],
                    base=[places[i][1] for i in rest],
                    y=[ys[i] for i in rest],
                    width=0.86,
                    text=[esc(labels[i]) for i in rest],
                    textposition="inside",
                    insidetextanchor="middle",
                    textfont=dict(family=MONO, size=13, color="#888888"),
                    hoverinfo="text",
                    hovertext=[
                        f"{esc(name)}<br>position {i}: {_wrapped(tokens[i])}<br>not read: this model predicts "
                        "from the words before its target"
                        for i in rest
                    ],
                    marker=dict(
                        color=UNREAD,
                        line=dict(
                            width=[3 if target is not None and i == target else 0 for i in rest], color="#888888"
                        ),
                    ),
                )
            )
        y0 += n_lines + 1.6
    height = int(max(1.0, y0) * LINE_PX) + 30
    return _figure(
        traces,
        height,
        width=int(width * CHAR_PX) + 150,
        barmode="overlay",
        annotations=annotations,
        uniformtext=dict(minsize=13, mode="show"),
        margin=dict(l=5, r=120, t=10, b=10),
        xaxis=dict(range=[-0.5, width + 0.5], visible=False, fixedrange=True),
        yaxis=dict(range=[y0 - 0.4, -0.6], visible=False, fixedrange=True),
    )


def saliency_frame(rows: Sequence[Row]) -> pd.DataFrame:
    """Every row's raw scores and the normalised value drawn, for the CSV."""
    out = []
    for row in rows:
        f = row.frame.copy()
        f.insert(0, "model", row.model)
        f["normalised"] = normalised(f["score"].to_numpy(dtype=float), f.attrs.get("method") != "gradient")
        for key in ("method", "word", "target_position", "log_p"):
            f[key] = f.attrs.get(key)
        out.append(f)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


# -- predictions scored against the text -------------------------------------------------------------
def surprisal_strip(score: pd.DataFrame, cursor: int | None = None, unknown: Sequence[int] = ()):
    """One cell per token coloured by its surprisal (bits); p and rank on hover; the cursor outlined."""
    tokens = score["token"].tolist()
    axis = token_axis(tokens, 0, unknown)
    bits = score["surprisal_bits"].to_numpy(dtype=float)
    hover = []
    for i, r in score.iterrows():
        where = f"position {i}: {_wrapped(r['token'])}"
        if pd.isna(r["p"]):
            hover.append(f"{where}<br>the first word: nothing came before it to predict it")
        else:
            counted = "" if r["scored_as"] == r["token"] else f"<br>scored as {esc(r['scored_as'])}"
            hover.append(
                f"{where}{counted}<br>p = {r['p']:.4g}, rank {int(r['rank'])}<br>{r['surprisal_bits']:.2f} bits"
            )
    shapes = []
    if cursor is not None and 0 <= cursor < len(tokens):
        shapes.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                x0=cursor - 0.5,
                x1=cursor + 0.5,
                y0=0,
                y1=1,
                line=dict(color="#888888", width=3),
            )
        )
    trace = dict(
        type="heatmap",
        z=[bits.astype(np.float32)],
        x=axis.categories,
        y=["surprisal"],
        colorscale="YlOrRd",
        zmin=0,
        hovertext=[hover],
        hoverinfo="text",
        xgap=1,
        colorbar=dict(title=dict(text="bits", side="right"), thickness=12, len=1.2),
    )
    return _figure(
        [trace], 170, xaxis=axis.layout(), yaxis=dict(visible=False), shapes=shapes, margin=dict(l=10, r=10, t=10, b=10)
    )


def guesses_bars(top: pd.DataFrame, actual: str | None, actual_p: float | None, actual_rank: int | None):
    """The top guesses at one step, best on top; the actual next word in its own colour (added if not among them)."""
    words = top["word"].tolist()
    probs = top["p"].tolist()
    labels = [f"{esc(w)}  ({esc(lbl)})" if lbl else esc(w) for w, lbl in zip(words, top["label"])]
    colours = ["#2ca02c" if actual is not None and w == actual else "#7f9fbf" for w in words]
    if actual is not None and actual not in words and actual_p is not None:
        labels.append(f"{esc(actual)}  (actual, rank {actual_rank})")
        probs.append(actual_p)
        colours.append("#2ca02c")
    trace = dict(
        type="bar",
        orientation="h",
        x=np.asarray(probs, dtype=np.float32),
        y=list(range(len(labels))),
        marker=dict(color=colours),
        hovertext=[f"{lab}<br>p = {p:.4g}" for lab, p in zip(labels, probs)],
        hoverinfo="text",
        text=[f"{p:.3f}" for p in probs],
        textposition="outside",
    )
    return _figure(
        [trace],
        60 + 34 * len(labels),
        xaxis=dict(title="probability", rangemode="tozero"),
        yaxis=dict(tickmode="array", tickvals=list(range(len(labels))), ticktext=labels, autorange="reversed"),
        margin=dict(l=10, r=40, t=10, b=40),
    )


# -- two sentences -----------------------------------------------------------------------------------------
def distance_chart(frame: pd.DataFrame):
    """Distance between the two sentences' states at each position, one line per model, the baseline dashed."""
    traces = []
    for name, rows in frame.groupby("model", sort=False):
        hover = [
            f"{esc(NAMES.get(name, name))}<br>position {p}: {_wrapped(a)} / {_wrapped(b)}"
            f"<br>distance {d:.4g}<br>cosine {c:.4f}"
            for p, a, b, d, c in zip(
                rows["position"], rows["token_a"], rows["token_b"], rows["distance"], rows["cosine"]
            )
        ]
        traces.append(
            dict(
                type="scatter",
                mode="lines+markers",
                name=NAMES.get(name, name),
                x=rows["position"].tolist(),
                y=rows["distance"].to_numpy(dtype=np.float32),
                hovertext=hover,
                hoverinfo="text",
                line=dict(
                    color=MODEL_COLOURS.get(name, "#888888"),
                    width=3,
                    dash="dash" if name == "bag_of_words" else "solid",
                ),
            )
        )
    return _figure(
        traces,
        380,
        xaxis=dict(title="position (tokens read)", dtick=1 if frame["position"].max() < 40 else None),
        yaxis=dict(title="|h_a - h_b| (last layer's state)", rangemode="tozero"),
        legend=dict(orientation="h", y=1.12),
        margin=dict(l=10, r=10, t=40, b=40),
    )


def gates_side_by_side(frame: pd.DataFrame, label_a: str, label_b: str):
    """Three heatmaps (sentence A, sentence B, A - B): gates and states by unit at one position."""
    gates = list(dict.fromkeys(frame["gate"]))
    units = list(dict.fromkeys(frame["unit"]))
    x = [f"u{u}" for u in units]
    grid = {
        c: frame.pivot(index="gate", columns="unit", values=c).loc[gates, units].to_numpy(dtype=np.float32)
        for c in ("a", "b", "difference")
    }
    top = float(np.abs(np.concatenate([grid["a"], grid["b"]])).max() or 1.0)
    diff_top = float(np.abs(grid["difference"]).max() or 1.0)
    traces = []
    for i, (key, zmax, title) in enumerate(
        (("a", top, label_a), ("b", top, label_b), ("difference", diff_top, "A - B"))
    ):
        traces.append(
            dict(
                type="heatmap",
                z=grid[key],
                x=x,
                y=gates,
                xaxis=f"x{i + 1}" if i else "x",
                yaxis="y",
                colorscale=SIGNED_SCALE,
                zmin=-zmax,
                zmax=zmax,
                xgap=1,
                ygap=1,
                colorbar=dict(
                    title=dict(text="value" if i < 2 else "A - B", side="right"), x=0.64 if i < 2 else 1.0, thickness=12
                )
                if i
                else None,
                showscale=i > 0,
                hovertemplate=f"{esc(title)}<br>%{{y}}, %{{x}}: %{{z:.4f}}<extra></extra>",
            )
        )
    layout = dict(
        xaxis=dict(domain=[0, 0.3], title="A: " + esc(short(label_a, 40))),
        xaxis2=dict(domain=[0.33, 0.63], title="B: " + esc(short(label_b, 40))),
        xaxis3=dict(domain=[0.7, 0.98], title="A - B"),
        yaxis=dict(autorange="reversed"),
        margin=dict(l=10, r=10, t=20, b=60),
        font=FONT,
    )
    return _figure(traces, 320, **layout)
