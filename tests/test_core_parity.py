"""Parity of every traced value with torch.nn, against references written out here step by step.

The references are plain per-time-step loops of PyTorch's documented equations
(torch/nn/modules/rnn.py docstrings: gate order i,f,g,o and r,z,n; the GRU reset
gate multiplies (W_hn h + b_hn)), run layer by layer, the backward direction over
reversed time and stored in token order. Each reference is itself checked against
the module's own output, so it cannot drift from torch. The same check functions
are shown to reject deliberately wrong variants (the paper-style GRU, attention
scaled by 1/d, a missing causal mask, ...): every parity test here can fail.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import pytest
import torch
from torch import Tensor, nn

import core
from core import recurrent
from core.attention import TransformerBody
from core.models import ModelConfig, WordModel
from core.text import Vocab, tokenize
from conftest import LECTURE, tiny_model

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
TORCH_CLASS = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CORE_CLASS = {"rnn_tanh": recurrent.RNN, "rnn_relu": recurrent.RNN, "lstm": recurrent.LSTM, "gru": recurrent.GRU}
STATE_NAMES = {
    "RNN_TANH": ("preactivation", "hidden"),
    "RNN_RELU": ("preactivation", "hidden"),
    "LSTM": ("input_gate", "forget_gate", "candidate", "output_gate", "cell", "hidden"),
    "GRU": ("reset_gate", "update_gate", "candidate", "hidden"),
}


pytestmark = pytest.mark.usefixtures("one_intra_op_thread")  # tests/conftest.py


# -- helpers -------------------------------------------------------------------------------
def assert_close(actual: Tensor, expected: Tensor, tol: float, what: str) -> None:
    """|actual - expected| <= tol * (1 + |expected|) everywhere; NaN fails."""
    actual, expected = actual.detach(), expected.detach()
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    diff = (actual.double() - expected.double()).abs()
    ok = diff <= tol * (1 + expected.double().abs())
    assert bool(ok.all()), f"{what}: max abs difference {diff.max().item():.3e} > tol {tol:g}"


def sizes(seed: int) -> tuple[int, int, int]:
    """A small (E, H, T) that varies with the configuration: E 5-8, H 6-10, T 7-13."""
    g = torch.Generator().manual_seed(seed)
    E, H, T = (int(torch.randint(lo, hi + 1, (1,), generator=g)) for lo, hi in ((5, 8), (6, 10), (7, 13)))
    return E, H, T


def make_recurrent(
    kind: str, E: int, H: int, layers: int, bidirectional: bool, batch_first: bool, bias: bool, dtype, seed: int
):
    torch.manual_seed(seed)
    kw = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first, "bias": bias}
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind.split("_")[1]
    return TORCH_CLASS[kind](E, H, **kw).to(dtype), kw


def module_input(module, x: Tensor) -> Tensor:
    """The one-sequence batch the module itself takes: (1, T, E) if batch_first else (T, 1, E)."""
    return x[None] if module.batch_first else x[:, None]


@torch.no_grad()
def run_recurrent(module, x: Tensor):
    """The module's own output (T, D*H), h_n (L*D, H) and, for an LSTM, c_n (L*D, H)."""
    out, state = module(module_input(module, x))
    out = out[0] if module.batch_first else out[:, 0]
    if isinstance(state, tuple):
        return out, state[0][:, 0], state[1][:, 0]
    return out, state[:, 0], None


# -- the reference: PyTorch's equations, one time step at a time ----------------------------
def pytorch_gru_candidate(gi_n: Tensor, r: Tensor, W_hn: Tensor, b_hn: Tensor, h: Tensor) -> Tensor:
    """n_t = tanh(W_in x + b_in + r_t * (W_hn h_{t-1} + b_hn))  (torch.nn.GRU)."""
    return torch.tanh(gi_n + r * (W_hn @ h + b_hn))


def paper_gru_candidate(gi_n: Tensor, r: Tensor, W_hn: Tensor, b_hn: Tensor, h: Tensor) -> Tensor:
    """n_t = tanh(W_in x + b_in + W_hn (r_t * h_{t-1}) + b_hn)  (Cho et al. 2014): deliberately NOT torch's."""
    return torch.tanh(gi_n + W_hn @ (r * h) + b_hn)


