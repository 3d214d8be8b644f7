"""Cell diagrams: the LSTM and GRU cells of the lecture, drawn with one unit's numbers at one step."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .base import _figure

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
