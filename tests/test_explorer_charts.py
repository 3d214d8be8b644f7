"""The chart builders on their own: tokens on the axes, escaped user text, thinned labels, light payloads."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
import torch

from core import Trace
from core.attention import query_steps
from explorer import charts

PAYLOAD_TOKENS = [
    "<img src=x onerror=alert(1)>",
    "<script>",
    "**bold**",
    "<a href='javascript:alert(1)'>x</a>",
    "the",
    "the",
]


def fake_trace(tokens, H=8, heads=2, d=4, unknown=()):
    """A Trace with the names the charts read: recurrent states and gates, attention, embeddings."""
    g = torch.Generator().manual_seed(0)
    T = len(tokens)
    values = {"embedding": torch.randn(T, 6, generator=g), "positional": torch.randn(T, 6, generator=g)}
    for name in ("forget_gate", "input_gate", "output_gate", "reset_gate", "update_gate"):
        values[f"layers.0.forward.{name}"] = torch.rand(T, H, generator=g)
    for name in ("candidate", "hidden", "cell", "preactivation"):
        values[f"layers.0.forward.{name}"] = torch.randn(T, H, generator=g).tanh()
    scores = torch.randn(heads, T, T, generator=g)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    v = torch.randn(heads, T, d, generator=g)
    for layer in range(2):
        p = f"layers.{layer}.attention."
        values.update(
            {
                p + "query": torch.randn(heads, T, d, generator=g),
                p + "key": torch.randn(heads, T, d, generator=g),
                p + "value": v,
                p + "scores": scores,
                p + "weights": weights,
                p + "context": weights @ v,
            }
        )
    return Trace(values, tokens=tokens, unknown=unknown, meta={"causal": True})


def figure_json(fig) -> str:
    """The figure as the browser gets it, with plotly's \\u003c escapes decoded so tags can be seen."""
    return json.dumps(json.loads(pio.to_json(fig, validate=False)), ensure_ascii=False)


def user_tags(raw: str) -> list[str]:
    """HTML tags in a figure other than the ones the charts add themselves."""
    ours = {"<br>", "<b>", "</b>", "</span>", "<sub>", "</sub>", "<extra>", "</extra>"}
    return [t for t in re.findall(r"<[^>]*>", raw) if t not in ours and not t.startswith("<span style=")]


