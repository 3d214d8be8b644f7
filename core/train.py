"""Training the shipped models: ``python -m core train --arch lstm``.

Every model sees the same token stream, built from the WordNet corpus
(``core.corpus``) with long-range probes mixed in (``core.probes``):

* Items are runs of consecutive corpus sentences (train split) and, with
  probability ``probe_rate``, a probe (filler 0..``max_distance`` tokens, plus
  short "facts" for the held-out pairs). Items are packed whole into windows
  of ``window`` + 1 tokens; the last gap is filled with corpus text.
* Next-word models (rnn, lstm, gru, transformer) learn to predict every next
  token (mean cross-entropy), plus ``answer_loss`` times the mean
  cross-entropy of the probes' answers (a few per window: without a term of
  their own they are lost in the language-model loss).
* The fill-the-blank model (bilstm) sees ``mask_rate`` of the tokens replaced
  by ``<blank>`` (and half the probe answers) and learns to restore them.

Same seed, same steps -> the same weights (on the same torch build and thread
count). ``--minutes`` caps the wall time; if the cap cuts training short,
metrics.json says so. At the end the model is evaluated (core.memory) and
written with ``core.models.save``.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import corpus, probes
from .models import MODELS_DIR, ModelConfig, WordModel, save
from .text import BLANK, Vocab, tokenize

RECALL_DISTANCES = (0, 5, 10, 20, 50, 100, 200)


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    steps: int = 1000  # Adam steps (the same for every architecture)
    batch: int = 8  # windows per step
    window: int = 512  # tokens per window: 8 x 512 = 4096 tokens a step
    lr: float = 2e-3  # peak learning rate (linear warm-up, cosine decay)
    warmup: int = 50
    clip: float = 1.0  # gradient-norm clipping (the lecture's cure for exploding gradients)
    weight_decay: float = 0.01
    dropout: float = 0.1  # on embeddings and before the output layer, training only
    probe_rate: float = 0.5  # share of items that are probes (about 60% of the tokens)
    max_distance: int = 250  # longest filler in training probes
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
    """Endless training windows: (ids (window + 1,), answer mask (window + 1,)), seeded."""

    def __init__(self, encoded: list[list[int]], vocab: Vocab, cfg: TrainConfig, rng: random.Random, use_probes: bool = True):
        self.encoded, self.vocab, self.cfg, self.rng = encoded, vocab, cfg, rng
        self.probes: Iterator[probes.Probe] | None = probes.training_probes(rng, cfg.max_distance) if use_probes else None

    def _corpus_run(self, n: int) -> list[int]:
        """About n tokens of consecutive sentences from a random start."""
        i = self.rng.randrange(len(self.encoded))
        out: list[int] = []
        while len(out) < n:
            out += self.encoded[i]
            i = (i + 1) % len(self.encoded)
        return out

    def window(self) -> tuple[list[int], list[bool]]:
        n = self.cfg.window + 1
        ids: list[int] = []
        answer: list[bool] = []
        while len(ids) < n:
            room = n - len(ids)
            if self.probes is not None and self.rng.random() < self.cfg.probe_rate:
                p = next(self.probes)
                item = self.vocab.encode([*p.tokens, "."])
                if len(item) <= room:
                    ids += item
                    answer += [False] * (len(item) - 2) + [True, False]
                    continue
            run = self._corpus_run(min(room, 48))[:room]
            ids += run
            answer += [False] * len(run)
        return ids, answer

    def batch(self, B: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.window() for _ in range(B)]
        return torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows])


def lm_loss(model: WordModel, ids: torch.Tensor, answer: torch.Tensor, cfg: TrainConfig, rng: torch.Generator) -> torch.Tensor:
    """Mean next-word (or fill-the-blank) cross-entropy, plus ``answer_loss`` x the mean over probe answers.

    The answers are about 0.5% of the tokens; without their own term the
    language-model loss drowns them and no architecture learns to recall."""
    if model.config.task == "next_word":
        logits = model(ids[:, :-1])  # (B, T, V)
        target, scored, is_answer = ids[:, 1:], torch.ones_like(answer[:, 1:]), answer[:, 1:]
    else:
        target = ids[:, :-1]
        is_answer = answer[:, :-1]
        scored = torch.rand(target.shape, generator=rng) < cfg.mask_rate
        scored |= is_answer & (torch.rand(target.shape, generator=rng) < 0.5)
        is_answer = is_answer & scored
        logits = model(target.masked_fill(scored, model.vocab.stoi[BLANK]))
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none").view_as(target)
    loss = ce[scored].mean()
    if is_answer.any():
        loss = loss + cfg.answer_loss * ce[is_answer].mean()
    return loss


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
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    stream = Stream(encoded, vocab, cfg, rng, use_probes)
    model.train()
    start = time.perf_counter()
    losses: list[float] = []
    done = 0
    bar = tqdm(range(cfg.steps), desc=f"train {cfg.arch}", unit="step", disable=not progress, dynamic_ncols=True)
    for step in bar:
        if time.perf_counter() - start > cfg.minutes * 60:
            bar.write(f"stopped by the {cfg.minutes}-minute cap after {step} of {cfg.steps} steps")
            break
        ids, answer = stream.batch(cfg.batch)
        loss = lm_loss(model, ids, answer, cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
        done = step + 1
        tok_s = done * cfg.batch * cfg.window / (time.perf_counter() - start)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", tok_s=f"{tok_s:,.0f}")
    bar.close()
    seconds = time.perf_counter() - start
    model.eval()
    metrics = {
        "model": cfg.arch,
        "task": mcfg.task,
        "parameters": model.parameter_count(),
        "train_seconds": round(seconds, 1),
        "steps": done,
        "steps_planned": cfg.steps,
        "tokens_seen": done * cfg.batch * cfg.window,
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
        save(model, out_dir or MODELS_DIR / cfg.arch, metrics)
    return model, metrics
