"""One typed wiring of a job driver per process, and the detached actor the API starts.

Serve must not block on a job: ``launch`` starts a detached actor (``num_cpus=0``: it
only waits on tasks and writes rows) named after the job, which runs the driver and exits.
Detached, it outlives the replica that started it; named after the job and the attempt, a
second launch of the same attempt finds the running driver instead of starting another
(``get_if_exists``), while a resume (the next attempt) never lands on a driver that is
still exiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from actors.optimize_driver import DriverOptions, JobDriver, RunReport
from cluster.db import Database, PoolSize
from cluster.optimization.repository import OptimizationRepository
from cluster.optimization.uploads import UploadStore
from cluster.settings import Settings

log = logging.getLogger(__name__)


def options_of(settings: Settings) -> DriverOptions:
    return DriverOptions(
        max_grid=settings.optimize_max_grid,
        in_flight_per_cpu=settings.optimize_in_flight_per_cpu,
        task_retries=settings.optimize_task_retries,
    )


def build_driver(
    settings: Settings, *, with_events: bool = True, on_progress: Any = None
) -> tuple[JobDriver, Callable[[], None]]:
    """A driver on its own small pool; its progress events go to the durable record."""
    if settings.database_url is None:
        raise RuntimeError("the optimization driver needs ELSON_DATABASE_URL")
    db = Database(settings.database_url.get_secret_value(), PoolSize(2, 2))  # loop + chunk writers
    closers: list[Callable[[], Any]] = [db.dispose]
    publish = None
    if with_events:
        from cluster.eventlog.store import RecordPublisher

        publish = RecordPublisher(db)
    driver = JobDriver(
        OptimizationRepository(db),
        UploadStore(db),
        options=options_of(settings),
        publish=publish,
        on_progress=on_progress,
    )

    def close() -> None:
        for fn in reversed(closers):
            try:
                fn()
            except Exception:
                log.warning("close failed", exc_info=True)

    return driver, close


class OptimizationDriverActor:
    """Runs one job's driver and exits (the class is made remote in ``launch``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, job_id: str) -> str:
        import ray

        driver, close = build_driver(self.settings)
        try:
            report: RunReport = driver.run(job_id)
            return report.status.value
        finally:
            close()
            ray.actor.exit_actor()


def launch(settings: Settings, job_id: str, attempt: int = 0) -> None:
    """Start the job's driver in the cluster without waiting for it (one per attempt)."""
    import ray

    actor_cls = ray.remote(num_cpus=0, max_restarts=0)(OptimizationDriverActor)
    handle = actor_cls.options(  # type: ignore[attr-defined]
        name=f"optimization-{job_id}-{attempt}",
        namespace=settings.ray_namespace,
        lifetime="detached",
        get_if_exists=True,
    ).remote(settings)
    handle.run.remote(job_id)  # type: ignore[attr-defined]
