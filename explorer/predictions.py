"""What a next-word model guessed, scored against the words that came: one call from each next-word page.

    predictions.section("lstm", cursor_key="lstm_cursor")

Under the page's heatmaps: a surprisal strip over the sentence (one cell per token, p and rank on
hover) and, at the page's step cursor, the top guesses with the actual next word marked. Special
tokens (``<unk>``, ``<num>``, padding, the blank) are left out of the guesses unless the reader
asks, and the share of steps where ``<unk>`` would have been the top guess is stated.
"""

from __future__ import annotations

import streamlit as st

from core.predictions import SPECIAL_LABELS
from explorer import charts, common
from explorer.common import answers

K = 8


def section(name: str, cursor_key: str) -> None:
    """The surprisal strip and the guesses at the cursor (``st.session_state[cursor_key]``) for model ``name``."""
    prefix = cursor_key.rsplit("_", 1)[0]
    st.subheader("What it guessed, against what came")
    if common.model(name) is None:
        return
    if common.model(name).config.task != "next_word":
        st.caption(
            "This model fills a blank from both sides, so it sees every word it would be scored on: "
            "the next-word scores are on the RNN, LSTM, GRU and Attention pages."
        )
        return
    text = common.sentence()
    specials = common.toggle(
        "Show special tokens (<unk>, <num>) among the guesses",
        key=f"{prefix}_specials",
        help="<unk> stands for every word outside the 8,000-word vocabulary, <num> for any number.",
    )
    score = answers.score(name, text, specials)
    top, shares = answers.guesses(name, text, K, specials)
    T = len(score)
    cursor = min(max(int(st.session_state.get(cursor_key, T - 1)), 0), T - 1)
    scored = score.iloc[1:]
    st.caption(
        f"Each cell is one word, coloured by how surprised the model was to see it (-log2 p, in bits); hover for "
        f"p and the rank of the word among the model's guesses one step earlier. "
        f"Mean {score.attrs['mean_surprisal_bits']:.2f} "
        f"bits per word (perplexity {score.attrs['perplexity']:.0f}) over {len(scored)} predicted words; "
        f"the actual word was the top guess at {int((scored['rank'] == 1).sum())} of them."
    )
    unknown = [i for i, s in enumerate(score["scored_as"]) if s == "<unk>"]
    fig = charts.surprisal_strip(score, cursor, unknown)
    common.chart(fig, f"{prefix}_surprisal", lambda: score, f"{name}_surprisal")
    unk = shares.get("<unk>", 0.0)
    st.markdown(
        f"At {unk:.0%} of the {T} steps the model's single most likely next entry was `<unk>` "
        f"({SPECIAL_LABELS['<unk>']}): a guess that a rare word comes, not a word. "
        + ("It is shown among the guesses below, labelled." if specials else "It is left out of the guesses below.")
    )
    here = top[top["position"] == cursor]
    actual = score.iloc[cursor + 1] if cursor + 1 < T else None
    common.show_token(cursor, score["token"].iloc[cursor])
    if actual is None:
        st.caption("The cursor is on the last word: there is no actual next word to compare with.")
        fig = charts.guesses_bars(here, None, None, None)
    else:
        st.text(f"actual next word: {actual['token']}  (p = {actual['p']:.4g}, rank {int(actual['rank'])})")
        fig = charts.guesses_bars(here, actual["scored_as"], float(actual["p"]), int(actual["rank"]))
    common.chart(fig, f"{prefix}_guesses", lambda: top, f"{name}_top_guesses")
    st.page_link(
        "views/saliency.py", label="Which earlier words does a prediction rest on? Saliency for every model", icon="🔎"
    )
