"""The Trace: every internal value of one forward pass, by name.

A Trace is a read-only mapping ``name -> tensor`` (names and shapes in
docs/design.md, "The Trace contract"), plus the tokens when the input was
text. It is made fresh by every ``trace`` call and never stored on a model, so
changing a tensor you got from one Trace cannot change the next one.

    tr = core.load("lstm").trace("apple is my favorite fruit")
    tr["layers.0.forward.forget_gate"]        # (T, H)
    tr.names("*.forget_gate")                 # glob over names
    tr.to_frame("layers.0.forward.cell")      # long-format pandas table
"""
from __future__ import annotations

import fnmatch
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

_LAYER = re.compile(r"layers\.(\d+)\.")
_DIRECTION = re.compile(r"\.(forward|backward)\.")


class Trace(Mapping):
    """Read-only ``name -> torch.Tensor`` mapping with token labels.

    Attributes:
        tokens: the input's tokens (tuple of str) when the input was text, else None.
        unknown: positions whose token is not in the vocabulary (text input only).
        truncated: True when the token cap cut the input text.
        meta: read-only dict of facts about the run (model name, architecture, ...).
    """

    def __init__(
        self,
        values: Mapping[str, torch.Tensor],
        tokens: Sequence[str] | None = None,
        unknown: Sequence[int] = (),
        truncated: bool = False,
        meta: Mapping[str, Any] | None = None,
    ):
        self._values = MappingProxyType(dict(values))
        self.tokens = tuple(tokens) if tokens is not None else None
        self.unknown = tuple(unknown)
        self.truncated = bool(truncated)
        self.meta = MappingProxyType(dict(meta or {}))
        T = self.length
        if self.tokens is not None and T is not None and len(self.tokens) != T:
            raise ValueError(f"{len(self.tokens)} tokens but the trace has {T} positions")

    # -- mapping -----------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self._values[name]
        except KeyError:
            close = fnmatch.filter(self._values, f"*{str(name).split('.')[-1]}*")[:5]
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise KeyError(f"no value named {name!r} in this trace{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in list(self._values.items())[:6])
        more = f", ... ({len(self)} names)" if len(self) > 6 else ""
        return f"Trace({shapes}{more})"

    def names(self, pattern: str | None = None) -> list[str]:
        """All names, or those matching a glob such as ``"layers.0.*.forget_gate"``."""
        names = list(self._values)
        return names if pattern is None else fnmatch.filter(names, pattern)

    def __setstate__(self, state):  # unpickling (st.cache_data copies traces)
        self.__dict__.update(state)
        self._values = MappingProxyType(dict(state["_values"]))
        self.meta = MappingProxyType(dict(state["meta"]))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_values"] = dict(self._values)
        state["meta"] = dict(self.meta)
        return state

    @property
    def length(self) -> int | None:
        """Number of positions T (from ``embedding``), or None for an empty trace."""
        if "embedding" in self._values:
            return int(self._values["embedding"].shape[0])
        if self.tokens is not None:
            return len(self.tokens)
        return None

    def unit_change(self, name: str) -> torch.Tensor:
        """How much each unit of a (T, H) value moves: mean |v_t - v_{t-1}| over steps, shape (H,).

        The app ranks units by it ("units that change most"); one step gives mean |v|."""
        v = self[name].detach().double()
        if v.dim() != 2:
            raise ValueError(f"{name} has shape {tuple(v.shape)}; unit_change takes a (T, H) value")
        return (v if v.shape[0] < 2 else v.diff(dim=0)).abs().mean(dim=0)

    # -- export ------------------------------------------------------------
    def labels(self) -> list[str]:
        """Token strings, or ``"0", "1", ...`` when the input was a tensor."""
        return list(self.tokens) if self.tokens is not None else [str(i) for i in range(self.length or 0)]

    def to_frame(self, name: str) -> pd.DataFrame:
        """One row per value: position, token, unit, value, layer, direction.

        Attention tensors add ``head``; for ``scores`` and ``weights`` the unit
        is the key position (and ``key_token`` names it). ``h_n`` and ``c_n``
        have a row per layer and direction, not per position: their frame has
        layer, direction, unit and value only.
        """
        t = self[name].detach().to("cpu", torch.float64)
        if name in ("h_n", "c_n"):  # rows are layers and directions, not positions
            return self._final_state_frame(t)
        labels = self.labels()
        m = _LAYER.search(name)
        layer = int(m.group(1)) if m else None
        d = _DIRECTION.search(name)
        direction = d.group(1) if d else None
        if t.dim() == 1:
            t = t[:, None]
        if t.dim() == 2:
            T, U = t.shape
            frame = pd.DataFrame(
                {
                    "position": np.repeat(np.arange(T), U),
                    "unit": np.tile(np.arange(U), T),
                    "value": t.reshape(-1).numpy(),
                }
            )
        elif t.dim() == 3:
            Hh, T, U = t.shape
            frame = pd.DataFrame(
                {
                    "head": np.repeat(np.arange(Hh), T * U),
                    "position": np.tile(np.repeat(np.arange(T), U), Hh),
                    "unit": np.tile(np.arange(U), Hh * T),
                    "value": t.reshape(-1).numpy(),
                }
            )
            if name.endswith((".scores", ".weights")):
                frame["key_token"] = [labels[u] for u in frame["unit"]] if U == len(labels) else None
        else:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; to_frame takes 1-, 2- or 3-D values")
        frame.insert(1, "token", [labels[p] if p < len(labels) else "" for p in frame["position"]])
        frame["layer"] = layer
        frame["direction"] = direction
        return frame

    def _final_state_frame(self, t: torch.Tensor) -> pd.DataFrame:
        """``h_n``/``c_n`` (L*D, H), torch's layout: row l*D + d is layer l, direction d. Columns: layer, direction, unit, value."""
        D = 2 if any(".backward." in n for n in self._values) else 1
        rows, U = t.shape
        return pd.DataFrame({
            "layer": np.repeat(np.arange(rows) // D, U),
            "direction": np.repeat(np.array(["forward", "backward"][:D] * (rows // D)), U),
            "unit": np.tile(np.arange(U), rows),
            "value": t.reshape(-1).numpy(),
        })

    def to_dict(self) -> dict[str, Any]:
        """Plain Python: ``{"tokens": [...], "values": {name: {"shape": [...], "data": nested lists}}}``."""
        return {
            "tokens": list(self.tokens) if self.tokens is not None else None,
            "unknown": list(self.unknown),
            "truncated": self.truncated,
            "meta": dict(self.meta),
            "values": {
                k: {"shape": list(v.shape), "data": v.detach().cpu().tolist()} for k, v in self._values.items()
            },
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_npz(self, path: str | Path | io.IOBase) -> None:
        """Every value as a NumPy array under its name, plus ``__tokens__`` (no pickle needed to read it)."""
        arrays = {k: v.detach().cpu().numpy() for k, v in self._values.items()}
        if self.tokens is not None:
            arrays["__tokens__"] = np.array(self.tokens, dtype=np.str_)
        np.savez_compressed(path, **arrays)