def reference_recurrent(module, x: Tensor, gru_candidate: Callable = pytorch_gru_candidate) -> dict[str, Tensor]:
    """Every Trace name of ``module`` on ``x`` (T, E), by an explicit loop, in float64."""
    mode, H, L = module.mode, module.hidden_size, module.num_layers
    dirs = ("forward", "backward") if module.bidirectional else ("forward",)
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    x = x.detach().double()
    T = x.shape[0]
    values: dict[str, Tensor] = {"embedding": x.clone()}
    h_n, c_n = [], []
    inp = x
    for layer in range(L):
        outs = []
        for d, direction in enumerate(dirs):
            sfx = "_reverse" if d else ""
            W_ih = getattr(module, f"weight_ih_l{layer}{sfx}").detach().double()
            W_hh = getattr(module, f"weight_hh_l{layer}{sfx}").detach().double()
            if module.bias:
                b_ih = getattr(module, f"bias_ih_l{layer}{sfx}").detach().double()
                b_hh = getattr(module, f"bias_hh_l{layer}{sfx}").detach().double()
            else:
                b_ih = b_hh = torch.zeros(G * H, dtype=torch.float64)
            rec: dict[str, list] = {n: [None] * T for n in STATE_NAMES[mode]}
            h = torch.zeros(H, dtype=torch.float64)
            c = torch.zeros(H, dtype=torch.float64)
            steps = range(T) if d == 0 else range(T - 1, -1, -1)  # the backward direction reads reversed time
            for t in steps:
                xt = inp[t]
                if mode == "LSTM":
                    gates = W_ih @ xt + b_ih + W_hh @ h + b_hh
                    i, f, g, o = gates.chunk(4)  # torch's order: input, forget, cell candidate, output
                    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                    c = f * c + i * g
                    h = o * torch.tanh(c)
                    step = {"input_gate": i, "forget_gate": f, "candidate": g, "output_gate": o, "cell": c, "hidden": h}
                elif mode == "GRU":
                    gi_r, gi_z, gi_n = (W_ih @ xt + b_ih).chunk(3)  # torch's order: reset, update, new
                    W_hr, W_hz, W_hn = W_hh.chunk(3)
                    b_hr, b_hz, b_hn = b_hh.chunk(3)
                    r = torch.sigmoid(gi_r + W_hr @ h + b_hr)
                    z = torch.sigmoid(gi_z + W_hz @ h + b_hz)
                    n = gru_candidate(gi_n, r, W_hn, b_hn, h)
                    h = (1 - z) * n + z * h
                    step = {"reset_gate": r, "update_gate": z, "candidate": n, "hidden": h}
                else:
                    a = W_ih @ xt + b_ih + W_hh @ h + b_hh
                    h = torch.tanh(a) if mode == "RNN_TANH" else torch.relu(a)
                    step = {"preactivation": a, "hidden": h}
                for n_, v in step.items():
                    rec[n_][t] = v  # stored in token order for both directions
            for n_, vs in rec.items():
                values[f"layers.{layer}.{direction}.{n_}"] = torch.stack(vs)
            outs.append(values[f"layers.{layer}.{direction}.hidden"])
            h_n.append(h)  # the last state this direction computed
            if mode == "LSTM":
                c_n.append(c)
        inp = torch.cat(outs, dim=1)
    values["output"] = inp
    values["h_n"] = torch.stack(h_n)
    if mode == "LSTM":
        values["c_n"] = torch.stack(c_n)
    return values


def expected_names(module) -> set[str]:
    dirs = ("forward", "backward") if module.bidirectional else ("forward",)
    names = {"embedding", "output", "h_n"} | ({"c_n"} if module.mode == "LSTM" else set())
    names |= {f"layers.{l}.{d}.{n}" for l in range(module.num_layers) for d in dirs for n in STATE_NAMES[module.mode]}
    return names


