"""A copied link reproduces the view: every control of every page goes through the URL (explorer/common/url.py).

For each page of ``SHARE_LINK_CONTROLS``: open it, set each control to a value
other than its start value (as a reader would, one run per change), take the
query string the app wrote, open a fresh session with only that query string,
and expect the same control values and the same charts (the figures' JSON).

A new page adds its controls here: ``"page": {key: (widget kind, value)}``, in
the order a reader would set them (a model before its units). ``OTHER`` picks
an option other than the current one, for choices that depend on the data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "explorer" / "app.py")
OTHER = object()  # a choice other than the current one

_EXAMPLES = json.loads((ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
LONG = " ".join(  # 200 tokens: long enough for the "tokens shown" windows
    ("the food was good , not bad at all . we visited a restaurant in london for lunch and i grew up in france . "
     * 10).split()[:200]
)
SENTENCE = {  # the memory page reads its own sentence; short keeps it (and MiniLM) quick
    "memory": _EXAMPLES["default"],
    "pretrained": "Apple is my favorite fruit, and I work there.",
}

SHARE_LINK_CONTROLS: dict[str, dict[str, tuple[str, object]]] = {
    "tokens": {"tokens_model": ("selectbox", "gru"), "tokens_window": ("slider", (10, 90))},
    "rnn": {"rnn_units": ("selectbox", 8), "rnn_window": ("slider", (20, 120)), "rnn_cursor": ("slider", 42)},
    "lstm": {
        "lstm_model": ("selectbox", "bilstm"),
        "lstm_direction": ("radio", "backward"),
        "lstm_units": ("selectbox", 16),
        "lstm_window": ("slider", (5, 150)),
        "lstm_cursor": ("slider", 30),
        "lstm_unit": ("selectbox", OTHER),
        "lstm_line_value": ("selectbox", "input gate i_t"),
        "lstm_line_units": ("multiselect", [1, 5, 9]),
    },
    "gru": {
        "gru_units": ("selectbox", 64),
        "gru_window": ("slider", (20, 140)),
        "gru_cursor": ("slider", 7),
        "gru_unit": ("selectbox", OTHER),
        "gru_line_value": ("selectbox", "reset gate r_t"),
        "gru_line_units": ("multiselect", [2, 3]),
    },
    "bidirectional": {"bi_units": ("selectbox", 8), "bi_window": ("slider", (30, 170))},
    "attention": {
        "att_window": ("slider", (10, 74)),
        "att_layer": ("selectbox", 0),
        "att_head": ("selectbox", 2),
        "att_query": ("slider", 40),
    },
    "memory": {
        "memory_filler": ("slider", 10),
        "memory_word": ("text_input", "french"),
        "memory_models": ("multiselect", ["rnn", "lstm"]),
        "memory_w": ("slider", 0.9),
        "memory_n": ("slider", 30),
        "memory_jacobian": ("toggle", True),
    },
    "pretrained": {
        "pre_hv_layer": ("selectbox", 3),
        "pre_hv_heads": ("multiselect", [0, 5]),
        "pre_mv_layer": ("selectbox", 2),
        "pre_mv_head": ("selectbox", 4),
        "pre_nv_layer": ("selectbox", 1),
        "pre_nv_head": ("selectbox", 7),
        "pre_word": ("text_input", "fruit"),
    },
}


@pytest.fixture(scope="module", autouse=True)
def models_dir(app_models_dir):
    """The app reads this module's models (conftest.app_models_dir)."""
    return app_models_dir


