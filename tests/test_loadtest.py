"""The load generator against a live server: what it sees is what Chromium shows.

For each page of the load mix, one simulated student (explorer.loadtest) and
one real Chromium tab open the same URL; both must end with the same number
of plotly charts and no exception box. The server is started as the README
says (no flags about usage statistics): `.streamlit/config.toml` must keep
the browser from calling any host but the server. The student then reruns the same view,
when the server sends unchanged charts as references to the student's message
cache: the count must not change (a generator that ignored the references
would see charts vanish). A short class of two students must finish runs
without an error and report the server's memory.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import live_app

from explorer import loadtest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SENTENCE = "The food was good, not bad at all. I grew up in France and now I speak fluent"



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_app(tmp_path_factory) as base:  # as the README starts it: .streamlit/config.toml decides the rest
        yield base


async def _student_view(base: str, page: str) -> tuple[loadtest.Run, loadtest.Run, object]:
    tab = loadtest.BrowserSession(base, timeout=90)
    try:
        first = await tab.open(page, SENTENCE)
        again = await tab.rerun(loadtest.Run(page, "control", 0.0))
        return first, again, tab.config
    finally:
        await tab.close()


def test_the_generator_sees_what_chromium_shows(server):
    if not Path(CHROMIUM).exists():
        if os.environ.get("GATESCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and GATESCOPE_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    seen = {}
    for page in loadtest.PAGES:
        first, again, config = asyncio.run(_student_view(server, page))
        assert first.error is None and again.error is None, (page, first.error, first.exceptions, again.error)
        assert again.charts == first.charts, f"{page}: charts sent as cache references were lost"
        seen[page] = first.charts
    assert config.gather_usage_stats is False, "the server reads .streamlit/config.toml"

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            context = b.new_context(viewport={"width": 1400, "height": 6000})
            requested: list[str] = []
            for page, charts in seen.items():
                tab = context.new_page()
                tab.on("request", lambda r: requested.append(r.url))
                tab.goto(f"{server}/{page}?sentence={urllib.parse.quote(SENTENCE, safe='')}")
                tab.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=90_000)
                tab.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                    " && document.querySelectorAll('[data-testid=stSkeleton]').length === 0",
                    timeout=90_000,
                )
                tab.wait_for_timeout(1000)  # charts mount a moment after the run ends
                shown = tab.locator(".js-plotly-plot").count()
                assert tab.locator("[data-testid='stException']").count() == 0, page
                assert shown == charts > 0, f"{page}: Chromium shows {shown} charts, the generator saw {charts}"
                tab.close()
        finally:
            b.close()
    foreign = [u for u in requested if urllib.parse.urlsplit(u).hostname not in ("127.0.0.1", "localhost", None)]
    assert foreign == [], f"started as the README says, the page called other hosts: {foreign[:3]}"


def test_a_short_class_runs_without_errors_and_reports_memory(server):
    opt = loadtest.Options(url=server, sessions=2, pause=0.2, duration=8, ramp=0.5, warmup=False, sample_every=1,
                           pages=("lstm", "rnn"))
    rep = asyncio.run(loadtest.run_class(opt))
    assert rep["overall"]["runs"] >= 4, rep["overall"]
    assert rep["overall"]["errors"] == 0 and rep["overall"]["timeouts"] == 0, rep["errors_by_kind"]
    assert set(rep["pages"]) <= {"lstm", "rnn"} and rep["runs_per_s"] > 0
    assert {r["kind"] for r in rep["runs"]} & {"sentence", "control"}, "students type and move controls"
    assert rep["memory"]["processes"] >= 1 and rep["memory"]["rss_total_max_mb"] > 100, "the server process is found"
    assert rep["bytes_per_run"]["median"] > 1000


def test_only_the_loopback_address():
    with pytest.raises(ValueError, match="loopback"):
        loadtest.BrowserSession("http://192.0.2.1:8501")