def check_recurrent(trace: Mapping[str, Tensor], module, x: Tensor, tol: float) -> None:
    """The trace (any name -> tensor mapping) equals torch's module and the step-by-step reference."""
    x = x.reshape(-1, x.shape[-1])
    ref = reference_recurrent(module, x)
    out, h_n, c_n = run_recurrent(module, x)
    # the reference is torch: its top layer, h_n and c_n are the module's own
    assert_close(ref["output"], out, tol, "reference output vs the module")
    assert_close(ref["h_n"], h_n, tol, "reference h_n vs the module")
    if c_n is not None:
        assert_close(ref["c_n"], c_n, tol, "reference c_n vs the module")

    assert set(trace.keys()) == expected_names(module), f"names: {sorted(set(trace.keys()) ^ expected_names(module))}"
    dtype = next(module.parameters()).dtype
    for name in sorted(expected_names(module)):
        assert trace[name].dtype == dtype, f"{name} is {trace[name].dtype}, module is {dtype}"
        assert trace[name].device.type == "cpu"
    assert_close(trace["output"], out, tol, "output vs the module's sequence output")
    assert_close(trace["h_n"], h_n, tol, "h_n vs the module's")
    if c_n is not None:
        assert_close(trace["c_n"], c_n, tol, "c_n vs the module's")
    for name, expected in ref.items():
        assert_close(trace[name], expected, tol, name)


def check_gru(trace: Mapping[str, Tensor], module, x: Tensor, tol: float) -> None:
    assert module.mode == "GRU"
    check_recurrent(trace, module, x, tol)


# -- recurrent: every configuration ---------------------------------------------------------
RECURRENT_CONFIGS = list(
    itertools.product(
        ("rnn_tanh", "rnn_relu", "lstm", "gru"),
        (1, 2, 3),
        (False, True),
        (False, True),
        (True, False),
        (torch.float32, torch.float64),
    )
)


