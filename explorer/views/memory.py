"""Memory: RNN against LSTM (and GRU, Transformer) on long sentences, measured three ways.

Every number comes from core.memory on the shipped models; the readings under
the charts are computed from those numbers (core.memory.read_*).
"""
import streamlit as st

from core import memory
from core.predictions import natural_target
from core.text import tokenize
from explorer import charts, common

LANGUAGE_MODELS = ("rnn", "lstm", "gru", "transformer")
FILLERS = (0, 10, 25, 50, 100, 200)
SHORT_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}

st.title("Memory: which model still remembers the beginning?")
st.markdown(
    "The lecture's claim: a vanilla RNN forgets, because the gradient through *n* steps is multiplied by the "
    "recurrent weight *n* times (0.5^50 = 8.88e-16), while the LSTM's gates let its cell state carry a word across "
    "many steps. Here that claim is measured on the shipped models and on your sentence: insert filler between its "
    "two halves and see whose prediction still depends on the beginning."
)

typed = tokenize(common.sentence())
if typed.truncated:
    common.truncation_warning(typed.total, len(typed), typed.cap)
if not typed.tokens:
    st.info("Type a sentence in the sidebar (or pick the lecture's Middle East example): the models are measured "
            "on predicting its last word, or the word you give for its blank ___.", icon="✍️")
    st.stop()

names = [n for n in LANGUAGE_MODELS if n in common.available()]
c1, c2, c3 = st.columns([2, 1, 2])
with c1:
    filler = common.slider("Filler words inserted after the first sentence", 0, 450, 50, step=5, key="memory_filler",
                           help="Held-out corpus text that names no country, language or city.")
with c2:
    blank_word = ""
    if "___" in typed.tokens:
        answer = common.example_answer(common.sentence())  # filled in only for a lecture example that names it
        blank_word = common.text_input("The word for the blank ___", answer, key="memory_word", max_chars=40,
                                       reset_on=answer,
                                       help="The models are measured on predicting this word at the blank.")
        if answer and blank_word == answer:
            st.caption("Filled in from the lecture example (the answer its training probes use); type another word "
                       "to measure that one.")
with c3:
    chosen = common.multiselect("Models", names, default=names, key="memory_models",  # short labels: all four fit
                                format_func=lambda n: SHORT_NAMES.get(n, n))
models = [n for n in chosen if common.model(n) is not None]
if not models:
    st.info("Choose at least one model that loads.", icon="ℹ️")
    st.stop()
target = natural_target(typed.tokens, common.model(models[0]).vocab, blank_word)
if target.word is None:  # no charts about a word the sentence does not give
    st.info("This sentence gives no word to measure memory on:", icon="ℹ️")
    st.text(target.problem)  # may quote the user's word: literal text only
    st.caption("Sections 1, 2 and 5 measure your sentence and need its target word; 3 and 4 do not.")
else:
    word, tokens = target.word, list(target.prompt)
    prompt = " ".join(tokens)
    st.text(f"Target word: {word!r}, {target.reason}; the models read the {len(tokens)} tokens before it.")

    if filler > typed.cap - len(tokens):
        filler = typed.cap - len(tokens)
        st.warning(f"Only {filler} filler words fit: the models read at most {typed.cap} tokens.", icon="✂️")
    filled = memory.with_filler(prompt, filler)  # core's one rule: where the filler goes, and how far back the cue is
    text, long_tokens, beginning = filled.text, filled.tokens, filled.cue_distance
    with st.expander(f"The sentence the models read: {len(long_tokens)} tokens, {filler} of them filler"):
        st.text(text)

    # 1. gradients -----------------------------------------------------------------------------------------
    st.subheader("1. How much can each earlier word still move the prediction?")
    st.markdown(
        "For the next word after the sentence, the norm of the gradient of its log-probability with respect to each "
        "earlier word's embedding, on a log scale: the lecture's vanishing gradient, measured. Far left is the "
        "beginning of the sentence."
    )
    grads = {n: common.memory_result("gradient", n, text, word) for n in models}
    fig = charts.gradient_distance_chart(grads, cue_distance=beginning)
    common.chart(fig, "memory_gradient", lambda: charts.stacked_frame(grads), "memory_gradient_by_distance")
    st.text(memory.read_gradients(grads, far=beginning))

    # 2. probability as the filler grows -------------------------------------------------------------------
    st.subheader("2. The right word as the filler grows")
    fillers = tuple(sorted({f for f in FILLERS if f <= typed.cap - len(tokens)} | {filler}))
    probs = {n: common.memory_result("probability", n, prompt, word, fillers) for n in models}
    fig = charts.probability_filler_chart(probs, word)
    common.chart(fig, "memory_probability", lambda: charts.stacked_frame(probs), "memory_probability_by_filler")
    st.text(memory.read_probability(probs, word))

