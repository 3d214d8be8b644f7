"""Models for the explorer's tests and benchmark (``python -m explorer.bench``) when the trained ones are not there.

The shipped models (``assets/models``) are used whenever all five exist; otherwise
untrained models of the same shapes are written to a folder of the caller's
choice, so the app can be exercised end to end on any machine in a few seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from core import models as core_models
from core.text import Vocab, tokenize

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = ROOT / "assets" / "models"
# the shapes of the shipped models: hidden size per direction, layers
SHAPES = {"rnn": (256, 1), "lstm": (256, 1), "gru": (256, 1), "transformer": (256, 2), "bilstm": (128, 1)}


def complete(folder: Path) -> bool:
    return all(
        (folder / name / f).exists() for name in SHAPES for f in ("config.json", "vocab.json", "model.safetensors")
    )


def build_untrained(out: Path, seed: int = 0) -> Path:
    """Random-weight models with the shipped shapes, on a vocabulary of the lecture's words."""
    examples = json.loads((ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
    texts = [examples["default"]] + [e["text"] for e in examples["examples"]]
    words = [t for text in texts for t in tokenize(text).tokens if t != "___"]
    vocab = Vocab(
        dict.fromkeys(words + ["the", "a", "of", "and", "to", "in", "is", "company", "phone", "french", "english"])
    )
    torch.manual_seed(seed)
    for name, (hidden, layers) in SHAPES.items():
        config = core_models.ModelConfig(
            name, len(vocab), embed_dim=128, hidden_size=hidden, num_layers=layers, heads=4
        )
        model = core_models.WordModel(config, vocab).eval()
        core_models.save(
            model, out / name, metrics={"model": name, "note": "UNTRAINED: random weights, for tests only"}
        )
    return out


def models_for_tests(scratch: Path) -> Path:
    """$GATESCOPE_MODELS if set, else the shipped models if all are there, else untrained ones built in ``scratch``."""
    env = os.environ.get("GATESCOPE_MODELS")
    if env:
        return Path(env)
    if complete(SHIPPED_DIR):
        return SHIPPED_DIR
    return build_untrained(scratch)