@pytest.mark.parametrize(
    "kind,layers,bidirectional,batch_first,bias,dtype",
    RECURRENT_CONFIGS,
    ids=[
        f"{k}-L{l}-{'bi' if b else 'uni'}-{'bf' if bf else 'tf'}-{'bias' if bs else 'nobias'}-{str(dt)[6:]}"
        for k, l, b, bf, bs, dt in RECURRENT_CONFIGS
    ],
)
def test_recurrent_parity(kind, layers, bidirectional, batch_first, bias, dtype):
    seed = RECURRENT_CONFIGS.index((kind, layers, bidirectional, batch_first, bias, dtype))
    E, H, T = sizes(seed)
    tol = TOL[dtype]
    module, kw = make_recurrent(kind, E, H, layers, bidirectional, batch_first, bias, dtype, seed)
    x = torch.randn(T, E, dtype=dtype)

    # core.instrument on the plain torch module, with each accepted input shape
    traced = core.instrument(module)
    tr = traced.trace(x)
    check_recurrent(tr, module, x, tol)
    other = traced.trace(module_input(module, x))
    assert set(other) == set(tr)
    for name in tr:
        assert torch.equal(other[name], tr[name]), f"{name} differs for the module's own batch of one"
    # the other layout is, for this module, a batch of T one-step sequences (T > 1 here): refused, not misread
    with pytest.raises(ValueError, match=f"batch_first={batch_first}"):
        traced.trace(x[:, None] if batch_first else x[None])

    # the core subclass: same state_dict both ways, same forward, same trace
    sub = CORE_CLASS[kind](E, H, **kw).to(dtype)
    sub.load_state_dict(module.state_dict(), strict=True)
    assert isinstance(sub, TORCH_CLASS[kind])
    assert list(sub.state_dict()) == list(module.state_dict())
    back = TORCH_CLASS[kind](E, H, **kw).to(dtype)
    back.load_state_dict(sub.state_dict(), strict=True)
    for (k1, v1), (k2, v2) in zip(back.state_dict().items(), module.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    for a, b in zip(run_recurrent(sub, x), run_recurrent(module, x)):
        if a is not None:
            assert torch.equal(a, b)
    for shaped in (x, module_input(sub, x)):
        check_recurrent(sub.trace(shaped), module, x, tol)


@pytest.mark.parametrize("kind", list(TORCH_CLASS))
@pytest.mark.parametrize("T", [1, 2])
def test_recurrent_parity_short_sequences(kind, T):
    module, _ = make_recurrent(kind, 5, 6, 2, True, False, True, torch.float64, 7)
    x = torch.randn(T, 5, dtype=torch.float64)
    check_recurrent(core.instrument(module).trace(x), module, x, TOL[torch.float64])


# -- the deliberately wrong GRU: the same check must reject it --------------------------------
GRU_WRONG_CONFIGS = [
    (1, False, True, torch.float64),
    (2, True, True, torch.float32),
    (2, True, False, torch.float64),
    (3, False, False, torch.float32),
]


@pytest.mark.parametrize("layers,bidirectional,bias,dtype", GRU_WRONG_CONFIGS)
def test_check_gru_rejects_the_paper_gru_and_accepts_core(layers, bidirectional, bias, dtype):
    E, H, T = sizes(100 + layers)
    tol = TOL[dtype]
    module, _ = make_recurrent("gru", E, H, layers, bidirectional, False, bias, dtype, 11)
    x = torch.randn(T, E, dtype=dtype)

    check_gru(core.instrument(module).trace(x), module, x, tol)  # core passes

    paper = {k: v.to(dtype) for k, v in reference_recurrent(module, x, gru_candidate=paper_gru_candidate).items()}
    assert set(paper) == expected_names(module)
    with pytest.raises(AssertionError):
        check_gru(paper, module, x, tol)

    # even with every hidden state right, a paper-style candidate alone is caught
    hybrid = dict(core.instrument(module).trace(x))
    W_hh = module.weight_hh_l0.detach().double()
    b_hh = module.bias_hh_l0.detach().double() if bias else torch.zeros(3 * H, dtype=torch.float64)
    b_ih = module.bias_ih_l0.detach().double() if bias else torch.zeros(3 * H, dtype=torch.float64)
    h = hybrid["layers.0.forward.hidden"].double()
    h_prev = torch.cat([torch.zeros(1, H, dtype=torch.float64), h[:-1]])
    r = hybrid["layers.0.forward.reset_gate"].double()
    gi_n = (x.double() @ module.weight_ih_l0.detach().double().T + b_ih)[:, 2 * H :]
    hybrid["layers.0.forward.candidate"] = torch.tanh(gi_n + (r * h_prev) @ W_hh[2 * H :].T + b_hh[2 * H :]).to(dtype)
    with pytest.raises(AssertionError, match="candidate"):
        check_gru(hybrid, module, x, tol)


def _mutated(trace, **changes) -> dict:
    d = dict(trace)
    d.update(changes)
    return d


def test_check_recurrent_rejects_other_wrong_variants():
    """Swapped LSTM gates, backward states in processing order, a dropped bias: each is caught."""
    dtype, tol = torch.float64, TOL[torch.float64]
    lstm, _ = make_recurrent("lstm", 6, 7, 1, True, False, True, dtype, 3)
    x = torch.randn(9, 6, dtype=dtype)
    tr = core.instrument(lstm).trace(x)
    check_recurrent(tr, lstm, x, tol)
    with pytest.raises(AssertionError, match="forget_gate|input_gate"):  # i and f swapped (order f,i,g,o)
        check_recurrent(
            _mutated(
                tr,
                **{
                    "layers.0.forward.input_gate": tr["layers.0.forward.forget_gate"],
                    "layers.0.forward.forget_gate": tr["layers.0.forward.input_gate"],
                },
            ),
            lstm,
            x,
            tol,
        )
    with pytest.raises(AssertionError, match="backward"):  # backward direction stored in processing order
        check_recurrent(
            _mutated(tr, **{"layers.0.backward.hidden": tr["layers.0.backward.hidden"].flip(0)}), lstm, x, tol
        )
    missing = dict(tr)
    del missing["layers.0.backward.cell"]
    with pytest.raises(AssertionError, match="names"):
        check_recurrent(missing, lstm, x, tol)

    rnn, _ = make_recurrent("rnn_tanh", 6, 7, 1, False, False, True, dtype, 4)
    tr = core.instrument(rnn).trace(x)
    check_recurrent(tr, rnn, x, tol)
    with pytest.raises(AssertionError, match="preactivation"):  # b_hh left out
        check_recurrent(
            _mutated(
                tr, **{"layers.0.forward.preactivation": tr["layers.0.forward.preactivation"] - rnn.bias_hh_l0.detach()}
            ),
            rnn,
            x,
            tol,
        )
    with pytest.raises(AssertionError, match="output"):  # float32-level error is too big for float64
        check_recurrent(_mutated(tr, output=tr["output"] + 1e-7), rnn, x, tol)


# -- recurrent relations inside the trace -----------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recurrent_relations_hold_inside_the_trace(kind, dtype):
    tol = TOL[dtype]
    module, _ = make_recurrent(kind, 6, 8, 2, True, True, True, dtype, 21)
    tr = core.instrument(module).trace(torch.randn(11, 6, dtype=dtype))
    for layer in range(2):
        for direction in ("forward", "backward"):
            p = f"layers.{layer}.{direction}."
            h = tr[p + "hidden"]
            zero = torch.zeros_like(h[:1])
            # the state each step starts from: t-1 forward, t+1 backward (zero at the sequence edge)
            h_prev = torch.cat([zero, h[:-1]]) if direction == "forward" else torch.cat([h[1:], zero])
            if kind == "lstm":
                c = tr[p + "cell"]
                c_prev = torch.cat([zero, c[:-1]]) if direction == "forward" else torch.cat([c[1:], zero])
                i, f, g, o = (tr[p + n] for n in ("input_gate", "forget_gate", "candidate", "output_gate"))
                assert_close(c, f * c_prev + i * g, tol, p + "cell = f*c_prev + i*g")
                assert_close(h, o * torch.tanh(c), tol, p + "hidden = o*tanh(cell)")
            elif kind == "gru":
                z, n = tr[p + "update_gate"], tr[p + "candidate"]
                assert_close(h, (1 - z) * n + z * h_prev, tol, p + "hidden = (1-z)*n + z*h_prev")
            else:
                act = torch.tanh if kind == "rnn_tanh" else torch.relu
                assert_close(h, act(tr[p + "preactivation"]), tol, p + "hidden = act(preactivation)")


# -- attention ----------------------------------------------------------------------------
def reference_attention(
    mha: nn.MultiheadAttention, x: Tensor, causal: bool, scale: str = "sqrt", mask: bool = True
) -> dict[str, Tensor]:
    """Q, K, V, scores, weights, context, output from in_proj/out_proj by hand, float64.

    ``scale="d"`` and ``mask=False`` give deliberately wrong variants."""
    x = x.detach().double()
    T, D = x.shape
    nh = mha.num_heads
    hd = D // nh
    W = mha.in_proj_weight.detach().double()
    b = mha.in_proj_bias.detach().double() if mha.in_proj_bias is not None else torch.zeros(3 * D, dtype=torch.float64)
    q, k, v = (x @ W[i * D : (i + 1) * D].T + b[i * D : (i + 1) * D] for i in range(3))
    q, k, v = (t.reshape(T, nh, hd).permute(1, 0, 2) for t in (q, k, v))  # (nh, T, hd)
    scores = q @ k.transpose(1, 2) / (math.sqrt(hd) if scale == "sqrt" else hd)
    masked = (
        scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")) if causal and mask else scores
    )
    weights = torch.softmax(masked, dim=-1)
    context = weights @ v
    Wo = mha.out_proj.weight.detach().double()
    bo = mha.out_proj.bias.detach().double() if mha.out_proj.bias is not None else torch.zeros(D, dtype=torch.float64)
    output = context.permute(1, 0, 2).reshape(T, D) @ Wo.T + bo
    p = "layers.0.attention."
    return {
        "embedding": x,
        p + "query": q,
        p + "key": k,
        p + "value": v,
        p + "scores": scores,
        p + "weights": weights,
        p + "context": context,
        p + "output": output,
        "output": output,
    }


@torch.no_grad()
def run_attention(mha: nn.MultiheadAttention, x: Tensor, causal: bool):
    """The module's own output (T, D) and per-head weights (nh, T, T)."""
    xm = x[None] if mha.batch_first else x[:, None]
    mask = torch.ones(x.shape[0], x.shape[0], dtype=torch.bool).triu(1) if causal else None
    out = mha(xm, xm, xm, attn_mask=mask, need_weights=False)[0]
    out_w, weights = mha(xm, xm, xm, attn_mask=mask, need_weights=True, average_attn_weights=False)
    take = (lambda t: t[0]) if mha.batch_first else (lambda t: t[:, 0])
    return take(out), take(out_w), weights[0]


def check_attention(
    trace: Mapping[str, Tensor], mha: nn.MultiheadAttention, x: Tensor, causal: bool, tol: float
) -> None:
    x = x.reshape(-1, x.shape[-1])
    out, out_w, weights = run_attention(mha, x, causal)
    ref = reference_attention(mha, x, causal)
    assert_close(out_w, out, tol, "module output with and without need_weights")
    assert_close(ref["output"], out, tol, "reference output vs the module")  # the reference is torch
    assert_close(ref["layers.0.attention.weights"], weights, tol, "reference weights vs the module")
    assert_close(trace["output"], out, tol, "output vs mha(x, x, x)[0]")
    assert_close(trace["layers.0.attention.weights"], weights, tol, "weights vs the module's per-head weights")
    for name, expected in ref.items():
        assert_close(trace[name], expected, tol, name)


ATTENTION_CONFIGS = list(
    itertools.product((8, 12), (1, 2, 4), (True, False), (False, True), (torch.float32, torch.float64), (False, True))
)


@pytest.mark.parametrize(
    "D,heads,bias,batch_first,dtype,causal",
    ATTENTION_CONFIGS,
    ids=[
        f"D{D}-h{h}-{'bias' if b else 'nobias'}-{'bf' if bf else 'tf'}-{str(dt)[6:]}-{'causal' if c else 'full'}"
        for D, h, b, bf, dt, c in ATTENTION_CONFIGS
    ],
)
def test_attention_parity(D, heads, bias, batch_first, dtype, causal):
    seed = ATTENTION_CONFIGS.index((D, heads, bias, batch_first, dtype, causal))
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(D, heads, bias=bias, batch_first=batch_first).to(dtype).eval()
    T = 7 + seed % 7
    x = torch.randn(T, D, dtype=dtype)
    traced = core.instrument(mha)
    tr = traced.trace(x, causal=causal)
    check_attention(tr, mha, x, causal, TOL[dtype])
    nh, hd = heads, D // heads
    shapes = {
        "query": (nh, T, hd),
        "key": (nh, T, hd),
        "value": (nh, T, hd),
        "scores": (nh, T, T),
        "weights": (nh, T, T),
        "context": (nh, T, hd),
        "output": (T, D),
    }
    for n, shape in shapes.items():
        assert tuple(tr[f"layers.0.attention.{n}"].shape) == shape
        assert tr[f"layers.0.attention.{n}"].dtype == dtype
    other = traced.trace(x[None] if batch_first else x[:, None], causal=causal)
    for name in tr:
        assert torch.equal(other[name], tr[name]), f"{name} differs for the module's own batch of one"
    with pytest.raises(ValueError, match=f"batch_first={batch_first}"):
        traced.trace(x[:, None] if batch_first else x[None], causal=causal)


def test_attention_default_is_not_causal():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2).double()
    x = torch.randn(9, 8, dtype=torch.float64)
    check_attention(core.instrument(mha).trace(x), mha, x, False, TOL[torch.float64])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_check_attention_rejects_wrong_variants(dtype):
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(dtype).eval()
    x = torch.randn(10, 8, dtype=dtype)
    tol = TOL[dtype]
    check_attention(core.instrument(mha).trace(x, causal=True), mha, x, True, tol)
    check_attention(core.instrument(mha).trace(x, causal=False), mha, x, False, tol)
    # scaled by 1/d instead of 1/sqrt(d)
    for causal in (False, True):
        wrong = {k: v.to(dtype) for k, v in reference_attention(mha, x, causal, scale="d").items()}
        with pytest.raises(AssertionError):
            check_attention(wrong, mha, x, causal, tol)
    # causal trace that forgot the mask
    wrong = {k: v.to(dtype) for k, v in reference_attention(mha, x, True, mask=False).items()}
    with pytest.raises(AssertionError):
        check_attention(wrong, mha, x, True, tol)
    # a non-causal trace checked as causal, and the reverse
    with pytest.raises(AssertionError):
        check_attention(core.instrument(mha).trace(x, causal=False), mha, x, True, tol)
    with pytest.raises(AssertionError):
        check_attention(core.instrument(mha).trace(x, causal=True), mha, x, False, tol)
    # scores reported after the mask instead of before
    tr = dict(core.instrument(mha).trace(x, causal=True))
    tr["layers.0.attention.scores"] = tr["layers.0.attention.scores"].masked_fill(
        torch.ones(10, 10, dtype=torch.bool).triu(1), float("-inf")
    )
    with pytest.raises(AssertionError, match="scores"):
        check_attention(tr, mha, x, True, tol)


