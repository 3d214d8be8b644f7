"""Shared test scaffolding: one intra-op thread for tiny tensors, and the tiny-model factory.

Test files opt in to the thread setting with
``pytestmark = pytest.mark.usefixtures("one_intra_op_thread")`` and import the
factory with ``from conftest import tiny_model`` (pytest puts tests/ on sys.path).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pytest
import torch

from core.models import ModelConfig, WordModel
from core.text import Vocab, tokenize

ROOT = Path(__file__).resolve().parents[1]  # the repository
LECTURE = [
    "Apple is my favorite fruit",
    "Apple is my favorite ___, and I work there",
    "I grew up in the Middle East but now live in London. I speak fluent ___",
    "The food was good, not bad at all",
    "The food was bad, not good at all",
]


@pytest.fixture(scope="module")
def one_intra_op_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP contention on a busy 2-core machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_model(arch: str, positional: str = "sinusoidal", dtype=torch.float32, layers: int = 2, *,
               texts: Iterable[str] = LECTURE[:3], vocab_size: int = 24, words: Iterable[str] | None = None,
               embed_dim: int = 6, hidden_size: int = 7, heads: int = 2, nonlinearity: str = "tanh",
               seed: int | None = None) -> WordModel:
    """An untrained WordModel small enough for exact checks, in eval mode.

    The vocabulary is ``words`` (specials first) if given, else the ``vocab_size``
    most frequent tokens of ``texts``. ``seed`` defaults to len(arch), so two
    architectures do not share their first weights."""
    vocab = Vocab(dict.fromkeys(words)) if words is not None else Vocab.build([tokenize(s).tokens for s in texts], size=vocab_size)
    torch.manual_seed(len(arch) if seed is None else seed)
    config = ModelConfig(arch=arch, vocab_size=len(vocab), embed_dim=embed_dim, hidden_size=hidden_size,
                         num_layers=layers, heads=heads, nonlinearity=nonlinearity, positional=positional, max_len=64)
    return WordModel(config, vocab).to(dtype).eval()
