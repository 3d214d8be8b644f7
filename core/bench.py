"""``python -m core bench``: what instrumentation costs, as ratios measured in one process.

For each case the uninstrumented ``torch.nn`` forward and the instrumented
trace run alternately on the same weights and input (so both see the same
machine load), many times; the figure is the median of the per-pair ratios
trace / forward. Both run without autograd, on the CPU, with torch's default
threads. The trace is checked against the forward's output on the way
("max |diff|"), so a fast-but-wrong trace cannot pass.

``--only attribution`` times word saliency (gradient and gradient x input,
all models, 300 tokens), integrated gradients (nodes, gap, time) and
``model.score`` at 512 tokens: absolute server times against their targets.

The page timings (server time of a full Streamlit page run) come from
``python -m explorer.bench``, run as a subprocess so that core never imports
streamlit.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .instrument import instrument

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET = {"recurrent": (1000, 1.5), "attention": (512, 1.5)}  # (T, at most this ratio)


@dataclass
class Row:
    case: str
    T: int
    forward_ms: float
    trace_ms: float
    ratio: float
    max_abs_diff: float
    target: str


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
                diff = float((inst.trace(x)["output"] - module(x)[0]).abs().max())
                f, t, r = _pairs(lambda: module(x), lambda: inst.trace(x), reps)
            target = f"<= {TARGET['recurrent'][1]}" if T == TARGET["recurrent"][0] else ""
            rows.append(Row(f"{name} {L} layers, H={H}, E={E}", T, f, t, r, diff, target))
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
                rows.append(Row(f"MultiheadAttention {heads} heads, D={D} vs {label}", T, f, t, r, diff, target))
    return rows


def bench_pages(quick: bool = False) -> dict:
    """Per-page server time from ``python -m explorer.bench --json`` (a separate process)."""
    cmd = [sys.executable, "-m", "explorer.bench", "--json"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}"}
    return json.loads(proc.stdout)


ATTRIBUTION_TARGET = {"saliency_300_s": 1.0, "score_512_s": 0.2}  # all five models per method; one model


def bench_attribution(quick: bool = False) -> dict:
    """Server time of saliency (all models, 300 tokens of held-out text), integrated gradients and score (512)."""
    import os
    import random

    from . import attribution, corpus, models

    names = models.available()
    loaded = {n: models.load(n) for n in names}
    words = corpus.filler_tokens("test", 512, random.Random(0))
    text = " ".join(words[:300])
    blanked = " ".join(words[:150] + ["___"] + words[151:300])  # the bidirectional model's target is a blank
    reps = 2 if quick else 5

    def timed(fn) -> float:
        fn()  # warm
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    out: dict = {"load_average": os.getloadavg()[0], "tokens": 300, "models": names, "saliency": {}, "integrated_gradients": [],
                 "score": []}
    for method in ("gradient", "grad_x_input"):
        per = {n: timed(lambda n=n: attribution.saliency(loaded[n], blanked if n == "bilstm" else text, method=method))
               for n in names}
        out["saliency"][method] = {"per_model_s": per, "total_s": sum(per.values()),
                                   "target_s": ATTRIBUTION_TARGET["saliency_300_s"]}
    for n in names:
        t0 = time.perf_counter()
        f = attribution.saliency(loaded[n], blanked if n == "bilstm" else text, method="integrated_gradients")
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
    lines += ["\n| integrated gradients | nodes | gradient evaluations | completeness gap | cap reached | time (s) |",
              "| --- | ---: | ---: | ---: | --- | ---: |"]
    lines += [f"| {r['model']} | {r['n_steps']} | {r['evaluations']} | {r['completeness_gap']:.2%} | "
              f"{'yes' if r['cap_reached'] else 'no'} | {r['seconds']:.2f} |" for r in b["integrated_gradients"]]
    lines += ["\n| score | tokens | median (s) | target (s) |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['tokens']} | {r['seconds']:.3f} | {r['target_s']} |" for r in b["score"]]
    return "\n".join(lines)


def _table(rows: list[Row]) -> str:
    lines = [
        "| case | T | torch.nn forward (ms) | trace (ms) | trace / forward | target | max abs diff |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.case} | {r.T} | {r.forward_ms:.1f} | {r.trace_ms:.1f} | {r.ratio:.2f} | {r.target} | {r.max_abs_diff:.1e} |")
    return "\n".join(lines)


def main(args) -> int:
    out: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.only in (None, "trace"):
        rows = bench_trace(args.quick)
        out["trace"] = [asdict(r) for r in rows]
        if not args.json:
            print(f"Trace cost (torch {out['torch']}, {out['threads']} threads; median of interleaved pairs)\n")
            print(_table(rows), "\n", flush=True)
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
