"""A pretrained Transformer: all-MiniLM-L6-v2 traced by core/bert.py. Head, model and neuron views,
what the heads do, and the lecture's Apple example measured."""

import streamlit as st

from core import heads as core_heads
from explorer import charts, common

WINDOW_AT = 64  # pieces: longer inputs get a "pieces shown" range for the head, model and neuron views
LECTURE = (
    "Apple is my favorite fruit",
    "Apple is my favorite company, and I work there",
    "Apple is my favorite brand, and I am going to buy one",
)

st.title("A pretrained Transformer: MiniLM")
st.markdown(
    "This page shows **all-MiniLM-L6-v2** (sentence-transformers; Apache-2.0), a BERT encoder pretrained on large "
    "English corpora and fine-tuned on about a billion sentence pairs: 6 layers × 12 heads, 384 numbers per piece, "
    "22.6 million parameters. It reads the whole sentence in both directions (no causal mask) and splits words "
    "into **word pieces** from a 30,522-piece vocabulary (`##` marks a piece that continues a word), between "
    "`[CLS]` and `[SEP]`. Every value is computed by gatescope's own encoder (`core/bert.py`), checked against "
    "transformers' `BertModel`. The **Attention** page shows a different model: the small causal Transformer "
    "trained here on dictionary English."
)

model = common.pretrained_model()
if model is None:
    st.stop()
text = common.sentence()
if common.pretrained_pieces(text) <= 2:
    st.info("Type a sentence in the sidebar, or pick one of the lecture's examples, to see inside MiniLM.", icon="✍️")
    st.stop()
tr = common.pretrained_trace(text)
T = tr.length
tokens = tr.labels()
L, HEADS = charts.attention_shape(tr)
if tr.truncated:
    st.warning(f"The input has {tr.meta['total_tokens']:,} word pieces; MiniLM reads at most {tr.meta['cap']} "
               f"([CLS] and [SEP] included), so only the first {T:,} are shown.", icon="✂️")
words = len({w for w in tr.meta["word_ids"] if w is not None})
st.caption(f"{T} word pieces from {words} words" + (f"; {len(tr.unknown)} unknown to the vocabulary ([UNK], in red)"
                                                   if tr.unknown else "") + ".")

if T > WINDOW_AT:
    window = common.window_picker(T, key="pre_window", above=WINDOW_AT, span=WINDOW_AT)
    if window[1] - window[0] > 128:
        window = (window[0], window[0] + 128)
        st.caption(f"At most 128 pieces at once in these views: showing {window[0]} to {window[1] - 1}.")
    st.caption(f"Pieces {window[0]} to {window[1] - 1} of {T} are drawn in the head, model and neuron views; "
               "weights to pieces outside the range are not drawn, so rows need not sum to 1.")
else:
    window = (0, T)
lo, hi = window

# -- 1. head view --------------------------------------------------------------------------------
st.subheader("1. Head view: who looks at whom, in one layer")
st.markdown(
    "Left: each piece as a **query** (the one looking); right: the same pieces as **keys** (looked at). A line "
    f"joins them when the weight is at least {charts.pretrained.MIN_LINE}; stronger weights draw darker, thicker "
    "lines. One colour per head; click a head in the legend to hide it. Hover a piece on the left to read its "
    "strongest weights; pick it below to see only its lines."
)
c1, c2 = st.columns([1, 3])
hv_layer = common.selectbox("Layer", list(range(L)), key="pre_hv_layer", where=c1)
hv_heads = common.multiselect("Heads", list(range(HEADS)), default=list(range(HEADS)), key="pre_hv_heads", where=c2,
                              format_func=lambda h: f"head {h}")
focus_options = ["all"] + list(range(lo, hi))
focus = common.selectbox("Lines of", focus_options, key="pre_hv_focus", reset_on=text,
                         format_func=lambda p: "every piece" if p == "all" else f"{p}: {tokens[p]}")
