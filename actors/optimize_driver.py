"""The driver of one optimization job: chunks out to Ray tasks, results into PostgreSQL.

The same code runs under ``elson optimize``, ``python -m jobs.optimize`` (what
``ray job submit`` runs on a cluster) and the detached actor the API starts.

1. Move the job to ``running`` (``start``, or ``restart`` for a job a driver held before).
2. Read the bars once and ``ray.put`` them: every task reads the same object.
3. Skip the chunks already persisted; submit the others as tasks, at most ``max_in_flight``
   at a time (``ray.wait``), each retried by Ray if its worker or node dies.
4. Persist each finished chunk with its trials in one transaction (a duplicate result of a
   retried task is ignored) on a writer thread (``ChunkWriter``), so the loop keeps
   collecting and submitting meanwhile; publish progress on the owner's ``jobs`` stream.
   Every write is waited for before the job ends or the driver returns.
5. Poll the job's status: on ``cancelling`` stop submitting, abandon the tasks in flight
   (``_abandon``: they finish their chunk, nothing is stored), and end ``cancelled``.
   When every chunk is in, end ``succeeded``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from actors.optimize_tasks import ChunkSpec, remote_chunk
from actors.optimize_writer import ChunkWriter
from cluster.optimization.data import load_bars
from cluster.optimization.repository import ChunkResult, JobRecord, OptimizationRepository
from cluster.optimization.uploads import UploadStore
from domain.backtest import OBJECTIVES
from domain.errors import DomainError
from domain.optimization import JobEvent, JobStatus, SearchKind
from domain.optimization_plan import Plan, plan

log = logging.getLogger(__name__)
Publish = Callable[[str, str, dict[str, Any]], object]


@dataclass
class RunReport:
    job_id: str
    status: JobStatus
    chunks_total: int = 0
    chunks_skipped: int = 0
    chunks_submitted: int = 0  # chunk tasks this driver sent out (one run_many each)
    chunks_run: int = 0  # chunk results this driver received
    trials_persisted: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    nodes: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class DriverOptions:
    max_grid: int = 1_000_000
    in_flight_per_cpu: int = 4
    task_retries: int = 3
    poll_s: float = 0.25  # longest wait for a task result before looking around
    status_every_s: float = 0.25  # how often the job row is read for a cancel request
    event_every_s: float = 0.5
    writers: int = 2  # threads persisting finished chunks (each holds a pooled connection)


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class JobDriver:
    def __init__(
        self,
        repo: OptimizationRepository,
        uploads: UploadStore,
        *,
        options: DriverOptions | None = None,
        publish: Publish | None = None,
        on_progress: Callable[[JobRecord, int], None] | None = None,
    ) -> None:
        self.repo, self.uploads = repo, uploads
        self.options = options or DriverOptions()
        self._publish = publish
        self._on_progress = on_progress
        self._last_event = 0.0

    def run(self, job_id: str, *, stop_after: int | None = None) -> RunReport:
        """Run (or resume) the job; ``stop_after`` chunks persisted, return as if killed."""
        started = time.monotonic()
        job = self.repo.get(job_id)
        report = RunReport(job_id, job.status, chunks_total=job.total_chunks)
        if job.status is JobStatus.SUCCEEDED:
            return report
        event = JobEvent.START if job.status is JobStatus.QUEUED else JobEvent.RESTART
        job = self.repo.apply(job_id, event)
        self._event(job, "optimization.status", force=True)
        try:
            work = self._plan(job)
        except DomainError as exc:
            job = self.repo.apply(job_id, JobEvent.FAIL, error=exc.message)
            report.status, report.error = job.status, exc.message
            self._event(job, "optimization.status", force=True)
            return report
        try:
            self._loop(job, work, report, stop_after)
        except Exception as exc:
            log.exception("optimization %s failed", job_id)
            job = self.repo.apply(job_id, JobEvent.FAIL, error=f"{type(exc).__name__}: {exc}")
            report.status, report.error = job.status, job.error
            self._event(job, "optimization.status", force=True)
        report.elapsed_s = time.monotonic() - started
        return report

    def _plan(self, job: JobRecord) -> tuple[Plan, Any]:
        bars = load_bars(job.request.data, uploads=self.uploads)
        work = plan(job.request, len(bars), max_grid=self.options.max_grid, cpus=cluster_cpus())
        # The chunking was fixed when the job was stored: resume on the same chunks.
        return replace(work, chunk_size=job.chunk_size), bars

    def _loop(
        self, job: JobRecord, work_bars: tuple[Plan, Any], report: RunReport, stop_after: int | None
    ) -> None:
        import ray

        work, bars = work_bars
        req = job.request
        done = self.repo.done_chunks(job.id)
        report.chunks_skipped = len(done)
        pending = [i for i in range(work.total_chunks) if i not in done]
        bayes = self._bayes(work, job.id) if req.search is SearchKind.BAYESIAN else None
        task = remote_chunk(self.options.task_retries)
        bars_ref = ray.put(bars)
        limit = max(1, self.options.in_flight_per_cpu * cluster_cpus())
        in_flight: dict[Any, int] = {}
        status, next_poll = job.status, 0.0
        with ChunkWriter(self.repo, job.id, self.options.writers) as writer:
            while pending or in_flight:
                if time.monotonic() >= next_poll:
                    status = self.repo.status(job.id)
                    next_poll = time.monotonic() + self.options.status_every_s
                if status is JobStatus.CANCELLING:
                    _abandon(in_flight)
                    if bayes is not None:
                        for index in in_flight.values():
                            bayes.forget(index)
                    self._written(job, report, writer.flush())
                    job = self.repo.apply(job.id, JobEvent.STOPPED)
                    report.status = job.status
                    self._event(job, "optimization.status", force=True)
                    return
                while pending and len(in_flight) < limit:
                    index = pending.pop(0)
                    ref = task.remote(bars_ref, self._chunk_spec(job.id, work, index, bayes))
                    in_flight[ref] = index
                    report.chunks_submitted += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=self.options.poll_s)
                for ref in ready:
                    index = in_flight.pop(ref)
                    result = ray.get(ref)
                    report.chunks_run += 1
                    if bayes is not None:
                        bayes.tell_batch(index, list(result.scores))
                    writer.submit(result)
                    if result.node:
                        report.nodes.add(result.node)
                    if stop_after is not None and report.chunks_run >= stop_after:
                        _abandon(in_flight)
                        self._written(job, report, writer.flush())
                        report.status = self.repo.status(job.id)
                        return
                self._written(job, report, writer.done())
            self._written(job, report, writer.flush())
        job = self.repo.apply(job.id, JobEvent.COMPLETE)
        report.status = job.status
        self._event(job, "optimization.status", force=True)

    def _written(
        self, job: JobRecord, report: RunReport, chunks: list[tuple[ChunkResult, bool]]
    ) -> None:
        for chunk, inserted in chunks:
            if inserted:
                report.trials_persisted += len(chunk)
        if chunks:
            self._event(job, "optimization.progress")

    def _bayes(self, work: Plan, job_id: str) -> Any:
        from actors.optimize_bayes import BayesSearch

        req = work.request
        search = BayesSearch(work.spec, OBJECTIVES[req.objective], req.seed)
        done = self.repo.trials(job_id, sort="id", limit=None)
        search.replay((t.params, t.score) for t in done)
        return search

    def _chunk_spec(self, job_id: str, work: Plan, index: int, bayes: Any) -> ChunkSpec:
        req = work.request
        window = None
        if work.windows:
            w = work.windows[index]
            window = (w.index, w.train[0], w.train[1], w.test[0], w.test[1])
            points = list(work.points)
        elif bayes is not None:
            points = bayes.ask_batch(index, work.batch_size(index))
        else:
            points = work.chunk_points(index)
        return ChunkSpec(
            job_id=job_id,
            index=index,
            strategy=req.strategy,
            points=points,
            objective=req.objective,
            min_trades=req.min_trades,
            cash=float(req.cash),
            commission=float(req.commission),
            window=window,
            data_key=job_id,
        )

    def _event(self, job: JobRecord, kind: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_event < self.options.event_every_s:
            return
        self._last_event = now
        try:
            fresh = self.repo.get(job.id)
            done = self.repo.count_trials(job.id)
            if self._on_progress is not None:
                self._on_progress(fresh, done)
            if self._publish is not None and fresh.owner_user_id is not None:
                data = {
                    "job_id": fresh.id,
                    "status": fresh.status.value,
                    "done": done,
                    "total": fresh.total_trials,
                }
                self._publish(f"jobs:{fresh.owner_user_id}", kind, data)
        except Exception:  # progress reporting must never stop the job
            log.warning("progress event for %s failed", job.id, exc_info=True)


def _abandon(in_flight: dict[Any, int]) -> None:
    """Drop the tasks in flight without ``ray.cancel``: a cancel that races the task's
    completion aborts the *submitting* process in Ray 2.60 (``Check failed: it !=
    submissible_tasks_.end() Tried to complete task that was not pending``; the same race
    as ray-project/ray#54798), and the submitter is this driver: ``elson optimize``, the
    API's detached driver actor, or a test's own process. So a stopped job's last chunks
    (at most ``in_flight_per_cpu`` per CPU, each one chunk of backtests) run to their end
    on their workers and their results, never fetched, are freed with the references. The
    job is ``cancelled`` at once; resuming it runs those chunks again (none was stored)."""
    in_flight.clear()
