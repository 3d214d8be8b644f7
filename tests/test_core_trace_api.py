"""The Trace object (mapping, export, read-only, pickling) and what core.instrument takes and refuses."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import core
from core import recurrent
from core.models import WordModel
from core.text import tokenize
from core.trace import Trace

import conftest

TEXT = "Apple is my favorite ___, and I work there"


pytestmark = pytest.mark.usefixtures("one_intra_op_thread")  # tests/conftest.py


def tiny_model(arch: str) -> WordModel:
    return conftest.tiny_model(arch, texts=["apple is my favorite fruit and i work there"], vocab_size=12, seed=0)


@pytest.fixture(scope="module")
def text_trace() -> Trace:
    return tiny_model("bilstm").trace(TEXT)


@pytest.fixture(scope="module")
def attention_trace() -> Trace:
    torch.manual_seed(0)
    return core.instrument(nn.MultiheadAttention(8, 2)).trace(torch.randn(5, 8), causal=True)


def module_snapshot(module: nn.Module) -> dict:
    """Everything tracing could leave behind on a module and its submodules."""
    snap = {}
    for path, m in module.named_modules():
        snap[path] = {
            "attributes": {
                k: (v if isinstance(v, (bool, int, float, str, type(None), tuple)) else type(v).__name__)
                for k, v in vars(m).items()
            },
            "hooks": {h: dict(getattr(m, h)) for h in vars(m) if h.endswith("hooks")},
            "training": m.training,
            "parameters": {k: (p.data_ptr(), p.requires_grad, p.grad) for k, p in m.named_parameters(recurse=False)},
            "buffers": {k: b.data_ptr() for k, b in m.named_buffers(recurse=False)},
        }
    snap["state_dict"] = {k: v.clone() for k, v in module.state_dict().items()}
    snap["global_hooks"] = (
        dict(nn.modules.module._global_forward_hooks),
        dict(nn.modules.module._global_forward_pre_hooks),
        dict(nn.modules.module._global_backward_hooks),
    )
    return snap


def assert_same_snapshot(before: dict, after: dict) -> None:
    sd_before, sd_after = before.pop("state_dict"), after.pop("state_dict")
    assert list(sd_before) == list(sd_after)
    for k in sd_before:
        assert torch.equal(sd_before[k], sd_after[k]), f"state_dict[{k!r}] changed"
    assert before == after


# -- mapping ----------------------------------------------------------------------------------
def test_mapping_interface(text_trace):
    tr = text_trace
    names = tr.names()
    assert names == list(tr) == list(tr.keys())
    assert len(tr) == len(names) > 10
    assert len(set(names)) == len(names)
    assert {"embedding", "output", "logits", "h_n", "c_n"} <= set(names)
    for name in names:
        assert name in tr
        assert isinstance(tr[name], torch.Tensor)
        assert tr.get(name) is tr[name]
    assert "nothing.here" not in tr
    assert tr.get("nothing.here") is None
    assert dict(tr.items()).keys() == set(names)
    forget = tr.names("*.forget_gate")
    assert forget == [f"layers.{l}.{d}.forget_gate" for l in (0, 1) for d in ("forward", "backward")]
    assert tr.names("layers.1.backward.*") == [n for n in names if n.startswith("layers.1.backward.")]
    assert tr.names("no.such.*") == []
    assert (
        list(tr.tokens)
        == list(tokenize(TEXT).tokens)
        == ["apple", "is", "my", "favorite", "___", ",", "and", "i", "work", "there"]
    )
    assert tr.length == 10
    assert tr.meta["architecture"] == "bilstm"


def test_membership_of_a_non_string_key_is_false():
    """Mapping semantics: ``0 in tr`` and ``tr.get(0)`` answer False / None, like a dict."""
    tr = core.instrument(nn.GRU(3, 4)).trace(torch.randn(4, 3))
    assert 0 not in tr
    assert tr.get(0) is None


def test_unknown_name_raises_a_key_error_naming_it(text_trace):
    with pytest.raises(KeyError, match="layers.7.forward.hidden"):
        text_trace["layers.7.forward.hidden"]
    with pytest.raises(KeyError) as info:
        text_trace["layers.0.forward.forget"]  # a near miss: the message suggests the real names
    assert "layers.0.forward.forget" in str(info.value)
    assert "layers.0.forward.forget_gate" in str(info.value)


def test_tensor_input_has_no_tokens():
    tr = core.instrument(nn.LSTM(3, 4)).trace(torch.randn(6, 3))
    assert tr.tokens is None
    assert tr.labels() == [str(i) for i in range(6)]
    assert tr.length == 6


# -- to_frame ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,layer,direction",
    [
        ("layers.0.forward.forget_gate", 0, "forward"),
        ("layers.1.backward.cell", 1, "backward"),
        ("embedding", None, None),
        ("logits", None, None),
    ],
)
def test_to_frame_recurrent(text_trace, name, layer, direction):
    tr = text_trace
    t = tr[name]
    frame = tr.to_frame(name)
    assert {"position", "token", "unit", "value", "layer", "direction"} <= set(frame.columns)
    assert "head" not in frame.columns
    assert len(frame) == t.numel()
    T, U = t.shape
    assert sorted(set(frame["position"])) == list(range(T))
    assert sorted(set(frame["unit"])) == list(range(U))
    np.testing.assert_array_equal(
        frame["value"].to_numpy(), t.double().numpy()[frame["position"].to_numpy(), frame["unit"].to_numpy()]
    )
    assert list(frame["token"]) == [tr.tokens[p] for p in frame["position"]]
    assert frame["layer"].isna().all() if layer is None else (frame["layer"] == layer).all()
    assert frame["direction"].isna().all() if direction is None else (frame["direction"] == direction).all()


@pytest.mark.parametrize("part", ["query", "scores", "weights", "context"])
def test_to_frame_attention_has_head(attention_trace, part):
    name = f"layers.0.attention.{part}"
    t = attention_trace[name]
    frame = attention_trace.to_frame(name)
    assert {"head", "position", "token", "unit", "value", "layer", "direction"} <= set(frame.columns)
    assert len(frame) == t.numel()
    idx = [frame[c].to_numpy() for c in ("head", "position", "unit")]
    np.testing.assert_array_equal(frame["value"].to_numpy(), t.double().numpy()[idx[0], idx[1], idx[2]])
    assert sorted(set(frame["head"])) == [0, 1]
    assert (frame["layer"] == 0).all()
    assert list(frame["token"]) == [str(p) for p in frame["position"]]


def test_to_frame_of_word_model_attention_names_tokens():
    tr = tiny_model("transformer").trace("apple is my favorite fruit")
    frame = tr.to_frame("layers.1.attention.weights")
    assert len(frame) == tr["layers.1.attention.weights"].numel() == 2 * 5 * 5
    assert (frame["layer"] == 1).all()
    assert list(frame["token"]) == [tr.tokens[p] for p in frame["position"]]
    upper = frame[frame["unit"] > frame["position"]]
    assert len(upper) == 2 * 10 and (upper["value"] == 0).all()  # causal: zero above the diagonal


# -- export -----------------------------------------------------------------------------------
def test_to_json_round_trip(text_trace, tmp_path):
    text = text_trace.to_json()
    data = json.loads(text)
    assert data["tokens"] == list(text_trace.tokens)
    assert set(data["values"]) == set(text_trace)
    for name, t in text_trace.items():
        entry = data["values"][name]
        assert entry["shape"] == list(t.shape)
        assert torch.equal(torch.tensor(entry["data"], dtype=t.dtype), t), name
    path = tmp_path / "trace.json"
    assert text_trace.to_json(path) == text
    assert json.loads(path.read_text(encoding="utf-8")) == data


def test_to_json_keeps_non_ascii_tokens():
    tr = tiny_model("lstm").trace("café 👨\u200d👩\u200d👧 مرحبا")
    data = json.loads(tr.to_json())
    assert data["tokens"] == ["café", "👨\u200d👩\u200d👧", "مرحبا"]
    assert data["unknown"] == [0, 1, 2]


@pytest.mark.parametrize("to_file", [True, False])
def test_to_npz_round_trip(text_trace, tmp_path, to_file):
    target = tmp_path / "trace.npz" if to_file else io.BytesIO()
    text_trace.to_npz(target)
    if not to_file:
        target.seek(0)
    with np.load(target, allow_pickle=False) as npz:
        assert set(npz.files) == set(text_trace) | {"__tokens__"}
        assert list(npz["__tokens__"]) == list(text_trace.tokens)
        for name, t in text_trace.items():
            np.testing.assert_array_equal(npz[name], t.numpy())
            assert npz[name].dtype == t.numpy().dtype


def test_to_npz_of_a_tensor_trace_has_no_tokens(tmp_path):
    tr = core.instrument(nn.GRU(3, 4)).trace(torch.randn(5, 3))
    tr.to_npz(tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz", allow_pickle=False) as npz:
        assert set(npz.files) == set(tr)


def test_pickle_round_trip(text_trace):
    back = pickle.loads(pickle.dumps(text_trace))
    assert isinstance(back, Trace)
    assert back.tokens == text_trace.tokens
    assert back.unknown == text_trace.unknown
    assert back.truncated == text_trace.truncated
    assert dict(back.meta) == dict(text_trace.meta)
    assert back.names() == text_trace.names()
    for name in text_trace:
        assert torch.equal(back[name], text_trace[name])
    with pytest.raises(TypeError):
        back["x"] = torch.zeros(1)


# -- read-only, fresh values ------------------------------------------------------------------
def test_trace_is_read_only(text_trace):
    with pytest.raises(TypeError):
        text_trace["x"] = torch.zeros(1)
    with pytest.raises(TypeError):
        text_trace["output"] = torch.zeros(1)
    with pytest.raises(TypeError):
        del text_trace["output"]
    with pytest.raises(TypeError):
        text_trace._values["x"] = torch.zeros(1)
    with pytest.raises(TypeError):
        text_trace.meta["model"] = "other"
    assert "x" not in text_trace


def _trace_sources():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 5, 2, bidirectional=True)
    gru = recurrent.GRU(4, 5, batch_first=True)
    mha = nn.MultiheadAttention(4, 2)
    x = torch.randn(6, 4)
    yield "lstm", lambda: core.instrument(lstm).trace(x)
    yield "gru-subclass", lambda: gru.trace(x)
    yield "attention", lambda: core.instrument(mha).trace(x, causal=True)
    for arch in ("rnn", "bilstm", "transformer"):
        model = tiny_model(arch)
        yield arch, lambda model=model: model.trace("apple is my favorite fruit")


@pytest.mark.parametrize("label,make_trace", list(_trace_sources()), ids=[s[0] for s in _trace_sources()])
def test_modifying_a_returned_tensor_does_not_change_a_later_trace(label, make_trace):
    first = make_trace()
    expected = {k: v.clone() for k, v in make_trace().items()}
    with torch.no_grad():
        for name in first:
            first[name].add_(1.0)
    second = make_trace()
    for name, v in expected.items():
        assert torch.equal(second[name], v), f"{label}: {name} changed after editing an earlier trace"


def test_modifying_the_input_after_tracing_does_not_change_the_trace():
    x = torch.randn(5, 3)
    tr = core.instrument(nn.RNN(3, 4)).trace(x)
    before = tr["embedding"].clone()
    x.add_(1.0)
    assert torch.equal(tr["embedding"], before)


# -- core.instrument --------------------------------------------------------------------------
UNSUPPORTED = [
    nn.Linear(4, 4),
    nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8, batch_first=True),
    nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
    nn.LSTMCell(4, 4),
    nn.GRUCell(4, 4),
    nn.RNNCell(4, 4),
    nn.Sequential(nn.LSTM(4, 4)),
    nn.Embedding(5, 4),
    nn.Conv1d(4, 4, 3),
]


@pytest.mark.parametrize("module", UNSUPPORTED, ids=[type(m).__name__ for m in UNSUPPORTED])
def test_instrument_rejects_unsupported_modules_naming_what_is_supported(module):
    with pytest.raises(TypeError) as info:
        core.instrument(module)
    message = str(info.value)
    assert type(module).__name__ in message
    for supported in ("RNN", "LSTM", "GRU", "MultiheadAttention"):
        assert supported in message


def test_instrument_rejects_lstm_with_projection():
    with pytest.raises(ValueError, match="proj_size"):
        core.instrument(nn.LSTM(4, 6, proj_size=3))
    with pytest.raises(ValueError, match="proj_size"):
        recurrent.LSTM(4, 6, proj_size=3).trace(torch.randn(5, 4))


@pytest.mark.parametrize("kwargs", [{"add_bias_kv": True}, {"add_zero_attn": True}, {"kdim": 3, "vdim": 3}])
def test_instrument_rejects_attention_that_is_not_plain_self_attention(kwargs):
    with pytest.raises(ValueError):
        core.instrument(nn.MultiheadAttention(4, 2, **kwargs))


def _modules():
    torch.manual_seed(0)
    yield (
        nn.LSTM(4, 5, 2, bidirectional=True, batch_first=True),
        lambda m: core.instrument(m).trace(torch.randn(6, 4, requires_grad=True)),
    )
    yield nn.GRU(4, 5), lambda m: core.instrument(m).trace(torch.randn(6, 1, 4))
    yield nn.RNN(4, 5, nonlinearity="relu", bias=False), lambda m: core.instrument(m).trace(torch.randn(6, 4))
    yield (
        nn.MultiheadAttention(4, 2),
        lambda m: core.instrument(m).trace(torch.randn(6, 4, requires_grad=True), causal=True),
    )
    yield recurrent.LSTM(4, 5), lambda m: m.trace(torch.randn(6, 4))
    yield (
        tiny_model("transformer"),
        lambda m: (m.trace("apple is my fruit"), m.trace_embeddings(torch.randn(3, 6, requires_grad=True))),
    )
    yield tiny_model("bilstm"), lambda m: m.trace("apple ___ my fruit")


@pytest.mark.parametrize(
    "module,use", list(_modules()), ids=["lstm", "gru", "rnn", "mha", "core-lstm", "transformer", "bilstm"]
)
def test_instrument_and_trace_do_not_modify_the_module(module, use):
    before = module_snapshot(module)
    use(module)
    use(module)
    after = module_snapshot(module)
    assert_same_snapshot(before, after)
    assert all(p.grad is None for p in module.parameters())


# -- input errors -----------------------------------------------------------------------------
BAD_SHAPES = {
    "empty T=0": (0, 4),
    "empty batch-first": (1, 0, 4),
    "empty time-first": (0, 1, 4),
    "wrong feature size": (6, 5),
    "wrong feature size batched": (1, 6, 3),
    "batch of 2 batch-first": (2, 6, 4),
    "batch of 2 time-first": (6, 2, 4),
    "one-dimensional": (4,),
    "four-dimensional": (1, 1, 6, 4),
}


@pytest.mark.parametrize("shape", list(BAD_SHAPES.values()), ids=list(BAD_SHAPES))
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "mha"])
def test_bad_input_shapes_raise_value_error(kind, shape):
    module = {
        "lstm": nn.LSTM(4, 5, bidirectional=True),
        "gru": nn.GRU(4, 5, batch_first=True),
        "rnn": nn.RNN(4, 5),
        "mha": nn.MultiheadAttention(4, 2),
    }[kind]
    with pytest.raises(ValueError):
        core.instrument(module).trace(torch.randn(*shape))


@pytest.mark.parametrize("kind", ["lstm", "mha"])
def test_input_dtype_mismatch_raises_value_error(kind):
    module = nn.LSTM(4, 5) if kind == "lstm" else nn.MultiheadAttention(4, 2)
    with pytest.raises(ValueError, match="float64"):
        core.instrument(module).trace(torch.randn(6, 4, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["lstm", "mha"])
@pytest.mark.parametrize("bad", [[[0.0] * 4] * 3, np.zeros((3, 4), dtype=np.float32)], ids=["list", "ndarray"])
def test_non_tensor_input_raises_type_error(kind, bad):
    """as_sequence is written to raise TypeError("expected a torch.Tensor ...") for these."""
    module = nn.LSTM(4, 5) if kind == "lstm" else nn.MultiheadAttention(4, 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        core.instrument(module).trace(bad)


def test_word_model_trace_rejects_bad_ids():
    model = tiny_model("gru")
    with pytest.raises(ValueError):
        model.trace([0, len(model.vocab)])
    with pytest.raises(ValueError):
        model.trace([-1])
    with pytest.raises(ValueError):
        model.trace([])


def test_word_model_trace_of_ids_reports_the_cap():
    """Trace.truncated: "True when the token cap cut the input" -- for a list of ids as for text."""
    model = tiny_model("gru")
    text_trace = model.trace(" ".join(["apple"] * 20), cap=8)
    assert (len(text_trace.tokens), text_trace.truncated) == (8, True)
    ids_trace = model.trace([5] * 20, cap=8)
    assert len(ids_trace.tokens) == 8
    assert ids_trace.truncated is True


# -- the module's own batch layout (issue 8, item 2) -------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "mha"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_a_batch_is_read_in_the_modules_own_layout(kind, batch_first):
    """(1, T, E) is one sequence only for a batch_first module; for the others it is T sequences of one step."""
    torch.manual_seed(0)
    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](4, 5, batch_first=batch_first) if kind != "mha" \
        else nn.MultiheadAttention(4, 2, batch_first=batch_first)
    x = torch.randn(6, 4)
    traced = core.instrument(module)
    own, other = (x[None], x[:, None]) if batch_first else (x[:, None], x[None])
    assert torch.equal(traced.trace(own)["output"], traced.trace(x)["output"])
    with pytest.raises(ValueError, match=f"batch_first={batch_first}.*B = 6"):
        traced.trace(other)
    one_step = torch.randn(1, 1, 4)  # one sequence of one step in either layout
    assert traced.trace(one_step)["output"].shape[0] == 1


# -- devices (issue 8, item 8) ----------------------------------------------------------------
def _meta_cases():
    yield "lstm-bi", nn.LSTM(4, 5, 2, bidirectional=True), lambda m: core.instrument(m).trace(torch.empty(40, 4, device="meta"))
    yield "gru", nn.GRU(4, 5), lambda m: core.instrument(m).trace(torch.empty(40, 4, device="meta"))
    yield "rnn", nn.RNN(4, 5), lambda m: core.instrument(m).trace(torch.empty(40, 4, device="meta"))
    yield "mha-causal", nn.MultiheadAttention(4, 2), \
        lambda m: core.instrument(m).trace(torch.empty(6, 4, device="meta"), causal=True)
    for arch, positional in (("transformer", "sinusoidal"), ("transformer", "learned"), ("lstm", "sinusoidal")):
        yield f"word-{arch}-{positional}", tiny_model_with(arch, positional), lambda m: m.trace("apple is my favorite fruit")


def tiny_model_with(arch, positional):
    return conftest.tiny_model(arch, positional, texts=["apple is my favorite fruit"], vocab_size=12, seed=0)


@pytest.mark.parametrize("name,module,use", list(_meta_cases()), ids=[c[0] for c in _meta_cases()])
def test_trace_creates_its_tensors_on_the_inputs_device(name, module, use):
    """A module on another device (the meta device stands in for CUDA here): every value stays on it.

    A tensor made without a device (torch.empty, the causal mask, arange, the positional table) lands on the
    CPU and the trace fails with "expected device" or "Cannot copy out of meta tensor"."""
    tr = use(module.to("meta"))
    assert {v.device.type for v in tr.values()} == {"meta"}


# -- final states and the command line (issue 8, items 7 and 12) ---------------------------------
def test_to_frame_of_final_states_has_layers_not_tokens():
    """h_n is (L*D, H): its rows are layers and directions. With 4 tokens and 2 layers x 2 directions the
    old frame called them 'apple', 'is', 'my', 'fruit'."""
    tr = conftest.tiny_model("bilstm", texts=["apple is my favorite fruit"], vocab_size=12, seed=0).trace("apple is my fruit")
    for name in ("h_n", "c_n"):
        frame = tr.to_frame(name)
        assert list(frame.columns) == ["layer", "direction", "unit", "value"]
        H = tr[name].shape[1]
        assert frame["layer"].tolist() == [0] * 2 * H + [1] * 2 * H
        assert frame["direction"].tolist() == (["forward"] * H + ["backward"] * H) * 2
        np.testing.assert_array_equal(frame["value"].to_numpy(), tr[name].double().reshape(-1).numpy())
        # torch's layout: row 2l + 1 is layer l's backward direction, whose final state is at the first token
        last = frame[(frame["layer"] == 1) & (frame["direction"] == "backward")]["value"].to_numpy()
        np.testing.assert_array_equal(last, tr["layers.1.backward." + ("hidden" if name == "h_n" else "cell")][0].double().numpy())


def test_cli_attention_csv_names_the_key_position(capsys):
    from core.__main__ import main

    assert main(["trace", "--random-init", "transformer", "apple is my fruit", "--names", "*.0.attention.weights",
                 "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert "unit" not in frame.columns
    assert sorted(set(frame["key_position"])) == [0, 1, 2, 3]
    assert (frame.loc[frame["key_position"] > frame["position"], "value"] == 0).all()  # causal: no key after the query


def test_cli_output_into_a_closed_pipe_is_quiet():
    """`python -m core trace ... | head -n 1`: the reader leaves early; no BrokenPipeError traceback."""
    import subprocess
    import sys

    text = "the cat sat on the mat . " * 10  # 70 tokens x 64 units x 6 values: far beyond the 64 KiB pipe buffer
    cmd = f"'{sys.executable}' -m core trace --random-init lstm '{text}' --names 'layers.*' --format csv | head -n 1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, cwd=conftest.ROOT)
    assert proc.stdout.startswith("position,token,unit,value")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
