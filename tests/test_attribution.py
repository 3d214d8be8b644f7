"""core.attribution.saliency against references computed here, independently of it.

The references run the instrumented step-by-step path (``trace_embeddings``)
while saliency runs torch's fused kernels (``logits_from_embeddings``), so
the two share nothing but the weights. Each parity test is also run on a
deliberately broken saliency (``broken``), which it must reject.
"""

import math

import numpy as np
import pytest
import torch

import core
from core import attribution, probes
from core.models import ModelConfig, WordModel
from core.text import Vocab, encode

WORDS = [
    "i",
    "grew",
    "up",
    "in",
    "france",
    "speak",
    "fluent",
    "french",
    "the",
    "keys",
    "are",
    "is",
    ".",
    "apple",
    "my",
    "favorite",
    "fruit",
]
TEXT = "i grew up in france . the keys are in the up i speak fluent"
BLANK_TEXT = "apple is my favorite ___ . i grew up in france"
ARCHS = ["rnn", "lstm", "gru", "transformer", "bilstm"]


def tiny(arch: str, seed: int = 0) -> WordModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        arch, len(WORDS) + 4, embed_dim=6, hidden_size=5, num_layers=2 if arch == "transformer" else 1, heads=2
    )
    model = WordModel(cfg, Vocab(WORDS)).double().eval()
    for p in model.parameters():  # bigger weights than the default init, so that gradients vary a lot
        p.data.mul_(2.0)
        p.requires_grad_(False)
    return model


def text_for(model) -> str:
    return BLANK_TEXT if model.config.task == "fill_blank" else TEXT


def reference_log_p(model, x: torch.Tensor, t: int, word: int) -> torch.Tensor:
    """log p(word) at position t from input vectors x (T, E), through the instrumented path."""
    return torch.log_softmax(model.trace_embeddings(x)["logits"][t], dim=-1)[word]


def inputs(model, text: str, frame):
    """The embeddings saliency differentiated with respect to: (n, E)."""
    ids = torch.tensor(encode(text, model.vocab).ids[: len(frame)])
    return model.embedding(ids).detach()


@pytest.fixture
def broken(monkeypatch):
    """Turn saliency's target into the probability instead of the log-probability (a plausible slip)."""

    def wrong(model, x, t):
        logits = model.logits_from_embeddings(x, torch.full((x.shape[0],), t, dtype=torch.long))
        return torch.softmax(logits, dim=-1)

    monkeypatch.setattr(attribution, "_log_p", wrong)


def check_grad_x_input(model, text, target_position=-1, word=None):
    frame = attribution.saliency(model, text, target_position, word, method="grad_x_input", dtype=torch.float64)
    a = frame.attrs
    x = inputs(model, text, frame)
    eps = 1e-6
    fd = []
    with torch.no_grad():
        for s in range(len(x)):  # d/de f(x with x_s scaled by 1 + e) at e = 0 is g_s . x_s
            up, down = x.clone(), x.clone()
            up[s] *= 1 + eps
            down[s] *= 1 - eps
            fd.append(
                float(
                    reference_log_p(model, up, a["target_position"], a["word_index"])
                    - reference_log_p(model, down, a["target_position"], a["word_index"])
                )
                / (2 * eps)
            )
    np.testing.assert_allclose(frame["score"].to_numpy(), fd, rtol=1e-5, atol=1e-8)
    return frame


def check_gradient(model, text, target_position=-1, word=None):
    frame = attribution.saliency(model, text, target_position, word, method="gradient", dtype=torch.float64)
    a = frame.attrs
    x = inputs(model, text, frame).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(reference_log_p(model, x, a["target_position"], a["word_index"]), x)
    np.testing.assert_allclose(frame["score"].to_numpy(), g.norm(dim=1).numpy(), rtol=1e-7, atol=1e-12)
    assert math.isclose(
        a["log_p"], float(reference_log_p(model, x.detach(), a["target_position"], a["word_index"])), rel_tol=1e-9
    )
    return frame