# 3. recall on held-out probes ---------------------------------------------------------------------------
st.subheader("3. Recall on held-out probes (measured after training)")
st.markdown(
    "Sentences the models never trained on, with countries, nouns and fillers held out: \"i grew up in austria . "
    "... i speak fluent\", \"the mice ( ... ) are\", and the lecture's own. Accuracy of the dependent word, by "
    "the number of filler tokens between the cue and the answer (from each model's metrics.json)."
)
curves = {n: m["recall_by_distance"] for n in common.available() if "recall_by_distance" in (m := common.metrics(n))}
if curves:
    fig = charts.recall_chart(curves)
    common.chart(fig, "memory_recall", lambda: charts.recall_frame(curves), "memory_recall_by_distance")
st.text(memory.read_recall(curves))

# 4. the lecture's arithmetic ---------------------------------------------------------------------------
st.subheader("4. The lecture's arithmetic, live: w^n")
st.markdown(
    "Unroll a one-unit RNN h_t = act(w h_{t-1} + x) for n steps: the gradient dh_n/dh_0 is a product of n factors "
    "w · act'. With relu (and positive states) that is exactly w^n; tanh adds tanh' <= 1 at every step."
)
c1, c2, c3 = st.columns([2, 2, 1])
with c1:
    w = common.slider("Recurrent weight w", 0.05, 2.5, 0.5, step=0.05, key="memory_w")
with c2:
    n = common.slider("Steps n", 1, 200, 50, key="memory_n")
with c3:
    st.metric("w^n", f"{memory.lecture_power(w, n):.4g}")
scalar = {act: memory.scalar_rnn(w, n, act) for act in ("tanh", "relu")}
fig = charts.power_chart(scalar, w)
common.chart(fig, "memory_power", lambda: charts.stacked_frame(scalar, "activation"), "memory_w_power_n")
st.text(memory.read_power(w, n, scalar["tanh"], scalar["relu"]))

# 5. Jacobians through the real models, on demand --------------------------------------------------------
st.subheader("5. The same product inside the real models")
recurrent = [m for m in models if m != "transformer"]
if target.word is None:
    st.caption("Needs a sentence with a target word (see the top of the page).")
elif common.toggle("Compute dh_T/dh_s through the real RNN, LSTM and GRU", key="memory_jacobian") and recurrent:
    longest = min(len(long_tokens) - 1, 200)
    upto = tuple(d for d in (1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 70, 100, 150, 200) if d <= longest)
    jac = {m: common.memory_result("jacobian", m, text, fillers=upto) for m in recurrent}
    fig = charts.jacobian_chart(jac)
    common.chart(fig, "memory_jacobian", lambda: charts.stacked_frame(jac), "memory_jacobian_norms")
    st.text(memory.read_jacobians(jac, at=max(d for d in upto if d <= 50)) if upto else "The sentence is too short.")
else:
    st.caption("The norm of the product of the step Jacobians J_T ... J_{s+1} (for the LSTM, of dh_T/d(h_s, c_s)), "
               "computed from the traced gates; the Transformer has no recurrent state to follow.")
