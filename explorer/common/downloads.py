"""Charts on a page, each with its data (CSV) for download, and one HTML file of all the page's charts.

The HTML download is once per page (a sidebar button, after the page has drawn its charts): an
interactive copy needs plotly.js inlined to open offline, 4.7 MB, and one file per chart repeated
it for every chart.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import pandas as pd
import streamlit as st

from explorer import charts

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
PAGE_HTML_LABEL = "All charts of this page (HTML)"
_FIGURES = "_page_figures"  # session_state: (filename, figure) of every chart drawn in this run


def chart(fig, key: str, data: Callable[[], pd.DataFrame], filename: str) -> None:
    """Draw a figure, then offer its data (CSV) for download; the figure joins the page's HTML file.

    The CSV is built only when clicked (the callable runs then), so reruns stay fast.
    The camera button of the chart itself saves a PNG.
    """
    config = dict(PLOTLY_CONFIG, toImageButtonOptions={"format": "png", "filename": filename, "scale": 2})
    st.plotly_chart(fig, key=f"chart_{key}", config=config, width="stretch")
    st.session_state.setdefault(_FIGURES, []).append((filename, fig))
    csv_download(data, filename, key)


def csv_download(data: Callable[[], pd.DataFrame], filename: str, key: str) -> None:
    """A "Data (CSV)" button; the table is built only when clicked."""
    st.download_button(
        "Data (CSV)",
        data=lambda: data().to_csv(index=False).encode("utf-8"),
        file_name=f"{filename}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        on_click="ignore",
        icon=":material/table:",
        type="tertiary",
    )


@contextlib.contextmanager
def page_figures(title: str, name: str, text: Callable[[], str]) -> Iterator[None]:
    """Wrap a page's run: after it, a sidebar button downloads all its charts in one HTML file (built on click).

    ``name`` goes in the file name; ``text()`` (the sentence) is printed, escaped, above the charts."""
    st.session_state[_FIGURES] = []
    yield
    figures = st.session_state.pop(_FIGURES, [])
    if figures:
        sentence = text()
        st.sidebar.download_button(
            PAGE_HTML_LABEL,
            data=lambda: charts.figures_html(f"gatescope: {title}", figures, sentence).encode("utf-8"),
            file_name=f"gatescope_{name}.html",
            mime="text/html",
            key="page_html",
            on_click="ignore",
            icon=":material/download:",
            help=f"The {len(figures)} charts of this page, interactive, in one file that opens offline "
            "(plotly.js, about 4.7 MB, is inside it once).",
        )
