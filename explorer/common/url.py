"""Every control that changes a view lives in the URL, one line per control.

Use these wrappers instead of ``st.slider``, ``st.selectbox`` ... for any control that changes
what a page shows; a copied link then reproduces the view::

    from explorer import common

    layer = common.selectbox("Layer", list(range(L)), key="att_layer", index=L - 1)
    cursor = common.slider("Step cursor", 0, T - 1, key="lstm_cursor", value=T - 1)
    window = common.slider("Tokens shown", 0, T, key="att_window", value=(0, 64))      # a range
    units = common.multiselect("Units", list(range(H)), key="lstm_line_units", default=[0, 1],
                               reset_on=model_name, format_func=lambda u: f"unit {u}")
    word = common.text_input("Word to explain", key="sal_word", value="", max_chars=40)
    show = common.toggle("Show specials", key="sal_specials")
    k = common.number_input("Top k", key="sal_k", min_value=1, max_value=50, value=5)
    mode = common.radio("Direction", ["forward", "backward"], key="lstm_direction", where=st.sidebar)

Each wrapper takes the streamlit widget's own arguments (``help``, ``format_func``, ``step``,
``horizontal``, ``max_selections``, ``on_change`` ... pass straight through), plus:

- ``key`` (required) is also the query parameter's name: keep it unique across pages by
  prefixing it with the page (``lstm_cursor``, ``att_layer``).
- the start value is ``value`` / ``index`` / ``default`` as in streamlit (it may change
  with the data: the cursor's start is the sentence's last word).
- ``where``: ``st`` (default; inside a ``with column:`` block too), ``st.sidebar`` or a column.
- ``reset_on``: the model (and direction) the choice belongs to; when it changes between runs,
  the control goes back to its start value with a note (unit numbers mean nothing for another model).

What happens:

1. The first run of a session reads the start value from ``?key=...``. A number out of range
   is clamped; a value that is not a number, not among the options or not a boolean falls
   back to the start value. Either way a short note under the control says so; never an
   exception. Notes name the control and the value shown, never what the URL held (user text).
2. Every run keeps the remembered value valid for today's range and options (a shorter
   sentence, fewer units), clamped or reset with a note.
3. Every run writes the value to ``?key=...``. Numbers are written as numbers, options as
   ``str(option)``, lists and ranges comma-separated (``?lstm_line_units=3,17,40``,
   ``?att_window=0,64``; an empty list is ``?key=``), toggles as ``true``/``false``, text as is.
4. ``url_scope()`` (app.py wraps each run in it) removes, after a complete run, the
   parameters of controls not drawn in it (another page's, a control the page hid), so a
   link holds what its page uses. The sentence (``?sentence=``) is the frame's own.

Tests: add your page's controls to ``SHARE_LINK_CONTROLS`` in tests/test_explorer_share_links.py
(page -> {key: (widget kind, non-default value)}); the test sets them, copies the URL into a fresh
session, and checks the same controls and the same charts come back. In AppTest, open a page as a
link does: ``at.query_params.update(...)``, then ``at.switch_page("views/x.py")`` *before* the
first ``at.run()`` (a first run on another page would drop this page's parameters, as it should).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence

import streamlit as st

_DRAWN = "_url_drawn"  # session_state: the keys of the controls drawn in this run
_CONTEXT = "_url_reset_on_"  # session_state prefix: a control's last ``reset_on`` value


class _Unreadable(ValueError):
    """A URL value that is not a value of the control (not a number, not an option ...)."""


# -- the run ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def url_scope() -> Iterator[None]:
    """Wrap a whole run (frame and page): afterwards, drop the URL parameters no control drew.

    A run cut short (``st.stop``, a rerun, an error) leaves the URL as it is: the controls it did
    not reach may still need their values."""
    st.session_state[_DRAWN] = set()
    yield
    drawn = st.session_state.get(_DRAWN, set())
    for key in [k for k in st.query_params if k not in drawn]:
        del st.query_params[key]


def mark_drawn(key: str) -> None:
    """Keep ``?key=`` in the URL after this run (for a parameter written by hand, like the sentence)."""
    st.session_state.setdefault(_DRAWN, set()).add(key)


def write(key: str, text: str) -> None:
    """Set ``?key=text`` (only when it changed: every change is a message to the browser)."""
    mark_drawn(key)
    if st.query_params.get(key) != text:
        st.query_params[key] = text


# -- the mechanism all wrappers share -----------------------------------------------------------------------
def _note(where, text: str) -> None:
    where.caption(f"ℹ️ {text}")


def _settle(
    key: str,
    label: str,
    start: Any,
    parse: Callable[[str], Any],
    fix: Callable[[Any], tuple[Any, str | None]],
    show: Callable[[Any], str],
    reset_on: Any,
) -> str | None:
    """Put the value this run draws into ``st.session_state[key]`` before the widget exists; a note or None.

    ``parse`` turns the URL's text into a value (raises ``_Unreadable``); ``fix`` returns the value made
    valid and why it had to change (None when it was valid)."""
    state = st.session_state
    context_key = _CONTEXT + key
    note = None
    if key not in state:  # the first run of this control in the session: the link decides
        raw = st.query_params.get(key)
        value = start
        if raw is not None:
            try:
                value = parse(raw)
            except (_Unreadable, ValueError, TypeError):
                note = f"“{label}”: the link's value is not one this control takes; showing {show(start)}."
        fixed, why = fix(value)
        if why and note is None:
            note = f"“{label}”: the link's {show(value)} {why}; showing {show(fixed)}."
    elif reset_on is not None and context_key in state and state[context_key] != reset_on:
        fixed, _ = fix(start)
        if state[key] != fixed:
            note = f"“{label}”: reset to {show(fixed)}: the earlier choice was for another model or sentence."
    else:
        value = state[key]
        fixed, why = fix(value)
        if why:
            note = f"“{label}”: {show(value)} {why}; showing {show(fixed)}."
    if key not in state or state[key] != fixed:
        state[key] = fixed
    if reset_on is not None:
        state[context_key] = reset_on
    return note


def _draw(widget: str, where, key: str, note: str | None, text_of: Callable[[Any], str], *args, **kwargs) -> Any:
    value = getattr(where, widget)(*args, key=key, **kwargs)
    if note:
        _note(where, note)
    write(key, text_of(value))
    return value


# -- numbers ----------------------------------------------------------------------------------------------------
def _number_text(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return format(x, ".10g") if isinstance(x, float) else str(x)


def _parse_number(raw: str, integer: bool) -> int | float:
    x = float(raw)
    if not math.isfinite(x):
        raise _Unreadable(raw)
    return int(round(x)) if integer else x


def _clamp(x, lo, hi):
    if lo is not None and x < lo:
        return lo
    if hi is not None and x > hi:
        return hi
    return x


def _range_text(lo, hi) -> str:
    if lo is None and hi is None:
        return ""
    if lo is None:
        return f"is above the largest value, {_number_text(hi)}"
    if hi is None:
        return f"is below the smallest value, {_number_text(lo)}"
    return f"is outside {_number_text(lo)} to {_number_text(hi)}"


def slider(
    label: str,
    min_value: int | float,
    max_value: int | float,
    value: int | float | tuple | None = None,
    *,
    key: str,
    where=st,
    reset_on: Any = None,
    **kwargs,
) -> Any:
    """``st.slider`` in the URL: one number, or a range when ``value`` is a pair (``?key=a,b``)."""
    integer = all(isinstance(v, int) for v in (min_value, max_value))
    pair = isinstance(value, (tuple, list))
    start = (tuple(value) if pair else value) if value is not None else min_value

    def one(raw: str):
        return _parse_number(raw, integer)

    def parse(raw: str):
        if pair:
            parts = raw.split(",")
            if len(parts) != 2:
                raise _Unreadable(raw)
            return tuple(one(p) for p in parts)
        return one(raw)

    def fix(v):
        if pair:
            if not isinstance(v, (tuple, list)) or len(v) != 2:
                return start, "is not a range"
            a, b = sorted(_clamp(x, min_value, max_value) for x in v)
            fixed = (a, b)
            return fixed, None if fixed == tuple(v) else _range_text(min_value, max_value)
        if isinstance(v, (tuple, list)):
            return start, "is a range, not one value"
        fixed = _clamp(v, min_value, max_value)
        return fixed, None if fixed == v else _range_text(min_value, max_value)

    def show(v) -> str:
        return " to ".join(_number_text(x) for x in v) if isinstance(v, (tuple, list)) else _number_text(v)

    def text_of(v) -> str:
        return ",".join(_number_text(x) for x in v) if isinstance(v, (tuple, list)) else _number_text(v)

    note = _settle(key, label, start, parse, fix, show, reset_on)
    return _draw("slider", where, key, note, text_of, label, min_value, max_value, **kwargs)


def number_input(
    label: str,
    min_value: int | float | None = None,
    max_value: int | float | None = None,
    value: int | float | None = None,
    *,
    key: str,
    where=st,
    reset_on: Any = None,
    **kwargs,
) -> Any:
    """``st.number_input`` in the URL; a value past ``min_value``/``max_value`` is clamped."""
    given = [v for v in (min_value, max_value, value, kwargs.get("step")) if v is not None]
    integer = all(isinstance(v, int) for v in given) if given else False
    start = value if value is not None else (min_value if min_value is not None else (0 if integer else 0.0))

    def fix(v):
        fixed = _clamp(v, min_value, max_value)
        return fixed, None if fixed == v else _range_text(min_value, max_value)

    note = _settle(key, label, start, lambda raw: _parse_number(raw, integer), fix, _number_text, reset_on)
    return _draw("number_input", where, key, note, _number_text, label, min_value, max_value, **kwargs)


# -- choices ----------------------------------------------------------------------------------------------------
def _choice_tools(options: Sequence, format_func: Callable[[Any], str] | None):
    by_text = {str(o): o for o in options}

    def show(v) -> str:
        if isinstance(v, (list, tuple)):
            return ", ".join(show(x) for x in v) if v else "none"
        return str(format_func(v)) if format_func and str(v) in by_text else str(v)

    return by_text, show


def selectbox(
    label: str, options: Sequence, index: int = 0, *, key: str, where=st, reset_on: Any = None, **kwargs
) -> Any:
    """``st.selectbox`` in the URL (``?key=str(option)``); a value that is no option falls back to ``index``."""
    return _one_of("selectbox", label, options, index, key, where, reset_on, kwargs)


def radio(label: str, options: Sequence, index: int = 0, *, key: str, where=st, reset_on: Any = None, **kwargs) -> Any:
    """``st.radio`` in the URL, like ``selectbox``."""
    return _one_of("radio", label, options, index, key, where, reset_on, kwargs)


def _one_of(widget: str, label, options, index, key, where, reset_on, kwargs) -> Any:
    options = list(options)
    if not options:
        raise ValueError(f"{label}: a choice needs at least one option")
    by_text, show = _choice_tools(options, kwargs.get("format_func"))
    start = options[min(max(index, 0), len(options) - 1)]

    def parse(raw: str):
        if raw not in by_text:
            raise _Unreadable(raw)
        return by_text[raw]

    def fix(v):
        if str(v) in by_text:
            return by_text[str(v)], None
        return start, "is not among the choices"

    note = _settle(key, label, start, parse, fix, show, reset_on)
    return _draw(widget, where, key, note, str, label, options, **kwargs)


def multiselect(
    label: str, options: Sequence, default: Sequence | None = None, *, key: str, where=st, reset_on: Any = None, **kwargs
) -> list:
    """``st.multiselect`` in the URL (``?key=a,b,c``); choices that are no option are dropped, with a note."""
    options = list(options)
    by_text, show = _choice_tools(options, kwargs.get("format_func"))
    limit = kwargs.get("max_selections")
    start = [o for o in (default or []) if str(o) in by_text][: limit or None]

    def parse(raw: str):
        return [p for p in raw.split(",") if p != ""] if raw else []

    def fix(v):
        if not isinstance(v, (list, tuple)):
            return start, "is not a list"
        kept = list(dict.fromkeys(by_text[str(x)] for x in v if str(x) in by_text))
        why = None
        if v and not kept:
            return start, "has no choice among the options"
        if len(kept) < len(v):
            why = "has choices that are not among the options"
        if limit and len(kept) > limit:
            kept, why = kept[:limit], f"has more than {limit} choices"
        return kept, why

    def show_list(v) -> str:  # what the URL held is never repeated: unknown choices are only counted
        if not isinstance(v, (list, tuple)):
            return "a value"
        known = [by_text[str(x)] for x in v if str(x) in by_text]
        unknown = len(v) - len(known)
        return show(known) + (f" and {unknown} unknown choice{'s' if unknown > 1 else ''}" if unknown else "")

    note = _settle(key, label, start, parse, fix, show_list, reset_on)
    return _draw("multiselect", where, key, note, lambda v: ",".join(str(x) for x in v), label, options, **kwargs)


# -- text and switches -----------------------------------------------------------------------------------------------
def text_input(
    label: str, value: str = "", *, key: str, where=st, reset_on: Any = None, max_chars: int | None = None, **kwargs
) -> str:
    """``st.text_input`` in the URL (``?key=text``); a longer text than ``max_chars`` is cut, with a note."""

    def fix(v):
        v = str(v)
        if max_chars and len(v) > max_chars:
            return v[:max_chars], f"is longer than {max_chars} characters"
        return v, None

    def show(v) -> str:  # the text itself is the user's: shown only as its length
        return f"a text of {len(str(v))} characters"

    note = _settle(key, label, value, str, fix, show, reset_on)
    return _draw("text_input", where, key, note, str, label, max_chars=max_chars, **kwargs)


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _Unreadable(raw)


def _switch(widget: str, label: str, value: bool, key: str, where, reset_on, kwargs) -> bool:
    note = _settle(
        key, label, bool(value), _parse_bool, lambda v: (bool(v), None), lambda v: "on" if v else "off", reset_on
    )
    return _draw(widget, where, key, note, lambda v: "true" if v else "false", label, **kwargs)


def toggle(label: str, value: bool = False, *, key: str, where=st, reset_on: Any = None, **kwargs) -> bool:
    """``st.toggle`` in the URL (``?key=true``)."""
    return _switch("toggle", label, value, key, where, reset_on, kwargs)


def checkbox(label: str, value: bool = False, *, key: str, where=st, reset_on: Any = None, **kwargs) -> bool:
    """``st.checkbox`` in the URL (``?key=true``)."""
    return _switch("checkbox", label, value, key, where, reset_on, kwargs)
