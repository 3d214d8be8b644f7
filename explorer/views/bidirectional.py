"""Bidirectional LSTM: a forward and a backward reader, combined; filling a blank from both sides."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer import charts, common

st.title("Bidirectional LSTM: reading both ways")
st.markdown(
    "Two separate LSTMs read the sentence: one **forward** (left to right), one **backward** (right to left). "
    "At each position their hidden states are put side by side, so the guess for that position sees the words "
    "before it *and* after it. This model fills a blank, `___`: its score at position *t* is for the word at *t*."
)
st.latex(
    r"\overrightarrow{h}_t = \mathrm{LSTM}_\rightarrow(x_t, \overrightarrow{h}_{t-1}) \qquad "
    r"\overleftarrow{h}_t = \mathrm{LSTM}_\leftarrow(x_t, \overleftarrow{h}_{t+1}) \qquad "
    r"\hat y_t = \mathrm{softmax}\big(W\,[\overrightarrow{h}_t ; \overleftarrow{h}_t] + b\big)"
)

NAME = "bilstm"
BLANK = "___"
DEMO = [
    "Apple is my favorite ___",
    "Apple is my favorite ___, and I work there",
    "Apple is my favorite ___, and I am going to buy one",
]

if common.model(NAME) is None:  # the message says which file is broken and how to rebuild it
    st.stop()
tr = common.page_trace(NAME)
if tr is not None:
    T = tr.length
    tokens = tr.labels()
    blanks = [i for i, t in enumerate(tokens) if t == BLANK]
    st.subheader("The blanks in your sentence")
    if not blanks:
        st.info(
            'Put ___ where a word is missing (as in the lecture\'s "Apple is my favorite ___") to see what '
            "the model fills in from both sides.",
            icon="✍️",
        )
    else:
        preds = common.top_words(NAME, common.sentence(), 5)
        cols = st.columns(min(3, len(blanks)))
        for col, b in zip(cols, blanks[:3]):
            with col:
                fig = charts.top_words_bars(preds[b], f"the blank at position {b}")
                common.chart(
                    fig,
                    f"bi_blank_{b}",
                    lambda b=b: charts.top_words_frame(tokens, preds)[lambda d: d.position == b],
                    f"bilstm_blank_{b}",
                )
        if len(blanks) > 3:
            st.dataframe(charts.top_words_frame(tokens, preds).loc[lambda d: d.position.isin(blanks)], hide_index=True)

    fwd = charts.values(tr, "layers.0.forward.hidden")
    H = fwd.shape[1]
    c1, c2 = st.columns([1, 2])
    with c1:
        n_units = common.units_picker(2 * H, key="bi_units")
    with c2:
        window = common.window_picker(T, key="bi_window")

    st.subheader("Forward and backward states, separately")
    for direction, arrow in (("forward", "→ reads left to right"), ("backward", "← reads right to left")):
        name = f"layers.0.{direction}.hidden"
        units = charts.top_units(tr.unit_change(name).numpy(), n_units)
        panels = [
            charts.Panel(name, f"{direction} hidden state ({arrow}): {len(units)} of {H} units", "tanh", "h (-1..1)")
        ]
        fig = charts.state_heatmaps(tr, panels, units, window)
        common.chart(
            fig,
            f"bi_{direction}",
            lambda panels=panels, units=units: charts.state_frame(tr, panels, units, window),
            f"bilstm_{direction}_hidden",
        )

    st.subheader("Combined: both states side by side")
    st.markdown(
        f"The output at each position is the {H} forward units followed by the {H} backward units "
        f"({2 * H} numbers); rows are labelled → for forward and ← for backward units."
    )
    units = charts.top_units(tr.unit_change("output").numpy(), n_units)
    names = [f"→ {u}" if u < H else f"← {u - H}" for u in units]
    panels = [
        charts.Panel("output", f"combined [forward ; backward]: {len(units)} of {2 * H} units", "tanh", "h (-1..1)")
    ]
    fig = charts.state_heatmaps(tr, panels, units, window, unit_names=names)
    common.chart(fig, "bi_combined", lambda: charts.state_frame(tr, panels, units, window), "bilstm_combined")

st.subheader("The lecture's demo: the words after the blank change the answer")
st.markdown(
    "The three sentences share the words before the blank, so the **forward** reader is in exactly the "
    "same state at the blank; only the **backward** reader, which has seen what follows, differs."
)
demo_traces = [common.trace(NAME, s) for s in DEMO]
cases = []
for label, (s, dtr) in enumerate(zip(DEMO, demo_traces)):
    st.text(f"{chr(65 + label)}: {s}")
    b = dtr.labels().index(BLANK)
    cases.append((s, common.top_words(NAME, s, 5)[b]))
fig = charts.blank_fill_bars(cases)
common.chart(fig, "bi_demo", lambda: charts.blank_fill_frame(cases), "bilstm_blank_demo")

at_blank = []
for direction in ("forward", "backward"):
    states = [charts.values(t, f"layers.0.{direction}.hidden")[t.labels().index(BLANK)] for t in demo_traces]
    at_blank.append(
        {
            "state at the blank": direction,
            "A vs B: max |difference|": float(np.abs(states[0] - states[1]).max()),
            "A vs C: max |difference|": float(np.abs(states[0] - states[2]).max()),
        }
    )
st.dataframe(pd.DataFrame(at_blank), hide_index=True)


# a reading computed from the numbers: did the words after the blank move the answer, and where?
tops = [top[0][0] for _, top in cases]
lines = [f"Top word at the blank: A {tops[0]!r}, B {tops[1]!r}, C {tops[2]!r}"
         + (" (the words after the blank changed it)." if len(set(tops)) > 1 else " (the same in all three).")]
for word in ("fruit", "company"):
    measured = [common.word_probability(NAME, s, t.labels().index(BLANK), word) for s, t in zip(DEMO, demo_traces)]
    lines.append(f"p({word}): " + ", ".join(f"{chr(65 + k)} {p:.2g} (rank {r:,})" for k, (p, r) in enumerate(measured)))
lines.append("Only the backward state differs, so every change here comes from the words after the blank. "
             "This small model learned its English from dictionary glosses (see About): where fruit and company "
             "rank low, it has not learned the lecture's contrast, and the numbers above say so.")
st.text("\n".join(lines))
