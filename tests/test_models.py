"""The shipped models (assets/models), loading errors, and training on a tiny corpus."""
import json
import shutil

import pytest
import torch

import core
from core import models
from core.memory import recall_curve
from core.train import default_config, train

LECTURE = [
    "Apple is my favorite fruit",
    "Apple is my favorite ___, and I work there",
    "I grew up in the Middle East but now live in London. I speak fluent ___",
    "The food was good, not bad at all",
    "The food was bad, not good at all",
]
SHIPPED = ("rnn", "lstm", "gru", "transformer", "bilstm")


@pytest.fixture(scope="module")
def shipped():
    return {name: core.load(name) for name in SHIPPED}


def test_every_model_is_shipped_with_its_files():
    assert core.available()[:5] == list(SHIPPED)
    for name in SHIPPED:
        folder = models.MODELS_DIR / name
        for f in ("model.safetensors", "config.json", "vocab.json", "metrics.json"):
            assert (folder / f).is_file(), folder / f
    sizes = sum(p.stat().st_size for p in (models.REPO_ROOT / "assets").rglob("*") if p.is_file())
    assert sizes < 40 * 2**20, f"assets/ holds {sizes / 2**20:.1f} MB"


def test_one_vocabulary_one_embedding_size_and_similar_sizes(shipped):
    first = shipped["rnn"]
    for m in shipped.values():
        assert m.vocab.itos == first.vocab.itos
        assert m.config.embed_dim == first.config.embed_dim
    counts = [m.parameter_count() for name, m in shipped.items() if name != "bilstm"]
    assert max(counts) <= 2 * min(counts)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_trace_the_lecture(shipped, name):
    model = shipped[name]
    for text in LECTURE:
        tr = model.trace(text)
        assert tr.tokens == core.tokenize(text).tokens
        assert tr["logits"].shape == (len(tr.tokens), len(model.vocab))
        assert torch.isfinite(tr["logits"]).all()
    metrics = models.metrics(name)
    assert set(metrics["recall_by_distance"]) == {"0", "5", "10", "20", "50", "100", "200"}
    assert ("perplexity" in metrics) != (name == "bilstm")
    assert metrics["parameters"] == model.parameter_count()


@pytest.mark.parametrize("name", SHIPPED)
def test_predict_is_deterministic(shipped, name):
    model = shipped[name]
    first = model.predict(LECTURE[2], k=5)
    assert first == model.predict(LECTURE[2], k=5) == core.load(name).predict(LECTURE[2], k=5)
    assert len(first) == len(core.tokenize(LECTURE[2]).tokens) and all(len(row) == 5 for row in first)
    for row in first:
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert not {w for w, _ in row} & {"<pad>", "<blank>", "<num>"}


def test_lstm_recalls_fifty_words_back(shipped):
    """The trained-models issue's bar: the LSTM's held-out recall at distance 50 is at least 0.9,
    measured again here on the held-out probes, and equal to what its metrics.json reports."""
    curve = recall_curve(shipped["lstm"], (50,))
    assert curve["accuracy"].iloc[0] >= 0.9
    assert curve["accuracy"].iloc[0] == pytest.approx(models.metrics("lstm")["recall_by_distance"]["50"], abs=1e-4)


def test_a_corrupt_checkpoint_names_the_file_and_the_fix(tmp_path):
    for name in ("lstm", "rnn"):
        shutil.copytree(models.MODELS_DIR / name, tmp_path / name)
    (tmp_path / "lstm" / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(core.CheckpointError) as e:
        core.load("lstm", tmp_path)
    message = str(e.value)
    assert str(tmp_path / "lstm" / "model.safetensors") in message
    assert "python -m core train --arch lstm" in message
    assert core.load("rnn", tmp_path).trace("apple is")  # the other models keep working


def test_a_missing_folder_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(core.CheckpointError) as e:
        core.load("gru", tmp_path)
    assert str(tmp_path / "gru") in str(e.value) and "python -m core train --arch gru" in str(e.value)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    shutil.copytree(models.MODELS_DIR / "gru", tmp_path / "gru")
    config = json.loads((tmp_path / "gru" / "config.json").read_text())
    config["hidden_size"] = 7
    (tmp_path / "gru" / "config.json").write_text(json.dumps(config))
    with pytest.raises(core.CheckpointError, match="does not match"):
        core.load("gru", tmp_path)


TINY_CORPUS = [
    "the cat sat on the mat .", "the dog sat on the log .", "a cat and a dog .", "the mat is red .",
    "the log is old .", "a red cat sat on a red mat .", "the old dog sat .", "a dog is on the log .",
] * 20


def tiny_config(arch, **kw):
    settings = dict(steps=40, batch=4, window=24, vocab_size=300, embed_dim=16, hidden_size=16, heads=2, warmup=5, lr=1e-2)
    return default_config(arch, **{**settings, **kw})


@pytest.mark.parametrize("arch", ["lstm", "transformer", "bilstm"])
def test_training_on_a_tiny_corpus_lowers_the_loss(tmp_path, arch):
    model, metrics = train(tiny_config(arch), out_dir=tmp_path / arch, sentences=TINY_CORPUS,
                           heldout=TINY_CORPUS[:8], use_probes=False, evaluate=False, progress=False)
    assert metrics["steps"] == 40
    assert metrics["loss_last20"] < 0.6 * metrics["loss_first"], metrics
    loaded = core.load(arch, tmp_path)
    assert loaded.predict("the cat sat on the", k=3) == model.predict("the cat sat on the", k=3)
    # the weights were measured as they ship: rounded to float16, so saving and loading changes nothing
    assert (tmp_path / arch / "model.safetensors").stat().st_size < 2.2 * sum(p.numel() for p in model.parameters())
    ours, shipped = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(ours[k], shipped[k]) for k in ours)


def test_training_is_reproducible(tmp_path):
    a, _ = train(tiny_config("gru", steps=6), out_dir=False, sentences=TINY_CORPUS, use_probes=False,
                 evaluate=False, progress=False)
    b, _ = train(tiny_config("gru", steps=6), out_dir=False, sentences=TINY_CORPUS, use_probes=False,
                 evaluate=False, progress=False)
    c, _ = train(tiny_config("gru", steps=6, seed=1), out_dir=False, sentences=TINY_CORPUS, use_probes=False,
                 evaluate=False, progress=False)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
