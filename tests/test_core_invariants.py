"""Invariants of every trace: gate ranges, attention rows, the causal mask, token order, positional encoding, shapes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import core
from core.attention import TransformerBody
from core.models import ModelConfig, WordModel
from core.text import Vocab, tokenize

SIGMOID_GATES = {"LSTM": ("input_gate", "forget_gate", "output_gate"), "GRU": ("reset_gate", "update_gate")}


pytestmark = pytest.mark.usefixtures("one_intra_op_thread")  # tests/conftest.py


def make(
    kind: str, dtype=torch.float32, layers: int = 2, bidirectional: bool = True, E: int = 6, H: int = 8, seed: int = 0
):
    torch.manual_seed(seed)
    if kind.startswith("rnn"):
        return nn.RNN(E, H, layers, nonlinearity=kind[4:], bidirectional=bidirectional).to(dtype)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[kind](E, H, layers, bidirectional=bidirectional).to(dtype)


# -- gate ranges ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: saturated gates, values reach the ends of the range
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_gates_in_unit_interval_and_tanh_candidates_in_minus_one_one(kind, scale, dtype):
    module = make(kind, dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(scale)
    tr = core.instrument(module).trace(torch.randn(12, 6, dtype=dtype) * scale)
    mode = module.mode
    n_checked = 0
    for layer in range(2):
        for d in ("forward", "backward"):
            p = f"layers.{layer}.{d}."
            for gate in SIGMOID_GATES[mode]:
                v = tr[p + gate]
                assert v.min() >= 0 and v.max() <= 1, f"{p + gate} outside [0, 1]: {v.min()}..{v.max()}"
                n_checked += 1
            g = tr[p + "candidate"]
            assert g.min() >= -1 and g.max() <= 1, f"{p}candidate outside [-1, 1]"
            h = tr[p + "hidden"]
            assert h.abs().max() <= 1, f"{p}hidden of an {mode} is bounded by 1"
            if scale > 1:  # the check is not vacuous: the gates really did saturate
                assert (tr[p + SIGMOID_GATES[mode][0]] > 0.999).any() or (tr[p + SIGMOID_GATES[mode][0]] < 1e-3).any()
    assert n_checked == 4 * len(SIGMOID_GATES[mode])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_vanilla_rnn_hidden_range(nonlinearity):
    tr = core.instrument(make("rnn_" + nonlinearity)).trace(torch.randn(10, 6) * 5)
    for name in tr.names("layers.*.hidden"):
        if nonlinearity == "tanh":
            assert tr[name].abs().max() <= 1
        else:
            assert tr[name].min() >= 0 and (tr[name] == 0).any()  # relu clips the negative preactivations
            relu = tr[name.replace("hidden", "preactivation")].clamp_min(0)
            torch.testing.assert_close(tr[name], relu, atol=1e-5, rtol=1e-5)


# -- attention --------------------------------------------------------------------------------
@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_rows_sum_to_one_and_causal_weights_are_zero_above_the_diagonal(heads, causal, dtype):
    torch.manual_seed(heads)
    mha = nn.MultiheadAttention(8, heads).to(dtype)
    T = 11
    tr = core.instrument(mha).trace(torch.randn(T, 8, dtype=dtype) * 3, causal=causal)
    w = tr["layers.0.attention.weights"]
    assert w.shape == (heads, T, T)
    assert w.min() >= 0
    torch.testing.assert_close(
        w.sum(-1), torch.ones(heads, T, dtype=dtype), atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0
    )
    above = torch.ones(T, T, dtype=torch.bool).triu(1).expand(heads, T, T)
    scores = tr["layers.0.attention.scores"]
    assert torch.isfinite(scores).all(), "scores are reported before the mask"
    if causal:
        assert torch.all(w[above] == 0), "causal weights must be exactly zero above the diagonal"
        assert torch.all(w[:, 0, 0] == 1), "the first token can only look at itself"
    else:
        assert torch.all(w[above] > 0)


def test_transformer_body_attention_is_causal_in_every_layer():
    torch.manual_seed(0)
    body = TransformerBody(8, 2, 3).eval()
    with torch.no_grad():
        values = body.trace_values(torch.randn(9, 8))
    for l in range(3):
        w = values[f"layers.{l}.attention.weights"]
        assert torch.all(w.triu(1) == 0)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 9), atol=1e-6, rtol=0)


# -- token order of the backward direction --------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_backward_direction_is_in_token_order(kind):
    module = make(kind, torch.float64, layers=2)
    x = torch.randn(9, 6, dtype=torch.float64)
    tr = core.instrument(module).trace(x)
    for layer in range(2):
        fwd, bwd = tr[f"layers.{layer}.forward.hidden"], tr[f"layers.{layer}.backward.hidden"]
        # h_n is (layers * directions, H): forward then backward per layer
        assert torch.equal(tr["h_n"][2 * layer], fwd[-1]), "the forward direction ends at the last token"
        assert torch.equal(tr["h_n"][2 * layer + 1], bwd[0]), "the backward direction ends at the first token"
        assert not torch.equal(bwd[0], bwd[-1])
        if kind == "lstm":
            assert torch.equal(tr["c_n"][2 * layer + 1], tr[f"layers.{layer}.backward.cell"][0])
            assert torch.equal(tr["c_n"][2 * layer], tr[f"layers.{layer}.forward.cell"][-1])
    # layer 0's backward state at the last token has seen only that token; the forward state at 0 only token 0
    last = core.instrument(module).trace(x[-1:])
    first = core.instrument(module).trace(x[:1])
    torch.testing.assert_close(
        tr["layers.0.backward.hidden"][-1], last["layers.0.backward.hidden"][0], atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        tr["layers.0.forward.hidden"][0], first["layers.0.forward.hidden"][0], atol=1e-12, rtol=0
    )
    # changing the first token changes no backward state of layer 0 after it
    y = x.clone()
    y[0] += 1.0
    other = core.instrument(module).trace(y)
    torch.testing.assert_close(
        other["layers.0.backward.hidden"][1:], tr["layers.0.backward.hidden"][1:], atol=1e-12, rtol=0
    )
    assert not torch.allclose(other["layers.0.backward.hidden"][0], tr["layers.0.backward.hidden"][0])
    assert not torch.allclose(other["layers.0.forward.hidden"][-1], tr["layers.0.forward.hidden"][-1])


# -- positional encoding -------------------------------------------------------------------
@pytest.mark.parametrize("D", [8, 7, 12])
def test_sinusoidal_positional_matches_the_formula(D):
    T = 13
    torch.manual_seed(D)
    body = TransformerBody(D, 1, 1, "sinusoidal")
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            pe = body.to(dtype).trace_values(torch.randn(T, D, dtype=dtype))["positional"]
            assert pe.shape == (T, D) and pe.dtype == dtype
            expected = torch.zeros(T, D, dtype=torch.float64)
            for pos in range(T):
                for col in range(D):
                    i2 = col - col % 2  # 2i for both columns 2i and 2i+1
                    angle = pos / 10000 ** (i2 / D)
                    expected[pos, col] = math.sin(angle) if col % 2 == 0 else math.cos(angle)
            tol = 1e-6 if dtype == torch.float32 else 1e-12
            torch.testing.assert_close(pe.double(), expected, atol=tol, rtol=0)


def test_positional_is_in_the_word_model_trace_and_is_what_is_added():
    vocab = Vocab.build([tokenize("apple is my favorite fruit").tokens], size=10)
    torch.manual_seed(0)
    model = WordModel(
        ModelConfig("transformer", len(vocab), embed_dim=6, heads=2, positional="learned", max_len=20), vocab
    ).eval()
    tr = model.trace("apple is my favorite fruit")
    assert torch.equal(tr["positional"], model.body.positional.table.weight[:5].detach())
    assert torch.equal(tr["embedding"], model.embedding.weight[list(tr.meta["ids"])].detach())


# -- shapes of the Trace contract --------------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "bilstm", "transformer"])
def test_word_model_trace_shapes_follow_the_contract(arch):
    vocab = Vocab.build([tokenize("the food was good, not bad at all").tokens], size=12)
    torch.manual_seed(0)
    E, H, L = 6, 7, 2
    model = WordModel(ModelConfig(arch, len(vocab), embed_dim=E, hidden_size=H, num_layers=L, heads=3), vocab).eval()
    tr = model.trace("The food was good, not bad at all")
    T, V = 9, len(vocab)
    assert tr.tokens == tokenize("The food was good, not bad at all").tokens and len(tr.tokens) == T
    assert tr["embedding"].shape == (T, E)
    assert tr["logits"].shape == (T, V)
    for name in tr:
        assert isinstance(tr[name], torch.Tensor) and tr[name].device.type == "cpu"
        assert tr[name].shape[0] == T or name in ("h_n", "c_n") or ".attention." in name, name
    if arch == "transformer":
        assert tr["positional"].shape == (T, E)
        for l in range(L):
            for n in ("query", "key", "value", "context"):
                assert tr[f"layers.{l}.attention.{n}"].shape == (3, T, E // 3)
            for n in ("scores", "weights"):
                assert tr[f"layers.{l}.attention.{n}"].shape == (3, T, T)
            assert tr[f"layers.{l}.attention.output"].shape == (T, E)
        assert tr["output"].shape == (T, E)
    else:
        dirs = ("forward", "backward") if arch == "bilstm" else ("forward",)
        names = {"rnn": ("preactivation", "hidden"), "gru": ("reset_gate", "update_gate", "candidate", "hidden")}.get(
            arch, ("input_gate", "forget_gate", "candidate", "output_gate", "cell", "hidden")
        )
        assert set(tr.names("layers.*")) == {f"layers.{l}.{d}.{n}" for l in range(L) for d in dirs for n in names}
        for name in tr.names("layers.*"):
            assert tr[name].shape == (T, H), name
        assert tr["output"].shape == (T, len(dirs) * H)
        assert "positional" not in tr
