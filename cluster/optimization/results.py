"""Results of a job as files: CSV and JSON exports and a heatmap PNG of two parameters.

The heatmap cell of (x, y) shows the best objective score over every trial with those two
values (other parameters vary freely), best meaning max or min as the objective says.
Rendered with matplotlib's Agg backend: no display, safe in a Serve replica.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from cluster.optimization.repository import JobRecord, Trial
from domain.errors import ValidationFailed


def _direction(objective: str) -> str:
    from domain.backtest import OBJECTIVES

    return str(OBJECTIVES.get(objective, "maximize"))


def pivot(
    trials: Sequence[Trial], x: str, y: str, objective: str
) -> tuple[list[float], list[float], list[list[float]]]:
    """(x values, y values, rows of best scores; NaN where no trial scored)."""
    if not trials:
        return [], [], []
    names = set(trials[0].params)
    for axis, name in (("x", x), ("y", y)):
        if name not in names:
            raise ValidationFailed(axis, "unknown-param", f"{name} is not one of {sorted(names)}")
    if x == y:
        raise ValidationFailed("y", "same-as-x")
    better = max if _direction(objective) == "maximize" else min
    cells: dict[tuple[float, float], float] = {}
    for t in trials:
        if t.score is None or not math.isfinite(t.score):
            continue
        key = (float(t.params[x]), float(t.params[y]))
        cells[key] = better(cells[key], t.score) if key in cells else t.score
    xs = sorted({float(t.params[x]) for t in trials})
    ys = sorted({float(t.params[y]) for t in trials})
    grid = [[cells.get((xv, yv), math.nan) for xv in xs] for yv in ys]
    return xs, ys, grid


def heatmap_png(trials: Sequence[Trial], x: str, y: str, objective: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure

    xs, ys, grid = pivot(trials, x, y, objective)
    fig = Figure(figsize=(8, 6), dpi=100)
    ax = fig.subplots()
    data = np.ma.masked_invalid(np.array(grid, dtype=float))
    mesh = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=90, fontsize=6)
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys], fontsize=6)
    ax.set_title(f"{objective} by {x} and {y} (best per cell)")
    fig.colorbar(mesh, ax=ax, label=objective)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def trial_dict(t: Trial) -> dict[str, Any]:
    """One trial as the JSON export (and ``TrialPublic``) shows it."""
    return {
        "chunk": t.chunk_index,
        "position": t.position,
        "window": t.window_index,
        "params": t.params,
        "score": t.score,
        "stats": t.stats,
        "in_sample_score": t.in_sample_score,
        "in_sample_stats": t.in_sample_stats,
    }


def export_json(job: JobRecord, trials: Sequence[Trial]) -> str:
    doc = {
        "id": job.id,
        "status": job.status.value,
        "request": job.request.as_dict(),
        "trials": [trial_dict(t) for t in trials],
    }
    return json.dumps(doc, indent=1, default=str)


def export_csv(trials: Sequence[Trial]) -> str:
    params = sorted({k for t in trials for k in t.params})
    stats = sorted({k for t in trials for k in t.stats})
    wf = any(t.window_index is not None for t in trials)
    head = [*(["window", "in_sample_score"] if wf else []), *params, "score", *stats]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(head)
    for t in trials:
        row: list[Any] = [t.window_index, t.in_sample_score] if wf else []
        row += [t.params.get(p) for p in params] + [t.score] + [t.stats.get(s) for s in stats]
        w.writerow(["" if v is None else v for v in row])
    return out.getvalue()
