"""The saliency and compare pages, the predictions section of the next-word pages and the Memory page's target
word, under AppTest with the hostile inputs of tests/test_explorer_apptest.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer import charts
from tests.test_explorer_apptest import APP, EMOJI_RTL_CONTROL, LONG, PAYLOADS, shown_strings

HOSTILE = {
    "empty": "",
    "one 2,000-character word": "a" * 2000,
    "emoji rtl control": EMOJI_RTL_CONTROL,
    **{f"payload{i}": p for i, p in enumerate(PAYLOADS)},
}
RAW_MARKUP = ("<img", "<script", "**bold**", "](javascript", "![tracker]")


@pytest.fixture(scope="module", autouse=True)
def models_dir(app_models_dir):
    """The app reads this module's models (conftest.app_models_dir)."""
    return app_models_dir


def open_page(page: str, sentence: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    if sentence is not None:
        at.query_params["sentence"] = sentence
    at.run()
    for k, v in params.items():  # after the first page's run, which drops parameters it does not draw
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py")
    at.run()
    return at


def figures(at: AppTest) -> list[str]:
    return [json.dumps(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]


def assert_safe(at: AppTest, payloads=PAYLOADS) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for s in shown_strings(at):  # nothing the user typed reaches Markdown
        for p in payloads:
            assert p not in s
    for fig in figures(at):  # nor a figure unescaped
        for raw in RAW_MARKUP:
            assert raw not in fig, raw


@pytest.mark.parametrize("label", list(HOSTILE))
def test_saliency_page_on_hostile_input(label):
    at = open_page("saliency", HOSTILE[label])
    assert_safe(at)
    if label == "empty":
        assert any("Type a sentence" in i.value for i in at.info)
    else:
        assert figures(at), label


def test_saliency_page_escapes_every_token_and_the_word_box():
    at = open_page("saliency", "the <b>cat</b> & [x](javascript:alert(1)) sat on the mat", sal_word="**bold**")
    assert_safe(at, ["**bold**"])
    # the word box's payload is not one word: each model says so, as literal text
    assert sum("the target word must be one word" in t.value for t in at.text) == 4
    at = open_page("saliency", "the <b>cat</b> & sat on the mat")
    fig = figures(at)[0]
    assert "&lt;" in fig and "&amp;" in fig and "<b>cat" not in fig


def test_saliency_page_rows_and_controls_from_the_link():
    at = open_page(
        "saliency", "Apple is my favorite ___, and I work there", sal_method="gradient", sal_target="2", sal_width="60"
    )
    assert not at.exception
    assert at.radio(key="sal_method").value == "gradient"
    assert at.slider(key="sal_target").value == 2 and at.slider(key="sal_width").value == 60
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    rows = {a["text"].split("</b>")[0].removeprefix("<b>") for a in spec["layout"]["annotations"]}
    assert {"RNN", "LSTM", "GRU", "Transformer", "Bidirectional LSTM"} <= rows  # a blank adds the bidirectional row


def test_saliency_page_300_tokens_wraps_into_lines():
    at = open_page("saliency", " ".join(LONG.split()[:300]))
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    ys = {y for t in spec["data"] for y in (t.get("y") or [])}
    assert len(ys) >= 4 * 12  # four rows of text (no blank: no bidirectional row), each wrapped over 12+ lines
    assert spec["layout"]["height"] > 1200


@pytest.mark.parametrize(
    "a, b", [("", "the food"), ("a" * 2000, EMOJI_RTL_CONTROL), (PAYLOADS[0], PAYLOADS[2]), (PAYLOADS[3], PAYLOADS[4])]
)
def test_compare_page_on_hostile_input(a, b):
    at = open_page("compare", cmp_a=a, cmp_b=b)
    assert_safe(at)
    if not a:
        assert any("both boxes" in i.value for i in at.info)
    else:
        assert figures(at)


def test_compare_page_shows_the_lecture_pair_and_the_baseline():
    at = open_page("compare")
    assert not at.exception
    assert at.text_input(key="cmp_a").value == "The food was good, not bad at all"
    names = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "bag of words" in names and "LSTM" in names
    assert any("bag of words: distance after each whole sentence 0" in t.value for t in at.text)
    assert at.slider(key="cmp_position").value == 3  # the first position where the words differ


@pytest.mark.parametrize(
    "page, model", [("rnn", "rnn"), ("lstm", "lstm"), ("gru", "gru"), ("attention", "transformer")]
)
def test_next_word_pages_show_surprisal_and_guesses_without_specials(page, model):
    at = open_page(page, "I grew up in zxqvia and 1,200 people speak fluent")
    assert not at.exception
    strings = shown_strings(at)
    assert any("single most likely next entry was `<unk>`" in s for s in strings)
    guesses = [f for f in figures(at) if '"probability"' in f]
    assert guesses and "&lt;unk&gt;" not in guesses[-1] and "&lt;num&gt;" not in guesses[-1]
    prefix = {"rnn": "rnn", "lstm": "lstm", "gru": "gru", "attention": "att"}[page]
    at = open_page(page, "I grew up in zxqvia and 1,200 people speak fluent", **{f"{prefix}_specials": "true"})
    assert at.toggle(key=f"{prefix}_specials").value is True
    assert any("It is shown among the guesses below, labelled." in s for s in shown_strings(at))


# -- the Memory page's target word --------------------------------------------------------------------------------
def test_memory_target_is_the_last_word_and_says_so():
    at = open_page("memory", "The keys to the old house are")
    assert not at.exception
    assert any("Target word: 'are', the last word of your sentence" in t.value for t in at.text)
    assert figures(at)


@pytest.mark.parametrize(
    "sentence, why",
    [
        ("I grew up in Spain but now live in Paris. I speak fluent ___", "type the word that belongs"),
        ("hello", "at least two words"),
        ("I paid 1,200", "a number"),
        ("I like zxqvia", "not among the models' 8,000 words"),
    ],
)
def test_memory_without_a_natural_target_explains_and_draws_nothing(sentence, why):
    at = open_page("memory", sentence)
    assert not at.exception
    assert any(why in t.value for t in at.text), [t.value for t in at.text]
    assert len(figures(at)) == 2 and not any("p(" in f for f in figures(at))  # recall and w^n only


@pytest.mark.parametrize("payload", [*PAYLOADS, "a" * 2000, EMOJI_RTL_CONTROL])
def test_memory_word_box_payloads_stay_text(payload):
    at = open_page("memory", "I grew up in France. I speak fluent ___", memory_word=payload)
    assert at.text_input(key="memory_word").value == payload[:40]  # the box holds it (cut to 40 characters)
    assert_safe(at, [payload[:40]])
    assert len(figures(at)) == 2  # not one vocabulary word: explained; only recall and w^n, which need no word


def test_the_lecture_example_brings_its_own_answer_and_a_typed_sentence_does_not():
    """examples.json names the Middle East example's answer; the same words typed with another city get none."""
    at = open_page("memory", "I grew up in the Middle East but now live in London. I speak fluent ___")
    assert at.text_input(key="memory_word").value == "arabic"
    assert any("Target word: 'arabic', the word you gave for the blank" in t.value for t in at.text)
    assert len(figures(at)) == 4
    at.text_area(key="sentence").set_value("I grew up in the Middle East but now live in Paris. I speak fluent ___").run()
    assert at.text_input(key="memory_word").value == ""
    assert any("type the word that belongs" in t.value for t in at.text)


def test_memory_word_for_the_blank_is_measured():
    at = open_page("memory", "I grew up in France. I speak fluent ___", memory_word="French")
    assert not at.exception
    assert any("Target word: 'french', the word you gave for the blank" in t.value for t in at.text)
    assert any("p(french" in f for f in figures(at))


def test_memory_word_reaches_the_figure_escaped():
    """The chart the word box feeds escapes the word: a word with markup comes out as text."""
    frame = pd.DataFrame(
        {"filler": [0, 10], "tokens": [5, 15], "probability": [0.5, 0.4], "rank": [1, 2], "top_word": ["a", "b"]}
    )
    fig = json.dumps(charts.probability_filler_chart({"lstm": frame}, "<img src=x onerror=alert(1)>").to_dict())
    assert "&lt;img" in fig and "<img" not in fig
