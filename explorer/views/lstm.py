"""LSTM: the forget, input and output gates, the candidate, the cell state and the hidden state."""

import pandas as pd
import streamlit as st

from explorer import charts, common, gated, predictions

st.title("LSTM: four gates and a cell state")
st.markdown(
    "The cell state *c* is a conveyor belt of memory. At every step the **forget gate** decides how much of it to keep "
    "(0 = forget completely, 1 = keep completely), the **input gate** how much of the **candidate** to add, and the "
    "**output gate** how much of the cell to show as the hidden state *h*. PyTorch's equations, which the trace "
    "follows:"
)
st.latex(r"""\begin{aligned}
f_t &= \sigma(W_{if}x_t + b_{if} + W_{hf}h_{t-1} + b_{hf}) &&\text{forget gate}\\
i_t &= \sigma(W_{ii}x_t + b_{ii} + W_{hi}h_{t-1} + b_{hi}) &&\text{input gate}\\
g_t &= \tanh(W_{ig}x_t + b_{ig} + W_{hg}h_{t-1} + b_{hg}) &&\text{candidate}\\
o_t &= \sigma(W_{io}x_t + b_{io} + W_{ho}h_{t-1} + b_{ho}) &&\text{output gate}\\
c_t &= f_t \odot c_{t-1} + i_t \odot g_t &&\text{cell state}\\
h_t &= o_t \odot \tanh(c_t) &&\text{hidden state}
\end{aligned}""")

name = common.model_picker(["lstm", "bilstm"], key="lstm_model")
direction = "forward"
if name == "bilstm":
    direction = common.radio(
        "Direction",
        ["forward", "backward"],
        key="lstm_direction",
        where=st.sidebar,
        horizontal=True,
        help="The bidirectional model has one LSTM reading left to right and one right to left.",
    )
tr = common.page_trace(name)
if tr is None:
    st.stop()

base = f"layers.0.{direction}."
PANELS = [
    charts.Panel(base + "forget_gate", "forget gate f_t", "gate", "f_t (0 forget, 1 keep)"),
    charts.Panel(base + "input_gate", "input gate i_t", "gate", "i_t (0..1)"),
    charts.Panel(base + "candidate", "candidate g_t", "tanh", "g_t (tanh, -1..1)"),
    charts.Panel(base + "output_gate", "output gate o_t", "gate", "o_t (0..1)"),
    charts.Panel(base + "cell", "cell state c_t", "free", "c_t (unbounded)"),
    charts.Panel(base + "hidden", "hidden state h_t", "tanh", "h_t (-1..1)"),
]
v = {
    key: charts.values(tr, base + key)
    for key in ("forget_gate", "input_gate", "candidate", "output_gate", "cell", "hidden")
}
# the step the state comes from: the token before, or for the backward LSTM (reading from the end) the token after
step_back, PREV = (-1, "t-1") if direction == "forward" else (1, "t+1")
if direction == "backward":
    st.info(
        "The backward LSTM reads the sentence from its last token to its first: its previous step is the next "
        "token, so the equations read c_(t+1) and h_(t+1) where the forward LSTM has c_(t-1) and h_(t-1).",
        icon="⬅️",
    )


def cell(t: int, unit: int, units: list[int]) -> None:
    prev = t + step_back
    has_prev = 0 <= prev < tr.length
    num = {
        "f": float(v["forget_gate"][t, unit]),
        "i": float(v["input_gate"][t, unit]),
        "g": float(v["candidate"][t, unit]),
        "o": float(v["output_gate"][t, unit]),
        "c": float(v["cell"][t, unit]),
        "h": float(v["hidden"][t, unit]),
        "c_prev": float(v["cell"][prev, unit]) if has_prev else 0.0,
        "h_prev": float(v["hidden"][prev, unit]) if has_prev else 0.0,
    }
    fig = charts.lstm_cell_diagram(num, previous=PREV)
    common.chart(
        fig, "lstm_cell", lambda: pd.DataFrame([dict(position=t, unit=unit, **num)]), f"lstm_cell_step{t}_unit{unit}"
    )
    n = {k: common.num(x) for k, x in num.items()}
    left, right = st.columns([1, 1])
    with left:
        first = "; the first step starts from c = h = 0." if direction == "forward" else (
            "; the backward LSTM starts here, at the last token, from c = h = 0.")
        st.markdown(f"Unit {unit} at step {t}" + (first if not has_prev else "."))
        st.latex(rf"""\begin{{aligned}}
c_t &= f_t\,c_{{{PREV}}} + i_t\,g_t\\
&= {n["f"]}\times{n["c_prev"]} + {n["i"]}\times{n["g"]}\\
&= {common.num(num["f"] * num["c_prev"])} + {common.num(num["i"] * num["g"])} = {n["c"]}\\[4pt]
h_t &= o_t\,\tanh(c_t)\\
&= {n["o"]}\times\tanh({n["c"]}) = {n["h"]}
\end{{aligned}}""")
    with right:
        st.markdown("Every shown unit at this step:")
        rows = pd.DataFrame(
            {
                "unit": units,
                "f_t": v["forget_gate"][t, units],
                "i_t": v["input_gate"][t, units],
                "g_t": v["candidate"][t, units],
                f"c_{PREV}": v["cell"][prev, units] if has_prev else 0.0,
                "c_t": v["cell"][t, units],
                "o_t": v["output_gate"][t, units],
                "h_t": v["hidden"][t, units],
            }
        )
        st.dataframe(rows, hide_index=True, height=250)


gated.view(tr, PANELS, base + "cell", "cell state", "lstm", cell, model_id=f"{name} {direction}")
predictions.section(name, cursor_key="lstm_cursor")
