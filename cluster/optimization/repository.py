"""Optimization jobs in PostgreSQL: rows in, domain values out (the mapper is here).

A job's status changes only through ``domain.optimization.next_status``, applied under a
row lock (``SELECT ... FOR UPDATE``), so a cancel request and the driver's own moves
serialize. ``persist_chunk`` writes the chunk marker and its trials in one transaction; a
second attempt at the same chunk (a retried task, a resumed driver) inserts nothing.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from cluster import metrics
from cluster.billing import admission
from cluster.db import Database
from cluster.optimization import copy_rows
from cluster.optimization.tables import (
    optimization_chunks,
    optimization_jobs,
    optimization_trials,
)
from domain.billing.plans import Quota
from domain.errors import NotFound, ValidationFailed
from domain.optimization import (
    JobEvent,
    JobStatus,
    OptimizationRequest,
    Progress,
    next_status,
    progress,
)

SORTS = ("score", "-score", "id")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRecord:
    id: str
    owner_user_id: str | None
    request: OptimizationRequest
    status: JobStatus
    via: str
    total_chunks: int
    total_trials: int
    chunk_size: int
    n_bars: int
    restarts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Trial:
    chunk_index: int
    position: int
    params: dict[str, Any]
    stats: dict[str, Any]
    score: float | None
    window_index: int | None = None
    in_sample_stats: dict[str, Any] | None = None
    in_sample_score: float | None = None


@dataclass(frozen=True)
class ChunkResult:
    """A finished chunk as the task returns it: its trials already encoded for ``COPY``
    (``copy_rows``, in the worker), so the driver streams one ``bytes`` per chunk."""

    job_id: str
    index: int
    payload: bytes
    count: int
    scores: tuple[float | None, ...]
    elapsed_ms: float
    node: str | None = None

    @classmethod
    def of(
        cls,
        job_id: str,
        index: int,
        trials: Sequence[Trial],
        elapsed_ms: float,
        node: str | None = None,
    ) -> ChunkResult:
        rows = [encode(job_id, index, t) for t in trials]
        scores = tuple(clean(t.score) for t in trials)
        return cls(job_id, index, copy_rows.payload(rows), len(rows), scores, elapsed_ms, node)

    def __len__(self) -> int:
        return self.count


def encode(job_id: str, chunk_index: int, t: Trial) -> bytes:
    """One trial as a ``COPY`` row of chunk ``chunk_index`` (the chunk it is persisted with)."""
    return copy_rows.encode_row(
        job_id,
        chunk_index,
        t.position,
        clean(t.params),
        clean(t.stats),
        clean(t.score),
        window_index=t.window_index,
        in_sample_stats=None if t.in_sample_stats is None else clean(t.in_sample_stats),
        in_sample_score=clean(t.in_sample_score),
    )


def clean(value: Any) -> Any:
    """JSON-safe statistics: NaN and infinities (no JSON form) become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return clean(value.item())  # numpy scalars
    return value


def _uuid(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"optimization {value} not found") from exc


