"""Shared test scaffolding: one intra-op thread for tiny tensors, and the tiny-model factory.

Test files opt in to the thread setting with
``pytestmark = pytest.mark.usefixtures("one_intra_op_thread")`` and import the
factory with ``from conftest import tiny_model`` (pytest puts tests/ on sys.path).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

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


@pytest.fixture(scope="module")
def app_models_dir(tmp_path_factory):
    """Points the app (GATESCOPE_MODELS) at models for one test module, and back afterwards: the shipped
    models when all are there, else untrained ones of the same shapes (tests/app_models.py)."""
    from tests import app_models

    folder = app_models.models_for_tests(tmp_path_factory.mktemp("models"))
    old = os.environ.get("GATESCOPE_MODELS")
    os.environ["GATESCOPE_MODELS"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("GATESCOPE_MODELS", None)
    else:
        os.environ["GATESCOPE_MODELS"] = old


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_app(tmp_path_factory, *streamlit_args: str):
    """``streamlit run explorer/app.py`` on a free loopback port with the test models; yields its base URL
    once ``/_stcore/health`` answers, and stops the server afterwards."""
    from tests import app_models

    models = app_models.models_for_tests(tmp_path_factory.mktemp("models"))
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "explorer/app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", *streamlit_args],
        cwd=ROOT, env=dict(os.environ, GATESCOPE_MODELS=str(models)), stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the streamlit server did not become healthy; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
