"""core/contextual.py (the Apple example) and bert.words, against values indexed by hand from the Trace."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import bert, contextual

pytestmark = pytest.mark.skipif(not bert.installed(), reason=f"needs {bert.PACKAGE}")

SENTENCES = ["Apple is my favorite fruit", "I work at APPLE, and apple pie is my favourite"]
REFS = [("fruit", "She ate a ripe pear after lunch.", "pear"), ("company", "Microsoft hired engineers.", "Microsoft")]


@pytest.fixture(scope="module")
def model():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield bert.load()
    torch.set_num_threads(n)


def by_hand(model, text: str, position: int) -> np.ndarray:
    """(7, D): the vector at one piece position, taken from the trace's names directly."""
    tr = model.trace(text)
    names = ["embedding_norm"] + [f"layers.{l}.hidden" for l in range(6)]
    return np.stack([tr[n][position].double().numpy() for n in names])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_words_group_pieces(model):
    tr = model.trace("Unbelievably, the café")
    assert bert.words(tr) == [("unbelievably", [1, 2, 3, 4, 5]), (",", [6]), ("the", [7]), ("cafe", [8])]


def test_word_vectors_are_the_first_occurrence_and_the_mean_of_pieces(model):
    tr = model.trace(SENTENCES[1])
    pos = tr.tokens.index("apple")  # "APPLE" (position 4) comes before "apple"
    assert np.allclose(contextual.word_vectors(model, tr, "Apple").numpy(), by_hand(model, SENTENCES[1], pos))
    split = model.trace("Unbelievably good")
    mean = np.mean([by_hand(model, "Unbelievably good", p) for p in range(1, 6)], axis=0)
    assert np.allclose(contextual.word_vectors(model, split, "unbelievably").numpy(), mean)
    assert contextual.word_vectors(model, tr, "banana") is None


def test_compare_word_matches_cosines_computed_by_hand(model):
    frame, notes = contextual.compare_word(model, "apple", SENTENCES + ["no fruit here", ""], REFS)
    assert len(notes) == 2 and all("left out" in n for n in notes)
    assert len(frame) == len(SENTENCES) * len(REFS) * 7
    pear = by_hand(model, REFS[0][1], model.trace(REFS[0][1]).tokens.index("pear"))
    for text in SENTENCES:
        apple = by_hand(model, text, model.trace(text).tokens.index("apple"))
        got = frame[(frame.sentence == text) & (frame.reference == "fruit")].sort_values("layer")["cosine"].to_numpy()
        assert np.allclose(got, cosine(apple, pear))
    wide = contextual.closest(frame)
    assert len(wide) == len(SENTENCES) * 7
    for _, r in wide.iterrows():
        assert r["closest"] == ("fruit" if r["fruit"] > r["company"] else "company")
        assert r["margin"] == pytest.approx(abs(r["fruit"] - r["company"]))


def test_layer_zero_is_the_same_for_the_same_word_at_the_same_position(model):
    """Before any attention the vector depends on the piece and its position only: a check that layer 0 is
    the embeddings and that later layers are not."""
    frame, _ = contextual.compare_word(model, "apple", ["Apple is red", "Apple is a company"], REFS[:1])
    per = frame.pivot(index="layer", columns="sentence", values="cosine")
    assert per.loc[0, "Apple is red"] == pytest.approx(per.loc[0, "Apple is a company"], abs=1e-12)
    assert abs(per.loc[6, "Apple is red"] - per.loc[6, "Apple is a company"]) > 1e-3


def test_missing_reference_is_a_note_not_an_error(model):
    frame, notes = contextual.compare_word(model, "apple", SENTENCES[:1], [("fruit", "no such word", "pear")])
    assert frame.empty and notes == ["reference 'fruit': 'pear' is not a word of 'no such word'; left out"]
    assert list(contextual.closest(frame).columns) == ["sentence", "layer", "closest", "margin"]
