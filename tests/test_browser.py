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
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from core.text import tokenize
from tests import app_models

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
    "memory": 4,
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    models = app_models.models_for_tests(tmp_path_factory.mktemp("models"))
    port = _free_port()
    log = (tmp_path_factory.mktemp("server") / "streamlit.log").open("w")
    env = dict(os.environ, GATESCOPE_MODELS=str(models))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "explorer/app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"the streamlit server did not become healthy; see {log.name}")
        time.sleep(0.5)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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


class Visit:
    """A browser tab on the app, recording every request and dialog."""

    def __init__(self, browser, base: str, path: str, sentence: str | None):
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        url = f"{base}/{path}"  # every page at its own path as typed, /tokens too
        if sentence is not None:
            url += "?sentence=" + urllib.parse.quote(sentence, safe="")
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
                && ({n} === 0 || document.querySelectorAll('.js-plotly-plot .xtick').length > 0)""",
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
    if path == "memory":  # its axes are distances, not tokens: the sentence it reads is shown as plain text
        tokens = list(tokenize(PAYLOAD).tokens)
        tokens = tokens[: tokens.index("___")]
        head = tokens.index(".") + 1  # the page inserts its filler after the first sentence
        halves = (" ".join(tokens[:head]), " ".join(tokens[head:]))
        texts = page.locator("[data-testid='stText']").evaluate_all("els => els.map(e => e.textContent)")
        assert any(all(h in t for h in halves) for t in texts), f"memory: the payload's tokens shown literally: {texts}"
    elif PAGES[path]:
        ticks = page.locator(".js-plotly-plot .xtick text").evaluate_all("els => els.map(e => e.textContent)")
        shown = {t.rstrip("?") for t in ticks}  # an unknown word's label ends in "?"
        assert {"<", ">"} <= shown, f"{path}: the payload's tokens are literal tick labels"


def test_the_payload_stays_literal_on_every_page(browser, server):
    """A link with the payload, opened on the LSTM page, then every other page through the sidebar."""
    order = ["lstm"] + [p for p in PAGES if p != "lstm"]
    visit = Visit(browser, server, order[0], PAYLOAD)
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
    visit = Visit(browser, server, "tokens", sentence)
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
