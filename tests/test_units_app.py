"""The units controls of the recurrent pages under AppTest: ranking, feature tracks, colour range, select-and-match.

Every control is in the URL; hostile text and hostile URL values give notes, never exceptions, and
user or corpus text reaches the page only as plain text (st.text, table cells, escaped chart labels).
"""

from __future__ import annotations

import json
import os

import pytest

import core
from core import units as core_units
from explorer import units_view
from tests.test_explorer_apptest import (
    EMOJI_RTL_CONTROL,
    LONG,
    PAYLOADS,
    models_dir,  # noqa: F401  (the module's models)
    open_page,
    plotly_specs,
    shown_strings,
)

RECURRENT = {"rnn": "rnn", "lstm": "lstm", "gru": "gru", "bidirectional": "bi"}
PARENS = 'The plan (which nobody liked) did not work, and "as expected" it failed.'


@pytest.fixture(autouse=True)
def small_search_sample(monkeypatch):
    """Search 100 held-out sentences instead of 2,000: the same code, a faster first trace."""
    monkeypatch.setattr(units_view, "SEARCH_SAMPLE", 100)


def open_with(page: str, text: str | None, **params) -> object:
    """``open_page`` with URL parameters for the page's controls."""
    from streamlit.testing.v1 import AppTest

    from tests.test_explorer_apptest import APP

    at = AppTest.from_file(APP, default_timeout=120)
    if text is not None:
        at.query_params["sentence"] = text
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(f"views/{page}.py")  # the first run is the page itself, as a link to it opens
    at.run()
    return at