def open_link(page: str, query: dict[str, str]) -> AppTest:
    """A fresh session opened on ``/page?query``, as a browser opens a pasted link."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    if page != "tokens":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, kind: str, key: str):
    return getattr(at, kind)(key=key)


def figures(at: AppTest) -> list[str]:
    return [e.proto.spec for e in at.get("plotly_chart")]


def notes(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("ℹ️ “")]  # common.url's notes name their control


@pytest.mark.parametrize("page", list(SHARE_LINK_CONTROLS))
def test_a_copied_link_reproduces_every_control_and_chart(page):
    at = open_link(page, {"sentence": SENTENCE.get(page, LONG)})
    for key, (kind, value) in SHARE_LINK_CONTROLS[page].items():
        w = widget(at, kind, key)
        start = w.value
        if value is OTHER:  # the last option, or the first when the last is the start ("unit 92" is unit 92)
            shown = w.options[len(w.options) - 1 if w.index != len(w.options) - 1 else 0]
            w.set_value(int(shown.removeprefix("unit ")) if isinstance(start, int) else shown).run()
        else:
            w.set_value(value).run()
        assert not at.exception, (key, [e.value for e in at.exception])
        now = widget(at, kind, key).value
        assert now != start, f"{key}: the test must move the control off its start value"
        if value is not OTHER:
            assert (list(now) if isinstance(now, tuple) else now) == (list(value) if isinstance(value, tuple) else value)
    state = {key: widget(at, kind, key).value for key, (kind, _) in SHARE_LINK_CONTROLS[page].items()}
    charts = figures(at)
    link = dict(at.query_params)
    assert set(SHARE_LINK_CONTROLS[page]) <= set(link), "every control is in the URL"

    fresh = open_link(page, link)
    assert {key: widget(fresh, kind, key).value for key, (kind, _) in SHARE_LINK_CONTROLS[page].items()} == state
    assert figures(fresh) == charts, "the same charts"
    assert notes(fresh) == [], "a link the app wrote itself needs no correction"
    assert dict(fresh.query_params) == link


def test_a_link_with_values_that_do_not_fit_is_clamped_with_a_note():
    at = open_link(
        "lstm",
        {
            "sentence": "the food was good",  # 4 tokens
            "lstm_cursor": "999",
            "lstm_units": "lots",
            "lstm_line_units": "3,99999,<b>x</b>,7",
            "lstm_line_value": "<b>no such panel</b>",
        },
    )
    assert at.slider(key="lstm_cursor").value == 3, "clamped to the last token"
    assert at.selectbox(key="lstm_units").value == 32, "unreadable: the start value"
    assert at.multiselect(key="lstm_line_units").value == [3, 7], "units past the model's size are dropped"
    assert at.selectbox(key="lstm_line_value").value == "cell state c_t"
    shown = notes(at)
    assert len(shown) == 4, shown
    assert any("999 is outside 0 to 3; showing 3" in n for n in shown)
    assert all("<b>" not in n for n in shown), "a note never repeats what the URL held"
    assert at.query_params["lstm_cursor"] == "3", "the URL now says what is shown"
    assert at.query_params["lstm_line_units"] == "3,7"


@pytest.mark.parametrize(
    "query",
    [
        {"memory_w": "nan", "memory_n": "-5", "memory_jacobian": "maybe", "memory_models": "gpt"},
        {"memory_w": "1e309", "memory_filler": "100000", "memory_word": "x" * 500},
    ],
)
def test_garbage_in_a_link_never_breaks_the_memory_page(query):
    at = open_link("memory", {"sentence": _EXAMPLES["default"], **query})
    assert not at.error
    assert notes(at), "each value that was changed says so"
    assert 0.05 <= at.slider(key="memory_w").value <= 2.5 and 1 <= at.slider(key="memory_n").value <= 200


def test_unit_choices_reset_with_a_note_when_the_model_changes():
    at = open_link("lstm", {"sentence": "the food was good , not bad at all"})
    at.multiselect(key="lstm_line_units").set_value([1, 2, 3]).run()
    at.selectbox(key="lstm_model").set_value("bilstm").run()
    assert not at.exception
    assert at.multiselect(key="lstm_line_units").value != [1, 2, 3]
    assert any("Units" in n and "another model" in n for n in notes(at))
    assert at.query_params["lstm_line_units"] == ",".join(map(str, at.multiselect(key="lstm_line_units").value))


def test_parameters_of_another_page_leave_the_url():
    at = open_link("attention", {"sentence": "the food was good", "lstm_cursor": "2", "att_head": "1"})
    assert "lstm_cursor" not in at.query_params and at.query_params["att_head"] == "1"