@pytest.mark.parametrize("arch", ARCHS)
def test_grad_x_input_equals_finite_differences(arch):
    model = tiny(arch)
    frame = check_grad_x_input(model, text_for(model))
    assert list(frame.columns) == ["position", "token", "score"]
    if model.config.task == "next_word":  # an earlier target, and a word given by the caller
        check_grad_x_input(model, TEXT, target_position=6, word="french")


@pytest.mark.parametrize("arch", ARCHS)
def test_gradient_equals_autograd_reference(arch):
    model = tiny(arch)
    check_gradient(model, text_for(model))
    if model.config.task == "next_word":
        check_gradient(model, TEXT, target_position=3, word="keys")


@pytest.mark.parametrize("arch", ["lstm", "bilstm"])
def test_parity_checks_reject_a_broken_saliency(arch, broken):
    model = tiny(arch)
    with pytest.raises(AssertionError):
        check_grad_x_input(model, text_for(model))
    with pytest.raises(AssertionError):
        check_gradient(model, text_for(model))


def test_target_word_defaults():
    model = tiny("lstm")
    tokens = TEXT.split()
    inner = attribution.saliency(model, TEXT, target_position=4)
    assert inner.attrs["word"] == tokens[5] and inner.attrs["word_source"] == "next token"
    assert inner["token"].tolist() == tokens[:5]  # a next-word prediction at 4 reads tokens 0..4 only
    end = attribution.saliency(model, TEXT)
    logits = model.trace_embeddings(model.embedding(torch.tensor(encode(TEXT, model.vocab).ids)))["logits"][-1]
    logits[:4] = -math.inf  # specials are never the default target
    assert end.attrs["word"] == model.vocab.itos[int(logits.argmax())] and end.attrs["word_source"] == "top guess"
    assert end.attrs["target_position"] == len(tokens) - 1 and len(end) == len(tokens)


def test_bidirectional_target_is_the_blank():
    model = tiny("bilstm")
    frame = attribution.saliency(model, BLANK_TEXT)
    assert frame.attrs["target_position"] == BLANK_TEXT.split().index("___")
    assert len(frame) == len(BLANK_TEXT.split())  # both sides are inputs
    assert frame["score"].iloc[-1] != 0  # a word after the blank matters
    with pytest.raises(ValueError, match="blank"):
        attribution.saliency(model, TEXT)
    with pytest.raises(ValueError, match="not a blank"):
        attribution.saliency(model, BLANK_TEXT, target_position=0)


@pytest.mark.parametrize("bad, message", [("", "no words"), ("   ", "no words")])
def test_empty_text_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        attribution.saliency(tiny("rnn"), bad)


def test_bad_arguments_are_refused_clearly():
    model = tiny("gru")
    with pytest.raises(ValueError, match="method"):
        attribution.saliency(model, TEXT, method="lime")
    with pytest.raises(ValueError, match="outside"):
        attribution.saliency(model, TEXT, target_position=99)
    with pytest.raises(ValueError, match="not in the models' vocabulary"):
        attribution.saliency(model, TEXT, word="zebra")
    with pytest.raises(ValueError, match="one word"):
        attribution.saliency(model, TEXT, word="two words")
    with pytest.raises(ValueError, match="baselines"):
        attribution.saliency(model, TEXT, method="integrated_gradients", baselines="noise")


def integrated_reference(model, text, frame, steps=4000):
    """Per-token integrated gradients from a zero baseline with the midpoint rule on ``steps`` points."""
    a = frame.attrs
    x = inputs(model, text, frame)
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (x * (k + 0.5) / steps).requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(reference_log_p(model, point, a["target_position"], a["word_index"]), point)
        total += g / steps
    return (x * total).sum(1).numpy()


@pytest.mark.parametrize("arch", ["lstm", "bilstm"])
def test_integrated_gradients_equals_a_fine_reference(arch):
    model = tiny(arch)
    text = text_for(model)
    reference = None
    for kwargs in ({}, {"n_steps": 64}):  # adaptive rule, and Captum's fixed rule
        frame = attribution.saliency(
            model, text, method="integrated_gradients", dtype=torch.float64, tolerance=1e-6, **kwargs
        )
        if reference is None:
            reference = integrated_reference(model, text, frame, 300)
        np.testing.assert_allclose(frame["score"].to_numpy(), reference, rtol=1e-3, atol=1e-4)


