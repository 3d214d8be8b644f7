"""``python -m core metrics``: the README's table of the shipped models, from their metrics.json."""
from __future__ import annotations

from .models import SHIPPED, available, metrics

DISTANCES = ("0", "5", "10", "20", "50", "100", "200")


def metrics_table(models_dir=None) -> str:
    names = [n for n in available(models_dir) if n in SHIPPED] or list(SHIPPED)
    head = ("| model | task | parameters | held-out score | " + " | ".join(f"recall @{d}" for d in DISTANCES)
            + " | train time | steps |")
    lines = [head, "|" + " --- |" * (6 + len(DISTANCES))]
    for name in names:
        m = metrics(name, models_dir)
        if not m:
            lines.append(f"| {name} | (no metrics.json: run `python -m core train --arch {name}`) |" + " |" * (5 + len(DISTANCES)))
            continue
        if "perplexity" in m:
            score = f"perplexity {m['perplexity']:.1f}"
        elif "blank_accuracy" in m:
            score = f"blank accuracy {m['blank_accuracy']:.3f}"
        else:
            score = "not evaluated"
        recall = m.get("recall_by_distance", {})
        cells = [f"{recall[d]:.2f}" if d in recall else "" for d in DISTANCES]
        minutes = m.get("train_seconds", 0) / 60
        lines.append(f"| {name} | {m.get('task', '')} | {m.get('parameters', 0):,} | {score} | " + " | ".join(cells)
                     + f" | {minutes:.1f} min | {m.get('steps', '')} |")
    return "\n".join(lines)
