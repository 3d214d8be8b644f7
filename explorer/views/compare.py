"""Two sentences compared: how far apart every model's states are, position by position, against a
bag-of-words baseline; the LSTM's gates for both at one position.

Every number comes from core.compare and core.comparison.gate_difference.
"""

import streamlit as st

from core.text import tokenize
from explorer import charts, common
from explorer.common import answers

PAIR = ("The food was good, not bad at all", "The food was bad, not good at all")  # the lecture's pair
MODELS = ("rnn", "lstm", "gru", "transformer", "bilstm")
MAX_CHARS = 3000

st.title("Two sentences: does the order of words matter?")
st.markdown(
    "The lecture's order criterion: *The food was good, not bad at all* and *The food was bad, not good at all* "
    "hold the same words in another order. A model that only counts words (the **bag of words** here: the running "
    "mean of the word vectors) cannot tell them apart once both are read; a sequence model can. The chart shows, "
    "after each word, the distance between the states the two sentences leave in each model's last layer."
)
c1, c2 = st.columns(2)
with c1:
    text_a = common.text_input("Sentence A", PAIR[0], key="cmp_a", max_chars=MAX_CHARS)
with c2:
    text_b = common.text_input("Sentence B", PAIR[1], key="cmp_b", max_chars=MAX_CHARS)
tok_a, tok_b = tokenize(text_a), tokenize(text_b)
if not tok_a.tokens or not tok_b.tokens:
    st.info("Type a sentence in both boxes (the lecture's pair is the start).", icon="✍️")
    st.stop()
for label, tk in (("A", tok_a), ("B", tok_b)):
    if tk.truncated:
        st.warning(f"Sentence {label} has {tk.total:,} tokens; only the first {tk.cap} are compared.", icon="✂️")
names = [n for n in MODELS if n in common.available() and common.model(n) is not None]
if not names:
    st.stop()

frame = answers.compare(names, text_a, text_b)
summary = frame.attrs["models"]
n = int(frame["position"].max()) + 1
if len(tok_a) != len(tok_b):
    st.caption(f"The sentences have {len(tok_a)} and {len(tok_b)} tokens: positions are compared up to {n}.")
first = summary[names[0]]["first_token_difference"]
st.text(
    "First position where the words differ: "
    + (f"{first}" if first is not None else "none (one is the start of the other)")
)
fig = charts.distance_chart(frame)
common.chart(fig, "cmp_distance", lambda: frame, "compare_distance")
lines = []
for name, s in summary.items():
    line = f"{charts.saliency.NAMES.get(name, name)}: distance after each whole sentence {s['end_distance']:.4g}"
    if s["top_a"] is not None:
        line += f"; next word guessed: {s['top_a']} / {s['top_b']}"
        if s["first_prediction_difference"] is not None:
            line += f"; top guesses first differ at position {s['first_prediction_difference']}"
    lines.append(line)
st.text("\n".join(lines))
st.caption(
    "Next-word models have read the same words up to the first difference, so their distance is 0 there; "
    "the bidirectional model also reads ahead, so it differs from the start."
)

st.subheader("The LSTM's gates for both sentences at one position")
if "lstm" in names:
    position = common.slider("Position", 0, n - 1, min(n - 1, max(first or 0, 0)), key="cmp_position") if n > 1 else 0
    st.text(f"Position {position}: A {frame['token_a'].iloc[position]!r}, B {frame['token_b'].iloc[position]!r}")
    gates = answers.gate_difference("lstm", text_a, text_b, position)
    st.caption(
        "The 24 units whose gates and states differ most between the two sentences at this position; "
        "A - B on the right."
    )
    fig = charts.gates_side_by_side(gates, "sentence A", "sentence B")
    common.chart(fig, "cmp_gates", lambda: gates, f"compare_lstm_gates_position{position}")
