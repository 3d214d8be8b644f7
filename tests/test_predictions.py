"""model.score, top_k and core.compare against values computed here from the Trace."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import core
from core import comparison, predictions
from core.models import ModelConfig, WordModel
from core.text import SPECIALS, Vocab, encode

WORDS = ["the", "food", "was", "good", "bad", ",", "not", "at", "all", "i", "speak", "fluent", "french", "."]
TEXT = "The food was good, not bad at all. I speak fluent 1,200 zebra"
PAIR = ("The food was good, not bad at all", "The food was bad, not good at all")


def tiny(arch: str, seed: int = 0) -> WordModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        arch, len(WORDS) + 4, embed_dim=6, hidden_size=5, num_layers=2 if arch == "transformer" else 1, heads=2
    )
    model = WordModel(cfg, Vocab(WORDS)).double().eval()
    for p in model.parameters():
        p.data.mul_(2.0)
        p.requires_grad_(False)
    return model


def reference_score(model, text):
    """p and rank of each token under the Trace's logits one position earlier."""
    tr = model.trace(text)
    probs = torch.softmax(tr["logits"].double(), dim=-1)
    ids = tr.meta["ids"]
    p, rank = [math.nan], [None]
    for t in range(1, len(ids)):
        row = probs[t - 1]
        p.append(float(row[ids[t]]))
        words = [i for i in range(len(row)) if model.vocab.itos[i] not in SPECIALS]
        rank.append(1 + sum(1 for i in words if row[i] > row[ids[t]]))
    return np.array(p), rank


def check_score(frame, model, text):
    p, rank = reference_score(model, text)
    np.testing.assert_allclose(frame["p"].to_numpy(dtype=float), p, rtol=1e-9, equal_nan=True)
    assert frame["rank"].iloc[1:].tolist() == rank[1:]
    np.testing.assert_allclose(frame["surprisal_bits"].to_numpy(dtype=float), -np.log2(p), rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "transformer"])
def test_score_equals_softmax_of_trace_logits_at_previous_position(arch):
    model = tiny(arch)
    frame = model.score(TEXT)
    assert list(frame.columns) == ["position", "token", "scored_as", "p", "rank", "surprisal_bits"]
    assert pd.isna(frame.loc[0, "p"]) and pd.isna(frame.loc[0, "rank"]) and pd.isna(frame.loc[0, "surprisal_bits"])
    assert frame["scored_as"].tolist()[-2:] == ["<num>", "<unk>"]
    check_score(frame, model, TEXT)
    with pytest.raises(AssertionError):  # the same check catches logits read at the token's own position
        check_score(_same_position(model, TEXT), model, TEXT)


def _same_position(model, text):
    """A wrong score: the token's probability read from the logits at its own position."""
    tr = model.trace(text)
    probs = torch.softmax(tr["logits"].double(), dim=-1)
    ids = torch.tensor(tr.meta["ids"])
    frame = model.score(text)
    p = probs[torch.arange(len(ids)), ids].numpy()
    frame["p"] = [math.nan, *p[1:]]
    return frame


def test_score_ranks_with_specials_when_asked():
    model = tiny("lstm")
    with_specials = model.score(TEXT, specials=True)
    probs = torch.softmax(model.trace(TEXT)["logits"].double(), dim=-1)
    ids = encode(TEXT, model.vocab).ids
    expected = [int((probs[t - 1] > probs[t - 1, ids[t]]).sum()) + 1 for t in range(1, len(ids))]
    assert with_specials["rank"].iloc[1:].tolist() == expected
    assert (with_specials["rank"].iloc[1:] >= model.score(TEXT)["rank"].iloc[1:]).all()


def test_score_refuses_the_blank_filler_and_empty_text():
    with pytest.raises(ValueError, match="next-word"):
        tiny("bilstm").score("the food ___ good")
    with pytest.raises(ValueError, match="no words"):
        tiny("rnn").score(" \n ")