def test_escape_and_shorten():
    assert charts.esc("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert charts.esc("don't") == "don't"
    assert charts.short("x" * 40) == "x" * 15 + "…" and len(charts.short("x" * 40)) == 16
    assert charts.short("short") == "short"


def test_repeated_tokens_keep_their_own_column_and_labels_are_thinned():
    tokens = ["the"] * 300
    axis = charts.token_axis(tokens)
    assert len(set(axis.categories)) == 300, "a repeated word is not merged"
    assert len(axis.tickvals) <= charts.MAX_TICKS and set(axis.tickvals) <= set(axis.categories)


def test_unknown_tokens_are_marked_on_the_axis():
    axis = charts.token_axis(["apple", "zqx"], unknown=[1])
    assert "color" in axis.ticktext[1] and axis.ticktext[1].count("zqx?") == 1
    assert "color" not in axis.ticktext[0]


@pytest.mark.parametrize(
    "build",
    [
        lambda tr: charts.state_heatmaps(
            tr,
            [
                charts.Panel("layers.0.forward.forget_gate", "forget gate", "gate"),
                charts.Panel("layers.0.forward.cell", "cell", "free"),
            ],
            [0, 1, 2],
            cursor=2,
        ),
        lambda tr: charts.unit_lines(tr, "layers.0.forward.hidden", [0, 3], "hidden", cursor=1),
        lambda tr: charts.vector_heatmap(tr, "embedding", "embedding", "value"),
        lambda tr: charts.attention_grid(tr),
        lambda tr: charts.attention_head(tr, 1, 0, query=3),
        lambda tr: charts.query_weight_bars(tr, 0, 1, 4),
        lambda tr: charts.value_mix(tr, 1, 1, 5),
    ],
    ids=[
        "state_heatmaps",
        "unit_lines",
        "vector_heatmap",
        "attention_grid",
        "attention_head",
        "query_weight_bars",
        "value_mix",
    ],
)
def test_user_text_reaches_figures_only_escaped(build):
    tr = fake_trace(PAYLOAD_TOKENS, unknown=[0])
    raw = figure_json(build(tr))
    assert user_tags(raw) == [], "a tag typed by the user reached the figure unescaped"
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw or "&lt;img src=x onerror=" in raw


def test_word_bars_escape_vocabulary_words():
    raw = figure_json(charts.top_words_bars([("<b>x</b>", 0.5), ("fruit", 0.2)], "after <i>"))
    assert user_tags(raw) == []
    raw = figure_json(charts.blank_fill_bars([("A", [("<img>", 0.3)]), ("B", [("fruit", 0.2)])]))
    assert user_tags(raw) == []


def test_every_heatmap_has_a_labelled_colour_scale_and_exact_hover():
    tr = fake_trace(["a", "b", "c", "d", "e", "f"])
    for fig in (
        charts.state_heatmaps(tr, [charts.Panel("layers.0.forward.hidden", "h", "tanh", "h (-1..1)")], [0, 1]),
        charts.vector_heatmap(tr, "positional", "PE", "PE value"),
        charts.attention_grid(tr),
        charts.value_mix(tr, 0, 0, 3),
    ):
        spec = json.loads(figure_json(fig))
        axes = {k: v for k, v in spec["layout"].items() if k.startswith("coloraxis")}
        assert axes and all(a["colorbar"]["title"]["text"] for a in axes.values())
        for t in spec["data"]:
            assert "%{z" in t["hovertemplate"] and "<extra></extra>" in t["hovertemplate"]


def test_gate_panels_use_fixed_ranges():
    tr = fake_trace(list("abcdef"))
    fig = charts.state_heatmaps(
        tr,
        [
            charts.Panel("layers.0.forward.forget_gate", "f", "gate"),
            charts.Panel("layers.0.forward.candidate", "g", "tanh"),
        ],
        [0, 1, 2],
    )
    lay = fig.layout
    assert (lay.coloraxis.cmin, lay.coloraxis.cmax) == (0, 1)
    assert (lay.coloraxis2.cmin, lay.coloraxis2.cmax) == (-1, 1)


def test_units_ranked_by_change():
    states = torch.zeros(5, 3)
    states[:, 1] = torch.tensor([0, 1, 0, 1, 0])  # changes most
    states[:, 2] = torch.tensor([0, 0.1, 0.2, 0.3, 0.4])
    change = Trace({"embedding": torch.zeros(5, 2), "h": states}).unit_change("h").numpy()
    assert change.tolist() == pytest.approx([0, 1, 0.1])
    assert charts.top_units(change, 2) == [1, 2]
    assert charts.top_units(change, None) == [1, 2, 0]


def test_512_tokens_stay_light():
    tokens = [f"w{i % 97}" for i in range(512)]
    tr = fake_trace(tokens, H=256)
    panels = [
        charts.Panel(f"layers.0.forward.{n}", n, "gate")
        for n in ("forget_gate", "input_gate", "candidate", "output_gate", "cell", "hidden")
    ]
    fig = charts.state_heatmaps(tr, panels, list(range(32)))
    size = len(figure_json(fig))
    assert size < 1_500_000, f"the six-panel chart sends {size:,} bytes"
    assert len(fig.layout.xaxis.tickvals) <= charts.MAX_TICKS


def test_query_steps_are_the_lecture_steps():
    """core.attention.query_steps: the numbers of the Attention page's step-by-step view (on this file's fake trace)."""
    tr = fake_trace(list("abcdef"), d=4)
    steps = query_steps(tr, 0, 1, 2)
    assert np.allclose(steps.q_dot_k / 2.0, steps.scaled)  # sqrt(d) = 2
    assert np.isinf(steps.masked[3:]).all() and np.isfinite(steps.masked[:3]).all()
    assert abs(steps.weight.sum() - 1) < 1e-6
    # the softmax written out: e^(s - max) / sum e^(s_j - max) is the traced weight
    assert steps.attrs["max_score"] == steps.scaled[:3].max()
    assert np.isclose(steps.attrs["denominator"], np.exp(steps.scaled[:3] - steps.scaled[:3].max()).sum())
    assert np.allclose(steps.exp_shifted / steps.attrs["denominator"], steps.weight, atol=1e-6)
    assert (steps.exp_shifted[3:] == 0).all()


def test_frames_match_their_charts():
    tr = fake_trace(["the", "food", "the"])
    panels = [charts.Panel("layers.0.forward.hidden", "h", "tanh")]
    frame = charts.state_frame(tr, panels, [4, 1])
    assert list(frame.columns) == ["value_name", "position", "token", "unit", "value"]
    assert len(frame) == 3 * 2 and list(frame.token[:2]) == ["the", "the"]
    assert np.isclose(frame.value[0], float(tr["layers.0.forward.hidden"][0, 4]))


def test_cell_diagrams_show_the_numbers():
    lstm = figure_json(
        charts.lstm_cell_diagram(dict(f=0.9, i=0.1, g=-0.5, o=0.7, c_prev=0.4, c=0.31, h_prev=0.2, h=0.21))
    )
    for number in ("0.900", "0.100", "-0.500", "0.700", "0.400", "0.310", "0.210"):
        assert number in lstm
    gru = figure_json(charts.gru_cell_diagram(dict(r=0.3, z=0.8, n=-0.2, h_prev=0.5, h=0.36)))
    for number in ("0.300", "0.800", "-0.200", "0.500", "0.360"):
        assert number in gru


def test_marks_read_on_light_and_dark_themes():
    """Dark theme: Streamlit's template turns text without a colour white, and black marks vanish on its background."""
    for fig in (
        charts.lstm_cell_diagram(dict(f=0.9, i=0.1, g=-0.5, o=0.7, c_prev=0.4, c=0.31, h_prev=0.2, h=0.21)),
        charts.gru_cell_diagram(dict(r=0.3, z=0.8, n=-0.2, h_prev=0.5, h=0.36)),
    ):
        assert fig.layout.plot_bgcolor == "white", "the cell is drawn on its own white card"
        assert all(a.font.color for a in fig.layout.annotations if a.text), "every label has its own colour"
    tr = fake_trace(list("abcdef"))
    heat = charts.state_heatmaps(tr, [charts.Panel("layers.0.forward.hidden", "h", "tanh")], [0, 1], cursor=2)
    lines = charts.unit_lines(tr, "layers.0.forward.hidden", [0], "h", cursor=2)
    for shape in (*heat.layout.shapes, *lines.layout.shapes):
        assert shape.line.color == charts.CURSOR_COLOUR != "black"


def test_the_lecture_line_is_drawn_over_the_relu_line_it_coincides_with():
    steps = np.arange(5)
    frames = {act: pd.DataFrame({"step": steps, "gradient": 0.5**steps, "w_power": 0.5**steps}) for act in ("tanh", "relu")}
    names = [t.name for t in charts.power_chart(frames, 0.5).data]
    assert names[-1].startswith("w^n") and names.index("relu RNN: |dh_n/dh_0|") < names.index(names[-1])


def test_the_value_mix_colour_bars_stay_inside_the_figure():
    fig = charts.value_mix(fake_trace(list("abcdef")), 1, 1, 5)
    for axis in (fig.layout.coloraxis, fig.layout.coloraxis2):
        assert axis.colorbar.x + 0.08 <= 1.0, "room for the bar, its ticks and its title"


def test_figures_built_without_validation_equal_validated_ones():
    """charts._figure skips plotly's validation when the dicts need none (base.canonical): for every
    chart, what the browser gets equals what the validated figure gives; the heatmaps take the fast path."""
    import plotly.graph_objects as go

    from explorer.charts.base import canonical

    tr = fake_trace(PAYLOAD_TOKENS + ["a", "b"], unknown=[0])
    panels = [
        charts.Panel("layers.0.forward.forget_gate", "forget gate", "gate"),
        charts.Panel("layers.0.forward.candidate", "candidate", "tanh"),
        charts.Panel("layers.0.forward.cell", "cell", "free"),
    ]
    figures = {
        "state_heatmaps": charts.state_heatmaps(tr, panels, [0, 1, 2], cursor=2),
        "attention_grid": charts.attention_grid(tr),
        "unit_lines": charts.unit_lines(tr, "layers.0.forward.hidden", [0, 3], "hidden", cursor=1),
        "vector_heatmap": charts.vector_heatmap(tr, "embedding", "embedding", "value"),
        "attention_head": charts.attention_head(tr, 1, 0, query=3),
        "query_weight_bars": charts.query_weight_bars(tr, 0, 1, 4),
        "value_mix": charts.value_mix(tr, 1, 1, 5),
        "top_words_bars": charts.top_words_bars([("fruit", 0.5), ("<b>x</b>", 0.2)], "after <i>"),
    }
    for name, fig in figures.items():
        fast = json.loads(pio.to_json(fig, validate=False))
        validated = json.loads(pio.to_json(go.Figure(fig.to_dict()), validate=False))
        assert fast == validated, name
    for name in ("state_heatmaps", "attention_grid"):  # the big ones: most of a page's payload
        assert canonical(figures[name].to_dict()), f"{name} is validated: write its dicts in plotly's own form"
    assert not canonical({"layout": {"xaxis": {"title_text": "x"}}})
    assert not canonical({"data": [{"type": "heatmap", "coloraxis": "coloraxis1"}]})
    assert not canonical({"layout": {"coloraxis": {"colorscale": "RdBu_r"}}})
