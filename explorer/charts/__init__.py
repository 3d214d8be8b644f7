"""Every chart of the explorer: a Trace (or plain rows) in, a plotly Figure out.

One module per kind of chart; every public name is also here, so pages write
``charts.state_heatmaps(...)``:

    base.py       escaping (``esc``), ``short``, the token axis, colour scales, titles, colour bars,
                  ``values`` (a trace value as a read-only float32 array), ``stacked_frame``, ``figure_html``
    states.py     states and gates as unit-by-token heatmaps, units as lines, units ranked by change, vectors
    words.py      the words a model predicts, and the blank filled in several sentences
    attention.py  every head, one head, one query's weights, weights times values
    diagrams.py   the LSTM and GRU cells with one step's numbers
    memory.py     which model still remembers the beginning

Pure functions: no streamlit here, so a notebook can draw the same figures; no
numerics either beyond picking what to draw (the numbers come from core).
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
* ``*_frame`` functions give the data behind a chart, for its CSV download;
  ``stacked_frame`` does it for every chart of one line per model.
* Colours that sit on the plot background (markers, cursor outlines, notes)
  are mid-tones readable on Streamlit's light and dark themes alike.
"""

from .attention import (
    attention_grid,
    attention_grid_frame,
    attention_head,
    attention_shape,
    query_weight_bars,
    value_mix,
    value_mix_frame,
)
from .base import (
    FONT,
    GATE_SCALE,
    HOVER_LINE,
    LABEL_CHARS,
    MAX_TICKS,
    SIGNED_SCALE,
    UNKNOWN_COLOUR,
    WEIGHT_SCALE,
    TokenAxis,
    esc,
    figure_html,
    short,
    stacked_frame,
    token_axis,
    values,
)
from .diagrams import gru_cell_diagram, lstm_cell_diagram
from .memory import (
    MODEL_COLOURS,
    gradient_distance_chart,
    jacobian_chart,
    power_chart,
    probability_filler_chart,
    recall_chart,
    recall_frame,
)
from .states import (
    Panel,
    lines_frame,
    state_frame,
    state_heatmaps,
    top_units,
    unit_change_bars,
    unit_change_frame,
    unit_lines,
    vector_frame,
    vector_heatmap,
)
from .words import blank_fill_bars, blank_fill_frame, top_words_bars, top_words_frame

__all__ = [
    "FONT", "GATE_SCALE", "HOVER_LINE", "LABEL_CHARS", "MAX_TICKS", "MODEL_COLOURS", "SIGNED_SCALE",
    "UNKNOWN_COLOUR", "WEIGHT_SCALE", "Panel", "TokenAxis", "attention_grid", "attention_grid_frame",
    "attention_head", "attention_shape", "blank_fill_bars", "blank_fill_frame", "esc", "figure_html",
    "gradient_distance_chart", "gru_cell_diagram", "jacobian_chart", "lines_frame", "lstm_cell_diagram",
    "power_chart", "probability_filler_chart", "query_weight_bars", "recall_chart", "recall_frame", "short",
    "stacked_frame", "state_frame", "state_heatmaps", "token_axis", "top_units", "top_words_bars",
    "top_words_frame", "unit_change_bars", "unit_change_frame", "unit_lines", "value_mix", "value_mix_frame",
    "values", "vector_frame", "vector_heatmap",
]