focus = None if focus == "all" else focus
if not hv_heads:
    st.info("Choose at least one head.")
else:
    fig = charts.head_view(tr, hv_layer, hv_heads, window, focus)
    common.chart(fig, "pre_head_view", lambda: charts.head_view_frame(tr, hv_layer, hv_heads, window),
                 f"minilm_head_view_layer{hv_layer}")

# -- 2. model view -------------------------------------------------------------------------------
st.subheader(f"2. Model view: all {L} × {HEADS} heads at once")
st.markdown(
    "Each small square is one head: rows are queries, columns keys, in sentence order (hover for the pieces and the "
    "exact weight). A bright vertical stripe is a piece many queries look at ([CLS], [SEP] or a full stop often); "
    "a line just off the diagonal is a head looking at the next or the previous piece."
)
fig = charts.model_view(tr, window)
common.chart(fig, "pre_model_view", lambda: charts.attention_grid_frame(tr, window), "minilm_model_view")
c1, c2 = st.columns(2)
mv_layer = common.selectbox("Open layer", list(range(L)), key="pre_mv_layer", where=c1)
mv_head = common.selectbox("Open head", list(range(HEADS)), key="pre_mv_head", where=c2)
fig = charts.attention_head(tr, mv_layer, mv_head, window)
common.chart(fig, "pre_model_head",
             lambda: charts.attention_grid_frame(tr, window).loc[lambda d: (d.layer == mv_layer) & (d.head == mv_head)],
             f"minilm_layer{mv_layer}_head{mv_head}")

# -- 3. neuron view ------------------------------------------------------------------------------
st.subheader("3. Neuron view: how one weight is formed")
d_k = tr["layers.0.attention.query"].shape[-1]
st.markdown(
    f"For one query piece in one head: its query vector q ({d_k} numbers) is multiplied, number by number, with "
    "each key's vector k; each row of products adds up to the score q·k, which is divided by "
    f"√{d_k} and turned into weights by the softmax over all keys."
)
st.latex(r"w_j = \mathrm{softmax}_j\!\left(\frac{\sum_{i=1}^{d} q_i\, k_{j,i}}{\sqrt{d}}\right)")
c1, c2, c3 = st.columns([1, 1, 2])
nv_layer = common.selectbox("Layer", list(range(L)), key="pre_nv_layer", where=c1)
nv_head = common.selectbox("Head", list(range(HEADS)), key="pre_nv_head", where=c2)
nv_query = common.selectbox("Query piece", list(range(T)), index=min(1, T - 1), key="pre_nv_query", where=c3,
                            reset_on=text, format_func=lambda p: f"{p}: {tokens[p]}")
b = core_heads.score_breakdown(tr, nv_layer, nv_head, nv_query)
common.show_token(nv_query, tokens[nv_query])
best = b.keys.loc[b.keys["weight"].idxmax()]
st.markdown(f"Strongest key: position {int(best['position'])}, with")
st.text(f"key: {best['token']}")
st.latex(
    rf"q\cdot k = {best['dot']:.4f},\quad \frac{{q\cdot k}}{{\sqrt{{{d_k}}}}} = {best['scaled']:.4f},\quad "
    rf"w = {best['weight']:.4f}\ \ (\text{{the trace's weight: }} {best['trace_weight']:.4f})"
)
fig = charts.neuron_view(b, tokens, window)
common.chart(fig, "pre_neuron", lambda: charts.neuron_frame(b), f"minilm_neuron_l{nv_layer}_h{nv_head}_q{nv_query}")

