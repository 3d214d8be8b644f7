"""Training the shipped models: ``python -m core train --arch lstm``.

Every model gets the same batches, built from the WordNet corpus
(``core.corpus``) and the long-range probes (``core.probes``). Each step has:

* ``batch`` windows of ``window`` + 1 tokens of running corpus text (train
  split). Next-word models (rnn, lstm, gru, transformer) learn to predict every
  next token; the fill-the-blank model (bilstm) sees ``mask_rate`` of the
  tokens replaced by ``<blank>`` and learns to restore them.
* ``probe_rows`` probes, each in a sequence of its own that starts from a
  fresh state, as the evaluation does: "i grew up in france . <filler> i speak
  fluent" -> french (next-word models), or the same with a blank before the
  final "." (bilstm). The step's long-range probes share one filler length,
  drawn up to a limit that grows from 10 to ``max_distance`` over the first
  ``ramp`` of the steps (a curriculum); ``fact_rate`` of them are short facts,
  which is where the held-out pairs are taught (``core.probes``).

Before all that come ``probe_warmup`` cheap steps of short probes alone (filler
of at most 10 words, no corpus text): a recurrent model sits on a plateau,
always answering the commonest language, until it finds that the answer
depends on the cue at all. Measured here for the LSTM (seed 0): after 300 such
steps it answered 8% of the country probes with training pairs (chance, the
plateau), after 800 steps 15-20% while the agreement probes were solved, and
after 1,500 (about 4 minutes) the probe loss was 0.01; without the warm-up,
1,000 mixed steps never left the plateau.

The loss is the mean cross-entropy on the windows plus ``answer_loss`` times
the mean cross-entropy of the probes' answers. Why the probes get rows of
their own: packed into the text windows (one answer per 70 tokens, mid-way
through other text) no architecture, not even the GRU, learned to use the cue
within 1,000 steps; in rows of their own a GRU learns the short probes in 200.

Same seed, same steps -> the same weights (on the same torch build and thread
count). ``--minutes`` caps the wall time; if the cap cuts training short,
metrics.json says so. At the end the model is evaluated (core.memory) and
written with ``core.models.save``.
"""
from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import corpus, probes
from .models import ModelConfig, WordModel, models_root, round_to_stored, save
from .text import BLANK, Vocab, tokenize

RECALL_DISTANCES = (0, 5, 10, 20, 50, 100, 200)


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    steps: int = 700  # Adam steps with corpus text (the same for every architecture)
    batch: int = 4  # corpus windows per step
    window: int = 512  # tokens per window: 4 x 512 = 2,048 tokens a step
    probe_rows: int = 32  # probes per step, each in a row of its own
    probe_warmup: int = 1500  # first steps: short probes only, no corpus text (cheap: about 0.2 s a step)
    lr: float = 2e-3  # peak learning rate (see learning_rate_factor)
    warmup: int = 50
    clip: float = 1.0  # gradient-norm clipping (the lecture's cure for exploding gradients)
    weight_decay: float = 0.01
    dropout: float = 0.1  # on embeddings and before the output layer, training only
    fact_rate: float = probes.FACT_RATE  # share of probe rows that are short facts (held-out pairs too)
    max_distance: int = 250  # longest filler in training probes
    hold: float = 0.1  # curriculum: fillers stay at most 10 tokens long for this share of the steps,
    ramp: float = 0.6  # then grow to max_distance by this share of the steps
    decay: float = 0.3  # the learning rate is constant, then decays (cosine, to 10%) over this last share
    answer_loss: float = 1.0  # weight of the mean cross-entropy of the probes' answers, beside the mean over all tokens
    mask_rate: float = 0.15  # bilstm: share of tokens blanked
    vocab_size: int = 8000
    embed_dim: int = 128
    hidden_size: int = 256
    num_layers: int = 1
    heads: int = 4
    seed: int = 0
    minutes: float = 30.0  # wall-clock cap


def default_config(arch: str, **overrides) -> TrainConfig:
    """The shipped models' settings: one embedding size and vocabulary; similar parameter counts."""
    per_arch = {
        "rnn": dict(),
        "lstm": dict(),
        "gru": dict(),
        "transformer": dict(num_layers=2, lr=1e-3),
        "bilstm": dict(hidden_size=128),  # 128 per direction: 256 into the output layer, like the others
    }
    if arch not in per_arch:
        raise ValueError(f"--arch must be one of {sorted(per_arch)}, got {arch!r}")
    return replace(TrainConfig(arch=arch, **per_arch[arch]), **overrides)


