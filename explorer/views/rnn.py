"""RNN: the hidden state step by step, and the next word it predicts at each step."""

import pandas as pd
import streamlit as st

from explorer import charts, common, predictions, units_view

st.title("Vanilla RNN: the hidden state")
st.markdown(
    "One set of weights is reused at every step. The hidden state *h* is the network's only memory: "
    "each step mixes the new word into it, and the next-word guess is read from it."
)
st.latex(
    r"h_t = \tanh(W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh}) \qquad "
    r"\hat y_t = \mathrm{softmax}(W_{hy}\,h_t + b_y)"
)

NAME = "rnn"
tr = common.page_trace(NAME)
if tr is None:
    st.stop()
T = tr.length
tokens = tr.labels()
hidden = charts.values(tr, "layers.0.forward.hidden")
pre = charts.values(tr, "layers.0.forward.preactivation")
H = hidden.shape[1]

c1, c2 = st.columns([1, 2])
with c1:
    n_units = common.units_picker(H, key="rnn_units")
with c2:
    window = common.window_picker(T, key="rnn_window", above=units_view.WINDOW, span=units_view.WINDOW)
cursor = common.cursor_picker(tokens, key="rnn_cursor")
c1, c2 = st.columns([1, 1])
with c1:
    ranked = units_view.ranking(tr, "layers.0.forward.hidden", "rnn", cursor)
with c2:
    show_tracks, normalise = units_view.display("rnn")
units = ranked.top(n_units)

panels = [charts.Panel("layers.0.forward.hidden", "hidden state h_t", "tanh", "h_t (tanh, -1..1)")]
st.subheader(f"Hidden state: {len(units)} of {H} units by token")
st.caption(f"Rows are units ranked by “{ranked.criterion}”; the outlined column is the step cursor.")
tracks = units_view.tracks_frame(tr) if show_tracks else None
fig = charts.state_heatmaps(tr, panels, units, window, cursor, tracks=tracks, normalise=normalise)
common.chart(fig, "rnn_hidden", lambda: charts.state_frame(tr, panels, units, window), "rnn_hidden_state")

st.subheader("At the cursor")
common.show_token(cursor, tokens[cursor])
with st.container():
    u = units[0]
    a, h = float(pre[cursor, u]), float(hidden[cursor, u])
    h_prev = float(hidden[cursor - 1, u]) if cursor else 0.0
    st.markdown(f"Unit {u}, the first in the ranking, at step {cursor}:")
    st.latex(rf"a_t = W_{{ih}}x_t + b_{{ih}} + W_{{hh}}h_{{t-1}} + b_{{hh}} = {a:.4f}")
    st.latex(rf"h_t = \tanh(a_t) = \tanh({a:.4f}) = {h:.4f}")  # one equation a line: the column is narrow
    st.latex(rf"h_{{t-1}} = {h_prev:.4f}")
    step = pd.DataFrame(
        {
            "unit": units,
            "preactivation a_t": pre[cursor, units],
            "h_t-1": hidden[cursor - 1, units] if cursor else 0.0,
            "h_t": hidden[cursor, units],
        }
    )
    st.dataframe(step, hide_index=True, height=240)

predictions.section(NAME, cursor_key="rnn_cursor")

st.subheader(f"Units ranked: {ranked.criterion}")
fig = charts.unit_rank_bars(ranked.scores, units, ranked.criterion, ranked.score_label)
common.chart(fig, "rnn_rank", lambda: charts.unit_rank_frame(ranked.scores, units, ranked.score_label),
             "rnn_unit_ranking")

units_view.match_section(
    tr, panels + [charts.Panel("layers.0.forward.preactivation", "preactivation a_t", "free", "a_t (unbounded)")],
    "rnn", window,
)
