"""One shared module traced from many threads at once gives exactly the sequential results and is left untouched.

The design serves every browser session from one cached model, so a trace must
not store hooks, activations or gradients on the module.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn

import core
from core.models import ModelConfig, WordModel
from core.text import Vocab, tokenize

THREADS, CALLS = 8, 20
WORDS = [
    "apple",
    "is",
    "my",
    "favorite",
    "fruit",
    "and",
    "i",
    "work",
    "there",
    "the",
    "food",
    "was",
    "good",
    "not",
    "bad",
    "at",
    "all",
    "london",
    "fluent",
]


# one intra-op thread (tests/conftest.py): the concurrency under test is the 8 Python threads sharing one module
pytestmark = pytest.mark.usefixtures("one_intra_op_thread")


def module_state(module: nn.Module) -> dict:
    """Attributes, hooks and parameters of the module and every submodule (what a trace must not change)."""
    state = {}
    for path, m in module.named_modules():
        state[path] = {
            "attributes": sorted(vars(m)),
            "hooks": {h: dict(getattr(m, h)) for h in vars(m) if h.endswith("hooks")},
            "forward_hooks": (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)),
            "training": m.training,
            "modules": sorted(m._modules),
            "parameters": sorted(m._parameters),
            "buffers": sorted(m._buffers),
        }
    return state


def snapshot(module: nn.Module):
    return module_state(module), {k: v.clone() for k, v in module.state_dict().items()}


def assert_unchanged(module: nn.Module, before) -> None:
    state, sd = before
    assert module_state(module) == state
    now = module.state_dict()
    assert list(now) == list(sd)
    for k, v in sd.items():
        assert torch.equal(now[k], v), f"{k} changed"
    for name, p in module.named_parameters():
        assert p.requires_grad, name
        assert p.grad is None, f"{name}.grad was set by a trace"


def run_all(call, n_calls: int, threads: int | None):
    """call(i) for i in range(n_calls): in order, or from ``threads`` threads started together."""
    if threads is None:
        return [call(i) for i in range(n_calls)]
    barrier = threading.Barrier(threads)
    per_thread = [list(range(t, n_calls, threads)) for t in range(threads)]

    def worker(indices):
        torch.set_num_threads(1)  # OpenMP's thread count is per calling thread: match the sequential run
        barrier.wait()  # all threads trace at the same time
        return [(i, call(i)) for i in indices]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        chunks = list(pool.map(worker, per_thread))
    out = [None] * n_calls
    for chunk in chunks:
        for i, r in chunk:
            out[i] = r
    assert all(r is not None for r in out)
    return out


def assert_identical(sequential, concurrent) -> None:
    assert len(sequential) == len(concurrent)
    for i, (a, b) in enumerate(zip(sequential, concurrent)):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype
            assert torch.equal(a[name], b[name]), f"call {i}: {name} differs between threaded and sequential runs"


def inputs(n: int, E: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(int(torch.randint(3, 12, (1,), generator=g)), E, generator=g) for _ in range(n)]


@pytest.fixture(scope="module")
def lstm() -> nn.LSTM:
    torch.manual_seed(0)
    return nn.LSTM(6, 8, num_layers=2, bidirectional=True)


@pytest.fixture(scope="module")
def mha() -> nn.MultiheadAttention:
    torch.manual_seed(1)
    return nn.MultiheadAttention(8, 2)


@pytest.fixture(scope="module", params=["bilstm", "transformer"])
def word_model(request) -> WordModel:
    vocab = Vocab.build([WORDS], size=16)
    torch.manual_seed(2)
    return WordModel(
        ModelConfig(request.param, len(vocab), embed_dim=6, hidden_size=7, num_layers=2, heads=2), vocab
    ).eval()


def test_lstm_traced_from_threads(lstm):
    xs = inputs(THREADS * CALLS, 6, 10)
    traced = core.instrument(lstm)

    def call(i):
        x = xs[i].clone().requires_grad_()
        tr = traced.trace(x)
        scalar = (tr["layers.1.backward.forget_gate"] * tr["layers.0.forward.cell"]).sum() + tr["h_n"].pow(2).sum()
        (grad,) = torch.autograd.grad(scalar, x)
        return {**{k: v.detach() for k, v in tr.items()}, "grad": grad}

    before = snapshot(lstm)
    sequential = run_all(call, len(xs), None)
    concurrent = run_all(call, len(xs), THREADS)
    assert_identical(sequential, concurrent)
    assert all(r["grad"].abs().sum() > 0 for r in sequential)
    assert len({r["embedding"].shape[0] for r in sequential}) > 3  # the calls really had different inputs
    assert_unchanged(lstm, before)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_traced_from_threads(mha, causal):
    xs = inputs(THREADS * CALLS, 8, 11)
    traced = core.instrument(mha)

    def call(i):
        x = xs[i].clone().requires_grad_()
        tr = traced.trace(x, causal=causal)
        scalar = (tr["layers.0.attention.weights"][:, -1] * tr["layers.0.attention.scores"][:, -1]).sum() + tr[
            "output"
        ].sum()
        (grad,) = torch.autograd.grad(scalar, x)
        return {**{k: v.detach() for k, v in tr.items()}, "grad": grad}

    before = snapshot(mha)
    assert_identical(run_all(call, len(xs), None), run_all(call, len(xs), THREADS))
    assert_unchanged(mha, before)


def test_word_model_traced_from_threads(word_model):
    g = torch.Generator().manual_seed(3)
    texts = [
        " ".join(
            WORDS[j] for j in torch.randint(0, len(WORDS), (int(torch.randint(1, 14, (1,), generator=g)),), generator=g)
        )
        for _ in range(THREADS * CALLS)
    ]
    xs = inputs(THREADS * CALLS, 6, 12)

    def call(i):
        tr = word_model.trace(texts[i])
        assert tr.tokens == tokenize(texts[i]).tokens
        x = xs[i].clone().requires_grad_()
        values = word_model.trace_embeddings(x)
        (grad,) = torch.autograd.grad(values["logits"][-1].logsumexp(0), x)
        return {**dict(tr), "grad": grad, "embedding_logits": values["logits"].detach()}

    before = snapshot(word_model)
    assert_identical(run_all(call, len(texts), None), run_all(call, len(texts), THREADS))
    assert_unchanged(word_model, before)
