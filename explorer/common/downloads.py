"""Charts on a page, each with its data (CSV) and the figure (HTML) for download."""

from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from explorer import charts

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def chart(fig, key: str, data: Callable[[], pd.DataFrame], filename: str) -> None:
    """Draw a figure, then offer its data (CSV) and the figure (HTML) for download.

    Both downloads are built only when clicked (the callable runs then), so reruns stay fast.
    The camera button of the chart itself saves a PNG.
    """
    config = dict(PLOTLY_CONFIG, toImageButtonOptions={"format": "png", "filename": filename, "scale": 2})
    st.plotly_chart(fig, key=f"chart_{key}", config=config, width="stretch")
    with st.container(horizontal=True, gap="small"):
        csv_download(data, filename, key)
        st.download_button(
            "Figure (HTML)",
            data=lambda: charts.figure_html(fig).encode("utf-8"),
            file_name=f"{filename}.html",
            mime="text/html",
            key=f"html_{key}",
            on_click="ignore",
            icon=":material/download:",
            type="tertiary",
        )


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
