"""core.units: feature tracks, correlation ranking, LSTMVis match and search (the spec of issue 11's core part)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core import units
from core.models import ModelConfig, WordModel
from core.text import Vocab, tokenize
from core.trace import Trace


def toks(text: str) -> tuple[str, ...]:
    return tokenize(text).tokens


def planted(values: np.ndarray, tokens=None, name: str = "layers.0.forward.hidden") -> Trace:
    """A Trace holding ``values`` (T, H) under ``name``, with tokens."""
    T = values.shape[0]
    tokens = tokens if tokens is not None else [f"w{i}" for i in range(T)]
    return Trace({"embedding": torch.zeros(T, 1), name: torch.as_tensor(values)}, tokens=tokens)


# -- feature tracks, hand-checked -------------------------------------------------
def track(text: str, column: str) -> list[int]:
    return units.features(toks(text))[column].tolist()


def test_features_has_one_row_per_token_and_the_documented_columns():
    t = toks("the cat (a tabby) sat. it slept!")
    f = units.features(t)
    assert list(f.columns) == list(units.FEATURES)
    assert len(f) == len(t)
    assert f["position"].tolist() == list(range(len(t)))
    empty = units.features(())
    assert list(empty.columns) == list(units.FEATURES) and len(empty) == 0


def test_nested_parentheses():
    # a ( b ( c ) d ) e : the brackets count as inside what they open or close
    assert track("a (b (c) d) e", "paren_depth") == [0, 1, 1, 2, 2, 2, 1, 1, 0]
    # a stray ")" never drives the depth below zero, and an unclosed "(" runs to the end
    assert track("x ) y ( z", "paren_depth") == [0, 0, 0, 1, 1]


def test_quotes_straight_and_curly():
    assert track('he said "go home" now', "in_quotes") == [0, 0, 1, 1, 1, 1, 0]
    assert track("a “b c” d", "in_quotes") == [0, 1, 1, 1, 1, 0]
    assert track('one "two', "in_quotes") == [0, 1, 1]  # unclosed: to the end
    assert track("it's the cats' toy", "in_quotes") == [0] * len(toks("it's the cats' toy"))


def test_negation_scope_runs_to_the_next_punctuation():
    t = toks("it isn't hot, but it is not cold (really) never")
    assert t == ("it", "isn't", "hot", ",", "but", "it", "is", "not", "cold", "(", "really", ")", "never")
    assert track("it isn't hot, but it is not cold (really) never", "negation") == [0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1]
    assert track("no way. nothing else", "negation") == [1, 1, 0, 0, 0]  # "nothing" is not a cue
    assert track("she don’t care", "negation") == [0, 1, 1]  # curly apostrophe


def test_sentence_boundaries_and_distance_since_full_stop():
    text = 'he left. "why?" she asked... e.g. this (fine.) ok'
    t = toks(text)
    assert t == ("he", "left", ".", '"', "why", "?", '"', "she", "asked", ".", ".", ".", "e", ".", "g", ".",
                 "this", "(", "fine", ".", ")", "ok")
    f = units.features(t)
    ends = [i for i, v in enumerate(f["sentence_end"]) if v]
    starts = [i for i, v in enumerate(f["sentence_start"]) if v]
    # "." ends; the "?" inside the quote ends; "..." ends once (on its last dot); "e.g." does not end;
    # "fine." ends inside the parenthesis; the text's last token ends the last sentence
    assert ends == [2, 5, 11, 19, 21]
    # a closing quote or ")" after the stop belongs to the sentence it closes
    assert starts == [0, 3, 7, 12, 21]
    assert f["since_full_stop"].tolist()[:8] == [1, 2, 3, 1, 2, 3, 1, 2]
    assert f["since_full_stop"].tolist()[19:] == [8, 1, 2]


def test_no_punctuation_at_all():
    f = units.features(toks("just some words with nothing else"))
    assert f["sentence_start"].tolist() == [1, 0, 0, 0, 0, 0]
    assert f["sentence_end"].tolist() == [0, 0, 0, 0, 0, 1]
    assert f["since_full_stop"].tolist() == [1, 2, 3, 4, 5, 6]
    assert f[["paren_depth", "in_quotes", "negation"]].to_numpy().sum() == 0


# -- correlate --------------------------------------------------------------------
def _wrong_correlate(values, feature):
    """A deliberately wrong variant: cosine similarity without centring (looks like r, is not)."""
    return (feature @ values) / np.sqrt((values * values).sum(0) * (feature @ feature))


def test_correlate_equals_numpy_corrcoef_on_random_data():
    rng = np.random.default_rng(0)
    T, H = 40, 12
    values = rng.normal(size=(T, H)) + rng.normal(size=H) * 3  # units off-centre, so centring matters
    feature = rng.normal(size=T) + 2.0
    got = units.correlate(planted(values), "layers.0.forward.hidden", feature).sort_values("unit")
    want = np.array([np.corrcoef(values[:, u], feature)[0, 1] for u in range(H)])
    np.testing.assert_allclose(got["r"].to_numpy(), want, rtol=0, atol=1e-12)
    # the comparison can fail: the uncentred variant is caught by the same check
    assert not np.allclose(_wrong_correlate(values, feature), want, rtol=0, atol=1e-12)

    # detrended: numpy's corrcoef of the residuals after np.polyfit lines in position
    pos = np.arange(T)
    resid = lambda y: y - np.polyval(np.polyfit(pos, y, 1), pos)
    want_d = np.array([np.corrcoef(resid(values[:, u]), resid(feature))[0, 1] for u in range(H)])
    np.testing.assert_allclose(got["r_detrended"].to_numpy(), want_d, rtol=0, atol=1e-10)


def test_correlate_sorts_by_absolute_r_and_puts_the_planted_paren_unit_first():
    t = toks("the plan (which, as (everyone) knew, was bad) failed, and (sadly) nobody noticed (at all).")
    depth = units.features(t)["paren_depth"].to_numpy(float)
    rng = np.random.default_rng(1)
    values = rng.normal(size=(len(t), 64))
    values[:, 17] = depth
    values[:, 40] = -0.5 * depth + rng.normal(scale=0.3, size=len(t))  # a strong, negative, noisy follower
    c = units.correlate(planted(values, t), "layers.0.forward.hidden", "paren_depth")
    assert list(c.columns) == ["unit", "r", "r_detrended"]
    assert c["unit"].iloc[0] == 17 and c["r"].iloc[0] == pytest.approx(1.0)
    assert c["unit"].iloc[1] == 40 and c["r"].iloc[1] < -0.5
    a = c["r"].abs().to_numpy()
    assert (np.diff(a) <= 1e-15).all()


def test_detrending_removes_the_word_counter_and_keeps_what_rides_on_it():
    t = toks("a (b c) d e (f) g h i (j k l) m")
    f = units.features(t)
    pos, depth = f["position"].to_numpy(float), f["paren_depth"].to_numpy(float)
    values = np.stack([pos * 2.0 + 1.0, depth + 0.3 * pos, np.ones_like(pos)], axis=1)
    c = units.correlate(planted(values, t), "layers.0.forward.hidden", "paren_depth").set_index("unit")
    # unit 1 is depth plus a ramp: once the ramp is gone it is the depth exactly
    assert c.loc[1, "r_detrended"] == pytest.approx(1.0)
    assert np.isnan(c.loc[0, "r_detrended"])  # a pure counter leaves nothing after the line is removed
    assert np.isnan(c.loc[2, "r"])  # a constant unit has no correlation
    assert list(c.index)[-1] == 2  # NaN last
    # position itself has nothing left after detrending
    p = units.correlate(planted(values, t), "layers.0.forward.hidden", "position")
    assert p["r_detrended"].isna().all()


def test_correlate_refuses_what_it_cannot_read():
    tr = planted(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="feature must be one of"):
        units.correlate(tr, "layers.0.forward.hidden", "depth")
    with pytest.raises(ValueError, match="5 tokens"):
        units.correlate(tr, "layers.0.forward.hidden", [1, 2, 3])
    three_d = Trace({"embedding": torch.zeros(5, 1), "layers.0.attention.weights": torch.zeros(2, 5, 5)}, tokens=list("abcde"))
    with pytest.raises(ValueError, match="shape"):
        units.correlate(three_d, "layers.0.attention.weights", "position")


# -- rank ---------------------------------------------------------------------------
def test_rank_orders_by_the_stated_criterion():
    t = toks("a b ( c d ) e f g")
    pos = np.arange(len(t), dtype=float)
    depth = units.features(t)["paren_depth"].to_numpy(float)
    wobble = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0], float) * 0.5
    values = np.stack([5.0 * pos, depth, wobble, 0.1 * pos + depth * 0.2], axis=1)
    tr = planted(values, t)
    name = "layers.0.forward.hidden"
    change = units.rank(tr, name, "change")
    assert change["unit"].tolist()[0] == 0  # the counter moves 5 a step: "changes most" puts it first
    np.testing.assert_allclose(change.set_index("unit").sort_index()["score"], tr.unit_change(name).numpy())
    detr = units.rank(tr, name, "detrended")
    assert detr["unit"].tolist()[-1] == 0 and detr["score"].iloc[-1] < 1e-9  # after the trend it is still
    feat = units.rank(tr, name, "feature", feature="paren_depth")
    assert feat["unit"].tolist()[0] == 1
    cur = units.rank(tr, name, "cursor", cursor=3)
    assert cur["unit"].tolist()[0] == 0 and cur["score"].iloc[0] == 15.0
    with pytest.raises(ValueError, match="cursor"):
        units.rank(tr, name, "cursor", cursor=99)
    with pytest.raises(ValueError, match="by must be"):
        units.rank(tr, name, "most")


# -- match ----------------------------------------------------------------------------
def brute_match(values, span, threshold, tolerance):
    """The definition, one unit and one token at a time."""
    T, H = values.shape
    out = {}
    for u in range(H):
        inside = [values[t, u] >= threshold for t in range(span[0], span[1])]
        outside = [values[t, u] < threshold for t in range(T) if not span[0] <= t < span[1]]
        share_in = sum(inside) / len(inside)
        share_out = sum(outside) / len(outside) if outside else 1.0
        if 1 - share_in <= tolerance + 1e-12 and 1 - share_out <= tolerance + 1e-12:
            out[u] = (share_in + share_out) / 2 if outside else share_in
    return out


def test_match_on_a_hand_built_trace_with_tolerance():
    v = np.array([
        # u0 exact  u1 one extra  u2 gap in span  u3 always on  u4 at threshold  u5 never on
        [0.0,       0.0,          0.0,            0.9,          0.0,             0.0],
        [0.8,       0.8,          0.8,            0.9,          0.5,             0.1],
        [0.9,       0.9,          0.2,            0.9,          0.5,             0.1],
        [0.1,       0.1,          0.0,            0.9,          0.4999,          0.1],
        [0.0,       0.0,          0.0,            0.9,          0.0,             0.1],
        [0.0,       0.7,          0.0,            0.9,          0.0,             0.1],
    ])
    tr = planted(v)
    strict = units.match(tr, "layers.0.forward.hidden", (1, 3), 0.5)
    assert list(strict.columns) == ["unit", "score"]
    assert strict["unit"].tolist() == [0, 4] and strict["score"].tolist() == [1.0, 1.0]
    # one of the four tokens outside may be on (u1); one of the two inside off (u2) needs a half
    loose = units.match(tr, "layers.0.forward.hidden", (1, 3), 0.5, tolerance=0.25)
    assert loose["unit"].tolist() == [0, 4, 1]
    assert loose["score"].tolist() == pytest.approx([1, 1, (1 + 3 / 4) / 2])
    looser = units.match(tr, "layers.0.forward.hidden", (1, 3), 0.5, tolerance=0.5)
    assert looser["unit"].tolist() == [0, 4, 1, 2]
    whole = units.match(tr, "layers.0.forward.hidden", (0, 6), 0.5)
    assert whole["unit"].tolist() == [3]


def test_a_unit_that_is_never_on_does_not_match_a_short_span_of_a_long_text():
    v = np.zeros((400, 2))
    v[10:14, 1] = 1.0  # unit 1 is on at the span, unit 0 never
    got = units.match(planted(v), "layers.0.forward.hidden", (10, 15), 0.5, tolerance=0.1)
    assert got["unit"].tolist() == []  # unit 1 is off at one of 5 span tokens (20% > 10%)
    got = units.match(planted(v), "layers.0.forward.hidden", (10, 15), 0.5, tolerance=0.2)
    assert got["unit"].tolist() == [1]


def test_match_equals_its_definition_on_random_traces():
    rng = np.random.default_rng(2)
    for _ in range(30):
        T, H = rng.integers(1, 12), rng.integers(1, 9)
        v = rng.uniform(size=(T, H)).round(1)
        a = int(rng.integers(0, T))
        span = (a, int(rng.integers(a + 1, T + 1)))
        thr, tol = float(rng.choice([0.3, 0.5, 0.7])), float(rng.choice([0.0, 0.1, 0.25, 0.5]))
        got = units.match(planted(v), "layers.0.forward.hidden", span, thr, tol)
        want = brute_match(v, span, thr, tol)
        assert dict(zip(got["unit"], got["score"])) == pytest.approx(want)
        assert list(got["unit"]) == sorted(want, key=lambda u: (-want[u], u))


def test_match_refuses_a_bad_span_or_tolerance():
    tr = planted(np.zeros((4, 2)))
    for span in [(2, 2), (-1, 2), (0, 5), (3, 1), "ab", (1,)]:
        with pytest.raises(ValueError, match="span"):
            units.match(tr, "layers.0.forward.hidden", span, 0.5)
    with pytest.raises(ValueError, match="tolerance"):
        units.match(tr, "layers.0.forward.hidden", (0, 1), 0.5, tolerance=1.5)


# -- search -----------------------------------------------------------------------------
class PlantedModel:
    """A stand-in model: unit 0 is on inside parentheses, unit 1 on at "not", unit 2 always on, unit 3 noise."""

    def __init__(self, words):
        self.vocab = Vocab(dict.fromkeys(words))
        self.calls = 0

    def trace(self, ids, cap=512):
        self.calls += 1
        tokens = self.vocab.decode(ids)
        depth = units.features(tokens)["paren_depth"].to_numpy()
        T = len(tokens)
        v = np.zeros((T, 4), np.float32)
        v[:, 0] = depth > 0
        v[:, 1] = [t == "not" for t in tokens]
        v[:, 2] = 1.0
        v[:, 3] = np.random.default_rng(T).uniform(size=T)
        return Trace({"embedding": torch.zeros(T, 1), "layers.0.forward.hidden": torch.from_numpy(v)}, tokens=tokens)


CORPUS = [
    "a plain sentence with nothing in it.",
    "the cat (a tabby) sat.",
    "",  # skipped, but indices still refer to this list
    "dogs bark.",
    "(brackets open) the sentence and (close) it.",
    "it is not here.",
]


def planted_model():
    words = sorted({t for s in CORPUS for t in toks(s)})
    return PlantedModel(words)


def test_search_finds_the_planted_span_in_a_planted_corpus():
    m = planted_model()
    r = units.search(m, "layers.0.forward.hidden", [0], 0.5, CORPUS)
    assert list(r.columns) == ["sentence", "text", "tokens", "start", "end", "span", "score"]
    top = r.iloc[0]
    assert (top["sentence"], top["start"], top["end"], top["span"]) == (1, 2, 6, "( a tabby )")
    assert top["score"] == 1.0 and top["text"] == CORPUS[1]
    # sentence 4 has two parenthesised spans; each explains only part of the sentence's pattern
    four = r[r["sentence"] == 4]
    assert sorted(zip(four["start"], four["end"])) == [(0, 4), (7, 10)]
    assert (four["score"] < 1.0).all()
    assert set(r["sentence"]) == {1, 4}


def test_search_with_several_units_needs_all_of_them_on_together():
    m = planted_model()
    r = units.search(m, "layers.0.forward.hidden", [1, 2], 0.5, CORPUS)
    assert r[["sentence", "start", "end", "span"]].values.tolist() == [[5, 2, 3, "not"]]
    # unit 2 alone is on everywhere: whole sentences, each its own span (never across a sentence boundary)
    r2 = units.search(m, "layers.0.forward.hidden", [2], 0.5, CORPUS, limit=None)
    assert sorted(r2["sentence"]) == [0, 1, 3, 4, 5]
    assert all(e - s == len(tk) for s, e, tk in zip(r2["start"], r2["end"], r2["tokens"]))


def test_search_traces_the_sample_once_and_keeps_a_bounded_cache(monkeypatch):
    monkeypatch.setattr(units, "_banks", units.OrderedDict())
    m = planted_model()
    units.search(m, "layers.0.forward.hidden", [0], 0.5, CORPUS)
    calls = m.calls
    assert calls >= 1
    for thr in (0.2, 0.5, 0.9):
        units.search(m, "layers.0.forward.hidden", [0, 3], thr, CORPUS)
    assert m.calls == calls  # queries reuse the cached traces
    monkeypatch.setattr(units, "BANK_CACHE_SIZE", 2)
    for k in range(4):
        units.bank(m, "layers.0.forward.hidden", CORPUS[: k + 2])
    assert len(units._banks) == 2


def test_search_refuses_bad_units_and_empty_texts():
    m = planted_model()
    with pytest.raises(ValueError, match="at least one unit"):
        units.search(m, "layers.0.forward.hidden", [], 0.5, CORPUS)
    with pytest.raises(ValueError, match=r"units must be in \[0, 4\)"):
        units.search(m, "layers.0.forward.hidden", [4], 0.5, CORPUS)
    with pytest.raises(ValueError, match="no text"):
        units.search(m, "layers.0.forward.hidden", [0], 0.5, ["", "  \n"])
    with pytest.raises(KeyError, match="no value named"):
        units.search(m, "layers.0.forward.cell", [0], 0.5, CORPUS)


def tiny(arch: str) -> WordModel:
    words = sorted({t for s in CORPUS for t in toks(s)})
    torch.manual_seed(3)
    cfg = ModelConfig(arch=arch, vocab_size=len(words) + 4, embed_dim=5, hidden_size=6)
    return WordModel(cfg, Vocab(words)).eval()


@pytest.mark.parametrize("arch, name", [("lstm", "layers.0.forward.cell"), ("gru", "layers.0.forward.update_gate"),
                                        ("bilstm", "layers.0.backward.hidden"), ("rnn", "layers.0.forward.preactivation")])
def test_the_bank_holds_what_the_model_traces_on_the_running_text(arch, name):
    m = tiny(arch)
    texts = [s for s in CORPUS if s]
    b = units.build_bank(m, name, texts, chunk=16)  # chunks: sentences 0+1 (16 tokens), 2+3 (15), 4 (5)
    chunks = [texts[0] + " " + texts[1], texts[2] + " " + texts[3], texts[4]]
    want = np.concatenate([m.trace(c)[name].numpy() for c in chunks])
    assert b.values.shape == (6, want.shape[0]) and b.values.dtype == np.float16
    np.testing.assert_allclose(b.values.T.astype(np.float32), want, rtol=1e-3, atol=1e-3)
    assert b.tokens == tuple(toks(s) for s in texts)
    # the state carries across a sentence boundary inside a chunk: the sentence that reads the other one
    # first (forward: the second; backward: the first) differs from its trace alone
    k = 0 if ".backward." in name else 1
    alone = m.trace(texts[k])[name].numpy()
    assert not np.allclose(b.values.T[b.offsets[k] : b.offsets[k + 1]].astype(np.float32), alone, atol=1e-3)


def test_heldout_sample_is_runs_of_consecutive_test_sentences():
    from core import corpus

    s = units.heldout_sample()
    assert len(s) == 2000 and len(set(s)) > 1900
    pool = corpus.sentences("test")
    first = pool.index(s[0])
    assert s[:50] == pool[first : first + 50]
    with pytest.raises(ValueError, match="multiple"):
        units.heldout_sample(n=2001)


# -- heatmap reading ---------------------------------------------------------------------
def test_colour_range_ignores_one_outlier_and_states_the_true_range():
    z = np.concatenate([np.linspace(-1, 1, 999), [30.0]])
    c = units.colour_range(z)
    assert c.cmax == pytest.approx(-c.cmin)
    assert 0.97 < c.cmax < 1.0  # the 99th percentile of |what is shown|, not the 30
    assert (c.true_min, c.true_max) == (-1.0, 30.0)
    assert c.clipped == pytest.approx(np.mean(np.abs(z) > c.cmax))
    # the plain maximum would have been the wrong answer
    assert np.abs(z).max() == 30.0
    nothing = units.colour_range([np.nan, np.inf])
    assert (nothing.cmin, nothing.cmax) == (-1.0, 1.0)
    zeros = units.colour_range(np.zeros(5))
    assert (zeros.cmin, zeros.cmax) == (-1.0, 1.0)


def test_normalise_rows_puts_each_unit_on_its_own_scale():
    z = np.array([[0.0, 2.0, -4.0], [0.0, 0.0, 0.0], [0.1, -0.05, 0.0]])
    n = units.normalise_rows(z)
    np.testing.assert_allclose(n, [[0, 0.5, -1], [0, 0, 0], [1, -0.5, 0]])


def test_measure_table_says_kept_only_for_the_same_sign_and_most_of_the_r():
    row = {"model": "m", "value": "0.forward.cell", "feature": "paren_depth", "sample": "s", "sentences A/B": "1/1",
           "tokens A/B": "1/1", "feature tokens A/B": "1/1", "unit": 3, "best_abs_r_B": 0.5, "r_detrended_A": 0.5,
           "r_detrended_B": 0.5, "untrained_best_abs_r_A": 0.3}
    frame = pd.DataFrame([dict(row, r_A=0.5, r_B=0.41), dict(row, r_A=0.5, r_B=0.39), dict(row, r_A=0.5, r_B=-0.5)])
    lines = units.measure_table(frame).splitlines()[2:]
    assert [line.split(" | ")[9] for line in lines] == ["yes", "no", "no"]


def test_heldout_with_picks_the_sentences_that_have_the_feature():
    with_parens = units.heldout_with("paren_depth", "valid")
    assert len(with_parens) >= 200 and all("(" in s for s in with_parens)
    negated = units.heldout_with("negation", "test")
    assert len(negated) >= 200
    assert all(units.features(tokenize(s).tokens)["negation"].any() for s in negated[:50])


def test_a_bank_is_built_with_one_intra_op_thread_and_the_setting_comes_back(monkeypatch):
    monkeypatch.setattr(units, "_banks", units.OrderedDict())
    seen = []
    real = units.build_bank
    monkeypatch.setattr(units, "build_bank", lambda *a, **k: (seen.append(torch.get_num_threads()), real(*a, **k))[1])
    before = torch.get_num_threads()
    units.bank(planted_model(), "layers.0.forward.hidden", CORPUS)
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(KeyError):  # a failed build restores it too
        units.bank(planted_model(), "layers.0.forward.cell", CORPUS)
    assert torch.get_num_threads() == before
