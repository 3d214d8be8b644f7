"""GRU: the reset gate, the update gate, the candidate and the hidden state."""

import pandas as pd
import streamlit as st

from explorer import charts, common, gated, predictions

st.title("GRU: two gates, no separate cell")
st.markdown(
    "A GRU keeps only the hidden state *h*. The **reset gate** decides how much of the past goes into the "
    "**candidate** (close to 0: compute it as if there were no past); the **update gate** mixes the old state "
    "and the candidate. PyTorch's equations, which the trace follows:"
)
st.latex(r"""\begin{aligned}
r_t &= \sigma(W_{ir}x_t + b_{ir} + W_{hr}h_{t-1} + b_{hr}) &&\text{reset gate}\\
z_t &= \sigma(W_{iz}x_t + b_{iz} + W_{hz}h_{t-1} + b_{hz}) &&\text{update gate}\\
n_t &= \tanh(W_{in}x_t + b_{in} + r_t \odot (W_{hn}h_{t-1} + b_{hn})) &&\text{candidate } \tilde h_t\\
h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1} &&\text{hidden state}
\end{aligned}""")
st.info(
    "In these equations an update gate close to 1 **keeps** the previous state, and close to 0 takes the candidate. "
    "The lecture's slide uses the mirror convention, $h_t = z_t\\,\\tilde h_t + (1 - z_t)\\,h_{t-1}$, where 1 means "
    '"take the new": the same cell, with z and 1 − z swapped.',
    icon="↔️",
)

NAME = "gru"
tr = common.page_trace(NAME)
if tr is None:
    st.stop()

base = "layers.0.forward."
PANELS = [
    charts.Panel(base + "reset_gate", "reset gate r_t", "gate", "r_t (0 reset, 1 use past)"),
    charts.Panel(base + "update_gate", "update gate z_t", "gate", "z_t (0 new, 1 keep old)"),
    charts.Panel(base + "candidate", "candidate n_t", "tanh", "n_t (tanh, -1..1)"),
    charts.Panel(base + "hidden", "hidden state h_t", "tanh", "h_t (-1..1)"),
]
v = {key: charts.values(tr, base + key) for key in ("reset_gate", "update_gate", "candidate", "hidden")}


def cell(t: int, unit: int, units: list[int]) -> None:
    num = {
        "r": float(v["reset_gate"][t, unit]),
        "z": float(v["update_gate"][t, unit]),
        "n": float(v["candidate"][t, unit]),
        "h": float(v["hidden"][t, unit]),
        "h_prev": float(v["hidden"][t - 1, unit]) if t else 0.0,
    }
    fig = charts.gru_cell_diagram(num)
    common.chart(
        fig, "gru_cell", lambda: pd.DataFrame([dict(position=t, unit=unit, **num)]), f"gru_cell_step{t}_unit{unit}"
    )
    n = {k: common.num(x) for k, x in num.items()}
    left, right = st.columns([1, 1])
    with left:
        st.markdown(f"Unit {unit} at step {t}" + ("; the first step starts from h = 0." if not t else "."))
        st.latex(rf"""\begin{{aligned}}
h_t &= (1 - z_t)\,n_t + z_t\,h_{{t-1}}\\
&= (1 - {n["z"]})\times{n["n"]} + {n["z"]}\times{n["h_prev"]}\\
&= {common.num((1 - num["z"]) * num["n"])} + {common.num(num["z"] * num["h_prev"])} = {n["h"]}
\end{{aligned}}""")
    with right:
        st.markdown("Every shown unit at this step:")
        rows = pd.DataFrame(
            {
                "unit": units,
                "r_t": v["reset_gate"][t, units],
                "z_t": v["update_gate"][t, units],
                "n_t": v["candidate"][t, units],
                "h_t-1": v["hidden"][t - 1, units] if t else 0.0,
                "h_t": v["hidden"][t, units],
            }
        )
        st.dataframe(rows, hide_index=True, height=250)


gated.view(tr, PANELS, base + "hidden", "hidden state", "gru", cell, model_id=NAME)
predictions.section("gru", cursor_key="gru_cursor")