# -- the Transformer body -------------------------------------------------------------------
@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_transformer_body_parity(positional, dtype):
    torch.manual_seed(1)
    D, heads, L, T = 8, 2, 2, 9
    tol = TOL[dtype]
    body = TransformerBody(D, heads, L, positional, max_len=32).to(dtype).eval()
    x = torch.randn(T, D, dtype=dtype)
    with torch.no_grad():
        values = body.trace_values(x)
        assert_close(values["output"], body(x[None])[0], tol, "body output vs the batched forward")
        pe = body.positional.table.weight[:T] if positional == "learned" else values["positional"]
        assert_close(values["positional"], pe, 0.0, "positional")
        h = x + values["positional"]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        for l, block in enumerate(body.blocks):
            p = f"layers.{l}."
            a_in = block.ln1(h)[None]
            a_out, a_w = nn.MultiheadAttention.forward(
                block.attention, a_in, a_in, a_in, attn_mask=mask, need_weights=True, average_attn_weights=False
            )
            assert_close(values[p + "attention.weights"], a_w[0], tol, p + "attention.weights")
            assert_close(values[p + "attention.output"], a_out[0], tol, p + "attention.output")
            assert torch.all(values[p + "attention.weights"].triu(1) == 0)
            ref = reference_attention(block.attention, block.ln1(h), causal=True)
            for n in ("query", "key", "value", "scores", "context"):
                assert_close(values[p + "attention." + n], ref["layers.0.attention." + n], tol, p + "attention." + n)
            nxt = block(h[None], True)[0]
            assert_close(values[p + "hidden"], nxt, tol, p + "hidden vs the block's forward")
            h = values[p + "hidden"]


