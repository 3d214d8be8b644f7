"""Command line: ``python -m core {trace,train,bench,metrics} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import fnmatch
import json
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

        frames = [trace.to_frame(n).assign(name=n) for n in names]
        pd.concat(frames, ignore_index=True).to_csv(sys.stdout, index=False)
    return 0


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
    b.add_argument("--only", choices=["trace", "pages", "memory"], help="run one part")
    b.set_defaults(func=_cmd_bench)

    m = sub.add_parser("metrics", help="the README table of the shipped models, from their metrics.json")
    m.set_defaults(func=_cmd_metrics)

    args = p.parse_args(argv)
    if args.command == "trace" and not (args.model or args.random_init):
        p.error("trace needs --model NAME (a shipped model) or --random-init ARCH")
    from .models import CheckpointError

    try:
        return args.func(args)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