def build_vocab(sentences: Sequence[str], size: int) -> Vocab:
    """The shared vocabulary: every probe word, then the most frequent corpus words."""
    return Vocab.build((tokenize(s, cap=10_000).tokens for s in sentences), size, keep=probes.vocabulary_words())


class Stream:
    """Seeded training data: corpus windows and probe rows."""

    def __init__(self, encoded: list[list[int]], vocab: Vocab, cfg: TrainConfig, rng: random.Random):
        self.encoded, self.vocab, self.cfg, self.rng = encoded, vocab, cfg, rng

    def window(self) -> list[int]:
        """``window`` + 1 tokens of consecutive sentences from a random start."""
        i = self.rng.randrange(len(self.encoded))
        out: list[int] = []
        while len(out) < self.cfg.window + 1:
            out += self.encoded[i]
            i = (i + 1) % len(self.encoded)
        return out[: self.cfg.window + 1]

    def windows(self, B: int) -> torch.Tensor:  # (B, window + 1)
        return torch.tensor([self.window() for _ in range(B)])

    def probe_rows(self, n: int, max_distance: int) -> list[probes.Probe]:
        """``n`` training probes; the long-range ones share one filler length (so rows barely differ in length)."""
        distance = probes.draw_distance(self.rng, max_distance)
        return [probes.training_probe(self.rng, distance, self.cfg.fact_rate) for _ in range(n)]


def curriculum(cfg: TrainConfig, step: int) -> int:
    """Longest probe filler at ``step``: 10 tokens for the first ``hold`` of the steps, then growing
    linearly to ``max_distance`` by ``ramp`` of them, so that a model first finds that the answer
    depends on the cue at all (a recurrent net sits on a plateau until it does)."""
    if cfg.ramp <= 0:
        return cfg.max_distance
    grown = 10 + (cfg.max_distance - 10) * (step / cfg.steps - cfg.hold) / max(cfg.ramp - cfg.hold, 1e-9)
    return int(min(cfg.max_distance, max(10, grown)))


def learning_rate_factor(cfg: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up, constant, then a cosine down to 10% over the last ``decay`` of all ``total`` steps."""
    warm = min(1.0, (step + 1) / cfg.warmup)
    into = (step - (1 - cfg.decay) * total) / max(cfg.decay * total, 1)
    return warm * (1.0 if into <= 0 else 0.1 + 0.45 * (1 + math.cos(math.pi * min(into, 1.0))))


def text_loss(model: WordModel, windows: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Mean next-word cross-entropy on corpus windows (B, T+1), or, for bilstm, on ``mask_rate`` blanked tokens."""
    if model.config.task == "next_word":
        logits = model(windows[:, :-1])  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
    x = windows[:, :-1]
    blank = torch.rand(x.shape, generator=gen) < cfg.mask_rate
    logits = model(x.masked_fill(blank, model.vocab.stoi[BLANK]))
    return F.cross_entropy(logits[blank], x[blank])


def answer_loss(model: WordModel, rows: Sequence[probes.Probe]) -> torch.Tensor:
    """Mean cross-entropy of the probes' answers, each probe its own sequence from a fresh state.

    Rows of equal length run as one batch, so there is no padding (a backward
    LSTM would read padding first). Next-word models score the word after the
    prompt; bilstm scores a blank placed after the prompt, before a final ".".
    """
    vocab, fill = model.vocab, model.config.task == "fill_blank"
    groups: dict[int, list[probes.Probe]] = defaultdict(list)
    for p in rows:
        groups[len(p.prompt)].append(p)
    total = 0.0
    for n, group in groups.items():
        ids = torch.tensor([vocab.encode(p.prompt) + ([vocab.stoi[BLANK], vocab.stoi["."]] if fill else []) for p in group])
        at = torch.full((len(group),), n if fill else n - 1)
        logits = model.logits_from_embeddings(model.dropout(model.embedding(ids)), at)  # (g, V)
        answers = torch.tensor([vocab.index(p.answer) for p in group])
        total = total + F.cross_entropy(logits, answers, reduction="sum")
    return total / len(rows)


@torch.no_grad()
def heldout_score(model: WordModel, encoded: list[list[int]], window: int = 512, seed: int = 0) -> dict:
    """Perplexity (next-word) or blank accuracy (bilstm) on held-out corpus sentences."""
    stream = [t for s in encoded for t in s]
    vocab = model.vocab
    unk = vocab.stoi["<unk>"]
    total, count, correct, blanks = 0.0, 0, 0, 0
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, len(stream) - 1, window):
        ids = torch.tensor(stream[start : start + window + 1])[None]
        if ids.shape[1] < 2:
            break
        if model.config.task == "next_word":
            logits = model(ids[:, :-1])
            total += F.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
        else:
            x = ids[:, :-1]
            blank = (torch.rand(x.shape, generator=gen) < 0.15) & (x != unk)
            logits = model(x.masked_fill(blank, vocab.stoi[BLANK]))
            correct += (logits.argmax(-1)[blank] == x[blank]).sum().item()
            blanks += int(blank.sum())
    unk_rate = sum(t == unk for t in stream) / max(len(stream), 1)
    if model.config.task == "next_word":
        return {"perplexity": math.exp(total / count), "heldout_tokens": count, "heldout_unk_rate": unk_rate}
    return {"blank_accuracy": correct / max(blanks, 1), "heldout_blanks": blanks, "heldout_unk_rate": unk_rate}