# -- WordModel, every architecture ----------------------------------------------------------
SENTENCES = LECTURE


WORD_CONFIGS = [
    ("rnn", "sinusoidal"),
    ("lstm", "sinusoidal"),
    ("gru", "sinusoidal"),
    ("bilstm", "sinusoidal"),
    ("transformer", "sinusoidal"),
    ("transformer", "learned"),
]


@pytest.mark.parametrize("arch,positional", WORD_CONFIGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_word_model_trace_equals_batched_forward(arch, positional, dtype):
    model = tiny_model(arch, positional, dtype)
    tol = TOL[dtype]
    for text in SENTENCES:
        tr = model.trace(text)
        tokens = tokenize(text).tokens
        ids = model.vocab.encode(tokens)
        assert tr.tokens == tokens
        assert tr.meta["ids"] == ids
        assert tr.unknown == tuple(model.vocab.unknown(tokens))
        with torch.no_grad():
            expected = model(torch.tensor(ids)[None])[0]
        assert_close(tr["logits"], expected, tol, f"logits of {text!r}")
        assert tr["logits"].shape == (len(tokens), len(model.vocab))
        by_ids = model.trace(ids)
        assert by_ids.tokens == tuple(model.vocab.decode(ids))
        assert torch.equal(by_ids["logits"], tr["logits"])


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_word_model_trace_has_no_dropout_in_training_mode(arch):
    vocab = Vocab.build([tokenize(s).tokens for s in SENTENCES], size=30)
    torch.manual_seed(0)
    model = WordModel(
        ModelConfig(arch=arch, vocab_size=len(vocab), embed_dim=6, hidden_size=7, heads=2, dropout=0.5), vocab
    )
    model.train()
    tr = model.trace(SENTENCES[1])
    assert model.training  # trace does not switch the shared model's mode
    with torch.no_grad():
        expected = model.eval()(torch.tensor(tr.meta["ids"])[None])[0]
    assert_close(tr["logits"], expected, TOL[torch.float32], "logits in training mode")


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "bilstm"])
def test_word_model_recurrent_body_matches_reference(arch):
    model = tiny_model(arch, dtype=torch.float64)
    tr = model.trace(SENTENCES[2])
    x = model.embedding(torch.tensor(tr.meta["ids"])).detach()
    check_recurrent({k: v for k, v in tr.items() if k != "logits"}, model.body, x, TOL[torch.float64])


@pytest.mark.parametrize("arch,positional", WORD_CONFIGS)
@pytest.mark.parametrize("text", ["", "   ", "\t\n ", "\x00\u202e"])
def test_word_model_trace_refuses_empty_text(arch, positional, text):
    with pytest.raises(ValueError):
        tiny_model(arch, positional).trace(text)
