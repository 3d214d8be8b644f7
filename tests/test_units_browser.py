"""The units controls in a real browser: hostile text stays literal in the span and the matches, a control
changed by hand reaches the URL, and full-page screenshots at 20 and about 400 tokens (artifacts/screenshots/)."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from core.text import tokenize
from tests.test_browser import Visit, _foreign, app_url, browser, server  # noqa: F401  (fixtures)

HOSTILE = '<img src=x onerror=alert(1)> (a <script>alert(2)</script> aside) "**bold**" [x](javascript:alert(3))'
_TEXT = " ".join([
    'My grandmother\'s recipe (the one she never wrote down) starts simply: "Take two cups of flour, not three."',
    "She would say it twice (sometimes three times) before anyone was allowed near the oven.",
    "The dough isn't hard to make, but it is easy to ruin.",
    '"Don\'t rush the butter," she warned, "and never, ever use margarine." We laughed (quietly) because she meant it.',
    "Once the butter is soft (about twenty minutes on the counter), fold it into the flour with a fork.",
    "Do not knead it; kneading makes it tough.",
    "Add cold water one spoon at a time (the amount depends on the weather, she claimed) until the dough holds.",
    'Wrap it, chill it for an hour, and do something else. "Patience is an ingredient," she said.',
] * 3)
PARAGRAPH = _TEXT[: _TEXT.rfind(".", 0, 1700) + 1]  # about 400 tokens, ending on a full stop


@pytest.fixture(scope="module", autouse=True)
def small_search_sample():
    """The server searches 100 held-out sentences (the same code as 2,000, a faster first trace)."""
    old = os.environ.get("GATESCOPE_SEARCH_SAMPLE")
    os.environ["GATESCOPE_SEARCH_SAMPLE"] = "100"
    yield
    if old is None:
        os.environ.pop("GATESCOPE_SEARCH_SAMPLE", None)
    else:
        os.environ["GATESCOPE_SEARCH_SAMPLE"] = old


def open_lstm(browser, server, sentence: str, **params) -> Visit:  # noqa: F811
    return Visit(browser, app_url(server, "lstm", sentence, **params))


def test_hostile_text_stays_literal_in_the_span_and_the_search(browser, server):  # noqa: F811
    visit = open_lstm(browser, server, HOSTILE, lstm_span="0,4", lstm_tolerance="0.5", lstm_search="true",
                      lstm_search_units="1")
    try:
        visit.wait_for_charts(4)
        page = visit.page
        assert page.locator("[data-testid='stException']").count() == 0
        injected = page.evaluate("""() => ({
            img: document.querySelectorAll('img[src="x"]').length,
            script: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('alert(')).length,
            jsLink: document.querySelectorAll('a[href^="javascript:"]').length,
            bold: [...document.querySelectorAll('strong, b')].filter(e => e.textContent.trim() === 'bold').length,
        })""")
        assert injected == {"img": 0, "script": 0, "jsLink": 0, "bold": 0}
        texts = page.locator("[data-testid='stText']").evaluate_all("els => els.map(e => e.textContent)")
        span = " ".join(tokenize(HOSTILE).tokens[:4])
        assert any(t == f"Span 0-3: {span}" for t in texts), texts
        assert visit.dialogs == [] and _foreign(visit.requests) == []
        visit.screenshot("units-lstm-hostile")
    finally:
        visit.close()


def test_choosing_a_ranking_by_hand_reaches_the_url(browser, server):  # noqa: F811
    visit = open_lstm(browser, server, "The plan (which nobody liked) did not work.")
    try:
        visit.wait_for_charts(4)
        page = visit.page
        page.get_by_role("combobox", name="Rank units by").click()
        page.get_by_role("option", name="follows feature X").click()
        page.wait_for_function("() => location.search.includes('lstm_rank=feature')", timeout=60_000)
        visit.settle()
        query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
        assert query["lstm_rank"] == ["feature"] and query["lstm_rank_feature"] == ["paren_depth"]
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        visit.close()


@pytest.mark.parametrize("sentence, name", [
    ('He said "no" (twice), then left. Nobody asked why.', "units-lstm-20-tokens"),
    (PARAGRAPH, "units-lstm-400-tokens"),
])
def test_screenshots_at_20_and_400_tokens(browser, server, sentence, name):  # noqa: F811
    n = len(tokenize(sentence).tokens)
    assert (name.endswith("20-tokens") and 15 <= n <= 25) or (name.endswith("400-tokens") and 380 <= n <= 512), n
    visit = open_lstm(browser, server, sentence, lstm_search="true", lstm_tolerance="0.3", lstm_search_units="1")
    try:
        visit.wait_for_charts(5)
        assert visit.page.locator("[data-testid='stException']").count() == 0
        visit.screenshot(name)
    finally:
        visit.close()
