"""Attention: positional encoding, every head, one head in detail, one query step by step."""

import numpy as np
import streamlit as st

from core.attention import query_steps
from explorer import charts, common

st.title("Transformer: self-attention")
st.markdown(
    "A Transformer reads all the words at once. Each word makes a **query** (what am I looking for?), a **key** "
    "(what do I contain?) and a **value** (what do I pass on?). A query is compared with every key; the softmax of "
    "the scaled similarities weighs the values. This model predicts the next word, so a word may only look at "
    "itself and the words before it (the causal mask)."
)
st.latex(
    r"A(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V = c^{(t)}, \qquad "
    r"M_{ij} = \begin{cases}0 & j \le i\\ -\infty & j > i\end{cases}"
)

NAME = "transformer"
tr = common.page_trace(NAME)
if tr is None:
    st.stop()
T = tr.length
tokens = tr.labels()
L, HEADS = charts.attention_shape(tr)
D = tr["positional"].shape[1]
d_k = tr["layers.0.attention.query"].shape[-1]

st.subheader("1. Positional encoding")
st.markdown(
    f"The words arrive all at once, so the order is added to them: each position gets a fixed vector of "
    f"{D} sines and cosines of different wavelengths, added to the word's embedding."
)
st.latex(
    r"PE_{pos,\,2i} = \sin\!\left(\frac{pos}{10000^{2i/D}}\right) \qquad "
    r"PE_{pos,\,2i+1} = \cos\!\left(\frac{pos}{10000^{2i/D}}\right)"
)
window = common.window_picker(T, key="att_window", above=64, span=64)
fig = charts.vector_heatmap(tr, "positional", "positional encoding added at each position", "PE value", window)
common.chart(fig, "att_pe", lambda: charts.vector_frame(tr, "positional", window), "positional_encoding")

st.subheader(f"2. Every head: {L} layers × {HEADS} heads")
st.markdown(
    "Each square is one head: row = the word looking (query), column = the word looked at (key); "
    "each row sums to 1. Heads learn to look for different things."
)
if window != (0, T):
    st.caption(f"Positions {window[0]} to {window[1] - 1} of {T}: rows of this window need not sum to 1.")
fig = charts.attention_grid(tr, window)
common.chart(fig, "att_grid", lambda: charts.attention_grid_frame(tr, window), "attention_all_heads")

st.subheader("3. One head in detail")
c1, c2, c3 = st.columns([1, 1, 3])
layer = c1.selectbox("Layer", list(range(L)), index=L - 1, key="att_layer")
head = c2.selectbox("Head", list(range(HEADS)), key="att_head")
with c3:
    query = common.cursor_picker(tokens, key="att_query")
common.show_token(query, tokens[query])
lo, hi = window
if not lo <= query < hi:  # keep the chosen query in view: the same number of positions, ending at it
    lo = max(0, query + 1 - (hi - lo))
    hi = lo + (window[1] - window[0])
    st.caption(f"Showing positions {lo} to {hi - 1}, around the chosen query.")
head_window = (lo, hi)
fig = charts.attention_head(tr, layer, head, head_window, query)
common.chart(
    fig,
    "att_head",
    lambda: charts.attention_grid_frame(tr, head_window).loc[lambda d: (d.layer == layer) & (d.head == head)],
    f"attention_layer{layer}_head{head}",
)

st.subheader("4. One query, step by step")
steps = query_steps(tr, layer, head, query)
seen = steps[~np.isinf(steps.masked)]  # the keys the query may look at
best = seen.loc[seen.weight.idxmax()]
top, denominator = steps.attrs["max_score"], steps.attrs["denominator"]  # the softmax subtracts the largest first
st.markdown(
    f"Layer {layer}, head {head}, query at position {query}; vectors have d_k = {d_k} numbers. "
    f"The key with the largest weight is at position {int(best.key_position)}:"
)
st.text(f"query: {tokens[query]}    strongest key: {best.key_token}")
qk, scaled = best.q_dot_k, best.scaled
masked = int(np.isinf(steps.masked).sum())
rows = [
    rf"&\text{{a. similarity}} & q\cdot k &= {qk:.4f}",
    rf"&\text{{b. scale}} & \tfrac{{q\cdot k}}{{\sqrt{{d_k}}}} &= \tfrac{{{qk:.4f}}}{{\sqrt{{{d_k}}}}} = {scaled:.4f}",
    rf"&\text{{c. mask}} & & -\infty \text{{ for the {masked} of {T} keys after the query}}",
    rf"&\text{{d. softmax}} & w &= \tfrac{{e^{{{scaled:.4f} - {top:.4f}}}}}{{\sum_j e^{{s_j - {top:.4f}}}}}"
    rf" = \tfrac{{{best.exp_shifted:.4f}}}{{{denominator:.4f}}} = {best.weight:.4f}",
    rf"&\text{{e. apply to V}} & c &= \textstyle\sum_j w_j\, v_j"
    rf" \quad (\text{{weights sum to }} {seen.weight.sum():.4f})",
]
st.latex(r"\begin{aligned}" + r"\\".join(rows) + r"\end{aligned}")
st.dataframe(
    steps.rename(
        columns={
            "key_position": "key position",
            "key_token": "key token",
            "q_dot_k": "a. q·k",
            "scaled": "b. q·k / √d",
            "masked": "c. masked",
            "exp_shifted": "d. e^(s − max)",
            "weight": "d. softmax weight",
        }
    ),
    hide_index=True,
    height=min(380, 38 + 35 * T),
    column_config={
        "d. softmax weight": st.column_config.ProgressColumn(
            "d. softmax weight", min_value=0.0, max_value=1.0, format="%.4f"
        )
    },
)
common.csv_download(lambda: steps, "attention_query_steps", "att_steps")
fig = charts.query_weight_bars(tr, layer, head, query)
common.chart(fig, "att_query_bars", lambda: steps, f"attention_weights_query{query}")

st.markdown(
    "**e. Apply to V:** every key's value vector, scaled by its weight, then summed into the context vector "
    "for the query (one column per key, one row per dimension)."
)
fig = charts.value_mix(tr, layer, head, query)
common.chart(
    fig, "att_values", lambda: charts.value_mix_frame(tr, layer, head, query), f"attention_values_query{query}"
)
