"""The one service behind the three ways to submit an optimization (CLI, job, API).

``submit`` refuses bad input (naming the field) before anything is stored: the request's
rules, then the data (read and checked with ``Bars.from_frame``), then the plan against
the data. Only a request that passed all three becomes a ``queued`` row; the caller then
starts a driver (``launch``), which the API injects (a detached Ray actor) and the CLI
and job run in their own process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.billing import admission
from cluster.db import Database
from cluster.optimization.data import load_bars
from cluster.optimization.repository import JobRecord, OptimizationRepository, Trial
from cluster.optimization.uploads import UploadStore
from domain.billing.plans import Quota
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.optimization import JobEvent, JobStatus, OptimizationRequest, Progress
from domain.optimization_plan import best_first, plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobView:
    job: JobRecord
    progress: Progress


class OptimizationService:
    def __init__(
        self,
        db: Database,
        *,
        max_grid: int,
        cpus: Callable[[], int] = lambda: 1,
        launch: Callable[[str, int], None] | None = None,
        data_dirs: Sequence[Path] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        entitlements: Any = None,
    ) -> None:
        self.repo = OptimizationRepository(db)
        #: cluster.billing.entitlements.EntitlementService: plan limits of API submits
        self._entitlements = entitlements
        self.uploads = UploadStore(db)
        self.max_grid = max_grid
        self._cpus = cpus
        self._launch = launch
        self._data_dirs = None if data_dirs is None else [d.resolve() for d in data_dirs]
        self._now = now

    def submit(
        self, request: OptimizationRequest, *, owner_user_id: str | None, via: str
    ) -> JobRecord:
        """Check everything, store the job ``queued``, start its driver if one is wired."""
        self._check_path(request.data.path)
        if request.data.kind == "upload" and owner_user_id is not None:
            self.uploads.content(str(request.data.upload_id), owner_user_id)  # NotFound
        bars = load_bars(request.data, uploads=self.uploads)
        work = plan(request, len(bars), max_grid=self.max_grid, cpus=self._cpus())
        # a refusal (the job's size here, the running jobs in ``create``) is audited
        with admission.audited(self.repo.db, actor=owner_user_id or via, subject=owner_user_id):
            quota = self._check_plan(owner_user_id, work.total_trials)
            job = self.repo.create(
                request,
                owner_user_id=owner_user_id,
                via=via,
                total_chunks=work.total_chunks,
                total_trials=work.total_trials,
                chunk_size=work.chunk_size,
                n_bars=len(bars),
                quota=quota,
            )
        if self._launch is not None:
            try:
                self._launch(job.id, 0)
            except Exception as exc:
                self.repo.apply(job.id, JobEvent.FAIL, error=f"driver did not start: {exc}")
                raise
        return job

    def _check_plan(self, owner_user_id: str | None, trials: int) -> Quota | None:
        """The owner's plan limits (``PlanLimit``: 403 ``plan-limit``); CLI and batch jobs
        have no owner and no plan. The job's own size is checked here; the returned
        ``max_concurrent_jobs`` counts rows, so the repository checks it in the inserting
        transaction (``OptimizationRepository.create``)."""
        if self._entitlements is None or owner_user_id is None:
            return None
        self._entitlements.check(owner_user_id, "max_trials_per_job", trials)
        quota: Quota = self._entitlements.quota(owner_user_id, "max_concurrent_jobs")
        return quota

    def _check_path(self, path: str | None) -> None:
        """API requests may name files only inside the configured data folders."""
        if path is None or self._data_dirs is None:
            return
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(d) for d in self._data_dirs):
            raise ValidationFailed(
                "data.path", "outside-data-dirs", "the path is not in a configured data folder"
            )

    def view(self, job_id: str, *, owner_user_id: str | None = None) -> JobView:
        job = self.repo.get(job_id, owner_user_id=owner_user_id)
        return JobView(job, self.repo.progress(job, self._now()))

    def list_jobs(self, owner_user_id: str | None, *, limit: int = 50) -> list[JobView]:
        now = self._now()
        return [
            JobView(j, self.repo.progress(j, now))
            for j in self.repo.list_jobs(owner_user_id, limit=limit)
        ]

    def cancel(self, job_id: str, *, owner_user_id: str | None = None) -> JobView:
        """Ask the driver to stop; a second request is answered with the same job."""
        job = self.repo.get(job_id, owner_user_id=owner_user_id)
        if job.status in (JobStatus.CANCELLING, JobStatus.CANCELLED):
            return self.view(job_id)
        if job.status.is_terminal:
            raise Conflict(f"optimization {job_id} is {job.status.value}: nothing to cancel")
        self.repo.apply(job_id, JobEvent.CANCEL)
        return self.view(job_id)

    def resume(self, job_id: str, *, owner_user_id: str | None = None) -> JobView:
        """Start a driver for a job that is not done (stopped, cancelled, failed, or left
        ``running`` by a driver that died); it skips the chunks already stored."""
        job = self.repo.get(job_id, owner_user_id=owner_user_id)
        if job.status is JobStatus.SUCCEEDED:
            raise Conflict(f"optimization {job_id} has succeeded: nothing to resume")
        if self._launch is None:
            raise Conflict("this process cannot start drivers; use python -m jobs.optimize")
        # attempt n+1: a driver that is still exiting (named for attempt n) is not reused,
        # and two resume requests for the same attempt share one driver
        self._launch(job.id, job.restarts + 1)
        return self.view(job_id)

    def trials(
        self,
        job_id: str,
        *,
        owner_user_id: str | None = None,
        sort: str = "-score",
        limit: int | None = 100,
        offset: int = 0,
    ) -> tuple[JobRecord, list[Trial]]:
        job = self.repo.get(job_id, owner_user_id=owner_user_id)
        return job, self.repo.trials(job_id, sort=sort, limit=limit, offset=offset)

    def heatmap_png(
        self, job_id: str, x: str, y: str, *, owner_user_id: str | None = None
    ) -> bytes:
        from cluster.optimization.results import heatmap_png

        job, trials = self.trials(job_id, owner_user_id=owner_user_id, sort="id", limit=None)
        if not trials:
            raise NotFound(f"optimization {job_id} has no trials yet")
        return heatmap_png(trials, x, y, job.request.objective)

    def export(self, job_id: str, fmt: str, *, owner_user_id: str | None = None) -> str:
        from cluster.optimization.results import export_csv, export_json

        job = self.repo.get(job_id, owner_user_id=owner_user_id)
        trials = self.repo.trials(job_id, sort=best_first(job.request.objective), limit=None)
        return export_csv(trials) if fmt == "csv" else export_json(job, trials)

    def save_upload(
        self, content: bytes, filename: str, owner_user_id: str | None
    ) -> tuple[str, int]:
        return self.uploads.save(content, filename, owner_user_id)


def describe(view: JobView) -> dict[str, Any]:
    """A plain summary for CLI output and logs."""
    p = view.progress
    return {
        "id": view.job.id,
        "status": view.job.status.value,
        "done": p.done,
        "total": p.total,
        "rate_per_s": p.rate_per_s,
        "eta_s": p.eta_s,
    }
