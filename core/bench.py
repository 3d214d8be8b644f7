"""``python -m core bench``: what instrumentation costs, as ratios measured in one process.

For each case the uninstrumented ``torch.nn`` forward and the instrumented
trace run alternately on the same weights and input (so both see the same
machine load), many times; the figure is the median of the per-pair ratios
trace / forward. Both run without autograd, on the CPU, with torch's default
threads.

Each timed recurrent trace is also checked for what it computes itself: every
gate, pre-activation, cell state, hidden state and ``h_n``/``c_n`` against
``reference_values``, a float64 loop over the time steps that applies torch's
cell equations one step at a time (no fused kernel, no batched gate product,
no scan). Comparing ``output`` with the module's output would prove nothing:
both come from the same fused kernel. Attention is compared with
``nn.MultiheadAttention``'s own output and weights.

The page timings (server time of a full Streamlit page run) come from
``python -m explorer.bench``, run as a subprocess so that core never imports
streamlit.
"""
from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .instrument import instrument

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET = {"recurrent": (1000, 1.5), "attention": (512, 1.5)}  # (T, at most this ratio)
MINILM_TARGET = 1.2  # core/bert.py's trace over transformers' BertModel, at 128 and 512 pieces


@dataclass
class Row:
    case: str
    T: int
    forward_ms: float
    trace_ms: float
    ratio: float
    max_abs_diff: float  # recurrent: largest |trace - float64 step loop| over every traced value; attention: vs torch
    target: str
    worst: str = ""  # the value where max_abs_diff was found


def _pairs(forward, trace, reps: int) -> tuple[float, float, float]:
    """Median forward ms, median trace ms, median per-pair ratio, interleaved."""
    for _ in range(2):
        forward(), trace()
    fs, ts, rs = [], [], []
    for i in range(reps):
        order = (forward, trace) if i % 2 == 0 else (trace, forward)  # alternate who goes first
        times = {}
        for fn in order:
            t0 = time.perf_counter()
            fn()
            times[fn] = time.perf_counter() - t0
        fs.append(times[forward])
        ts.append(times[trace])
        rs.append(times[trace] / times[forward])
    return statistics.median(fs) * 1e3, statistics.median(ts) * 1e3, statistics.median(rs)


@torch.no_grad()
def reference_values(module: nn.RNNBase, x: Tensor) -> dict[str, Tensor]:
    """Every value the trace names, by a float64 loop over time steps (torch's cell equations, one step at a time).

    Independent of the trace's method: no fused kernel, no batched gate product, no prefix scan."""
    m = copy.deepcopy(module).double()
    x = x.detach().double()
    T, H, mode = x.shape[0], m.hidden_size, m.mode
    dirs = ("forward", "backward") if m.bidirectional else ("forward",)
    values: dict[str, Tensor] = {}
    h_n, c_n = [], []
    inp = x
    for layer in range(m.num_layers):
        outs = []
        for d, name in enumerate(dirs):
            sfx = "_reverse" if d else ""
            w_ih, w_hh = getattr(m, f"weight_ih_l{layer}{sfx}"), getattr(m, f"weight_hh_l{layer}{sfx}")
            zero = torch.zeros(w_ih.shape[0], dtype=torch.float64)
            b_ih = getattr(m, f"bias_ih_l{layer}{sfx}") if m.bias else zero
            b_hh = getattr(m, f"bias_hh_l{layer}{sfx}") if m.bias else zero
            h, c = torch.zeros(H, dtype=torch.float64), torch.zeros(H, dtype=torch.float64)
            steps: dict[str, list] = {}
            for t in (range(T - 1, -1, -1) if d else range(T)):
                gi, gh = w_ih @ inp[t] + b_ih, w_hh @ h + b_hh
                if mode == "LSTM":
                    i, f, g, o = (gi + gh).chunk(4)
                    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
                    c = f * c + i * g
                    h = o * c.tanh()
                    step = {"input_gate": i, "forget_gate": f, "candidate": g, "output_gate": o, "cell": c}
                elif mode == "GRU":
                    r = (gi[:H] + gh[:H]).sigmoid()
                    z = (gi[H : 2 * H] + gh[H : 2 * H]).sigmoid()
                    n = (gi[2 * H :] + r * gh[2 * H :]).tanh()
                    h = (1 - z) * n + z * h
                    step = {"reset_gate": r, "update_gate": z, "candidate": n}
                else:
                    a = gi + gh
                    h = a.tanh() if mode == "RNN_TANH" else a.relu()
                    step = {"preactivation": a}
                step["hidden"] = h
                for k, v in step.items():
                    steps.setdefault(k, [None] * T)[t] = v
            for k, v in steps.items():
                values[f"layers.{layer}.{name}.{k}"] = torch.stack(v)
            outs.append(values[f"layers.{layer}.{name}.hidden"])
            h_n.append(h)
            c_n.append(c)
        inp = torch.cat(outs, dim=1)
    values["output"] = inp
    values["h_n"] = torch.stack(h_n)
    if mode == "LSTM":
        values["c_n"] = torch.stack(c_n)
    return values