def _job(row: Any) -> JobRecord:
    return JobRecord(
        id=str(row.id),
        owner_user_id=None if row.owner_user_id is None else str(row.owner_user_id),
        request=OptimizationRequest.from_dict(row.request),
        status=JobStatus(row.status),
        via=row.via,
        total_chunks=row.total_chunks,
        total_trials=row.total_trials,
        chunk_size=row.chunk_size,
        n_bars=row.n_bars,
        restarts=row.restarts,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _trial(row: Any) -> Trial:
    return Trial(
        chunk_index=row.chunk_index,
        position=row.position,
        params=dict(row.params),
        stats=copy_rows.decode_stats(row.stats) or {},
        score=row.score,
        window_index=row.window_index,
        in_sample_stats=copy_rows.decode_stats(row.in_sample_stats),
        in_sample_score=row.in_sample_score,
    )


class OptimizationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        request: OptimizationRequest,
        *,
        owner_user_id: str | None,
        via: str,
        total_chunks: int,
        total_trials: int,
        chunk_size: int,
        n_bars: int,
        job_id: str | None = None,
        quota: Quota | None = None,
    ) -> JobRecord:
        """Store the job ``queued``. With a ``quota`` (the owner's ``max_concurrent_jobs``)
        the owner's live jobs are counted and admitted in this same transaction, under the
        owner's lock (``cluster.billing.admission``): concurrent submits of one owner
        serialize, so they cannot both see room for one more; a refusal (``PlanLimit``)
        rolls the transaction back and nothing is written."""
        jid = uuid.UUID(job_id) if job_id else uuid.uuid4()
        owner = None if owner_user_id is None else uuid.UUID(owner_user_id)
        with self.db.session() as s:
            if quota is not None and owner is not None:
                admission.lock_owner(s, admission.JOBS, str(owner))
                admission.admit(quota, self._live(s, owner) + 1)
            row = s.execute(
                insert(optimization_jobs)
                .values(
                    id=jid,
                    owner_user_id=owner,
                    strategy=request.strategy,
                    objective=request.objective,
                    request=request.as_dict(),
                    status=JobStatus.QUEUED.value,
                    via=via,
                    total_chunks=total_chunks,
                    total_trials=total_trials,
                    chunk_size=chunk_size,
                    n_bars=n_bars,
                )
                .returning(*optimization_jobs.c)
            ).one()
        return _job(row)

    @staticmethod
    def _live(s: Session, owner: uuid.UUID) -> int:
        """The owner's jobs that are not finished (queued, running, cancelling...)."""
        t = optimization_jobs
        live = [st.value for st in JobStatus if not st.is_terminal]
        q = select(func.count()).select_from(t).where(t.c.owner_user_id == owner)
        return int(s.execute(q.where(t.c.status.in_(live))).scalar_one())

    def get(self, job_id: str, *, owner_user_id: str | None = None) -> JobRecord:
        """The job; another owner's job is ``NotFound`` (ids cannot be probed)."""
        with self.db.session() as s:
            row = s.execute(
                select(optimization_jobs).where(optimization_jobs.c.id == _uuid(job_id))
            ).one_or_none()
        if row is None or (
            owner_user_id is not None and str(row.owner_user_id) != str(owner_user_id)
        ):
            raise NotFound(f"optimization {job_id} not found")
        return _job(row)

    def list_jobs(self, owner_user_id: str | None, *, limit: int = 50) -> list[JobRecord]:
        q = select(optimization_jobs).order_by(optimization_jobs.c.created_at.desc()).limit(limit)
        if owner_user_id is not None:
            q = q.where(optimization_jobs.c.owner_user_id == uuid.UUID(owner_user_id))
        with self.db.session() as s:
            return [_job(r) for r in s.execute(q)]

    def status(self, job_id: str) -> JobStatus:
        with self.db.session() as s:
            raw = s.execute(
                select(optimization_jobs.c.status).where(optimization_jobs.c.id == _uuid(job_id))
            ).scalar_one()
        return JobStatus(raw)

    def apply(self, job_id: str, event: JobEvent, *, error: str | None = None) -> JobRecord:
        """Move the job through the transition table under a row lock."""
        t = optimization_jobs
        with self.db.session() as s:
            row = s.execute(
                select(t).where(t.c.id == _uuid(job_id)).with_for_update()
            ).one_or_none()
            if row is None:
                raise NotFound(f"optimization {job_id} not found")
            target = next_status(JobStatus(row.status), event)
            values: dict[str, Any] = {"status": target.value, "updated_at": func.now()}
            if event in (JobEvent.START, JobEvent.RESTART) and target is JobStatus.RUNNING:
                values |= {"started_at": func.now(), "finished_at": None, "error": None}
            if event is JobEvent.RESTART:
                values["restarts"] = t.c.restarts + 1
            if target.is_terminal:
                values["finished_at"] = func.now()
            if error is not None:
                values["error"] = error[:2000]
            new = s.execute(
                update(t).where(t.c.id == row.id).values(**values).returning(*t.c)
            ).one()
        if target.is_terminal and JobStatus(row.status) is not target:
            _count_finished(target)
        return _job(new)

    def done_chunks(self, job_id: str) -> set[int]:
        c = optimization_chunks
        with self.db.session() as s:
            return set(s.scalars(select(c.c.chunk_index).where(c.c.job_id == _uuid(job_id))))

    def persist_chunk(self, job_id: str, chunk: ChunkResult) -> bool:
        """Chunk marker and trials in one transaction; ``False`` if already persisted.

        Trials are streamed with ``COPY``. The commit does not wait for the WAL flush
        (``synchronous_commit = off``): a crash of PostgreSQL can lose the last chunks
        committed, marker and trials together, and a resumed job simply runs them again.
        """
        jid = _uuid(job_id)
        if _uuid(chunk.job_id) != jid:
            raise ValueError(f"chunk {chunk.index} of job {chunk.job_id} is not of {job_id}")
        with self.db.session() as s:
            s.execute(text("SET LOCAL synchronous_commit = off"))
            inserted = s.execute(
                pg_insert(optimization_chunks)
                .values(
                    job_id=jid,
                    chunk_index=chunk.index,
                    trials=len(chunk),
                    elapsed_ms=chunk.elapsed_ms,
                    node=chunk.node,
                )
                .on_conflict_do_nothing()
                .returning(optimization_chunks.c.chunk_index)
            ).scalar()
            if inserted is None:
                return False
            if chunk.count:
                raw = s.connection().connection.driver_connection
                sql = f"COPY optimization_trials ({copy_rows.COLUMNS}) FROM STDIN (FORMAT binary)"
                with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
                    copy.write(chunk.payload)
        return True

    def progress(self, job: JobRecord, now: datetime) -> Progress:
        """Done/total trials, this run's rate (trials since ``started_at``) and the ETA,
        from the chunk markers (one row per chunk, each with its trial count)."""
        c = optimization_chunks
        since = job.started_at or job.created_at
        with self.db.session() as s:
            done, recent = s.execute(
                select(
                    func.coalesce(func.sum(c.c.trials), 0),
                    func.coalesce(func.sum(c.c.trials).filter(c.c.recorded_at >= since), 0),
                ).where(c.c.job_id == _uuid(job.id))
            ).one()
        elapsed = ((job.finished_at or now) - since).total_seconds()
        return progress(int(done), job.total_trials, int(recent), elapsed)

    def trials(
        self,
        job_id: str,
        *,
        sort: str = "-score",
        limit: int | None = 100,
        offset: int = 0,
        window_index: int | None = None,
    ) -> list[Trial]:
        if sort not in SORTS:
            raise ValidationFailed("sort", "unknown", f"sort must be one of {SORTS}")
        t = optimization_trials
        order: Iterable[Any] = {
            "score": (t.c.score.asc().nulls_last(), t.c.chunk_index, t.c.position),
            "-score": (t.c.score.desc().nulls_last(), t.c.chunk_index, t.c.position),
            "id": (t.c.chunk_index, t.c.position),
        }[sort]
        q = select(t).where(t.c.job_id == _uuid(job_id)).order_by(*order).offset(offset)
        if window_index is not None:
            q = q.where(t.c.window_index == window_index)
        if limit is not None:
            q = q.limit(limit)
        with self.db.session() as s:
            return [_trial(r) for r in s.execute(q)]

    def count_trials(self, job_id: str) -> int:
        """Trials persisted (the sum of the chunk markers' counts, written with them)."""
        c = optimization_chunks
        with self.db.session() as s:
            total = s.execute(
                select(func.coalesce(func.sum(c.c.trials), 0)).where(c.c.job_id == _uuid(job_id))
            ).scalar_one()
        return int(total)


def _count_finished(status: JobStatus) -> None:
    """``elson_optimization_jobs_total{status}``: jobs that reached a terminal status
    (the ``ElsonOptimizationJobsFailing`` alert counts ``failed``)."""
    try:
        metrics.counter(
            "elson_optimization_jobs_total", "Optimization jobs finished, by status", ("status",)
        ).inc(1, {"status": status.value})
    except Exception:  # metrics never break a job
        log.debug("job counter export failed", exc_info=True)
