"""core.memory: gradients against finite differences, Jacobians against autograd, the lecture's arithmetic."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from core import memory, probes
from core.models import ModelConfig, WordModel
from core.text import Vocab

WORDS = ["i", "grew", "up", "in", "france", "speak", "fluent", "french", "arabic", ".", "the", "keys", "are", "is"]
TEXT = "i grew up in france . the keys are in the up i speak fluent"


def tiny(arch: str, nonlinearity: str = "tanh", seed: int = 0) -> WordModel:
    torch.manual_seed(seed)
    vocab = Vocab(dict.fromkeys(WORDS + probes.vocabulary_words()))
    cfg = ModelConfig(arch, len(vocab), embed_dim=6, hidden_size=5, num_layers=2 if arch == "transformer" else 1,
                      heads=2, nonlinearity=nonlinearity)
    model = WordModel(cfg, vocab).double().eval()
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
    for d, norm in zip(frame["distance"], frame["jacobian_norm"]):
        assert norm == pytest.approx(reference_jacobian_product(model, TEXT, d), rel=1e-8, abs=1e-14)
    assert frame["lecture_0.5^n"].tolist() == [0.5, 0.25, 0.03125, 0.5**10]


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


def test_filler_and_perturbation():
    text = "I grew up in the Middle East but now live in London. I speak fluent"
    base = memory.insert_filler(text, 0).split()
    longer = memory.insert_filler(text, 25).split()
    assert len(longer) == len(base) + 25
    assert longer[: base.index(".") + 1] == base[: base.index(".") + 1] and longer[-3:] == ["i", "speak", "fluent"]
    model = tiny("gru")
    frame = memory.perturbation_retention(model, text, fillers=(0, 25), position=5, replacement="france")
    assert frame["replaced"].tolist() == ["middle", "middle"]
    assert (frame["state_change"] > 0).all() and (frame["prediction_change"] >= 0).all()
    with pytest.raises(ValueError, match="already"):
        memory.perturbation_retention(model, text, fillers=(0,), position=0, replacement="i")
    prob = memory.probability_by_filler(model, text, "arabic", fillers=(0, 25))
    assert prob["tokens"].tolist() == [len(base), len(base) + 25]
    assert prob["probability"].between(0, 1).all() and (prob["rank"] >= 1).all()


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
