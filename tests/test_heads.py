"""core/heads.py: head patterns on planted attention, and the neuron view's arithmetic on the real MiniLM."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core import bert, heads
from core.trace import Trace

TOKENS = ("[CLS]", "the", "food", ",", "was", "good", ".", "[SEP]")
T = len(TOKENS)


def planted_trace() -> Trace:
    """One layer, seven heads, each doing exactly one thing (head 6 spreads evenly)."""
    eye = torch.eye(T)
    previous = torch.diag(torch.ones(T - 1), -1)  # row i has its 1 at column i-1; row 0 looks at itself
    previous[0, 0] = 1
    nxt = torch.diag(torch.ones(T - 1), 1)  # row i has its 1 at column i+1; the last row looks at itself
    nxt[-1, -1] = 1
    cls, punct, sep = torch.zeros(T, T), torch.zeros(T, T), torch.zeros(T, T)
    cls[:, 0] = 1
    punct[:, [3, 6]] = 0.5  # half on each punctuation piece
    sep[:, -1] = 1
    uniform = torch.full((T, T), 1 / T)
    w = torch.stack([previous, nxt, eye, cls, punct, sep, uniform])  # (7, T, T)
    return Trace({"embedding": torch.zeros(T, 4), "layers.0.attention.weights": w}, tokens=TOKENS)


def test_planted_patterns_are_measured_exactly():
    p = heads.head_patterns(planted_trace()).set_index("head")
    assert p.loc[0, "previous"] == 1 and p.loc[0, "self"] == pytest.approx(1 / T)
    assert p.loc[1, "next"] == 1 and p.loc[1, "previous"] == 0
    assert p.loc[2, "self"] == 1 and p.loc[2, "next"] == 0
    assert p.loc[3, "[CLS]"] == 1 and p.loc[3, "[SEP]"] == 0
    assert p.loc[4, "punctuation"] == pytest.approx(1.0) and p.loc[4, "[CLS]"] == 0
    assert p.loc[5, "[SEP]"] == 1 and p.loc[5, "punctuation"] == 0
    for col, keys in (("[CLS]", 1), ("[SEP]", 1), ("punctuation", 2), ("self", 1), ("previous", 1)):
        assert p.loc[6, col] == pytest.approx(keys / T)


def test_best_heads_names_the_planted_heads_with_uniform_for_scale():
    tr = planted_trace()
    best = heads.best_heads(heads.head_patterns(tr), tr.tokens).set_index("pattern")
    assert best["head"].to_dict() == {"previous": 0, "next": 1, "self": 2, "[CLS]": 3, "[SEP]": 5, "punctuation": 4}
    assert best.loc["punctuation", "uniform"] == pytest.approx(2 / T)
    # previous over queries 1..T-1: head 0 gives 1, [CLS] and punctuation heads 1/(T-1) each, uniform 1/T
    assert best.loc["previous", "mean_over_heads"] == pytest.approx((1 + 2 / (T - 1) + 1 / T) / 7)


def test_a_pattern_the_sentence_lacks_is_nan_and_left_out():
    tokens = ("[CLS]", "hello", "[SEP]")
    tr = Trace({"embedding": torch.zeros(3, 2), "layers.0.attention.weights": torch.full((2, 3, 3), 1 / 3)}, tokens=tokens)
    p = heads.head_patterns(tr)
    assert p["punctuation"].isna().all()
    assert "punctuation" not in set(heads.best_heads(p, tokens)["pattern"])


@pytest.mark.parametrize("token, punct", [(",", True), ("##.", True), ("—", True), ("«", True), ("(", True),
                                          ("a", False), ("[CLS]", False), ("$", False), ("##", False), ("😀", False)])
def test_is_punctuation(token, punct):
    assert heads.is_punctuation(token) is punct


@pytest.fixture(scope="module")
def minilm():
    if not bert.installed():
        pytest.skip(f"needs {bert.PACKAGE}")
    return bert.load()


def test_score_breakdown_rebuilds_the_traces_scores_and_weights(minilm):
    tr = minilm.trace("The keys (which I lost yesterday) are on the table.")
    for layer, head, query in ((0, 0, 0), (2, 5, 3), (5, 11, tr.length - 1)):
        b = heads.score_breakdown(tr, layer, head, query)
        d = b.q.shape[0]
        assert d == 32 and b.scale == pytest.approx(math.sqrt(32))
        q = tr[f"layers.{layer}.attention.query"][head, query].double().numpy()
        k = tr[f"layers.{layer}.attention.key"][head].double().numpy()
        assert np.allclose(b.products.numpy(), q[None, :] * k)  # an independent product
        assert np.allclose(b.keys["dot"], k @ q)
        assert np.allclose(b.keys["scaled"], tr[f"layers.{layer}.attention.scores"][head, query].double(), atol=1e-5)
        assert np.allclose(b.keys["weight"], b.keys["trace_weight"], atol=1e-6)
        assert b.keys["weight"].sum() == pytest.approx(1.0)
        assert list(b.keys["token"]) == list(tr.tokens)
