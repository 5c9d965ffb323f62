"""``python -m jobs.optimize``: submit (or resume) an optimization and drive it here.

This is what ``ray job submit -- python -m jobs.optimize ...`` runs on a cluster: the
process joins the cluster (``RAY_ADDRESS`` or ``ELSON_RAY_ADDRESS``; a local loopback Ray
when neither is set), stores the job unless ``--job-id`` names one, and runs the driver,
printing one plain line per progress step. Exit 0 when the job succeeded, 1 when it
failed or was cancelled, 2 for input refused before anything ran (message on stderr).

Resume a stopped or crashed job with ``--job-id``: persisted chunks are not run again.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cluster.optimization.repository import JobRecord
from cluster.secrets.startup import settings_from_sources
from cluster.settings import Settings, SettingsError
from domain.errors import DomainError
from jobs.optimize_args import add_arguments, request_from_args

EXIT_REFUSED = 2


def connect_ray(settings: Settings) -> Settings:
    """Join the cluster ``ray job submit`` gave us, or start a local loopback Ray."""
    from cluster.ray_runtime import init_ray

    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if address and settings.ray_address is None:
        settings = settings.with_overrides(ray_address=address)
    init_ray(settings)
    return settings


def submit_and_run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    via: str,
    on_queued: Callable[[JobRecord], None],
    on_progress: Callable[[JobRecord, int], None],
) -> tuple[Any, Any]:
    """Store the job (unless resuming), drive it to the end; (report, service)."""
    from actors.optimize_driver import cluster_cpus
    from actors.optimize_launcher import build_driver
    from cluster.db import Database, PoolSize
    from cluster.optimization.service import OptimizationService

    if settings.database_url is None:
        raise DomainError("ELSON_DATABASE_URL is not set: jobs are stored in PostgreSQL")
    db = Database(settings.database_url.get_secret_value(), PoolSize(1, 1))
    service = OptimizationService(db, max_grid=settings.optimize_max_grid, cpus=cluster_cpus)
    if args.job_id:
        job = service.repo.get(args.job_id)
    else:
        request = request_from_args(args)
        job = service.submit(request, owner_user_id=args.owner, via=via)
    on_queued(job)
    driver, close = build_driver(settings, on_progress=on_progress)
    try:
        report = driver.run(job.id, stop_after=args.stop_after)
    finally:
        close()
    return report, service


def _plain_queued(job: JobRecord) -> None:
    print(
        f"job {job.id} {job.status.value}: {job.total_trials} trials in "
        f"{job.total_chunks} chunks ({job.request.strategy}, {job.request.search.value})",
        flush=True,
    )


def _plain_progress(job: JobRecord, done: int) -> None:
    print(f"progress {job.id} {job.status.value} {done}/{job.total_trials}", flush=True)


def print_report(report: Any) -> None:
    print(
        f"job {report.job_id} {report.status.value}: chunks run={report.chunks_run} "
        f"skipped={report.chunks_skipped} of {report.chunks_total}, trials persisted="
        f"{report.trials_persisted}, {report.elapsed_s:.1f}s"
        + (f", error: {report.error}" if report.error else ""),
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.optimize", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = connect_ray(settings_from_sources())
        report, service = submit_and_run(
            args, settings, via="job", on_queued=_plain_queued, on_progress=_plain_progress
        )
    except SettingsError as exc:
        print(f"jobs.optimize: configuration refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except DomainError as exc:
        field = getattr(exc, "field", None)
        print(
            f"jobs.optimize: refused: {exc.message}" + (f" (field {field})" if field else ""),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    print_report(report)
    from domain.optimization_plan import best_first

    job = service.repo.get(report.job_id)
    best = service.repo.trials(report.job_id, sort=best_first(job.request.objective), limit=1)
    if best:
        print(f"best {best[0].params} score={best[0].score}", flush=True)
    return 0 if report.status.value == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
