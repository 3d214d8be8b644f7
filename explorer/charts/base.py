"""What every chart shares: escaping user text, the token axis, colour scales, titles and colour bars, the figure.

Plotly renders a subset of HTML in tick labels, hover boxes and titles, so every
string that came from the user goes through ``esc`` before it reaches a figure.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale

LABEL_CHARS = 16  # a tick label shows at most this many characters of a word
HOVER_LINE = 60  # a long word wraps in the hover box every this many characters
MAX_TICKS = 48  # token labels on one axis before they are thinned
FONT = dict(size=14)
UNKNOWN_COLOUR = "#c0392b"
# marks drawn on the plot background must read on Streamlit's light and dark themes: mid-tones, never black
CURSOR_COLOUR = "#e040fb"  # the step cursor; a magenta that no colour scale or line of ours uses
MARK_COLOUR = "#8c8c8c"  # reference lines and their notes ("the beginning", w^n)

# colour scales, by what a value is: a gate opens from 0 to 1, tanh lives in [-1, 1],
# anything else (cell state, pre-activations, embeddings) is centred on 0 at its own range
# (as explicit lists, the form plotly's validation would turn the names into: see ``_figure``)
GATE_SCALE = get_colorscale("Viridis")
SIGNED_SCALE = get_colorscale("RdBu_r")
WEIGHT_SCALE = get_colorscale("Blues")


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
    """The figure, unvalidated when its dicts are already what plotly's validation would make of them.

    Validation coerces every value again (each tick label, each category) and was about half of a
    busy server's time (py-spy, 10 sessions); the result is the same figure (tests/test_explorer_charts.py
    compares the two for every chart). Dicts that use plotly's shorthands (``title_text``, ``xaxis1``,
    a named colour scale) are still validated, so a chart that uses them is right, only slower.
    """
    base = dict(height=height, font=FONT, hoverlabel=dict(font=dict(size=14)), margin=dict(l=10, r=10, t=40, b=10))
    base.update(layout)
    return go.Figure(data=traces, layout=base, _validate=not canonical(dict(data=traces, layout=base)))


_UNDERSCORED = {"plot_bgcolor", "paper_bgcolor", "error_x", "error_y", "error_z"}  # real names with "_"
# plotly names the first subplot without a 1: "xaxis", and "x" where a trace refers to it
_FIRST_SUBPLOT_KEY = re.compile(r"^(xaxis|yaxis|coloraxis)1$")
_FIRST_SUBPLOT_REF = re.compile(r"^(x|y|coloraxis)1$")


def canonical(spec) -> bool:
    """True when a figure's dicts need nothing from plotly's validation: no magic underscores
    (``title_text`` for ``title.text``), no "xaxis1"/"coloraxis1" for the first subplot, no colour
    scale given by name. Arrays are not walked: only dicts and lists of dicts."""
    if isinstance(spec, dict):
        for k, v in spec.items():
            if ("_" in k and k not in _UNDERSCORED) or _FIRST_SUBPLOT_KEY.match(k):
                return False
            if k == "colorscale" and isinstance(v, str):
                return False
            if isinstance(v, str) and _FIRST_SUBPLOT_REF.match(v):
                return False
            if isinstance(v, (dict, list, tuple)) and not canonical(v):
                return False
        return True
    if isinstance(spec, (list, tuple)):
        return all(canonical(v) for v in spec if isinstance(v, (dict, list, tuple)))
    return True


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def values(trace, name: str) -> np.ndarray:
    """One value of a trace as a float32 array (the figures' payload), read-only.

    Cached traces are shared by every session (``common.cache``): the array may be a view
    of the trace's own tensor, so writing into it raises instead of changing everyone's trace."""
    a = trace[name].detach().cpu().numpy().astype(np.float32, copy=False).view()
    a.flags.writeable = False
    return a


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



def _colour_scale(scale: str, z: np.ndarray) -> dict:
    if scale == "gate":
        return dict(colorscale=GATE_SCALE, cmin=0.0, cmax=1.0)
    if scale == "tanh":
        return dict(colorscale=SIGNED_SCALE, cmin=-1.0, cmax=1.0)
    m = float(np.abs(z).max()) if z.size else 1.0
    m = m if m > 0 else 1.0
    return dict(colorscale=SIGNED_SCALE, cmin=-m, cmax=m)


# -- downloads ---------------------------------------------------------------------------------------
def figures_html(title: str, figures: Sequence[tuple[str, go.Figure]], text: str = "") -> str:
    """One standalone HTML page holding every figure of a page, interactive and offline.

    plotly.js (about 4.7 MB) is inlined once for all of them, not once per figure; ``text`` (the
    sentence) is printed above them as plain, escaped text."""
    parts = [f"<h1>{esc(title)}</h1>"]
    if text:
        parts.append(f"<pre style='white-space:pre-wrap'>{esc(text)}</pre>")
    for i, (name, fig) in enumerate(figures):
        parts.append(f"<h2>{esc(name)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    body = "\n".join(parts)
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{esc(title)}</title></head>\n<body>\n{body}\n</body></html>\n"


# -- tables behind charts ---------------------------------------------------------------------------
def stacked_frame(frames: dict[str, pd.DataFrame], column: str = "model") -> pd.DataFrame:
    """The tables behind a chart of several lines, one after another, each row naming its line in ``column``."""
    return pd.concat([f.assign(**{column: name}) for name, f in frames.items()], ignore_index=True)
