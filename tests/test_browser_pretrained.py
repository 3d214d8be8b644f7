"""The Pretrained (MiniLM) page in Chromium at 128 and 512 word pieces: it draws, hover reads exact weights,
choosing one piece leaves only its lines, and the screenshots land in artifacts/screenshots/ to be looked at."""

from __future__ import annotations

import urllib.parse

import pytest

from core import bert
from tests.test_browser import Visit, app_url, browser, server  # noqa: F401  (the fixtures: one live server, one Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not bert.installed(), reason=f"needs {bert.PACKAGE}")]

RECIPE = ('To make the "quick" bread (my grandmother\'s recipe), whisk 2 eggs with 150 g of sugar; then fold in the '
          'flour, a pinch of salt and the melted butter. Does it need yeast? No: baking powder (one teaspoon) is '
          'enough. Bake at 180 °C for about 35 minutes, until a knife comes out clean. ')


def text_of(pieces: int) -> str:
    words = (RECIPE * 20).split()
    model = bert.load()
    return next(t for k in range(1, len(words)) if model.pieces(t := " ".join(words[:k])).total >= pieces)


def head_view_lines(visit: Visit) -> int:
    """Line segments drawn in the first chart (the head view): one path per head and strength."""
    return visit.page.locator(".js-plotly-plot").first.locator("g.scatterlayer path.js-line").evaluate_all(
        "els => els.filter(e => (e.getAttribute('d') || '').length > 0).map(e => e.getAttribute('d').split('M').length - 1)"
        ".reduce((a, b) => a + b, 0)"
    )


@pytest.mark.parametrize("pieces", [128, 512])
def test_pretrained_page_at_128_and_512_pieces(browser, server, pieces):  # noqa: F811
    visit = Visit(browser, app_url(server, "pretrained", text_of(pieces)))
    try:
        visit.wait_for_charts(6)
        page = visit.page
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("text=Pieces 0 to 63 of").count() == 1, "long inputs say which pieces are drawn"
        visit.screenshot(f"pretrained-{pieces}")
        # hover a query piece of the head view (its labels are the second-to-last trace, keys the last): its strongest weights, exact, in the hover box
        box = page.locator(".js-plotly-plot").first.locator("g.trace.scatter").nth(-2).locator("path.point").nth(3).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
        hover = page.locator(".hoverlayer .hovertext").first.text_content()
        assert "query 3:" in hover and "head" in hover and "→" in hover
        every = head_view_lines(visit)
        url = urllib.parse.urlparse(page.url)
        query = urllib.parse.parse_qs(url.query)
        query["pre_hv_focus"] = ["3"]
        page.goto(url._replace(query=urllib.parse.urlencode(query, doseq=True)).geturl())
        visit.settle()
        visit.wait_for_charts(6)
        one = head_view_lines(visit)
        assert 0 < one < every, "one piece's lines only"
        assert not visit.dialogs
    finally:
        visit.close()
