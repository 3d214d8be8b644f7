"""gatescope's web explorer (Streamlit): ``streamlit run explorer/app.py``.

``app.py`` is the router and frame; ``views/`` holds one page each; ``charts/`` builds every
figure from a Trace (one module per kind of chart); ``common/`` caches models and traces, draws
the frame and the shared pickers, keeps every control in the URL (``common/url.py``) and draws
charts with their downloads; ``gated.py`` is the view the LSTM and GRU pages share;
``bench.py`` times every page.
"""
