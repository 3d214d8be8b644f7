"""Tokens and embeddings: the lecture's three steps from words to the vectors a network reads."""

import pandas as pd
import streamlit as st

from core.text import BLANK, NUM, SPECIALS, UNK
from explorer import charts, common

st.title("Tokens and embeddings")
st.markdown(
    "Neural networks need numbers. The lecture's three steps turn a sentence into vectors: "
    "**1. Vocabulary** (a fixed list of known words), **2. Indexing** (word → index), "
    "**3. Embedding** (index → a vector of fixed size)."
)

name = common.model_picker(common.available() or ["lstm"], key="tokens_model", label="Embedding of model")
text = common.sentence()
tr = common.page_trace(name)
if tr is None:
    st.stop()
model = common.model(name)
vocab = model.vocab
ids = list(tr.meta["ids"])
T = tr.length

st.subheader("The text as typed")
st.code(text, language=None, wrap_lines=True, height=min(160, 40 + 22 * (len(text) // 90 + text.count("\n") + 1)))

st.subheader("1. Vocabulary")
c1, c2, c3 = st.columns(3)
c1.metric("Words in the vocabulary", f"{len(vocab):,}")
c2.metric("Tokens in this sentence", f"{T:,}")
c3.metric("Unknown tokens", f"{len(tr.unknown):,}")
st.markdown(
    f"All five models share one vocabulary. Lower-cased words, punctuation and emoji are tokens; every number "
    f"maps to `{NUM}`, a blank `___` to `{BLANK}`, and a word outside the list to `{UNK}`. "
    f"The first entries are the special tokens {', '.join(f'`{s}`' for s in SPECIALS)}."
)
with st.expander("Browse the vocabulary"):
    st.dataframe(pd.DataFrame({"index": range(len(vocab)), "word": vocab.itos}), hide_index=True, height=300)

st.subheader("2. Indexing: word → index")
unknown = set(tr.unknown)


def status(pos: int, tok: str, i: int) -> str:
    if pos in unknown:
        return "unknown → <unk>"
    if vocab.itos[i] == NUM:
        return "number → <num>"
    if vocab.itos[i] == BLANK:
        return "blank → <blank>"
    return "known"


table = pd.DataFrame(
    {
        "position": range(T),
        "token": tr.labels(),
        "index": ids,
        "vocabulary entry": [vocab.itos[i] for i in ids],
        "status": [status(p, t, i) for p, (t, i) in enumerate(zip(tr.labels(), ids))],
    }
)
if unknown:
    st.warning(
        f"{len(unknown)} of {T} tokens are not in the vocabulary: they all become the one index "
        f"{vocab.stoi[UNK]} (`{UNK}`) and share one embedding vector. They are marked in the table and in red on "
        "the chart.",
        icon="❓",
    )
st.dataframe(
    table,
    hide_index=True,
    height=min(420, 38 + 35 * T),
    column_config={"status": st.column_config.TextColumn("status", help="unknown words map to <unk>")},
)
common.csv_download(lambda: table, "tokens", "tokens_table")

st.subheader("3. Embedding: index → vector")
E = tr["embedding"].shape[1]
st.markdown(
    f"Row *index* of the `{name}` model's embedding table, a learned matrix of {len(vocab):,} × {E}. "
    "Each column below is one token's vector; a word that appears twice has the same column twice."
)
st.latex(r"x_t = E[\,\mathrm{index}(w_t)\,] \in \mathbb{R}^{%d}" % E)
window = common.window_picker(T, key="tokens_window")
fig = charts.vector_heatmap(tr, "embedding", f"embedding vectors of the {name} model", "embedding value", window)
common.chart(fig, "embedding", lambda: charts.vector_frame(tr, "embedding", window), f"embedding_{name}")
if name == "transformer":
    st.info("The Transformer also adds a positional encoding to these vectors: see the Attention page.", icon="ℹ️")
