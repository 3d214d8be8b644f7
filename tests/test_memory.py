"""core.memory: gradients against finite differences, Jacobians against autograd, the lecture's arithmetic."""
import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from conftest import tiny_model
from core import memory, probes
from core.models import WordModel
from core.recurrent import linear_scan
from core.text import tokenize

WORDS = ["i", "grew", "up", "in", "france", "speak", "fluent", "french", "arabic", ".", "the", "keys", "are", "is"]
TEXT = "i grew up in france . the keys are in the up i speak fluent"  # 15 tokens: inside one 16-step chunk
# 41 tokens: jacobian_norms builds its product 16 steps at a time, so this crosses two chunk boundaries
LONG_TEXT = ("i grew up in france . the keys are in the up . the keys are up in the france . i grew up in the keys "
             ". the keys are in france . i speak fluent")


def tiny(arch: str, nonlinearity: str = "tanh", seed: int = 0) -> WordModel:
    model = tiny_model(arch, dtype=torch.float64, layers=2 if arch == "transformer" else 1, hidden_size=5,
                       words=WORDS + probes.vocabulary_words(), nonlinearity=nonlinearity, seed=seed)
    for p in model.parameters():  # bigger weights than the default init, so that gradients vary a lot
        p.data.mul_(2.0)
    return model


def finite_difference_norms(model, text, target_position, word, eps=1e-6, wrong_position=False):
    """Central differences of log p(word) at the target, w.r.t. each embedding coordinate."""
    ids = torch.tensor(model.vocab.encode(tuple(text.split())))
    t = target_position % len(ids)
    read = t - 1 if wrong_position else t
    x0 = model.embedding(ids[: t + 1]).detach()

    def logp(x):
        logits = model.logits_from_embeddings(x[None], torch.tensor([read]))[0]
        return torch.log_softmax(logits, -1)[model.vocab.index(word)]

    norms = []
    with torch.no_grad():
        for s in range(t + 1):
            g = torch.zeros(x0.shape[1], dtype=x0.dtype)
            for e in range(x0.shape[1]):
                xp, xm = x0.clone(), x0.clone()
                xp[s, e] += eps
                xm[s, e] -= eps
                g[e] = (logp(xp) - logp(xm)) / (2 * eps)
            norms.append(float(g.norm()))
    return torch.tensor(norms, dtype=torch.float64)


def assert_matches_fd(frame, fd):
    got = torch.tensor(frame["grad_norm"].to_numpy(), dtype=torch.float64)
    assert torch.allclose(got, fd, rtol=1e-5, atol=1e-9), (got, fd)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "transformer"])
def test_gradient_by_distance_matches_finite_differences(arch):
    model = tiny(arch)
    frame = memory.gradient_by_distance(model, TEXT, target_position=-1, target_word="french")
    assert list(frame.columns) == ["position", "token", "distance", "grad_norm"]
    assert frame["distance"].tolist() == list(range(len(frame) - 1, -1, -1))
    assert frame.attrs["word"] == "french"
    assert_matches_fd(frame, finite_difference_norms(model, TEXT, -1, "french"))
    # a mid-sentence target sees only the words up to it
    mid = memory.gradient_by_distance(model, TEXT, target_position=6, target_word="keys")
    assert len(mid) == 7
    assert_matches_fd(mid, finite_difference_norms(model, TEXT, 6, "keys"))


def test_gradient_check_catches_a_wrong_target():
    """The deliberately wrong variant: differentiating the prediction one step early must not pass."""
    model = tiny("lstm")
    frame = memory.gradient_by_distance(model, TEXT, target_word="french")
    with pytest.raises(AssertionError):
        assert_matches_fd(frame, finite_difference_norms(model, TEXT, -1, "french", wrong_position=True))


def test_gradient_touches_no_parameter_and_is_thread_safe():
    model = tiny("lstm")
    for p in model.parameters():
        p.requires_grad_(True)
    texts = [TEXT, "i speak fluent", "the keys are in france", TEXT + " french ."]
    expected = [memory.gradient_by_distance(model, t)["grad_norm"].tolist() for t in texts]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: memory.gradient_by_distance(model, texts[i % 4])["grad_norm"].tolist(), range(32)))
    assert all(g == expected[i % 4] for i, g in enumerate(got))
    assert all(p.grad is None for p in model.parameters())