def trace_error(trace, reference: dict[str, Tensor]) -> tuple[float, str]:
    """Largest |trace - reference| over every value of the reference, and where it was."""
    errors = {k: float((trace[k].detach().double() - v).abs().max()) for k, v in reference.items()}
    worst = max(errors, key=lambda k: errors[k])
    return errors[worst], worst


def bench_trace(quick: bool = False) -> list[Row]:
    torch.manual_seed(0)
    rows = []
    E, H, L = 128, 256, 2
    for name, cls in (("RNN", nn.RNN), ("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        module = cls(E, H, num_layers=L).eval()
        inst = instrument(module)
        for T in (100, 1000):
            x = torch.randn(T, E)
            reps = 5 if quick else (30 if T <= 100 else 15)
            with torch.no_grad():
                diff, worst = trace_error(inst.trace(x), reference_values(module, x))
                f, t, r = _pairs(lambda: module(x), lambda: inst.trace(x), reps)
            target = f"<= {TARGET['recurrent'][1]}" if T == TARGET["recurrent"][0] else ""
            rows.append(Row(f"{name} {L} layers, H={H}, E={E}", T, f, t, r, diff, target, worst))
    D, heads = 128, 4
    mha = nn.MultiheadAttention(D, heads).eval()
    inst = instrument(mha)
    for T in (128, 512):
        x = torch.randn(T, D)
        reps = 5 if quick else 30
        with torch.no_grad():
            out, w = mha(x, x, x, need_weights=True, average_attn_weights=False)
            tr = inst.trace(x)
            diff = max(float((tr["output"] - out).abs().max()), float((tr["layers.0.attention.weights"] - w).abs().max()))
            for label, fwd in (
                ("need_weights=True", lambda: mha(x, x, x, need_weights=True, average_attn_weights=False)),
                ("need_weights=False", lambda: mha(x, x, x, need_weights=False)),
            ):
                f, t, r = _pairs(fwd, lambda: inst.trace(x), reps)
                target = f"<= {TARGET['attention'][1]}" if T == TARGET["attention"][0] and label.endswith("True") else ""
                rows.append(Row(f"MultiheadAttention {heads} heads, D={D} vs {label}", T, f, t, r, diff, target,
                                "output, weights vs torch"))
    return rows


def bench_pages(quick: bool = False) -> dict:
    """Per-page server time from ``python -m explorer.bench --json`` (a separate process)."""
    cmd = [sys.executable, "-m", "explorer.bench", "--json"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}"}
    return json.loads(proc.stdout)


def median_seconds(fn, reps: int) -> float:
    """Median wall time of ``reps`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


ATTRIBUTION_TARGET = {"saliency_300_s": 1.0, "score_512_s": 0.2}  # all five models per method; one model


def bench_attribution(quick: bool = False) -> dict:
    """Server time of saliency (all models, 300 tokens of held-out text), integrated gradients and score (512)."""
    import os
    import random

    from . import attribution, corpus, models

    names = models.word_models()
    loaded = {n: models.load(n) for n in names}
    words = corpus.filler_tokens("test", 512, random.Random(0))
    text = " ".join(words[:300])
    blanked = " ".join(words[:150] + ["___"] + words[151:300])  # the bidirectional model's target is a blank
    reps = 2 if quick else 5

    def timed(fn) -> float:
        return median_seconds(fn, reps)

    out: dict = {"load_average": os.getloadavg()[0], "tokens": 300, "models": names, "saliency": {}, "integrated_gradients": [],
                 "score": []}
    for method in ("gradient", "grad_x_input"):
        per = {n: timed(lambda n=n: attribution.saliency(loaded[n], blanked if n == "bilstm" else text, method=method))
               for n in names}
        out["saliency"][method] = {"per_model_s": per, "total_s": sum(per.values()),
                                   "target_s": ATTRIBUTION_TARGET["saliency_300_s"]}
    ig_words = words[: attribution.IG_MAX_TOKENS]  # the longest text the app offers integrated gradients for
    ig_text = " ".join(ig_words)
    ig_blanked = " ".join(ig_words[: len(ig_words) // 2] + ["___"] + ig_words[len(ig_words) // 2 + 1:])
    out["ig_tokens"] = len(ig_words)
    for n in names:
        t0 = time.perf_counter()
        f = attribution.saliency(loaded[n], ig_blanked if n == "bilstm" else ig_text, method="integrated_gradients")
        a = f.attrs
        out["integrated_gradients"].append({"model": n, "seconds": time.perf_counter() - t0, "n_steps": a["n_steps"],
                                            "evaluations": a["evaluations"], "completeness_gap": a["completeness_gap"],
                                            "cap_reached": a["cap_reached"]})
    long = " ".join(words)
    for n in names:
        if loaded[n].config.task == "next_word":
            out["score"].append({"model": n, "tokens": 512, "seconds": timed(lambda n=n: loaded[n].score(long)),
                                 "target_s": ATTRIBUTION_TARGET["score_512_s"]})
    return out


def _attribution_table(b: dict) -> str:
    lines = [f"Saliency on {b['tokens']} tokens of held-out text, all models per method (median of runs; "
             f"load average {b['load_average']:.1f})\n",
             "| method | " + " | ".join(b["models"]) + " | total (s) | target (s) |",
             "| --- |" + " ---: |" * (len(b["models"]) + 2)]
    for method, r in b["saliency"].items():
        lines.append(f"| {method} | " + " | ".join(f"{r['per_model_s'][n]:.3f}" for n in b["models"])
                     + f" | {r['total_s']:.3f} | {r['target_s']} |")
    lines += [f"\nIntegrated gradients on {b['ig_tokens']} tokens (the longest text the app offers them for)\n",
              "| integrated gradients | nodes | gradient evaluations | completeness gap | cap reached | time (s) |",
              "| --- | ---: | ---: | ---: | --- | ---: |"]
    lines += [f"| {r['model']} | {r['n_steps']} | {r['evaluations']} | {r['completeness_gap']:.2%} | "
              f"{'yes' if r['cap_reached'] else 'no'} | {r['seconds']:.2f} |" for r in b["integrated_gradients"]]
    lines += ["\n| score | tokens | median (s) | target (s) |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['tokens']} | {r['seconds']:.3f} | {r['target_s']} |" for r in b["score"]]
    return "\n".join(lines)


def bench_units(quick: bool = False) -> list[dict]:
    """core.units against issue 11's targets, in seconds: ranking units by each feature (features + correlate)
    at 512 tokens, within 0.3 s; a pattern search over the cached held-out sample, within 1 s. The one-off
    build of the cache (tracing the sample) is reported beside it, with no target."""
    import random

    from . import corpus, models, units

    model = models.load("lstm")
    name = "layers.0.forward.cell"
    text = " ".join(corpus.filler_tokens("test", 512, random.Random(0)))
    tr = model.trace(text)
    reps = 3 if quick else 10
    rows = []

    def timed(fn) -> float:
        return median_seconds(fn, reps)

    for feature in units.FEATURES:
        s = timed(lambda: units.rank(tr, name, "feature", feature=feature))
        rows.append({"case": f"rank by {feature} (features + correlate), lstm cell", "T": len(tr.tokens),
                     "seconds": s, "target_s": 0.3})
    t0 = time.perf_counter()
    b = units.bank(model, name)
    build = time.perf_counter() - t0
    rows.append({"case": f"build the search cache once: {len(b.texts)} held-out sentences", "T": b.values.shape[1],
                 "seconds": build, "target_s": None})
    rng = np.random.default_rng(0)
    for k in (1, 3, 10):
        picks = [rng.choice(b.values.shape[0], size=k, replace=False) for _ in range(reps)]
        s = timed(lambda: [units.search(model, name, p, 0.3) for p in picks]) / reps
        rows.append({"case": f"search {k} units over the cached sample", "T": b.values.shape[1], "seconds": s,
                     "target_s": 1.0})
    return rows


def _table(rows: list[Row]) -> str:
    lines = [
        "| case | T | torch.nn forward (ms) | trace (ms) | trace / forward | target | max abs diff | largest in |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.case} | {r.T} | {r.forward_ms:.1f} | {r.trace_ms:.1f} | {r.ratio:.2f} | {r.target} "
                     f"| {r.max_abs_diff:.1e} | {r.worst} |")
    return "\n".join(lines)


def main(args) -> int:
    out: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.only in (None, "trace"):
        rows = bench_trace(args.quick) + bench_minilm(args.quick)
        out["trace"] = [asdict(r) for r in rows]
        if not args.json:
            print(f"Trace cost (torch {out['torch']}, {out['threads']} threads; median of interleaved pairs). "
                  "max abs diff: recurrent traces (float32) against a float64 step-by-step loop over every gate, "
                  "cell state, hidden state and h_n/c_n; attention against torch's output and weights\n")
            print(_table(rows), "\n", flush=True)
    if args.only in (None, "units"):
        urows = bench_units(args.quick)
        out["units"] = urows
        if not args.json:
            print("core.units (seconds, median; python -m core bench --only units)\n")
            print("| case | tokens | seconds | target (s) | met |\n| --- | ---: | ---: | ---: | --- |")
            for r in urows:
                met = "" if r["target_s"] is None else ("yes" if r["seconds"] <= r["target_s"] else "NO")
                print(f"| {r['case']} | {r['T']} | {r['seconds']:.3f} | {r['target_s'] or ''} | {met} |")
            print(flush=True)
    if args.only in (None, "attribution"):
        out["attribution"] = bench_attribution(args.quick)
        if not args.json:
            print(_attribution_table(out["attribution"]), "\n", flush=True)
    if args.only in (None, "pages"):
        pages = bench_pages(args.quick)
        out["pages"] = pages
        if not args.json:
            if "error" in pages:
                print(pages["error"])
            else:
                print(f"Page server time, warm caches (python -m explorer.bench; models: {pages['models']})\n")
                print("| page | tokens | median (s) | max (s) | target (s) | met |\n| --- | ---: | ---: | ---: | ---: | --- |")
                for r in pages["pages"]:
                    print(f"| {r['page']} | {r['tokens']} | {r['median_s']:.3f} | {r['max_s']:.3f} | {r['target_s']} | "
                          f"{'yes' if r['ok'] else 'NO'} |")
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


def bench_minilm(quick: bool = False) -> list[Row]:
    """all-MiniLM-L6-v2: our traced encoder (text in, every value out) over transformers' ``BertModel``
    forward with ``output_attentions=True`` on the same piece ids, both from the package's folder.
    Empty when the package (or transformers) is not installed."""
    from . import bert

    if not bert.installed():
        return []
    try:
        from transformers import BertModel
    except ImportError:
        return []
    ours = bert.load()
    ref = BertModel.from_pretrained(str(bert.package_path()), attn_implementation="eager").eval()
    words = ("I grew up in the Middle East but now live in London. I speak fluent Arabic, and my "
             "favourite fruit (an apple) is not what I eat every day. ").split() * 40
    rows = []
    for T in (128, 512):
        # the shortest prefix of words that gives at least T pieces, so the trace tokenizes about T pieces
        n = next(n for n in range(1, len(words) + 1) if ours.pieces(" ".join(words[:n]), cap=T).total >= T)
        text = " ".join(words[:n])
        ids = torch.tensor([ours.pieces(text, cap=T).ids])
        with torch.no_grad():
            tr = ours.trace(text, cap=T)
            out = ref(ids, output_attentions=True)
            diff = max(float((tr["output"] - out.last_hidden_state[0]).abs().max()),
                       max(float((tr[f"layers.{l}.attention.weights"] - a[0]).abs().max()) for l, a in enumerate(out.attentions)))
            f, t, r = _pairs(lambda: ref(ids, output_attentions=True), lambda: ours.trace(text, cap=T), 5 if quick else 30)
        rows.append(Row("MiniLM-L6 (BERT, 6 layers, 12 heads, D=384) vs transformers BertModel, output_attentions=True",
                        T, f, t, r, diff, f"<= {MINILM_TARGET}"))
    return rows
