"""The explorer in a real browser: a live `streamlit run` server driven by Playwright in headless Chromium.

What only a browser shows: every page loads and draws its charts, no exception
box, the HTML/Markdown payload in the URL stays literal text (no element is
injected, no script runs, no dialog opens) and no request leaves localhost.
Full-page screenshots of every page land in artifacts/screenshots/.

Uses Debian's /usr/bin/chromium (never `playwright install`). Without it the
test is skipped, unless GATESCOPE_REQUIRE_BROWSER=1 (CI), which makes it fail.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import live_app


pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "screenshots"
VIEW_HEIGHT = 7000  # pixels: taller than any page, so a screenshot is the whole page
PAGES = {  # url path -> charts the page draws at least
    "tokens": 1,
    "rnn": 3,
    "lstm": 4,
    "gru": 4,
    "bidirectional": 4,
    "attention": 5,
    "pretrained": 6,
    "memory": 4,  # gradients and probability for the example's answer word, recall, w^n
    "saliency": 1,  # the sentence as wrapped text, one row per model
    "compare": 2,  # the lecture's pair (its own boxes, not the sidebar's sentence)
    "about": 0,
}
PAYLOAD = (
    "<img src=x onerror=alert(1)> <script>alert(2)</script> **bold** [link](javascript:alert(3)) "
    "![i](http://example.com/x.png) ___"
)
LONG = " ".join(
    (
        "I grew up in the Middle East but now live in London . the food was good , not bad at all ; "
        "we visited a restaurant for lunch and we were hungry but cleaned the house before eating"
    ).split()
    * 12
)[:1400]


def _need_browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("GATESCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium) and GATESCOPE_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("GATESCOPE_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip("playwright is not installed")



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    with live_app(tmp_path_factory, "--browser.gatherUsageStats", "false") as base:
        yield base


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        # one context, so the app's scripts are cached; a tall window, so a full page needs no resize (and re-layout)
        context = b.new_context(viewport={"width": 1500, "height": VIEW_HEIGHT})
        yield context
        context.close()
        b.close()


def app_url(base: str, path: str, sentence: str | None = None, **controls: str) -> str:
    """The address of a page (every page at its own path as typed, /tokens too; "" for the root) with its query."""
    query = dict({} if sentence is None else {"sentence": sentence}, **controls)
    return f"{base}/{path}" + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote) if query else "")


class Visit:
    """A browser tab on the app, recording every request and dialog."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url)
        self.settle()

    def settle(self) -> None:
        self.page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=90_000)
        self.page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)

    def navigate(self, path: str) -> None:
        """Go to another page through the sidebar, as a reader would (the session, and its sentence, stay)."""
        href = f"/{path}"
        before = self.page.locator("[data-testid='stMainBlockContainer'] h1").first.inner_text()
        self.page.locator(f"[data-testid='stSidebarNav'] a[href$='{href}']").first.click()
        self.page.wait_for_function(
            "t => { const h = document.querySelector('[data-testid=stMainBlockContainer] h1'); "
            "return h && h.innerText !== t; }",
            arg=before,
            timeout=60_000,
        )
        self.settle()

    def wait_for_charts(self, n: int) -> None:
        """At least ``n`` plotly charts drawn, with their axes, and nothing still loading."""
        self.page.wait_for_function(
            f"""() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}
                && document.querySelectorAll('[data-testid=stSkeleton]').length === 0
                && ({n} === 0 || document.querySelectorAll('.js-plotly-plot .xtick, .js-plotly-plot .bartext').length > 0)""",
            timeout=90_000,
        )

    def screenshot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = self.page.evaluate(
            "() => document.querySelector('[data-testid=stMainBlockContainer]').getBoundingClientRect().bottom + 40"
        )
        self.page.screenshot(
            path=str(SHOTS / f"{name}.png"), clip=dict(x=0, y=0, width=1500, height=min(int(height), VIEW_HEIGHT))
        )

    def close(self) -> None:
        self.page.close()


def _foreign(urls: list[str]) -> list[str]:
    ok_hosts = {"127.0.0.1", "localhost"}
    return [
        u for u in urls if not u.startswith(("data:", "blob:")) and urllib.parse.urlparse(u).hostname not in ok_hosts
    ]


def check_payload_literal(visit: Visit, path: str) -> None:
    page = visit.page
    assert page.locator("textarea").first.input_value() == PAYLOAD, "the sentence box holds the text as typed"
    injected = page.evaluate("""() => ({
        img: document.querySelectorAll('img[src="x"], img[src$="example.com/x.png"]').length,
        script: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('alert(')).length,
        jsLink: document.querySelectorAll('a[href^="javascript:"]').length,
        bold: [...document.querySelectorAll('strong, b')].filter(e => e.textContent.trim() === 'bold').length,
    })""")
    assert injected == {"img": 0, "script": 0, "jsLink": 0, "bold": 0}, f"{path}: {injected}"
    if path == "tokens":
        assert PAYLOAD in page.locator("[data-testid='stCode']").first.inner_text(), "shown literally as text"
    if path == "memory":  # the payload ends in a blank with no word given: explained as plain text, no charts on it
        texts = page.locator("[data-testid='stText']").evaluate_all("els => els.map(e => e.textContent)")
        assert any("type the word that belongs in it" in t for t in texts), f"memory: {texts}"
    elif path == "saliency":  # the sentence is drawn as text in boxes, each token literal
        boxes = page.locator(".js-plotly-plot text.bartext").evaluate_all("els => els.map(e => e.textContent)")
        assert {"<", ">", "img", "script"} <= set(boxes), f"saliency: the payload's tokens are literal text: {boxes}"
    elif path == "compare":  # compares its own two boxes (the lecture's pair), not the sidebar's sentence
        pass
    elif PAGES[path]:
        # every x axis: "xtick", "x2tick" ... (under feature tracks the token labels are on a later axis)
        ticks = page.locator(".js-plotly-plot [class^='x'][class$='tick'] text").evaluate_all(
            "els => els.map(e => e.textContent)"
        )
        shown = {t.rstrip("?") for t in ticks}  # an unknown word's label ends in "?"
        assert {"<", ">"} <= shown, f"{path}: the payload's tokens are literal tick labels"