# -- the shipped models ---------------------------------------------------------------------------------------
SHIPPED = [n for n in ARCHS if n in core.available()]
LECTURE = "I grew up in the Middle East but now live in London. I speak fluent"


@pytest.fixture(scope="module")
def shipped():
    return {n: core.load(n) for n in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_integrated_gradients_completeness_within_one_percent(shipped, name):
    model = shipped[name]
    text = "Apple is my favorite ___, and I work there" if name == "bilstm" else LECTURE
    frame = attribution.saliency(model, text, method="integrated_gradients")
    a = frame.attrs
    ids = torch.tensor(encode(text, model.vocab).ids[: len(frame)])
    x = model.embedding(ids)
    with torch.no_grad():  # f(x) - f(0) from the instrumented path, not from saliency's numbers
        rise = float(
            reference_log_p(model, x, a["target_position"], a["word_index"])
            - reference_log_p(model, torch.zeros_like(x), a["target_position"], a["word_index"])
        )
    gap = abs(frame["score"].sum() - rise) / abs(rise)
    assert gap < 0.01, (name, gap, a["n_steps"])
    assert not a["cap_reached"] and 0 < a["n_steps"] <= attribution.MAX_STEPS
    assert math.isclose(a["completeness_gap"], gap, rel_tol=1e-3, abs_tol=1e-5)
    print(f"{name}: gap {gap:.2%} with {a['n_steps']} nodes ({a['evaluations']} gradient evaluations)")


def test_fixed_rule_reports_its_gap_on_the_rnn(shipped):
    """The shipped RNN is why the rule is adaptive: 16 fixed nodes leave a gap the attrs must state."""
    if "rnn" not in shipped:
        pytest.skip("the shipped rnn is not present")
    frame = attribution.saliency(shipped["rnn"], LECTURE, method="integrated_gradients", n_steps=16)
    a = frame.attrs
    assert a["rule"] == "uniform" and a["n_steps"] == 16 and a["cap_reached"] is False
    assert math.isclose(a["convergence_delta"], frame["score"].sum() - (a["log_p"] - a["log_p_baseline"]), abs_tol=1e-4)
    assert a["completeness_gap"] > 0.01


# -- held-out long-range probes: does the cue word carry the prediction? ----------------------------------------
def cue_in_top3(model, family_probes) -> float:
    """Share of probes whose cue word is among the three highest grad_x_input scores for the answer."""
    hits = 0
    for p in family_probes:
        frame = attribution.saliency(model, " ".join(p.prompt), word=p.answer, method="grad_x_input")
        hits += p.cue_position in set(frame.nlargest(3, "score")["position"])
    return hits / len(family_probes)


@pytest.fixture(scope="module")
def cue_rates(shipped):
    """Held-out pairs (country and the lecture's region families: the cue is a place), 50 filler words;
    measured once for the tests below."""
    if not {"lstm", "rnn"} <= set(shipped):
        pytest.skip("the shipped lstm and rnn are needed")
    held = [p for p in probes.heldout_set(distances=(50,), per_family=50) if p.family in ("country", "lecture")]
    return {n: cue_in_top3(shipped[n], held) for n in ("lstm", "rnn")}, len(held)


@pytest.mark.xfail(
    strict=True,
    reason="measured 0.67 for the shipped LSTM (README): it answers with p > 0.99 on "
    "most probes, where log p is flat and the gradient's sign is noise",
)
def test_lstm_cue_word_among_top3_in_80_percent_of_probes(cue_rates):
    assert cue_rates[0]["lstm"] >= 0.8


def test_cue_word_figures_are_measured_and_ordered(cue_rates):
    """The measured figures the README reports: the LSTM finds the cue far more often than the RNN."""
    (rates, n) = cue_rates
    print(
        f"cue word in the top 3 grad_x_input scores: LSTM {rates['lstm']:.2f}, RNN {rates['rnn']:.2f} "
        f"({n} held-out probes, 50 filler words)"
    )
    assert rates["lstm"] >= 0.5 and rates["rnn"] <= 0.1 and rates["lstm"] > rates["rnn"]