def widget(at, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


def is_tracks(t: dict) -> bool:
    return t["type"] == "heatmap" and list(t["y"]) == units_view.TRACKS


def heatmaps(at) -> list[dict]:
    return [t for spec in plotly_specs(at) for t in spec["data"] if t["type"] == "heatmap"]


@pytest.mark.parametrize("page", RECURRENT)
def test_default_ranking_is_stated_and_in_the_url(page):
    p = RECURRENT[page]
    at = open_page(page, PARENS)
    assert not at.exception and not at.error
    assert widget(at, "selectbox", f"{p}_rank").value == "detrended"
    assert at.query_params[f"{p}_rank"] == "detrended"
    assert any("changes most after removing the position trend" in s for s in shown_strings(at))
    # the feature tracks are drawn under the heatmaps, on the same token axis
    assert any(is_tracks(t) for t in plotly_specs(at)[0]["data"])


@pytest.mark.parametrize("by", list(core_units.RANKINGS))
def test_every_ranking_orders_the_rows_as_core_says(by):
    at = open_with("lstm", PARENS, lstm_rank=by, lstm_rank_feature="paren_depth", lstm_units="16")
    assert not at.exception and not at.error
    assert widget(at, "selectbox", "lstm_rank").value == by
    first = heatmaps(at)[0]
    rows = [int(y.split()[-1]) for y in first["y"]]
    model = core.load("lstm", os.environ["GATESCOPE_MODELS"])
    trace = model.trace(PARENS)
    cursor = widget(at, "slider", "lstm_cursor").value
    want = core_units.rank(trace, "layers.0.forward.cell", by, feature="paren_depth", cursor=cursor)["unit"][:16]
    assert rows == [int(u) for u in want]


def test_a_constant_feature_says_so():
    at = open_with("gru", "no brackets here at all", gru_rank="feature", gru_rank_feature="paren_depth")
    assert not at.exception
    assert any("same at every token" in c.value for c in at.caption)


def test_cell_state_colours_are_robust_and_the_true_range_is_stated():
    at = open_page("lstm", PARENS)
    spec = plotly_specs(at)[0]
    bars = {k: v for k, v in spec["layout"].items() if k.startswith("coloraxis")}
    cell = next(v for v in bars.values() if "c_t" in v["colorbar"]["title"]["text"])
    assert "true" in cell["colorbar"]["title"]["text"] and "1st-99th" in cell["colorbar"]["title"]["text"]
    assert cell["cmax"] == pytest.approx(-cell["cmin"])


def test_each_row_on_its_own_scale():
    at = open_with("lstm", PARENS, lstm_normalise="true")
    assert not at.exception
    cell = heatmaps(at)[4]
    assert "customdata" in cell and "÷" in cell["hovertemplate"]


def test_select_a_span_lists_matching_units_and_searches_held_out_text():
    at = open_with("lstm", PARENS, lstm_span="2,7", lstm_tolerance="0.2", lstm_search="true", lstm_search_units="1")
    assert not at.exception and not at.error
    assert any("Span 2-6: ( which nobody liked )" in t.value for t in at.text)
    found = next(d.value for d in at.dataframe if list(d.value.columns) == ["unit", "score"])
    assert len(found) > 0
    matches = next(d.value for d in at.dataframe if "match" in d.value.columns)
    assert list(matches.columns) == ["score", "sentence", "before", "match", "after"]
    sample = core_units.heldout_sample(units_view.SEARCH_SAMPLE)
    for r in matches.itertuples():  # each match is text of the held-out sentence it names, in order
        tokens = " ".join(core.tokenize(sample[r.sentence]).tokens)
        assert f"{r.before.lstrip('… ')} {r.match}".strip() in tokens


@pytest.mark.parametrize("text", [*PAYLOADS, EMOJI_RTL_CONTROL, LONG, "a", "(((((", '"""'])
@pytest.mark.parametrize("page", ["lstm", "rnn", "bidirectional"])
def test_hostile_text_with_every_units_control_on(page, text):
    p = RECURRENT[page]
    at = open_with(page, text, **{f"{p}_rank": "feature", f"{p}_rank_feature": "in_quotes", f"{p}_normalise": "true",
                                  f"{p}_span": "0,3", f"{p}_tolerance": "0.5", f"{p}_search": "true"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for s in shown_strings(at):
        assert text not in s or len(text) < 6, "user text must never reach Markdown"
    for spec in plotly_specs(at):
        raw = json.dumps(spec)
        for tag in ("<img", "<script", "<a "):
            assert tag not in raw, f"an unescaped {tag} reached a figure"


@pytest.mark.parametrize(
    "params, note",
    [
        ({"lstm_rank": "<script>alert(1)</script>"}, "Rank units by"),
        ({"lstm_rank": "feature", "lstm_rank_feature": "**bold**"}, "Feature X"),
        ({"lstm_span": "9,999999"}, "Span"),
        ({"lstm_span": "x"}, "Span"),
        ({"lstm_threshold": "nan"}, "Threshold"),
        ({"lstm_tolerance": "7"}, "Tolerance"),
        ({"lstm_search": "maybe"}, "Find these units"),
        ({"lstm_search": "true", "lstm_search_units": "-4"}, "Units searched"),
    ],
)
def test_hostile_url_values_give_a_note_not_an_error(params, note):
    at = open_with("lstm", PARENS, **params)
    assert not at.exception and not at.error
    notes = [c.value for c in at.caption if c.value.startswith("ℹ️")]
    assert any(note in n for n in notes), notes
    for s in shown_strings(at):
        assert "<script>" not in s and "**bold**" not in s


def test_a_copied_link_reproduces_the_units_controls():
    params = {"lstm_rank": "feature", "lstm_rank_feature": "negation", "lstm_tracks": "false", "lstm_normalise": "true",
              "lstm_match_value": "cell state c_t", "lstm_span": "8,10", "lstm_threshold": "0.1",
              "lstm_tolerance": "0.25"}
    first = open_with("lstm", PARENS, **params)
    link = dict(first.query_params)
    second = open_with("lstm", None, **link)
    for k, v in params.items():
        assert second.query_params[k] == v, k
    assert heatmaps(first)[0]["y"] == heatmaps(second)[0]["y"]
    gates = plotly_specs(second)[0]["data"]
    assert not any(is_tracks(t) for t in gates), "tracks off, as the link says"


# -- the chart functions, without streamlit ------------------------------------------------------------------
def _trace_with_outlier():
    import numpy as np
    import torch

    from core.trace import Trace

    rng = np.random.default_rng(0)
    T, H = 30, 4
    cell = rng.normal(size=(T, H))
    cell[5, 2] = 30.0  # one unit far out
    tokens = ["<b>x</b>", "(", "a", ")"] + [f"w{i}" for i in range(T - 4)]
    return Trace({"embedding": torch.zeros(T, 1), "layers.0.forward.cell": torch.tensor(cell)}, tokens=tokens)


def test_state_heatmaps_draw_tracks_on_the_same_axis_and_a_robust_cell_range():
    from explorer import charts

    tr = _trace_with_outlier()
    panel = charts.Panel("layers.0.forward.cell", "cell state c_t", "free", "c_t")
    fig = charts.state_heatmaps(tr, [panel], [0, 1, 2, 3], tracks=units_view.tracks_frame(tr))
    heat, tracks = fig.data
    assert list(tracks.y) == units_view.TRACKS and tracks.xaxis == "x2"
    assert fig.layout.xaxis2.matches == "x" and list(tracks.x) == list(heat.x)
    assert fig.layout.xaxis2.showticklabels and not fig.layout.xaxis.showticklabels
    bar = fig.layout.coloraxis1
    assert bar.cmax < 5 and bar.cmin == -bar.cmax
    assert "true" in bar.colorbar.title.text and "30" in bar.colorbar.title.text
    assert "<b>x</b>" not in fig.to_json(), "token labels are escaped"
    depth = dict(zip(tracks.y, tracks.customdata))["paren_depth"]
    assert list(depth[:5]) == [0, 1, 1, 1, 0]


def test_normalised_rows_keep_the_true_value_for_hover():
    import numpy as np

    from explorer import charts

    tr = _trace_with_outlier()
    panel = charts.Panel("layers.0.forward.cell", "cell state c_t", "free", "c_t")
    fig = charts.state_heatmaps(tr, [panel], [2], normalise=True)
    heat = fig.data[0]
    assert np.abs(np.asarray(heat.z)).max() == pytest.approx(1.0)
    assert np.asarray(heat.customdata).max() == pytest.approx(30.0)
    assert fig.layout.coloraxis1.cmin == -1.0


def test_match_frame_is_a_concordance():
    import pandas as pd

    from explorer import charts

    toks = tuple(f"t{i}" for i in range(30))
    found = pd.DataFrame([{"sentence": 7, "text": "", "tokens": toks, "start": 14, "end": 16, "span": "", "score": 0.9}])
    row = charts.match_frame(found, context=3).iloc[0]
    assert (row["before"], row["match"], row["after"]) == ("… t11 t12 t13", "t14 t15", "t16 t17 t18 …")
    edge = found.assign(start=0, end=2)
    row = charts.match_frame(edge, context=3).iloc[0]
    assert row["before"] == "" and row["match"] == "t0 t1"
