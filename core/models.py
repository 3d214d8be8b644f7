"""Word-level models on one vocabulary: embedding -> body -> vocabulary scores.

    rnn, lstm, gru, transformer   next-word language models (causal): logits[t] scores token t+1
    bilstm                        fills a blank from both sides: logits[t] scores the word at t

``load("minilm")`` gives the pretrained BERT encoder of ``core/bert.py`` instead
(word pieces, no logits); ``word_models()`` lists the word models only.

Each shipped model lives in ``assets/models/<name>/``: ``model.safetensors``
(weights; never pickle), ``config.json`` (a ``ModelConfig``), ``vocab.json``
and ``metrics.json``. ``load(name)`` reads one; ``available()`` lists them.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from . import bert, recurrent
from .attention import TransformerBody
from .text import DEFAULT_CAP, SPECIALS, UNK, Vocab, encode
from .trace import Trace

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "assets" / "models"  # the shipped models, beside the code in a clone (and `pip install -e .`)
MODELS_ENV = "GATESCOPE_MODELS"  # names another folder of models: a plain `pip install .`, tests, development


def models_root(models_dir: str | Path | None = None) -> Path:
    """Where models are read: ``models_dir`` if given, else $GATESCOPE_MODELS (read on every call), else MODELS_DIR."""
    return Path(models_dir or os.environ.get(MODELS_ENV) or MODELS_DIR)
SHIPPED = ("rnn", "lstm", "gru", "transformer", "bilstm")
ARCHS = ("rnn", "lstm", "gru", "transformer", "bilstm")


class CheckpointError(RuntimeError):
    """A model folder is missing or unreadable; the message names the file and the rebuild command."""


def rebuild_command(name: str) -> str:
    return f"python -m core train --arch {name}"


@dataclass(frozen=True)
class ModelConfig:
    arch: str  # rnn | lstm | gru | transformer | bilstm
    vocab_size: int  # V
    embed_dim: int = 128  # E, the same for every shipped model
    hidden_size: int = 256  # H per direction (recurrent); the Transformer's width is embed_dim
    num_layers: int = 1
    heads: int = 4  # Transformer only
    nonlinearity: str = "tanh"  # vanilla RNN only
    positional: str = "sinusoidal"  # Transformer only: sinusoidal | learned
    max_len: int = 1024  # learned positional encoding only
    dropout: float = 0.0  # on embeddings and before the output layer, in training only (never in a trace)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")

    @property
    def task(self) -> str:
        return "fill_blank" if self.arch == "bilstm" else "next_word"

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class WordModel(nn.Module):
    """Embedding (V, E) -> body -> Linear to V. ``forward`` trains on batches; ``trace`` explains one text."""

    def __init__(self, config: ModelConfig, vocab: Vocab):
        super().__init__()
        if len(vocab) != config.vocab_size:
            raise ValueError(f"vocabulary has {len(vocab)} words, config says {config.vocab_size}")
        self.config, self.vocab = config, vocab
        E, H, L, V = config.embed_dim, config.hidden_size, config.num_layers, config.vocab_size
        self.embedding = nn.Embedding(V, E)
        if config.arch == "transformer":
            self.body = TransformerBody(E, config.heads, L, config.positional, config.max_len)
            out = E
        elif config.arch == "rnn":
            self.body = recurrent.RNN(E, H, L, nonlinearity=config.nonlinearity, batch_first=True)
            out = H
        elif config.arch == "bilstm":
            self.body = recurrent.LSTM(E, H, L, batch_first=True, bidirectional=True)
            out = 2 * H
        else:
            self.body = (recurrent.LSTM if config.arch == "lstm" else recurrent.GRU)(E, H, L, batch_first=True)
            out = H
        self.head = nn.Linear(out, V)
        self.dropout = nn.Dropout(config.dropout)
        if config.arch in ("lstm", "bilstm"):
            # forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015): the cell starts out keeping what it
            # holds. With torch's default init the LSTM sat on a plateau for hundreds of steps on the probes.
            with torch.no_grad():
                for name, p in self.body.named_parameters():
                    if name.startswith("bias_ih"):
                        p[H : 2 * H] = 1.0
                    elif name.startswith("bias_hh"):
                        p[H : 2 * H] = 0.0

    @property
    def name(self) -> str:
        return self.config.arch

    def forward(self, ids: Tensor) -> Tensor:  # (B, T) -> logits (B, T, V)
        return self.logits_from_embeddings(self.dropout(self.embedding(ids)))

    def logits_from_embeddings(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """(B, T, E) input vectors -> logits (B, T, V), or (B, V) at ``positions`` (B,) only.

        The fast path (torch's kernels, no per-gate values); core.memory takes
        gradients through it with respect to ``x``."""
        h = self.body(x) if self.config.arch == "transformer" else self.body(x)[0]  # (B, T, out)
        if positions is not None:
            h = h[torch.arange(h.shape[0], device=h.device), positions]  # (B, out)
        return self.head(self.dropout(h))

    # -- explaining one text -------------------------------------------------
    def trace_embeddings(self, x: Tensor) -> dict[str, Tensor]:
        """Every value from given input vectors ``x`` (T, E): the body's names plus ``logits``.

        Gradients flow back to ``x`` when it requires grad (core.memory uses that)."""
        if self.config.arch == "transformer":
            values = self.body.trace_values(x)
        else:
            values = recurrent.trace_values(self.body, x)
        values["logits"] = self.head(values["output"])  # (T, V)
        return values

    def trace(self, text: str | Sequence[int], cap: int = DEFAULT_CAP) -> Trace:
        """Trace one text (or a list of token ids). Raises ValueError on empty text."""
        if isinstance(text, str):
            enc = encode(text, self.vocab, cap)
            ids, tokens, unknown, truncated, total = list(enc.ids), enc.tokens, enc.unknown, enc.truncated, enc.total
        else:
            ids = [int(i) for i in text]
            if any(not 0 <= i < len(self.vocab) for i in ids):
                raise ValueError(f"token ids must be in [0, {len(self.vocab)})")
            total = len(ids)
            ids, truncated = ids[:cap], total > cap
            tokens, unknown = self.vocab.decode(ids), ()
        if not ids:
            raise ValueError("the text has no words to trace: type at least one word")
        with torch.no_grad():
            values = self.trace_embeddings(self.embedding(torch.tensor(ids, device=self.embedding.weight.device)))
        meta = {"model": self.name, "architecture": self.config.arch, "task": self.config.task, "ids": ids,
                "total_tokens": total, "cap": cap, "causal": self.config.arch != "bilstm"}
        return Trace(values, tokens=tokens, unknown=unknown, truncated=truncated, meta=meta)

    def predict(self, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k words at each position, with probabilities, most likely first.

        Next-word models: the word after position t. ``bilstm``: the word that
        fits at position t (meaningful where the text has a blank, ``___``).
        Special tokens (``<pad>``, ``<blank>``, ...) are never proposed except
        ``<unk>``, shown as ``<unk>`` (a word outside the vocabulary). Ties are
        broken by vocabulary index, so the result is deterministic.
        """
        return top_words(self.trace(text)["logits"], self.vocab, k)

    def score(self, text: str, specials: bool = False):
        """Each token's probability one step earlier, its rank and surprisal: ``core.predictions.score``."""
        from .predictions import score

        return score(self, text, specials=specials)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def top_words(logits: Tensor, vocab: Vocab, k: int = 5) -> list[list[tuple[str, float]]]:
    """Top-k (word, probability) per row of ``logits`` (T, V), specials other than <unk> excluded."""
    probs = torch.softmax(logits.detach().double(), dim=-1)
    probs[:, [vocab.stoi[s] for s in SPECIALS if s != UNK]] = -1.0
    k = max(1, min(k, probs.shape[1]))
    order = torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, :k]
    return [[(vocab.itos[i], float(probs[t, i])) for i in row.tolist()] for t, row in enumerate(order)]