def train(cfg: TrainConfig, out_dir: str | Path | None = None, sentences: Sequence[str] | None = None,
          heldout: Sequence[str] | None = None, use_probes: bool = True, evaluate: bool = True,
          progress: bool = True) -> tuple[WordModel, dict]:
    """Train one model; write it to ``out_dir`` (default assets/models/<arch>) unless out_dir is False.

    ``sentences``/``heldout`` replace the corpus (tests use a tiny one).
    """
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_text = corpus.sentences("train") if sentences is None else sentences
    heldout_text = corpus.sentences("valid") if heldout is None else heldout
    vocab = build_vocab(train_text, cfg.vocab_size)
    encoded = [vocab.encode(tokenize(s, cap=10_000).tokens) for s in train_text]
    mcfg = ModelConfig(cfg.arch, len(vocab), cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.heads, dropout=cfg.dropout)
    model = WordModel(mcfg, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    stream = Stream(encoded, vocab, cfg, rng)
    model.train()
    start = time.perf_counter()
    losses: list[float] = []
    done = 0
    warmup = cfg.probe_warmup if use_probes else 0
    total = warmup + cfg.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: learning_rate_factor(cfg, s, total))
    bar = tqdm(range(total), desc=f"train {cfg.arch}", unit="step", disable=not progress, dynamic_ncols=True)
    for step in bar:
        if time.perf_counter() - start > cfg.minutes * 60:
            bar.write(f"stopped by the {cfg.minutes}-minute cap after {step} of {total} steps")
            break
        if step < warmup:  # find the dependency first, on short probes alone
            loss = answer_loss(model, stream.probe_rows(cfg.probe_rows, 10))
        else:
            loss = text_loss(model, stream.windows(cfg.batch), cfg, gen)
            if use_probes:
                rows = stream.probe_rows(cfg.probe_rows, curriculum(cfg, step - warmup))
                loss = loss + cfg.answer_loss * answer_loss(model, rows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
        done = step + 1
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", phase="probes" if step < warmup else "text+probes")
    bar.close()
    seconds = time.perf_counter() - start
    model.eval()
    round_to_stored(model)  # measure the weights that ship (float16), not the float32 ones before saving
    metrics = {
        "model": cfg.arch,
        "task": mcfg.task,
        "parameters": model.parameter_count(),
        "train_seconds": round(seconds, 1),
        "steps": done,
        "steps_planned": total,
        "corpus_tokens_seen": max(done - warmup, 0) * cfg.batch * cfg.window,
        "probes_seen": done * cfg.probe_rows if use_probes else 0,
        "loss_first": losses[0] if losses else None,
        "loss_last20": sum(losses[-20:]) / max(len(losses[-20:]), 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": asdict(cfg),
    }
    if evaluate:
        from .memory import recall_curve

        encoded_heldout = [vocab.encode(tokenize(s, cap=10_000).tokens) for s in heldout_text]
        metrics.update(heldout_score(model, encoded_heldout))
        curve = recall_curve(model, RECALL_DISTANCES)
        metrics["recall_by_distance"] = {str(int(r.distance)): round(r.accuracy, 4) for r in curve.itertuples()}
        metrics["recall_probability_by_distance"] = {str(int(r.distance)): round(r.probability, 4) for r in curve.itertuples()}
        by_family = recall_curve(model, RECALL_DISTANCES, by_family=True)
        metrics["recall_by_family"] = {
            fam: {str(int(r.distance)): round(r.accuracy, 4) for r in g.itertuples()} for fam, g in by_family.groupby("family")
        }
    if out_dir is not False:
        save(model, out_dir or models_root() / cfg.arch, metrics)
    return model, metrics
