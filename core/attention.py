"""Instrumented self-attention, positional encodings and a small causal Transformer.

Attention is written out by hand, as the lecture draws it, so that every step
has a name in the Trace::

    Q, K, V  = x W_q + b_q,  x W_k + b_k,  x W_v + b_v     split into heads   (heads, T, d)
    scores   = Q K^T / sqrt(d)                             before the mask    (heads, T, T)
    weights  = softmax(mask(scores))                        rows sum to 1      (heads, T, T)
    context  = weights V                                                       (heads, T, d)
    output   = concat(context) W_o + b_o                                       (T, D)

``SelfAttention`` *is* ``torch.nn.MultiheadAttention`` (same parameters and
state_dict), used for self-attention; ``attention_values`` traces either.
The Transformer block is pre-norm (GPT-2 style): x + attn(LN(x)), then
x + MLP(LN(x)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .recurrent import as_sequence
from .trace import Trace


def sinusoidal_table(T: int, D: int, dtype=torch.float32, device=None) -> Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/D)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/D)).  (T, D)"""
    pos = torch.arange(T, dtype=torch.float64, device=device)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, D, 2, dtype=torch.float64, device=device) / D)
    table = torch.zeros(T, D, dtype=torch.float64, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : D // 2]
    return table.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sine/cosine positional encoding ("Attention is all you need", section 3.5)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, T: int, dtype=torch.float32, device=None) -> Tensor:  # (T, D), a new tensor every call
        return sinusoidal_table(T, self.dim, dtype, device)


class LearnedPositionalEncoding(nn.Module):
    """One trained vector per position, up to ``max_len`` positions."""

    def __init__(self, dim: int, max_len: int = 1024):
        super().__init__()
        self.table = nn.Embedding(max_len, dim)

    def forward(self, T: int, dtype=torch.float32, device=None) -> Tensor:  # (T, D), on the table's device
        if T > self.table.num_embeddings:
            raise ValueError(f"{T} positions but the learned positional encoding has {self.table.num_embeddings}")
        return self.table(torch.arange(T, device=self.table.weight.device)).to(dtype)


def causal_mask(T: int, device=None) -> Tensor:
    """(T, T) bool, True where a query may NOT look: keys after the query."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def attention_values(mha: nn.MultiheadAttention, x: Tensor, causal: bool = False, prefix: str = "layers.0.attention.") -> dict[str, Tensor]:
    """Q, K, V, scores, weights, context and output of self-attention on ``x`` (T, D)."""
    if mha.bias_k is not None or mha.add_zero_attn:
        raise ValueError("MultiheadAttention with add_bias_kv or add_zero_attn is not supported")
    if not mha._qkv_same_embed_dim:
        raise ValueError("self-attention needs kdim == vdim == embed_dim")
    x = as_sequence(x, mha.batch_first)
    T, D = x.shape
    if D != mha.embed_dim:
        raise ValueError(f"input has {D} features per step; the module expects embed_dim={mha.embed_dim}")
    if x.dtype != mha.in_proj_weight.dtype:
        raise ValueError(f"input is {x.dtype} but the module's parameters are {mha.in_proj_weight.dtype}")
    nh = mha.num_heads
    hs = D // nh
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)  # (T, D) each
    q, k, v = (t.reshape(T, nh, hs).transpose(0, 1) for t in (q, k, v))  # (nh, T, hs)
    scores = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (nh, T, T) = Q K^T / sqrt(d), scaling the smaller Q
    masked = scores.masked_fill(causal_mask(T, x.device), float("-inf")) if causal else scores
    weights = torch.softmax(masked, dim=-1)  # (nh, T, T)
    context = weights @ v  # (nh, T, hs)
    output = F.linear(context.transpose(0, 1).reshape(T, D), mha.out_proj.weight, mha.out_proj.bias)  # (T, D)
    names = ("query", "key", "value", "scores", "weights", "context", "output")
    return {prefix + n: t for n, t in zip(names, (q, k, v, scores, weights, context, output))}


def trace_attention(mha: nn.MultiheadAttention, x: Tensor, causal: bool = False) -> Trace:
    """Trace ``torch.nn.MultiheadAttention`` as self-attention on one sequence."""
    grad = torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad
    with torch.set_grad_enabled(grad):
        x = as_sequence(x, mha.batch_first)
        values = {"embedding": x.clone(), **attention_values(mha, x, causal)}
        values["output"] = values["layers.0.attention.output"]
    return Trace(values, meta={"architecture": "attention", "causal": causal})


class SelfAttention(nn.MultiheadAttention):
    """``torch.nn.MultiheadAttention`` used as (optionally causal) self-attention, with ``trace``.

    Per head h, with d = embed_dim / num_heads::

        Q_h = x W_q^h,  K_h = x W_k^h,  V_h = x W_v^h
        weights_h = softmax(Q_h K_h^T / sqrt(d) + mask)     mask: -inf above the diagonal if causal
        context_h = weights_h V_h
        output    = concat_h(context_h) W_o + b_o
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True):
        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True)

    def forward(self, x: Tensor, causal: bool = True) -> Tensor:  # (B, T, D) -> (B, T, D)
        T = x.shape[1]
        mask = causal_mask(T, x.device) if causal else None
        return super().forward(x, x, x, attn_mask=mask, need_weights=False, is_causal=causal)[0]

    def trace(self, x: Tensor, causal: bool = True) -> Trace:
        return trace_attention(self, x, causal)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(LN(x)), then x + MLP(LN(x)); MLP is D -> 4D -> GELU -> D."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, causal: bool = True) -> Tensor:  # (B, T, D)
        x = x + self.attention(self.ln1(x), causal)
        return x + self.mlp(self.ln2(x))

    def trace_values(self, x: Tensor, causal: bool, prefix: str) -> dict[str, Tensor]:  # x: (T, D)
        values = attention_values(self.attention, self.ln1(x), causal, prefix + "attention.")
        x = x + values[prefix + "attention.output"]
        values[prefix + "mlp.output"] = mlp = self.mlp(self.ln2(x))
        values[prefix + "hidden"] = x + mlp  # the residual stream after this block (T, D)
        return values