def reference_jacobian_product(model, text, distance):
    """d h_T / d state_{T-distance} by autograd through a per-step loop of the real cell."""
    body = model.body
    ids = torch.tensor(model.vocab.encode(tuple(text.split())))
    x = model.embedding(ids).detach()
    values = memory.recurrent.trace_values(body, x)
    T, H = len(ids), body.hidden_size
    s = T - 1 - distance
    w_ih, w_hh, b_ih, b_hh = body.weight_ih_l0, body.weight_hh_l0, body.bias_ih_l0, body.bias_hh_l0
    h_s = values["layers.0.forward.hidden"][s].detach()
    c_s = values["layers.0.forward.cell"][s].detach() if body.mode == "LSTM" else None

    def run(state):
        h, c = (state[:H], state[H:]) if body.mode == "LSTM" else (state, None)
        for t in range(s + 1, T):
            if body.mode == "LSTM":
                i, f, g, o = (x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
            elif body.mode == "GRU":
                gi, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
                r = (gi[:H] + gh[:H]).sigmoid()
                z = (gi[H : 2 * H] + gh[H : 2 * H]).sigmoid()
                n = (gi[2 * H :] + r * gh[2 * H :]).tanh()
                h = (1 - z) * n + z * h
            else:
                a = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
                h = a.tanh() if body.mode == "RNN_TANH" else a.relu()
        return h

    state = torch.cat([h_s, c_s]) if c_s is not None else h_s
    J = torch.autograd.functional.jacobian(run, state)
    return float(torch.linalg.matrix_norm(J, ord=2))


@pytest.mark.parametrize("arch,nonlinearity", [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")])
def test_jacobian_norms_match_autograd(arch, nonlinearity):
    model = tiny(arch, nonlinearity)
    frame = memory.jacobian_norms(model, TEXT, distances=[1, 2, 5, 10])
    assert frame["distance"].tolist() == [1, 2, 5, 10]
    for d, norm, lg in zip(frame["distance"], frame["jacobian_norm"], frame["log10_norm"]):
        reference = reference_jacobian_product(model, TEXT, d)
        assert norm == pytest.approx(reference, rel=1e-8, abs=1e-14)
        assert lg == pytest.approx(math.log10(reference), rel=1e-10)
    assert frame["lecture_0.5^n"].tolist() == [0.5, 0.25, 0.03125, 0.5**10]


@pytest.mark.parametrize("arch", ["rnn", "lstm"])
@pytest.mark.parametrize("chunk", [16, 5])
def test_jacobian_norms_across_chunk_boundaries(arch, chunk):
    """A 41-token text: the product is built ``chunk`` steps at a time, and every distance around a boundary
    (15, 16, 17, 31, 32, 33 for chunks of 16) must still match a per-step autograd reference."""
    model = tiny(arch)
    T = len(tokenize(LONG_TEXT).tokens)
    assert T > 2 * 16
    distances = [1, 4, 5, 6, 15, 16, 17, 31, 32, 33, T - 1]
    frame = memory.jacobian_norms(model, LONG_TEXT, distances=distances, chunk=chunk)
    assert frame["distance"].tolist() == distances
    for d, lg in zip(frame["distance"], frame["log10_norm"]):
        assert lg == pytest.approx(math.log10(reference_jacobian_product(model, LONG_TEXT, d)), rel=1e-9), d


def test_jacobian_norms_below_float64_stay_exact(monkeypatch):
    """Step Jacobians of 1e-200 * I give a product of norm 1e-(200 d): below float64's 1e-308 from d = 2 on.
    The old result, norm * exp(log_scale), read 0.0 there; log10_norm keeps it."""
    model = tiny("rnn")
    H = model.config.hidden_size

    def tiny_steps(m, values, layer=0, steps=slice(None)):
        n = len(range(*steps.indices(values["layers.0.forward.hidden"].shape[0])))
        return 1e-200 * torch.eye(H, dtype=torch.float64).expand(n, H, H)

    monkeypatch.setattr(memory, "step_jacobians", tiny_steps)
    frame = memory.jacobian_norms(model, TEXT, distances=[1, 2, 5])
    assert frame["log10_norm"].tolist() == pytest.approx([-200.0, -400.0, -1000.0], rel=1e-12)
    assert frame["jacobian_norm"].tolist() == [pytest.approx(1e-200), 0.0, 0.0]  # the float cannot hold the rest
    assert "1.00e-400" in memory.read_jacobians({"rnn": frame}, at=2)


def test_jacobian_norms_surface_nan():
    """A NaN in the input makes the relu RNN's pre-activation NaN; relu' of NaN is not 0, so the norm is NaN."""
    model = tiny("rnn", "relu")
    with torch.no_grad():
        model.embedding.weight[model.vocab.index("keys")] = math.nan
    frame = memory.jacobian_norms(model, TEXT, distances=[1, 2, 5])
    assert frame["log10_norm"].isna().all() and frame["jacobian_norm"].isna().all()
    slopes = memory.step_jacobians(model, memory.recurrent.trace_values(model.body, model.embedding(
        torch.tensor(model.vocab.encode(tokenize(TEXT).tokens)))))
    assert slopes[7:].isnan().all() and not slopes[:7].isnan().any()  # "keys" is token 7: NaN from there on


def test_jacobian_check_catches_a_wrong_derivative(monkeypatch):
    """The deliberately wrong variant: the LSTM Jacobian without its cell-state path."""
    model = tiny("lstm")
    real = memory.step_jacobians

    def no_cell_path(m, values, layer=0, steps=slice(None)):
        J = real(m, values, layer, steps).clone()
        H = model.config.hidden_size
        J[:, :H, H:] = 0  # drop dh_t/dc_{t-1}
        return J

    monkeypatch.setattr(memory, "step_jacobians", no_cell_path)
    norm = memory.jacobian_norms(model, TEXT, distances=[5])["jacobian_norm"][0]
    assert norm != pytest.approx(reference_jacobian_product(model, TEXT, 5), rel=1e-8, abs=1e-14)


def test_jacobian_refuses_the_transformer():
    with pytest.raises(ValueError, match="no recurrent state"):
        memory.jacobian_norms(tiny("transformer"), TEXT)


def test_lecture_arithmetic_is_exact():
    assert memory.lecture_power(0.5, 50) == 8.881784197001252e-16 == 2.0**-50
    assert f"{memory.lecture_power(0.5, 50):.3g}" == "8.88e-16"
    assert memory.lecture_power(2, 50) == 1125899906842624.0
    assert f"{memory.lecture_power(2, 50):.5g}" == "1.1259e+15"
    relu = memory.scalar_rnn(0.5, 50, "relu", x=0.5)
    assert relu["gradient"].iloc[-1] == 0.5**50  # relu with positive states: exactly w^n
    assert (relu["gradient"] == relu["w_power"]).all()
    tanh = memory.scalar_rnn(0.5, 50, "tanh", x=0.5)
    assert 0 < tanh["gradient"].iloc[-1] < relu["gradient"].iloc[-1]  # tanh' <= 1 shrinks it further
    assert memory.scalar_rnn(2.0, 50, "relu", x=0.5)["gradient"].iloc[-1] == 2.0**50


def test_recall_curve_counts_what_the_model_predicts():
    model = tiny("lstm")
    with torch.no_grad():  # a model that always says "arabic": accuracy = share of probes answered arabic
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[model.vocab.index("arabic")] = 50.0
    probe_list = probes.heldout_set((0, 20), per_family=6)
    frame = memory.recall_curve(model, (0, 20), probes=probe_list)
    for d in (0, 20):
        at_d = [p for p in probe_list if p.distance == d]
        expected = sum(p.answer == "arabic" for p in at_d) / len(at_d)
        row = frame[frame["distance"] == d].iloc[0]
        assert row["accuracy"] == pytest.approx(expected)
        assert row["n"] == len(at_d)
    by_family = memory.recall_curve(model, (0,), probes=probe_list, by_family=True)
    assert set(by_family["family"]) == set(probes.FAMILIES)


LECTURE = "I grew up in the Middle East but now live in London. I speak fluent"


def test_with_filler_is_the_one_insertion_rule():
    base = tokenize(LECTURE).tokens
    filled = memory.with_filler(LECTURE, 25)
    head = base.index(".") + 1  # after the first sentence
    assert (filled.head, filled.filler, len(filled.tokens)) == (head, 25, len(base) + 25)
    assert filled.tokens[:head] == base[:head] and filled.tokens[head + 25 :] == base[head:]
    assert filled.cue_distance == len(base) + 25 - head == len(("i", "speak", "fluent")) + 25
    assert tokenize(filled.text).tokens == filled.tokens  # the string the models read has these tokens
    assert memory.insert_filler(LECTURE, 25) == filled.text
    no_stop = memory.with_filler("one two three four five six", 3)
    assert no_stop.head == 3 and no_stop.tokens[:3] == ("one", "two", "three") and no_stop.tokens[-3:] == ("four", "five", "six")
    unfilled = memory.with_filler(LECTURE, 0)
    assert (unfilled.tokens, unfilled.head, unfilled.filler) == (base, head, 0)


def test_probability_by_filler_reads_the_last_position():
    """Each row equals the softmax of the full trace's logits at the last token of the filled text."""
    model = tiny("gru")
    frame = memory.probability_by_filler(model, LECTURE, "arabic", fillers=(0, 25))
    index = model.vocab.index("arabic")
    for row in frame.itertuples():
        filled = memory.with_filler(LECTURE, row.filler)
        probs = torch.softmax(model.trace(filled.text)["logits"][-1], dim=-1)
        assert row.tokens == len(filled.tokens)
        assert row.probability == pytest.approx(float(probs[index]), rel=1e-12)
        assert row.rank == int((probs > probs[index]).sum()) + 1
        assert row.top_word == model.vocab.itos[int(probs.argmax())]


def test_perturbation_retention_compares_the_final_states():
    model = tiny("gru")
    frame = memory.perturbation_retention(model, LECTURE, fillers=(0, 25), position=5, replacement="france")
    assert frame["replaced"].tolist() == ["middle", "middle"]
    for row in frame.itertuples():
        ids = list(model.trace(memory.with_filler(LECTURE, row.filler).text).meta["ids"])
        swapped = ids[:5] + [model.vocab.index("france")] + ids[6:]
        h0, h1 = (model.trace(v)["output"][-1] for v in (ids, swapped))
        with torch.no_grad():
            p0, p1 = (torch.softmax(model.head(h), -1) for h in (h0, h1))
        assert row.state_change == pytest.approx(float((h1 - h0).norm() / h0.norm()), rel=1e-12)
        assert row.prediction_change == pytest.approx(float(0.5 * (p1 - p0).abs().sum()), rel=1e-12)
        assert row.top_word_changed == bool(p0.argmax() != p1.argmax())
    with pytest.raises(ValueError, match="already"):
        memory.perturbation_retention(model, LECTURE, fillers=(0,), position=0, replacement="i")


def test_an_unknown_target_word_is_named():
    model = tiny("rnn")
    with pytest.warns(UserWarning, match="'zebra' is not in the vocabulary"):
        frame = memory.gradient_by_distance(model, TEXT, target_word="Zebra")
    assert frame.attrs["word"] == "<unk>"
    with pytest.warns(UserWarning, match="'zebra' is not in the vocabulary"):
        prob = memory.probability_by_filler(model, TEXT, "zebra", fillers=(0,))
    assert prob.attrs["word"] == "<unk>"


def sequential_scan(a, b, reverse=False):
    """x_t = a_t x_{t-1} + b_t, one step at a time."""
    order = range(a.shape[0] - 1, -1, -1) if reverse else range(a.shape[0])
    x, out = torch.zeros_like(b[0]), [None] * a.shape[0]
    for t in order:
        x = a[t] * x + b[t]
        out[t] = x
    return torch.stack(out)


@pytest.mark.parametrize("T", [1, 2, 3, 5, 8, 17])
@pytest.mark.parametrize("reverse", [False, True])
def test_linear_scan_gradient_branch_matches_the_sequential_loop(T, reverse):
    """The out-of-place branch (taken when a or b requires grad): values and gradients of both inputs."""
    g = torch.Generator().manual_seed(T)
    a0, b0 = torch.rand(T, 3, generator=g, dtype=torch.float64), torch.randn(T, 3, generator=g, dtype=torch.float64)
    weights = torch.randn(T, 3, generator=g, dtype=torch.float64)
    results = []
    for scan in (linear_scan, sequential_scan):
        a, b = a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        x = scan(a, b, reverse=reverse)
        results.append((x.detach(), *torch.autograd.grad((x * weights).sum(), (a, b), allow_unused=True,
                                                          materialize_grads=True)))  # T = 1: x_0 = b_0 uses no a
    for got, want in zip(*results):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)
    with torch.no_grad():  # and the buffered branch gives the same values
        assert torch.allclose(linear_scan(a0, b0, reverse=reverse), results[1][0], rtol=1e-12, atol=1e-14)


def test_memory_refuses_empty_text_and_the_blank_filler():
    with pytest.raises(ValueError, match="no words"):
        memory.gradient_by_distance(tiny("rnn"), "   ")
    with pytest.raises(ValueError, match="fills blanks"):
        memory.gradient_by_distance(tiny("bilstm"), TEXT)


def test_gradients_run_in_float64_on_a_private_copy():
    model = tiny("rnn").float()
    frame = memory.gradient_by_distance(model, TEXT, target_word="french")
    reference = memory.gradient_by_distance(tiny("rnn"), TEXT, target_word="french")  # the same weights, in float64
    assert torch.allclose(torch.tensor(frame["grad_norm"].to_numpy()), torch.tensor(reference["grad_norm"].to_numpy()), rtol=1e-5)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the shared model is untouched
    single = memory.gradient_by_distance(model, TEXT, target_word="french", dtype=torch.float32)
    assert single["grad_norm"].dtype == "float32"


def test_memory_refuses_text_the_cap_would_cut():
    with pytest.raises(ValueError, match="at most 512"):
        memory.gradient_by_distance(tiny("rnn"), "word " * 600)