def test_top_k_leaves_specials_out_unless_asked():
    vocab = Vocab(WORDS)
    logits = torch.full((3, len(vocab)), -5.0)
    logits[:, vocab.stoi["<unk>"]] = 5.0  # <unk> is the top entry at every step
    logits[0, vocab.stoi["good"]] = 3.0
    logits[1, vocab.stoi["<num>"]] = 6.0
    plain = predictions.top_k(logits, vocab, k=2)
    assert not plain["special"].any() and plain.loc[plain["position"] == 0, "word"].iloc[0] == "good"
    assert plain.loc[plain["position"] == 0, "rank"].tolist() == [1, 2]
    shown = predictions.top_k(logits, vocab, k=2, specials=True)
    assert shown.loc[shown["position"] == 1, "word"].tolist() == ["<num>", "<unk>"]
    assert shown.loc[shown["word"] == "<unk>", "label"].iloc[0] == "a word outside the vocabulary"
    np.testing.assert_allclose(shown.groupby("position")["p"].max(), torch.softmax(logits.double(), -1).max(-1).values)
    share = predictions.special_top_share(logits, vocab)
    assert share["<unk>"] == pytest.approx(2 / 3) and share["<num>"] == pytest.approx(1 / 3) and share["<pad>"] == 0


# -- compare --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "transformer"])
def test_compare_distances_are_the_traced_states(arch):
    model = tiny(arch)
    frame = core.compare([model], *PAIR)
    rows = frame[frame["model"] == arch]
    h_a, h_b = (model.trace(t)["output"].double() for t in PAIR)
    np.testing.assert_allclose(rows["distance"], (h_a - h_b).norm(dim=1), rtol=1e-9)
    np.testing.assert_allclose(rows["cosine"], torch.nn.functional.cosine_similarity(h_a, h_b, dim=1), rtol=1e-9)
    first = frame.attrs["models"][arch]["first_token_difference"]
    assert first == 3 and (rows["distance"].iloc[:first] == 0).all()  # a causal model has read the same words so far
    assert (rows["distance"].iloc[first:] > 0).all()


def test_bag_of_words_cannot_tell_the_lecture_pair_apart_at_the_end():
    model = tiny("lstm")
    frame = core.compare([model], *PAIR)
    bag = frame[frame["model"] == comparison.BAG_OF_WORDS]
    assert bag["distance"].iloc[-1] == 0.0 and bag["distance"].iloc[3] > 0  # same multiset only at the end
    emb = model.embedding.weight.double()
    ids_a = encode(PAIR[0], model.vocab).ids
    np.testing.assert_allclose(
        comparison.bag_of_words(model.embedding.weight, ids_a)[4], emb[list(ids_a[:5])].mean(0), rtol=1e-12
    )


def test_shipped_lstm_tells_the_lecture_pair_apart_and_bag_of_words_does_not():
    if "lstm" not in core.available():
        pytest.skip("the shipped lstm is not present")
    frame = core.compare([core.load("lstm")], *PAIR)
    end = frame.groupby("model")["distance"].last()
    assert end["bag_of_words"] == 0.0
    assert end["lstm"] > 0.1, end  # the order of good and bad changed its state
    assert frame.attrs["models"]["lstm"]["end_distance"] == pytest.approx(end["lstm"])


def test_compare_different_lengths_and_bad_input():
    model = tiny("gru")
    frame = core.compare([model], "the food was good", "the food was good , not bad at all")
    assert frame.groupby("model").size().tolist() == [4, 4]
    assert frame.attrs["models"]["gru"]["first_token_difference"] is None
    assert frame.attrs["models"]["gru"]["end_distance"] > 0
    with pytest.raises(ValueError, match="at least one word"):
        core.compare([model], "", "the food")
    with pytest.raises(ValueError, match="at least one model"):
        core.compare([], "a", "b")


def test_bag_of_words_is_exactly_order_free_even_where_float_sums_are_not():
    """(1e16 + 1) - 1e16 is 0 but (1e16 - 1e16) + 1 is 1: the baseline must not depend on the order it reads."""
    vocab = Vocab(["big", "one", "minus"])
    table = torch.zeros(len(vocab), 1, dtype=torch.float64)
    table[vocab.stoi["big"]], table[vocab.stoi["one"]], table[vocab.stoi["minus"]] = 1e16, 1.0, -1e16
    a = comparison.bag_of_words(table, encode("big one minus", vocab).ids)
    b = comparison.bag_of_words(table, encode("big minus one", vocab).ids)
    assert float(a[-1, 0]) == float(b[-1, 0])
