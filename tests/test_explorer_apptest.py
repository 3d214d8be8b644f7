"""Every page of the explorer under AppTest, with every kind of input a user can type.

The models come from $GATESCOPE_MODELS, else the shipped assets/models, else
untrained models of the same shapes built once for this module
(tests/app_models.py): the pages must work with any weights.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests import app_models

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "explorer" / "app.py")
PAGES = ("tokens", "rnn", "lstm", "gru", "bidirectional", "attention", "memory", "about")
MODEL_OF = {
    "tokens": "rnn",
    "rnn": "rnn",
    "lstm": "lstm",
    "gru": "gru",
    "bidirectional": "bilstm",
    "attention": "transformer",
}

_EXAMPLES = json.loads((ROOT / "assets" / "examples.json").read_text(encoding="utf-8"))
DEFAULT = _EXAMPLES["default"]
EXAMPLES = [e["text"] for e in _EXAMPLES["examples"]]
LONG = " ".join(
    ("the food was good not bad at all we visited a restaurant for lunch in london " * 40).split()[:600]
)  # 600 tokens
EMOJI_RTL_CONTROL = (
    "Hello 👋🏽 family 👨‍👩‍👧 مرحبا بالعالم שלום \x00 \u202e reversed\u202c tab\there \x07 bell\r\nnext line"
)
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script> hello",
    "**bold** and _italic_ text",
    "[click me](javascript:alert(1))",
    "![tracker](http://example.com/pixel.png)",
]
INPUTS = {
    "default": None,
    **{f"example{i}": e for i, e in enumerate(EXAMPLES)},
    "empty": "",
    "600 words": LONG,
    "emoji rtl control": EMOJI_RTL_CONTROL,
    "only control characters": "\x00\x07\u202e\u2066\t\r\n",
    **{f"payload{i}": p for i, p in enumerate(PAYLOADS)},
}
UNTRUSTED = [EMOJI_RTL_CONTROL, *PAYLOADS]  # strings that are in no text of ours


@pytest.fixture(scope="module", autouse=True)
def models_dir(tmp_path_factory):
    """Points the app at the models for this module's tests, and back afterwards."""
    folder = app_models.models_for_tests(tmp_path_factory.mktemp("models"))
    old = os.environ.get("GATESCOPE_MODELS")
    os.environ["GATESCOPE_MODELS"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("GATESCOPE_MODELS", None)
    else:
        os.environ["GATESCOPE_MODELS"] = old


def open_page(page: str, text: str | None = None, link: bool = True) -> AppTest:
    """The app at ``page`` with ``text`` in the sentence box: from a link (``?sentence=``) or typed after loading."""
    at = AppTest.from_file(APP, default_timeout=60)
    if text is not None and link:
        at.query_params["sentence"] = text
    at.run()
    if text is not None and not link:
        at.text_area(key="sentence").set_value(text)
    if page != "tokens":
        at.switch_page(f"views/{page}.py")
    if page != "tokens" or not link:
        at.run()
    return at


def shown_strings(at: AppTest) -> list[str]:
    """Everything the app rendered as Markdown (titles, text, notes, labels of alerts)."""
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader", "latex"):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


# -- every page x every input -------------------------------------------------------------------------
@pytest.mark.parametrize("label", list(INPUTS))
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_on_every_input(page, label):
    text = INPUTS[label]
    at = open_page(page, text)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"
    box = at.text_area(key="sentence")
    assert box.value == (DEFAULT if text is None else text)
    if page == "about":
        return
    if label in ("empty", "only control characters"):
        assert any("Type a sentence" in i.value for i in at.info)
        return
    if label == "600 words":
        assert any("600 tokens" in w.value and "512" in w.value for w in at.warning)
    assert at.get("plotly_chart"), "a page with a sentence draws charts"
    if text in UNTRUSTED:
        for s in shown_strings(at):
            assert text not in s, "user text must never reach Markdown"
        for spec in plotly_specs(at):
            raw = json.dumps(spec)
            for tag in ("<img", "<script", "<a "):
                assert tag not in raw, f"an unescaped {tag} reached a figure"


@pytest.mark.parametrize("text", UNTRUSTED)
def test_typing_untrusted_text(text):
    at = open_page("lstm", text, link=False)
    assert not at.exception and not at.error
    assert at.text_area(key="sentence").value == text
    assert at.query_params["sentence"] == text
    assert all(text not in s for s in shown_strings(at))


def test_every_chart_has_its_downloads():
    for page in PAGES[:-1]:
        at = open_page(page)
        charts = len(at.get("plotly_chart"))
        labels = [b.label for b in at.download_button]
        assert labels.count("Figure (HTML)") == charts, page
        assert labels.count("Data (CSV)") >= charts, page
        assert all(b.proto.deferred_file_id for b in at.download_button), "downloads are built only when clicked"


# -- what matters on particular pages -------------------------------------------------------------------
def test_lstm_page_shows_six_heatmaps_on_one_token_axis():
    at = open_page("lstm")
    gates = plotly_specs(at)[0]
    heat = [t for t in gates["data"] if t["type"] == "heatmap"]
    assert len(heat) == 6
    titles = " ".join(a["text"] for a in gates["layout"]["annotations"])
    for name in ("forget gate", "input gate", "candidate", "output gate", "cell state", "hidden state"):
        assert name in titles
    assert all(gates["layout"][f"xaxis{i}"].get("matches") == "x" for i in range(2, 7)), "one shared token axis"
    colorbars = [gates["layout"][k]["colorbar"]["title"]["text"] for k in gates["layout"] if k.startswith("coloraxis")]
    assert len(colorbars) == 6 and all(colorbars), "every panel has a labelled colour scale"
    assert all("value %{z" in t["hovertemplate"] for t in heat), "the exact value on hover"


def test_tokens_page_marks_unknown_words_and_shows_the_text_literally():
    at = open_page("tokens", "<img src=x onerror=alert(1)> zqxjvw")
    assert at.code[0].value == "<img src=x onerror=alert(1)> zqxjvw"
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert "<" in list(table["token"]) and "onerror" in list(table["token"])
    assert "unknown → <unk>" in list(table.loc[table.token == "zqxjvw", "status"])
    assert any("not in the vocabulary" in w.value for w in at.warning)


def test_truncation_note_counts_tokens():
    at = open_page("lstm", LONG)
    note = [w.value for w in at.warning if "tokens" in w.value]
    assert note and "512" in note[0] and "cut" in note[0]


def test_a_long_word_is_shortened_on_the_axis_and_whole_in_hover():
    word = "x" * 2000
    at = open_page("rnn", f"a {word} b")
    assert not at.exception
    spec = plotly_specs(at)[0]
    ticks = [
        re.sub("<[^>]+>", "", t).rstrip("?") for t in spec["layout"]["xaxis"]["ticktext"]
    ]  # an unknown word is red, with "?"
    assert max(len(t) for t in ticks) <= 16 and any(t.endswith("…") for t in ticks)
    assert any(c.replace("<br>", "").endswith(word) for c in spec["data"][0]["x"])


def test_bidirectional_demo_compares_the_lecture_sentences():
    at = open_page("bidirectional")
    shown = [t.value for t in at.text]
    assert any("Apple is my favorite ___, and I work there" in s for s in shown)
    diff = at.dataframe[-1].value.set_index("state at the blank")
    assert diff.loc["forward"].abs().max() == 0, "the same words before the blank: the forward state is the same"
    assert diff.loc["backward"].abs().max() > 0


def test_attention_page_steps_through_one_query():
    at = open_page("attention", "the food was good , not bad at all")
    steps = next(d.value for d in at.dataframe if "key token" in d.value.columns)
    assert list(steps.columns)[:2] == ["key position", "key token"]
    weights = steps["d. softmax weight"]
    assert abs(weights.sum() - 1) < 1e-4
    assert len(plotly_specs(at)) == 5


def test_about_page_has_the_lecture_numbers():
    at = open_page("about")
    text = " ".join(shown_strings(at))
    assert "8.88e-16" in text and "1.1259e+15" in text
    assert "1,125,899,906,842,624" in text


# -- the URL and the frame -----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_a_link_reproduces_the_sentence(page):
    text = "The food was bad, not good at all"
    at = open_page(page, text)
    assert at.text_area(key="sentence").value == text
    assert at.query_params["sentence"] == text
    at.text_area(key="sentence").set_value("We visited a restaurant for lunch").run()
    assert at.query_params["sentence"] == "We visited a restaurant for lunch", "editing the text updates the URL"
    assert not at.exception


def test_picking_an_example_sets_the_sentence_and_the_url():
    at = open_page("rnn")
    at.selectbox(key="example").set_value(EXAMPLES[0]).run()
    assert at.text_area(key="sentence").value == EXAMPLES[0]
    assert at.query_params["sentence"] == EXAMPLES[0]
    assert not at.exception


# -- a broken model breaks only its own page ---------------------------------------------------------------------
@pytest.fixture
def broken_models(tmp_path, models_dir):
    """A models folder where lstm's weights are garbage and bilstm is missing; the others are links to the real ones."""
    for name in ("rnn", "gru", "transformer"):
        (tmp_path / name).symlink_to(models_dir / name, target_is_directory=True)
    shutil.copytree(models_dir / "lstm", tmp_path / "lstm")
    (tmp_path / "lstm" / "model.safetensors").write_bytes(b"this is not a safetensors file" * 10)
    old = os.environ["GATESCOPE_MODELS"]
    os.environ["GATESCOPE_MODELS"] = str(tmp_path)
    yield tmp_path
    os.environ["GATESCOPE_MODELS"] = old


def test_a_corrupt_or_missing_model_shows_its_error_and_the_rest_works(broken_models):
    at = open_page("lstm")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "model.safetensors" in errors[0] and "python -m core train --arch lstm" in errors[0]
    at = open_page("bidirectional")
    assert not at.exception
    assert len(at.error) == 1 and "bilstm" in at.error[0].value
    for page in ("rnn", "gru", "attention", "tokens", "about"):
        at = open_page(page)
        assert not at.exception and not at.error, page


def test_a_reader_clicking_around_never_breaks_a_page():
    """Widgets remember values that a new model or a shorter sentence makes invalid: the pages must cope."""
    at = open_page("lstm")

    def step(action):
        action().run()
        assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]

    step(lambda: at.multiselect(key="lstm_line_units").set_value([200, 250, 3]))
    step(lambda: at.slider(key="lstm_cursor").set_value(3))
    step(lambda: at.selectbox(key="lstm_model").set_value("bilstm"))  # 128 units per direction now
    step(lambda: at.radio(key="lstm_direction").set_value("backward"))
    step(lambda: at.selectbox(key="lstm_units").set_value("all"))
    step(lambda: at.text_area(key="sentence").set_value("x"))  # one token
    at.switch_page("views/attention.py")
    step(lambda: at.text_area(key="sentence").set_value(" ".join(["word"] * 300)))
    step(lambda: at.slider(key="att_window").set_value((100, 180)))
    step(lambda: at.slider(key="att_query").set_value(20))  # outside the window: the detail follows the query
    step(lambda: at.text_area(key="sentence").set_value("the food"))  # the window and the query shrink
    at.switch_page("views/rnn.py")
    step(lambda: at.text_area(key="sentence").set_value(" ".join(["word"] * 300)))
    step(lambda: at.slider(key="rnn_window").set_value((250, 300)))
    step(lambda: at.text_area(key="sentence").set_value("a b"))
    at.switch_page("views/bidirectional.py")
    step(lambda: at.text_area(key="sentence").set_value("___ ___ ___ ___ is ___"))
