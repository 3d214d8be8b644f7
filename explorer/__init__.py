"""gatescope's web explorer (Streamlit): ``streamlit run explorer/app.py``.

``app.py`` is the router and frame; ``views/`` holds one page each; ``charts.py``
builds every figure from a Trace; ``common.py`` caches models and traces and
draws charts with their downloads; ``bench.py`` times every page.
"""