# -- 4. what the heads do ------------------------------------------------------------------------
st.subheader("4. What the heads do, on this sentence")
st.markdown(
    "For every head, the share of its weight (averaged over the query pieces) that goes to the previous piece, "
    "the next piece, the piece itself, [CLS], [SEP] and punctuation. Measured on this sentence only: another "
    "sentence gives other numbers."
)
patterns = common.head_patterns(text)
present = tuple(p for p in core_heads.PATTERNS if not patterns[p].isna().all())
fig = charts.head_patterns_chart(patterns, present)
common.chart(fig, "pre_patterns", lambda: patterns, "minilm_head_patterns")
best_heads = core_heads.best_heads(patterns, tuple(tokens))
lines = [
    f"- **{r.pattern}**: layer {r.layer}, head {r.head} puts {r.share:.3f} of its weight there "
    f"(mean over the {L * HEADS} heads {r.mean_over_heads:.3f}; spreading evenly would give {r.uniform:.3f})"
    for r in best_heads.itertuples()
]
missing = [p for p in core_heads.PATTERNS if p not in present]
st.markdown("The heads that fit each pattern best:\n" + "\n".join(lines))
if missing:
    st.caption(f"Not measured, the sentence has none: {', '.join(missing)}.")
st.dataframe(patterns, hide_index=True, height=300,
             column_config={p: st.column_config.NumberColumn(p, format="%.4f") for p in core_heads.PATTERNS})

# -- 5. the Apple example -------------------------------------------------------------------------
st.subheader("5. The lecture's Apple example, measured")
st.markdown(
    "Does \"apple\" get a different vector when the sentence is about fruit than when it is about a company? "
    "For each sentence below, the vector of the word at every layer is compared (cosine similarity) with the "
    "vector of a reference word in a reference sentence. Layer 0 is the embeddings, before any attention: there "
    "the word has the same vector wherever it stands at the same position. The numbers are what the model gives, "
    "whatever they say."
)
c1, c2 = st.columns(2)
word = common.text_input("Word", "apple", key="pre_word", max_chars=40, where=c1)
v1 = common.text_input("Your sentence 1 (with the word)", "", key="pre_variant1", max_chars=300, where=c2)
v2 = common.text_input("Your sentence 2 (with the word)", "", key="pre_variant2", max_chars=300, where=c2)
fruit_s = common.text_input("Fruit reference sentence", "She ate a ripe pear after lunch.", key="pre_fruit_text",
                            max_chars=300, where=c1)
fruit_w = common.text_input("Fruit reference word", "pear", key="pre_fruit_word", max_chars=40, where=c1)
company_s = common.text_input("Company reference sentence", "Microsoft announced record profits this quarter.",
                              key="pre_company_text", max_chars=300, where=c1)
company_w = common.text_input("Company reference word", "Microsoft", key="pre_company_word", max_chars=40, where=c1)
sentences = tuple(dict.fromkeys(s for s in (*LECTURE, v1, v2) if s.strip()))
labels = {s: (f"lecture {LECTURE.index(s) + 1}" if s in LECTURE else f"yours {1 if s == v1 else 2}") for s in sentences}
if not word.strip():
    st.info("Type the word to follow.")
else:
    frame, wide, notes = common.contextual(word, sentences, (("fruit", fruit_s, fruit_w),
                                                             ("company", company_s, company_w)))
    if notes:
        st.caption("ℹ️ Left out, the word is not in it:")
        for note in notes:
            st.text(note)
    if wide.empty:
        st.info("Nothing to compare: the word must be in at least one sentence and in a reference sentence.")
    else:
        refs = [r for r in ("fruit", "company") if r in wide.columns]
        fig = charts.contextual_chart(wide, labels, refs)
        common.chart(fig, "pre_apple", lambda: frame, "minilm_contextual_word")
        last = wide[wide.layer == wide.layer.max()]
        table = last.assign(label=[labels[s] for s in last.sentence])[["label", "sentence", *refs, "closest", "margin"]]
        st.markdown(f"After the last layer ({int(wide.layer.max()) - 1}), per sentence: the cosine with each "
                    "reference, which one is closer, and by how much.")
        st.dataframe(table, hide_index=True,
                     column_config={c: st.column_config.NumberColumn(c, format="%.4f") for c in (*refs, "margin")})