class TransformerBody(nn.Module):
    """Causal Transformer language-model body: embeddings + positions -> blocks -> final LayerNorm.

    Trace names: ``positional`` (T, D); per block l, ``layers.{l}.attention.*``
    (query, key, value, scores, weights, context, output), ``layers.{l}.mlp.output``
    and ``layers.{l}.hidden`` (the residual stream); ``output`` (T, D) after the final norm.
    """

    def __init__(self, dim: int, heads: int, num_layers: int, positional: str = "sinusoidal", max_len: int = 1024, causal: bool = True):
        super().__init__()
        if positional == "sinusoidal":
            self.positional = SinusoidalPositionalEncoding(dim)
        elif positional == "learned":
            self.positional = LearnedPositionalEncoding(dim, max_len)
        else:
            raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {positional!r}")
        self.causal = causal
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        x = x + self.positional(x.shape[1], x.dtype, x.device)
        for block in self.blocks:
            x = block(x, self.causal)
        return self.ln_f(x)

    def trace_values(self, x: Tensor) -> dict[str, Tensor]:  # (T, D) -> every value
        pe = self.positional(x.shape[0], x.dtype, x.device)
        values = {"embedding": x.clone(), "positional": pe}
        h = x + pe
        for l, block in enumerate(self.blocks):
            values.update(block.trace_values(h, self.causal, f"layers.{l}."))
            h = values[f"layers.{l}.hidden"]
        values["output"] = self.ln_f(h)
        return values


# -- one query, step by step (the lecture's slide, with the numbers of a traced sentence) ----------
def query_steps(trace: Trace, layer: int, head: int, query: int):
    """Q K^T, / sqrt(d), mask, softmax for one query of a traced head: a pandas table, one row per key.

    Columns: ``key_position``, ``key_token``, ``q_dot_k`` (the trace's scaled score times sqrt(d)),
    ``scaled`` (Q K^T / sqrt(d), the trace's ``scores``), ``masked`` (-inf for keys after the query in a
    causal model, ``trace.meta["causal"]``), ``exp_shifted`` (e^(masked - max), what the softmax adds up:
    subtracting the largest score first keeps e^x finite) and ``weight`` (the trace's ``weights``).
    ``attrs``: ``max_score`` (the largest unmasked score), ``denominator`` (the sum of ``exp_shifted``)
    and ``d_head``; ``exp_shifted / denominator`` is ``weight``.
    """
    import numpy as np
    import pandas as pd

    prefix = f"layers.{layer}.attention."
    scores = trace[prefix + "scores"][head, query].detach().to("cpu", torch.float64)  # (T,), before the mask
    weights = trace[prefix + "weights"][head, query].detach().to("cpu", torch.float64)  # (T,)
    d = int(trace[prefix + "query"].shape[-1])
    T = scores.shape[0]
    hidden = (torch.arange(T) > query) & bool(trace.meta.get("causal", False))
    masked = scores.masked_fill(hidden, float("-inf"))
    top = masked.max()
    shifted = torch.exp(masked - top)  # 0 where masked
    frame = pd.DataFrame(
        {
            "key_position": np.arange(T),
            "key_token": trace.labels(),
            "q_dot_k": (scores * math.sqrt(d)).numpy(),
            "scaled": scores.numpy(),
            "masked": masked.numpy(),
            "exp_shifted": shifted.numpy(),
            "weight": weights.numpy(),
        }
    )
    frame.attrs.update(max_score=float(top), denominator=float(shifted.sum()), d_head=d)
    return frame
