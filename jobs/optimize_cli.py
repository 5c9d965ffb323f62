"""``elson optimize``: the job of ``python -m jobs.optimize`` with a quant's terminal around it.

A live progress bar (rich) on a terminal, plain lines otherwise; a results table at the
end (best first); ``--heatmap fast,slow`` writes a PNG of the objective over two
parameters; ``--export out.csv|out.json`` writes every trial. Bad input: a message on
stderr naming the field, exit 2, and nothing stored or run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cluster import cli as elson_cli
from cluster.optimization.repository import JobRecord
from cluster.settings import Settings
from domain.errors import DomainError
from jobs import optimize as job
from jobs.optimize_args import add_arguments


class _Display:
    """Progress as a rich bar on a tty, as plain lines otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self._progress: Any = None
        self._task: Any = None

    def queued(self, record: JobRecord) -> None:
        job._plain_queued(record)
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self._task = self._progress.add_task(
                record.request.strategy, total=record.total_trials, status=record.status.value
            )
            self._progress.start()

    def update(self, record: JobRecord, done: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, status=record.status.value)
        else:
            job._plain_progress(record, done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_table(trials: list[Any], objective: str, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    if not trials:
        print("no trials")
        return
    names = list(trials[0].params)
    table = Table(title=f"best {min(top, len(trials))} by {objective}")
    for col in ("#", *names, objective, "return_pct", "trades", "max_drawdown_pct"):
        table.add_column(col, justify="right")
    for rank, t in enumerate(trials[:top], start=1):
        stats = t.stats
        table.add_row(
            str(rank),
            *(f"{t.params[n]:g}" for n in names),
            "-" if t.score is None else f"{t.score:.4f}",
            *(_fmt(stats.get(k)) for k in ("return_pct", "trades", "max_drawdown_pct")),
        )
    Console(force_terminal=sys.stdout.isatty(), width=120).print(table)


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


def cmd_optimize(args: argparse.Namespace, settings: Settings) -> int:
    """With no ``ELSON_DATABASE_URL`` the job is stored in the embedded PostgreSQL of
    ``./dev up`` (``ELSON_DATA_DIR``), started for the command and brought to head."""
    if settings.database_url is not None:
        return _optimize(args, settings)
    from cluster import migrate

    with elson_cli._database_url(settings) as url:
        migrate.upgrade(url)
        return _optimize(args, settings.with_overrides(database_url=url))


def _optimize(args: argparse.Namespace, settings: Settings) -> int:
    from domain.optimization_plan import best_first

    axes = _axes(args.heatmap) if args.heatmap else None
    if args.export and Path(args.export).suffix.lower() not in (".csv", ".json"):
        return elson_cli._fail("--export: the file must end in .csv or .json", 2)
    display = _Display(tty=sys.stdout.isatty() and not args.no_progress)
    try:
        settings = job.connect_ray(settings)
        report, service = job.submit_and_run(
            args, settings, via="cli", on_queued=display.queued, on_progress=display.update
        )
    except DomainError as exc:
        display.close()
        field = getattr(exc, "field", None)
        return elson_cli._fail(exc.message + (f" (field {field})" if field else ""), 2)
    display.close()
    job.print_report(report)
    record = service.repo.get(report.job_id)
    objective = record.request.objective
    trials = service.repo.trials(report.job_id, sort=best_first(objective), limit=args.top)
    print_table(trials, objective, args.top)
    if axes is not None and report.trials_persisted + report.chunks_skipped > 0:
        out = Path(args.heatmap_out or f"optimization-{report.job_id}-heatmap.png")
        try:
            out.write_bytes(service.heatmap_png(report.job_id, axes[0], axes[1]))
        except DomainError as exc:
            return elson_cli._fail(f"--heatmap: {exc.message}", 2)
        print(f"heatmap written to {out}")
    if args.export:
        fmt = Path(args.export).suffix.lower().lstrip(".")
        Path(args.export).write_text(service.export(report.job_id, fmt))
        print(f"trials exported to {args.export}")
    return 0 if report.status.value == "succeeded" else 1


def _axes(raw: str) -> tuple[str, str]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) != 2:
        raise SystemExit(elson_cli._fail("--heatmap takes two parameter names: fast,slow", 2))
    return parts[0], parts[1]


def add_optimize(sub: Any) -> None:
    p = sub.add_parser(
        "optimize",
        help="optimize a strategy's parameters across the Ray cluster",
        description="Submit (or resume with --job-id) an optimization job and drive it.",
    )
    add_arguments(p)
    p.add_argument("--heatmap", metavar="X,Y", help="write a heatmap PNG of two parameters")
    p.add_argument(
        "--heatmap-out", help="where to write it (default optimization-<id>-heatmap.png)"
    )
    p.add_argument("--export", metavar="FILE", help="write every trial to FILE.csv or FILE.json")
    p.add_argument("--top", type=int, default=10, help="rows of the results table")
    p.add_argument("--no-progress", action="store_true", help="plain lines even on a terminal")
    p.set_defaults(func=cmd_optimize)


if add_optimize not in elson_cli.EXTRA_COMMANDS:
    elson_cli.EXTRA_COMMANDS.append(add_optimize)
