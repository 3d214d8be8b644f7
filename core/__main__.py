"""Command line: ``python -m core {trace,train,bench,metrics} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_trace(args: argparse.Namespace) -> int:
    import torch

    from . import models

    if args.random_init:
        from .text import Vocab, tokenize

        note = f"UNTRAINED: random weights (seed {args.seed}), architecture {args.random_init}; the values mean nothing yet"
        print(note, file=sys.stderr)
        torch.manual_seed(args.seed)
        try:
            vocab = models.load(args.model or "lstm").vocab
        except models.CheckpointError:
            vocab = Vocab(dict.fromkeys(tokenize(args.sentence).tokens))
        cfg = models.ModelConfig(args.random_init, len(vocab), hidden_size=64, embed_dim=32,
                                 num_layers=2 if args.random_init == "transformer" else 1)
        model = models.WordModel(cfg, vocab).eval()
    else:
        model = models.load(args.model)
    trace = model.trace(args.sentence)
    names = trace.names(args.names) if args.names else trace.names()
    if not names:
        print(f"no names match {args.names!r}; names are: {', '.join(trace.names())}", file=sys.stderr)
        return 2
    if args.format == "json":
        d = trace.to_dict()
        d["values"] = {k: v for k, v in d["values"].items() if k in names}
        if args.random_init:
            d["meta"]["untrained"] = True
        json.dump(d, sys.stdout, ensure_ascii=False)
        print()
    else:
        import pandas as pd

        table = pd.concat([_csv_frame(trace, n) for n in names], ignore_index=True)
        for col in ("position", "head", "unit", "key_position", "layer"):  # integers, blank where a name has none
            if col in table:
                table[col] = table[col].astype("Int64")
        table.to_csv(sys.stdout, index=False)
    return 0


def _csv_frame(trace, name: str):
    """``to_frame`` with the name; in attention scores and weights the unit axis is the key position, so it says so."""
    frame = trace.to_frame(name).assign(name=name)
    return frame.rename(columns={"unit": "key_position"}) if name.endswith((".scores", ".weights")) else frame


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import default_config, train

    overrides = {k: v for k, v in (("seed", args.seed), ("minutes", args.minutes), ("steps", args.steps)) if v is not None}
    cfg = default_config(args.arch, **overrides)
    _, metrics = train(cfg, out_dir=args.out)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main

    return main(args)


def _cmd_memory(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import memory, models

    text = memory.with_filler(args.sentence, args.filler, args.seed).text
    frames = {}
    for name in args.models.split(","):
        try:
            frames[name] = memory.gradient_by_distance(models.load(name), text, target_word=args.word)
        except models.CheckpointError as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
    rows = [{"model": n, "tokens": len(f), f"median grad norm, >= {args.far} back": f.loc[f["distance"] >= args.far, "grad_norm"].median(),
             "grad norm, 1-5 back": f.loc[f["distance"].between(1, 5), "grad_norm"].median(),
             "p(word)": f.attrs["probability"]} for n, f in frames.items()]
    print(f"{len(text.split())} tokens; the prediction after the last one; word {args.word!r}\n")
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.3g}".format) if rows else "no model loaded")
    print("\n" + memory.read_gradients(frames, far=args.far))
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    from .report import metrics_table

    print(metrics_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core", description="gatescope: instrumented sequence models")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("trace", help="trace one sentence and print the values")
    t.add_argument("sentence")
    t.add_argument("--model", help="a shipped model: rnn, lstm, gru, transformer, bilstm")
    t.add_argument("--random-init", metavar="ARCH", choices=["rnn", "lstm", "gru", "transformer", "bilstm"],
                   help="trace an UNTRAINED model of this architecture (random weights)")
    t.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    t.add_argument("--names", metavar="PATTERN", help='glob over value names, e.g. "layers.0.*.forget_gate"')
    t.add_argument("--format", choices=["json", "csv"], default="json")
    t.set_defaults(func=_cmd_trace)

    tr = sub.add_parser("train", help="train one model on the shipped corpus (CPU)")
    tr.add_argument("--arch", required=True, choices=["rnn", "lstm", "gru", "transformer", "bilstm"])
    tr.add_argument("--minutes", type=float, help="wall-clock cap (default 30)")
    tr.add_argument("--steps", type=int, help="Adam steps (default 1000)")
    tr.add_argument("--seed", type=int, help="random seed (default 0)")
    tr.add_argument("--out", help="output folder (default assets/models/<arch>)")
    tr.set_defaults(func=_cmd_train)

    b = sub.add_parser("bench", help="trace cost over torch.nn, and page times, as ratios in one process")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    b.add_argument("--only", choices=["trace", "pages"], help="run one part")
    b.set_defaults(func=_cmd_bench)

    mem = sub.add_parser("memory", help="gradient by distance on a long sentence, per model (the README's ratio)")
    mem.add_argument("sentence", nargs="?", default="I grew up in the Middle East but now live in London. I speak fluent")
    mem.add_argument("--word", default="arabic", help="the word whose log-probability is differentiated")
    mem.add_argument("--filler", type=int, default=60, help="filler tokens inserted after the first sentence")
    mem.add_argument("--far", type=int, default=50, help="report the median gradient this many tokens back or more")
    mem.add_argument("--models", default="rnn,lstm,gru,transformer")
    mem.add_argument("--seed", type=int, default=0)
    mem.set_defaults(func=_cmd_memory)

    m = sub.add_parser("metrics", help="the README table of the shipped models, from their metrics.json")
    m.set_defaults(func=_cmd_metrics)

    args = p.parse_args(argv)
    if args.command == "trace" and not (args.model or args.random_init):
        p.error("trace needs --model NAME (a shipped model) or --random-init ARCH")
    from .models import CheckpointError

    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return code
    except BrokenPipeError:  # `python -m core trace ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail again
        return 0
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
