"""Saliency: which earlier words a prediction rests on, every model side by side.

Every score comes from core.attribution.saliency (one row per model); the page picks the target and
the method and draws the sentence coloured by the scores.
"""

import streamlit as st

from core.attribution import IG_MAX_TOKENS, METHODS
from core.text import tokenize
from explorer import charts, common
from explorer.common import answers

NEXT_WORD = ("rnn", "lstm", "gru", "transformer")
IG_TOKENS = IG_MAX_TOKENS  # integrated gradients on longer inputs took minutes
METHOD_NAMES = {
    "grad_x_input": "gradient × input",
    "gradient": "gradient (size only)",
    "integrated_gradients": "integrated gradients",
}

st.title("Saliency: which words does a prediction rest on?")
st.markdown(
    "Pick a word the models should predict. For every earlier word, the score says how much the model's "
    "log-probability of that word depends on it: **gradient × input** (signed: red pushes the prediction up, blue "
    "pushes it down, to first order), the **gradient**'s size alone (what the word *could* change), or "
    "**integrated gradients** (signed, and the scores add up to the change in log-probability from an all-zero "
    "input). Each row is normalised to its own largest score; hover for the raw value."
)

typed = tokenize(common.sentence())
if typed.truncated:
    common.truncation_warning(typed.total, len(typed), typed.cap)
tokens = list(typed.tokens)
if not tokens:
    st.info("Type a sentence in the sidebar, or pick one of the lecture's examples.", icon="✍️")
    st.stop()
text = common.sentence()
T = len(tokens)

c1, c2 = st.columns([3, 2])
with c1:
    start = (
        1 + tokens[1:].index("___") if "___" in tokens[1:] else T
    )  # a blank is where the reader asks "what goes here?"
    target = (
        common.slider(
            "Target: the word at position (the last choice is the word after the sentence)",
            1,
            T,
            start,
            key="sal_target",
            help="A next-word model predicting position j reads positions 0 to j-1.",
        )
        if T > 1
        else 1
    )
with c2:
    method = common.radio(
        "Method",
        list(METHODS),
        index=METHODS.index("grad_x_input"),
        key="sal_method",
        horizontal=True,
        format_func=lambda m: METHOD_NAMES[m],
    )
c3, c4 = st.columns([3, 2])
with c3:
    word = common.text_input(
        "Word to explain (empty: the word that is there, or each model's top guess after the sentence)",
        key="sal_word",
        max_chars=40,
    ).strip()
with c4:
    width = common.slider("Characters per line", 40, 160, 100, step=10, key="sal_width")

if target < T and tokens[target] == "___":
    st.text(
        f"Target: the blank at position {target}, filled by each next-word model's top guess from the {target} "
        "words before it (unless you type a word)."
    )
elif target < T:
    st.text(f"Target: position {target}, the word {tokens[target]!r}, predicted from the {target} words before it.")
else:
    st.text("Target: the word after the sentence (the next-word models' own top guess unless you type one).")
if word:
    st.text(f"Word explained instead: {word!r}")

if method == "integrated_gradients" and max(target, T if "___" in tokens else 0) > IG_TOKENS:  # bilstm reads all
    st.info(f"Integrated gradients runs each model hundreds of times along its path: measured here, minutes for "
            f"300 tokens. Pick a target at most {IG_TOKENS} words in, or gradient × input.", icon="⏳")
    st.stop()
rows, problems = [], []
names = [n for n in NEXT_WORD if n in common.available()]
with st.spinner("Computing saliency for every model ..."):
    for name in names:
        if common.model(name) is None:
            continue
        try:
            frame = answers.saliency(name, text, target - 1, word or None, method)
        except ValueError as e:  # our own message: it never repeats more than 60 characters of the word
            problems.append(f"{name}: {e}")
            continue
        a = frame.attrs
        note = f"log p({a['word']}) = {a['log_p']:.3f}, p = {a['probability']:.3g} ({a['word_source']})"
        if method == "integrated_gradients":
            note += f"; completeness gap {a['completeness_gap']:.2%} with {a['n_steps']} steps"
            if a["cap_reached"]:
                note += " (step cap reached)"
        rows.append(charts.Row(name, frame, note))
    if "___" in tokens and "bilstm" in common.available() and common.model("bilstm") is not None:
        try:
            frame = answers.saliency("bilstm", text, -1, word or None, method)
            a = frame.attrs
            rows.append(
                charts.Row(
                    "bilstm",
                    frame,
                    f"fills the blank at position {a['target_position']}: "
                    f"log p({a['word']}) = {a['log_p']:.3f} ({a['word_source']})",
                )
            )
        except ValueError as e:
            problems.append(f"bilstm: {e}")
for p in problems:
    st.warning("A model could not score this target:", icon="⚠️")
    st.text(p)
if not rows:
    st.stop()
if "___" not in tokens:
    st.caption("The bidirectional model fills a blank: type ___ in the sentence to add its row.")

signed = method != "gradient"
fig = charts.saliency_text(rows, tokens, width=width, signed=signed, target=target if target < T else None)
config = dict(common.PLOTLY_CONFIG, toImageButtonOptions={"format": "png", "filename": "saliency", "scale": 2})
st.plotly_chart(fig, key="chart_sal_text", config=config, width="content")
common.csv_download(lambda: charts.saliency_frame(rows), "saliency", "sal_text")
if method == "integrated_gradients":
    capped = [r.model for r in rows if r.frame.attrs.get("cap_reached")]
    if capped:
        st.warning(
            f"Integrated gradients reached the step cap for {', '.join(capped)}: the completeness gap stated "
            "in the row is above 1%.",
            icon="⚠️",
        )
st.caption(
    "Grey words come after a next-word model's target: it has not read them. The outlined box is the target word."
)
