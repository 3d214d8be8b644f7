"""What every page shares; pages write ``from explorer import common`` and ``common.x``.

    cache.py      models, traces (shared, read-only, without logits) and measurements, cached
    widgets.py    the frame (sentence, lecture examples), the trace of a page, the shared pickers
    url.py        controls in the URL: ``common.slider``, ``common.selectbox`` ... (read its docstring
                  before adding a control: every control that changes a view goes through it)
    downloads.py  a chart with its CSV and HTML downloads, a CSV button

Safety rule of the whole app: text a user typed is shown only through ``st.text``, ``st.code``,
widget values and ``st.dataframe`` cells, and in figures only after ``charts.esc``. It never
reaches Markdown, HTML or a label.
"""

from .cache import (
    LEFT_OUT,
    TRACE_ENTRIES,
    TRACE_TTL,
    available,
    memory_result,
    metrics,
    model,
    models_dir,
    top_words,
    trace,
    word_probability,
)
from .downloads import PLOTLY_CONFIG, chart, csv_download
from .url import (
    checkbox,
    mark_drawn,
    multiselect,
    number_input,
    radio,
    selectbox,
    slider,
    text_input,
    toggle,
    url_scope,
)
from .widgets import (
    DEFAULT_SENTENCE,
    EXAMPLES,
    EXAMPLES_FILE,
    MAX_CHARS,
    ROOT,
    UNIT_CHOICES,
    WINDOW_FROM,
    cursor_picker,
    describe_model,
    model_picker,
    num,
    page_trace,
    sentence,
    sentence_frame,
    show_token,
    truncation_warning,
    units_picker,
    window_picker,
)

__all__ = [
    "DEFAULT_SENTENCE", "EXAMPLES", "EXAMPLES_FILE", "LEFT_OUT", "MAX_CHARS", "PLOTLY_CONFIG", "ROOT",
    "TRACE_ENTRIES", "TRACE_TTL", "UNIT_CHOICES", "WINDOW_FROM", "available", "chart", "checkbox", "csv_download",
    "cursor_picker", "describe_model", "mark_drawn", "memory_result", "metrics", "model", "model_picker",
    "models_dir", "multiselect", "num", "number_input", "page_trace", "radio", "selectbox", "sentence",
    "sentence_frame", "show_token", "slider", "text_input", "toggle", "top_words", "trace", "truncation_warning",
    "units_picker", "url_scope", "window_picker", "word_probability",
]
