"""Instrumented recurrent networks: vanilla RNN, LSTM and GRU.

The classes here *are* ``torch.nn.RNN``, ``torch.nn.LSTM`` and ``torch.nn.GRU``
(subclasses: same parameters, same state_dict keys, same ``forward``), with one
method more, ``trace(x)``, that returns every internal value per time step.
``trace_recurrent(module, x)`` does the work, so ``core.instrument`` can trace
a plain ``torch.nn`` module without changing it.

How a trace stays cheap (about the cost of one ``forward``):
  1. Each layer runs through torch's own fused kernel (the very call
     ``nn.LSTM.forward`` makes), which gives every hidden state h_t exactly.
  2. Every gate depends only on x_t and h_{t-1}; once all h are known, the
     gates of all time steps come from two batched matrix products.
  3. The LSTM cell state is a linear recurrence, c_t = f_t * c_{t-1} + i_t * g_t,
     computed for all t with a parallel prefix scan in log2(T) tensor steps.
In code: ``trace_values`` = ``fused_layer`` per layer, then ``rnn_cell_values``,
``lstm_cell_values`` or ``gru_cell_values`` (each with its equations) per direction.
Running layer l's gates on a second thread while layer l+1's fused kernel runs
was tried and not kept: exact, but slower than this sequential order whenever
the second core is busy (README, Benchmarks).

Nothing is stored on the module: values are returned from the call, so one
cached model can serve many threads at once. The trace runs as inference
(``dropout`` between layers is off, as in ``module.eval()``). Gradients flow
through it to the input when the input requires grad.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .trace import Trace

_FUSED = {"RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu, "LSTM": torch.lstm, "GRU": torch.gru}


def as_sequence(x: Tensor, batch_first: bool = False) -> Tensor:
    """One sequence as (T, E): a (T, E) tensor, or the module's own batch of one.

    A 3-D tensor is read the way the module reads it: (B, T, E) when
    ``batch_first`` else (T, B, E), and B must be 1. (1, T, E) given to a
    ``batch_first=False`` module is, for that module, T sequences of one step
    each, so it is refused rather than traced as one sequence of T steps.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (T, E), got {type(x).__name__}")
    if x.dim() == 3:
        layout, batch = ("(B, T, E)", x.shape[0]) if batch_first else ("(T, B, E)", x.shape[1])
        if batch != 1:
            raise ValueError(f"trace takes one sequence: (T, E) or a batch of one; the module has batch_first={batch_first}, "
                             f"so shape {tuple(x.shape)} is {layout} with B = {batch}")
        x = x[0] if batch_first else x[:, 0]
    if x.dim() != 2:
        raise ValueError(f"trace takes a (T, E) tensor; got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("trace needs at least one time step; got an empty sequence (T = 0)")
    return x


def linear_scan(a: Tensor, b: Tensor, reverse: bool = False) -> Tensor:
    """All x_t of x_t = a_t * x_{t-1} + b_t (x_{-1} = 0), along dim 0.

    Hillis-Steele prefix scan over affine maps: after the step of width d,
    position t holds the composition of the maps t-2d+1 .. t. Only products of
    gate values and sums, no division, so it is as stable as the sequential loop.
    """
    if reverse:
        return linear_scan(a.flip(0), b.flip(0)).flip(0)
    T, d = a.shape[0], 1
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        while d < T:  # out-of-place, so autograd can follow
            b = torch.cat([b[:d], torch.addcmul(b[d:], a[d:], b[:-d])])
            a = torch.cat([a[:d], a[d:] * a[:-d]])
            d *= 2
        return b
    # no graph needed: ping-pong between two buffers of our own (half the memory traffic)
    a_bufs = [torch.empty(a.shape, dtype=a.dtype, device=a.device) for _ in range(2)]
    b_bufs = [torch.empty(b.shape, dtype=b.dtype, device=b.device) for _ in range(2)]
    k = 0
    while d < T:
        b_new = b_bufs[k]
        b_new[:d] = b[:d]
        torch.addcmul(b[d:], a[d:], b[:-d], out=b_new[d:])
        if 2 * d < T:  # the last step needs no product of the a's
            a_new = a_bufs[k]
            a_new[:d] = a[:d]
            torch.mul(a[d:], a[:-d], out=a_new[d:])
            a = a_new
        b, k, d = b_new, 1 - k, 2 * d
    return b


def _params(module: nn.RNNBase, layer: int, suffix: str):
    w_ih = getattr(module, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(module, f"weight_hh_l{layer}{suffix}")
    if not module.bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, getattr(module, f"bias_ih_l{layer}{suffix}"), getattr(module, f"bias_hh_l{layer}{suffix}")


def fused_layer(module: nn.RNNBase, layer: int, inp: Tensor) -> Tensor:
    """h_t of every step of one layer, both directions, from torch's own fused kernel: (T, D*H).

    The very call ``nn.RNN/LSTM/GRU.forward`` makes, on a batch of one, from zero states."""
    D = 2 if module.bidirectional else 1
    zeros = inp.new_zeros(D, 1, module.hidden_size)
    flat = [p for d in range(D) for p in _params(module, layer, "_reverse" if d else "") if p is not None]
    hx = (zeros, zeros) if module.mode == "LSTM" else zeros
    return _FUSED[module.mode](inp[:, None], hx, flat, module.bias, 1, 0.0, False, D == 2, False)[0][:, 0]


def _shifted(h: Tensor, reverse: bool) -> Tensor:
    """h_{t-1} for every step t, in token order (the backward direction's previous step is t+1); h_{-1} = 0."""
    h0 = h.new_zeros(1, h.shape[1])
    return torch.cat([h[1:], h0]) if reverse else torch.cat([h0, h[:-1]])


def _preactivations(inp: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
                    reverse: bool) -> Tensor:
    """W_ih x_t + b_ih + W_hh h_{t-1} + b_hh for all steps at once: (T, G*H).

    Two GEMMs into one buffer; the first step (h_{-1} = 0) has no recurrent term beyond b_hh."""
    a = F.linear(inp, w_ih, None if b_ih is None else b_ih + b_hh)
    if reverse:
        a[:-1].addmm_(h[1:], w_hh.t())
    else:
        a[1:].addmm_(h[:-1], w_hh.t())
    return a


def rnn_cell_values(inp, h, w_ih, w_hh, b_ih, b_hh, reverse: bool) -> dict[str, Tensor]:
    """Vanilla RNN, given every h_t:

        a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      preactivation
        h_t = tanh(a_t) or relu(a_t)                     (the fused kernel already gave h_t)
    """
    return {"preactivation": _preactivations(inp, h, w_ih, w_hh, b_ih, b_hh, reverse)}


def lstm_cell_values(inp, h, w_ih, w_hh, b_ih, b_hh, reverse: bool) -> dict[str, Tensor]:
    """LSTM, given every h_t (gate order i, f, g, o in the weights, as torch stores them):

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh   (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)     candidate
        o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t                          cell: a linear recurrence, one prefix scan
    """
    H = h.shape[1]
    a = _preactivations(inp, h, w_ih, w_hh, b_ih, b_hh, reverse)  # (T, 4H)
    i, f = a[:, : 2 * H].sigmoid().chunk(2, dim=1)
    g, o = a[:, 2 * H : 3 * H].tanh(), a[:, 3 * H :].sigmoid()
    c = linear_scan(f, i * g, reverse=reverse)  # (T, H)
    return {"input_gate": i, "forget_gate": f, "candidate": g, "output_gate": o, "cell": c}


def gru_cell_values(inp, h, w_ih, w_hh, b_ih, b_hh, reverse: bool) -> dict[str, Tensor]:
    """GRU, given every h_t (gate order r, z, n):

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate

    The reset gate multiplies (W_hn h + b_hn), so the two products stay apart here."""
    gi = F.linear(inp, w_ih, b_ih)  # (T, 3H) input part of every gate, all steps at once
    gh = F.linear(_shifted(h, reverse), w_hh, b_hh)  # (T, 3H) recurrent part
    r_i, z_i, n_i = gi.chunk(3, dim=1)
    r_h, z_h, n_h = gh.chunk(3, dim=1)
    r = torch.sigmoid(r_i + r_h)
    z = torch.sigmoid(z_i + z_h)
    n = torch.tanh(torch.addcmul(n_i, r, n_h))
    return {"reset_gate": r, "update_gate": z, "candidate": n}


_CELL = {"RNN_TANH": rnn_cell_values, "RNN_RELU": rnn_cell_values, "LSTM": lstm_cell_values, "GRU": gru_cell_values}


def _check(module: nn.RNNBase, x: Tensor) -> Tensor:
    if module.mode not in _FUSED:
        raise TypeError(f"unsupported recurrent mode {module.mode!r}")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 is not supported: gates and states are traced for proj_size=0")
    x = as_sequence(x, module.batch_first)
    param = next(module.parameters())
    if x.dtype != param.dtype:
        raise ValueError(f"input is {x.dtype} but the module's parameters are {param.dtype}")
    if x.shape[1] != module.input_size:
        raise ValueError(f"input has {x.shape[1]} features per step; the module expects input_size={module.input_size}")
    return x


def trace_values(module: nn.RNNBase, x: Tensor) -> dict[str, Tensor]:
    """Every per-step value of ``module`` on the sequence ``x`` (T, E), by Trace name.

    Per layer: the fused kernel gives h_t (``fused_layer``), then the cell's
    own function computes its gates from x_t and h_{t-1} for all steps."""
    x = _check(module, x)
    H = module.hidden_size
    dirs = ("forward", "backward") if module.bidirectional else ("forward",)
    cell = _CELL[module.mode]
    values: dict[str, Tensor] = {"embedding": x.clone()}
    h_n, c_n = [], []
    inp = x
    for layer in range(module.num_layers):
        out = fused_layer(module, layer, inp)  # (T, D*H)
        for d, name in enumerate(dirs):
            h = out[:, d * H : (d + 1) * H]  # (T, H), token order for both directions
            key = f"layers.{layer}.{name}."
            gates = cell(inp, h, *_params(module, layer, "_reverse" if d else ""), reverse=d == 1)
            values.update({key + k: v for k, v in gates.items()})
            values[key + "hidden"] = h
            h_n.append(h[-1] if d == 0 else h[0])
            if "cell" in gates:
                c_n.append(gates["cell"][-1] if d == 0 else gates["cell"][0])
        inp = out
    values["output"] = inp
    values["h_n"] = torch.stack(h_n)  # (L*D, H), torch's layout
    if module.mode == "LSTM":
        values["c_n"] = torch.stack(c_n)
    return values


def trace_recurrent(module: nn.RNNBase, x: Tensor) -> Trace:
    """Trace a ``torch.nn.RNN``/``LSTM``/``GRU`` (or a subclass) on one sequence."""
    grad = torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad
    with torch.set_grad_enabled(grad):
        values = trace_values(module, x)
    return Trace(values, meta={"architecture": module.mode.lower()})


class _Traceable:
    def trace(self, x: Tensor) -> Trace:
        """Every internal value on one sequence ``x`` (T, input_size): see the class docstring."""
        return trace_recurrent(self, x)


class RNN(_Traceable, nn.RNN):
    r"""Vanilla (Elman) RNN, ``torch.nn.RNN`` plus ``trace``.

    For each layer and direction, with :math:`\phi` = tanh or relu::

        a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (preactivation)
        h_t = phi(a_t)                                    (hidden)

    Trace names: ``layers.{l}.{dir}.preactivation``, ``.hidden`` (T, H).
    """


class LSTM(_Traceable, nn.LSTM):
    r"""Long short-term memory, ``torch.nn.LSTM`` plus ``trace``.

    PyTorch's equations and gate order (i, f, g, o in ``weight_ih``/``weight_hh``)::

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)   input gate
        f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)   forget gate
        g_t = tanh   (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate
        o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)   output gate
        c_t = f_t * c_{t-1} + i_t * g_t                        cell
        h_t = o_t * tanh(c_t)                                  hidden

    Trace names: ``layers.{l}.{dir}.input_gate``, ``.forget_gate``,
    ``.candidate``, ``.output_gate``, ``.cell``, ``.hidden`` (T, H).
    ``proj_size > 0`` is not supported.
    """


class GRU(_Traceable, nn.GRU):
    r"""Gated recurrent unit, ``torch.nn.GRU`` plus ``trace``.

    PyTorch's equations and gate order (r, z, n)::

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}                         hidden

    Note the reset gate multiplies (W_hn h_{t-1} + b_hn), after the matrix
    product; the original paper (Cho et al., 2014) resets h_{t-1} before it.
    Trace names: ``layers.{l}.{dir}.reset_gate``, ``.update_gate``,
    ``.candidate``, ``.hidden`` (T, H).
    """