def word_probability(logits: Tensor, index: int) -> tuple[float, int]:
    """p(word ``index``) under one row of ``logits`` (V,), and its rank (1 = the model's top word)."""
    prob = torch.softmax(logits.detach(), dim=-1)
    return float(prob[index]), int((prob > prob[index]).sum()) + 1


# -- files -------------------------------------------------------------------
# Weights are stored as float16 (five models in float32 would not fit assets/'s 40 MB) and
# computed in float32. train() rounds a model to the stored values before it measures it,
# so metrics.json describes exactly the weights that ship.
STORED_DTYPE = torch.float16


@torch.no_grad()
def round_to_stored(model: nn.Module) -> nn.Module:
    """Round every floating parameter and buffer, in place, to what ``save`` stores."""
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.copy_(t.to(STORED_DTYPE))
    return model


def save(model: WordModel, out_dir: str | Path, metrics: dict | None = None) -> Path:
    """Write ``model.safetensors`` (float16), ``config.json``, ``vocab.json`` and ``metrics.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(STORED_DTYPE) if v.is_floating_point() else v).detach().contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"arch": model.config.arch})
    (out / "config.json").write_text(json.dumps(asdict(model.config), indent=2) + "\n")
    model.vocab.save(out / "vocab.json")
    if metrics is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return out


def word_models(models_dir: str | Path | None = None) -> list[str]:
    """Names of the word models in the models folder (``models_root``; shipped order first): ``WordModel``s only."""
    root = models_root(models_dir)
    found = {p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").exists()} if root.is_dir() else set()
    return [n for n in SHIPPED if n in found] + sorted(found - set(SHIPPED))


def available(models_dir: str | Path | None = None) -> list[str]:
    """Every model ``load`` can give: the word models, then ``"minilm"`` when its package is installed."""
    return word_models(models_dir) + ([bert.NAME] if bert.installed() else [])


def load_weights(model: nn.Module, folder: Path, name: str, fix: str, rename=lambda state: state) -> None:
    """``folder/model.safetensors`` into ``model`` (strict; safetensors only, never pickle), or a
    CheckpointError naming the file and ``fix``. ``rename`` maps the file's keys to the model's."""
    weights = folder / "model.safetensors"
    try:
        state = rename(load_file(str(weights)))
    except (OSError, SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"model {name!r}: cannot read {weights} ({e}); {fix}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"model {name!r}: {weights} does not match {folder / 'config.json'} ({str(e)[:300]}); {fix}"
        ) from None


def load(name: str, models_dir: str | Path | None = None) -> WordModel | bert.BertEncoder:
    """Load ``<models folder>/<name>`` (safetensors only), in eval mode; ``"minilm"`` comes from its package.

    The folder is ``models_dir``, else $GATESCOPE_MODELS, else ``assets/models``
    beside the code (``models_root``). Raises ``CheckpointError`` naming the
    missing or broken file and the command that rebuilds it; when there is no
    models folder at all (a plain ``pip install .`` leaves the models in the
    clone), it says how to point at one. For ``"minilm"`` it names the package to install.
    """
    if name == bert.NAME:
        return bert.load()
    root = models_root(models_dir)
    folder = root / name
    arch = name if name in ARCHS else "<arch>"
    fix = f"rebuild it with: {rebuild_command(arch)}"
    if not root.is_dir():
        raise CheckpointError(
            f"model {name!r}: there is no models folder at {root}. The shipped models are in assets/models of a "
            f"gatescope clone (`pip install -e .` from the clone finds them there); point at that folder with "
            f"core.load({name!r}, models_dir='/path/to/gatescope/assets/models') or the environment variable "
            f"{MODELS_ENV}=/path/to/gatescope/assets/models; or {fix}")
    if not folder.is_dir():
        raise CheckpointError(f"model {name!r}: folder {folder} is missing; {fix}")
    try:
        config = ModelConfig.from_dict(json.loads((folder / "config.json").read_text()))
        vocab = Vocab.load(folder / "vocab.json")
    except (OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"model {name!r}: cannot read {folder / 'config.json'} or {folder / 'vocab.json'} ({e}); {fix}") from None
    model = WordModel(config, vocab)
    load_weights(model, folder, name, fix)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def metrics(name: str, models_dir: str | Path | None = None) -> dict:
    """The model's ``metrics.json`` (empty dict if absent)."""
    path = models_root(models_dir) / name / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
