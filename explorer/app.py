"""gatescope: the entry point. A router (st.navigation) and the frame every page shares.

    streamlit run explorer/app.py

The frame is the sidebar's sentence (a text area, key "sentence") and the
lecture's examples. The URL holds the page (its path), the sentence
(``?sentence=``) and every control of the page (``common.url``), so a copied
link shows the same view. Every page answers at its own path as typed
(``/tokens``, ``/lstm`` ...); the root ``/`` forwards to ``/tokens`` with the
query string, because Streamlit serves its default page only at the root.

The pages live in ``views/``, not ``pages/``: Streamlit treats a ``pages/``
folder beside the entry point as a legacy multipage app and would run a
page requested by URL on a fresh server without this frame.
"""

import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run explorer/app.py` puts only explorer/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from explorer import common  # noqa: E402


@st.cache_resource(show_spinner=False)
def _freeze_startup_heap() -> None:
    """Once per process, after the imports: put what is alive now (torch, pandas, plotly, Streamlit:
    about 250,000 objects) out of the garbage collector's reach (``gc.freeze``).

    Streamlit runs a full collection after every script run (``runner.postScriptGC``); over that heap
    it took 230-320 ms of GIL each time, most of a busy server's time. With the heap frozen the pass
    sees only what the runs made, and it still frees their figures at once (plotly objects point at
    their parents, so only the collector frees them)."""
    gc.freeze()


_freeze_startup_heap()


TOKENS = st.Page("views/tokens.py", title="Tokens and embeddings", icon="🔤", url_path="tokens")


def _home() -> None:
    st.switch_page(TOKENS, query_params=st.query_params.to_dict())


PAGES = {
    "Words to numbers": [
        st.Page(_home, title="gatescope", url_path="home", default=True, visibility="hidden"),
        TOKENS,
    ],
    "Recurrent networks": [
        st.Page("views/rnn.py", title="RNN", icon="🔁", url_path="rnn"),
        st.Page("views/lstm.py", title="LSTM", icon="🎛️", url_path="lstm"),
        st.Page("views/gru.py", title="GRU", icon="🔀", url_path="gru"),
        st.Page("views/bidirectional.py", title="Bidirectional", icon="↔️", url_path="bidirectional"),
    ],
    "Transformers": [
        st.Page("views/attention.py", title="Attention", icon="👁️", url_path="attention"),
        st.Page("views/pretrained.py", title="Pretrained: MiniLM", icon="🧩", url_path="pretrained"),
    ],
    "Comparing memory": [
        st.Page("views/memory.py", title="Memory: RNN vs LSTM", icon="🧠", url_path="memory"),
    ],
    "Why that prediction?": [
        st.Page("views/saliency.py", title="Saliency: words a prediction rests on", icon="🔎", url_path="saliency"),
        st.Page("views/compare.py", title="Two sentences compared", icon="⚖️", url_path="compare"),
    ],
    "Help": [
        st.Page("views/about.py", title="About: how to read each view", icon="❓", url_path="about"),
    ],
}

page = st.navigation(PAGES)
# Page icons are emoji and the favicon is our own file: a Material-symbol icon
# would make the browser fetch the favicon from another host.
st.set_page_config(page_title=f"{page.title} · gatescope", page_icon=str(ROOT / "assets" / "icon.png"), layout="wide")
with common.url_scope(), common.page_figures(page.title, page.url_path or "tokens", common.sentence):
    common.sentence_frame()
    page.run()