def test_the_payload_stays_literal_on_every_page(browser, server):
    """A link with the payload, opened on the LSTM page, then every other page through the sidebar."""
    order = ["lstm"] + [p for p in PAGES if p != "lstm"]
    visit = Visit(browser, app_url(server, order[0], PAYLOAD))
    try:
        for path in order:
            if path != order[0]:
                visit.navigate(path)
            visit.wait_for_charts(PAGES[path])
            assert visit.page.locator("[data-testid='stException']").count() == 0, path
            check_payload_literal(visit, path)
            visit.screenshot(path)
        assert visit.dialogs == [], "a script from the payload ran"
        assert _foreign(visit.requests) == [], "requests to another host"
    finally:
        visit.close()


@pytest.mark.parametrize("sentence,suffix", [(None, "default"), (LONG, "long")], ids=["default", "long"])
def test_every_page_through_the_sidebar(browser, server, sentence, suffix):
    """One session, as a reader clicks through the pages: the sentence stays, in the box and in the URL."""
    visit = Visit(browser, app_url(server, "tokens", sentence))
    try:
        expected = None
        for path, charts in PAGES.items():
            if path != "tokens":
                visit.navigate(path)
            visit.wait_for_charts(charts)
            expected = expected or visit.page.locator("textarea").first.input_value()
            assert visit.page.locator("[data-testid='stException']").count() == 0, path
            assert visit.page.locator("textarea").first.input_value() == expected, path
            query = urllib.parse.parse_qs(urllib.parse.urlparse(visit.page.url).query)
            assert query.get("sentence") == [expected], f"{path}: the URL holds the sentence"
            visit.screenshot(f"{path}-{suffix}")
        assert _foreign(visit.requests) == []
    finally:
        visit.close()


def _settled_view(page) -> dict:
    """What a reader sees of a page's state, once it stops changing: slider values, selects, the charts' data."""
    view = _view(page)
    for _ in range(30):
        page.wait_for_timeout(1000)
        view, before = _view(page), view
        if view == before:
            return view
    raise AssertionError("the page kept changing for 30 s")


def _view(page) -> dict:
    return page.evaluate("""() => ({
        sliders: [...document.querySelectorAll('[data-testid=stSliderThumbValue]')].map(e => e.innerText),
        selects: [...document.querySelectorAll('[data-testid=stSelectbox] input')].map(i => i.value)
                    .concat([...document.querySelectorAll('[data-testid=stMultiSelect]')].map(e => e.innerText)),
        radios: [...document.querySelectorAll('input[type=radio]')].map(i => i.checked),
        charts: [...document.querySelectorAll('.js-plotly-plot')].map(p => JSON.stringify(
                    [p.data.map(d => [d.x, d.y]), p.layout.shapes, (p.layout.annotations || []).map(a => a.text)])),
    })""")


def test_every_page_answers_at_its_path_and_a_copied_link_shows_the_same_view(browser, server):
    """/tokens opened "Page not found" (Streamlit serves the default page only at /); a link with non-default
    controls, pasted into a fresh browser, shows the same controls and charts."""
    for path in PAGES:
        visit = Visit(browser, app_url(server, path, "the food was good , not bad at all"))
        try:
            assert visit.page.get_by_text("Page not found").count() == 0, path
            assert urllib.parse.urlparse(visit.page.url).path == f"/{path}", path
        finally:
            visit.close()
    root = Visit(browser, app_url(server, "", "the food was good"))  # the root forwards to /tokens, with the sentence
    try:
        assert urllib.parse.urlparse(root.page.url).path == "/tokens"
        assert urllib.parse.parse_qs(urllib.parse.urlparse(root.page.url).query)["sentence"] == ["the food was good"]
    finally:
        root.close()

    controls = {"lstm_model": "bilstm", "lstm_direction": "backward", "lstm_units": "16", "lstm_window": "5,150",
                "lstm_cursor": "30", "lstm_line_value": "input gate i_t", "lstm_line_units": "1,5,9"}
    first = Visit(browser, app_url(server, "lstm", LONG, **controls))
    first.wait_for_charts(PAGES["lstm"])
    seen, copied = _settled_view(first.page), first.page.url
    first.close()
    fresh_context = browser.browser.new_context(viewport={"width": 1500, "height": VIEW_HEIGHT})
    try:
        again = Visit(fresh_context, copied)
        again.wait_for_charts(PAGES["lstm"])
        assert _settled_view(again.page) == seen
        assert "30" in seen["sliders"] and any("bilstm" in s for s in seen["selects"]), seen
        assert seen["radios"] == [False, True], "the backward direction"
    finally:
        fresh_context.close()
