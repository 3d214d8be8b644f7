"""``core.instrument(module)``: traces for a user's own ``torch.nn`` module.

    lstm = torch.nn.LSTM(32, 64, num_layers=2, bidirectional=True)
    tr = core.instrument(lstm).trace(torch.randn(10, 32))
    tr["layers.1.backward.forget_gate"]     # (10, 64)

The wrapper keeps a reference to the module and never changes it: no hooks,
no attributes, no buffers. Each ``trace`` call computes and returns fresh values.
"""
from __future__ import annotations

from torch import Tensor, nn

from .attention import trace_attention
from .recurrent import trace_recurrent
from .trace import Trace

SUPPORTED = "torch.nn.RNN, torch.nn.LSTM (proj_size=0), torch.nn.GRU and torch.nn.MultiheadAttention (self-attention)"


class InstrumentedRecurrent:
    """``trace(x)`` for a ``torch.nn.RNN``, ``LSTM`` or ``GRU``."""

    def __init__(self, module: nn.RNNBase):
        self.module = module

    def trace(self, x: Tensor) -> Trace:
        """x: (T, input_size), or a batch of one. Returns a Trace (see core.trace)."""
        return trace_recurrent(self.module, x)

    def __repr__(self) -> str:
        return f"instrument({self.module!r})"


class InstrumentedAttention:
    """``trace(x, causal=False)`` for a ``torch.nn.MultiheadAttention`` used as self-attention."""

    def __init__(self, module: nn.MultiheadAttention):
        self.module = module

    def trace(self, x: Tensor, causal: bool = False) -> Trace:
        """x: (T, embed_dim), or a batch of one; ``causal=True`` hides later positions."""
        return trace_attention(self.module, x, causal)

    def __repr__(self) -> str:
        return f"instrument({self.module!r})"


def instrument(module: nn.Module) -> InstrumentedRecurrent | InstrumentedAttention:
    """Wrap a torch module so that ``.trace(x)`` returns every internal value.

    Supported: torch.nn.RNN (tanh or relu), torch.nn.LSTM (proj_size=0),
    torch.nn.GRU, any num_layers, one or two directions, batch_first either
    way, with or without bias; and torch.nn.MultiheadAttention used as
    self-attention. Anything else raises ``TypeError``; an ``LSTM`` with
    ``proj_size > 0`` raises ``ValueError``. The module is not modified.
    """
    if isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        if getattr(module, "proj_size", 0):
            raise ValueError(f"LSTM with proj_size={module.proj_size} is not supported; supported: {SUPPORTED}")
        return InstrumentedRecurrent(module)
    if isinstance(module, nn.MultiheadAttention):
        if module.bias_k is not None or module.add_zero_attn:
            raise ValueError(f"MultiheadAttention with add_bias_kv or add_zero_attn is not supported; supported: {SUPPORTED}")
        if not module._qkv_same_embed_dim:
            raise ValueError(f"MultiheadAttention with kdim/vdim != embed_dim is not self-attention; supported: {SUPPORTED}")
        return InstrumentedAttention(module)
    raise TypeError(f"cannot instrument {type(module).__name__}; supported: {SUPPORTED}")
