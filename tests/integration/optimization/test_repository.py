"""The job rows: status through the table, chunks persisted once, trials append-only."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cluster.db import Database
from cluster.optimization.repository import ChunkResult, OptimizationRepository, Trial
from cluster.optimization.service import OptimizationService
from domain.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from domain.optimization import JobEvent, JobStatus
from tests.integration.optimization.conftest import small_request, write_bars_csv


def _trials(index: int, n: int) -> list[Trial]:
    return [
        Trial(
            index, i, {"n1": 5 + i, "n2": 50}, {"trades": i, "sharpe_ratio": float("nan")}, i * 0.5
        )
        for i in range(n)
    ]


def test_submit_stores_a_queued_job_with_its_totals(service: OptimizationService) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    assert job.status is JobStatus.QUEUED
    assert (job.total_trials, job.total_chunks, job.chunk_size, job.n_bars) == (30, 8, 4, 400)
    view = service.view(job.id)
    assert view.progress.done == 0 and view.progress.total == 30


def test_status_moves_only_through_the_table(service: OptimizationService) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    repo = service.repo
    assert repo.apply(job.id, JobEvent.START).status is JobStatus.RUNNING
    with pytest.raises(IllegalTransition):
        repo.apply(job.id, JobEvent.START)
    assert service.cancel(job.id).job.status is JobStatus.CANCELLING
    assert service.cancel(job.id).job.status is JobStatus.CANCELLING  # idempotent
    done = repo.apply(job.id, JobEvent.STOPPED)
    assert done.status is JobStatus.CANCELLED and done.finished_at is not None
    resumed = repo.apply(job.id, JobEvent.RESTART)
    assert resumed.status is JobStatus.RUNNING and resumed.restarts == 1
    assert resumed.finished_at is None
    repo.apply(job.id, JobEvent.COMPLETE)
    with pytest.raises(Conflict):
        service.cancel(job.id)


def test_a_chunk_is_persisted_once_with_its_trials(
    service: OptimizationService, opt_db: Database
) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    repo = service.repo
    assert repo.persist_chunk(job.id, ChunkResult.of(job.id, 0, _trials(0, 4), 1.5, "n1"))
    assert not repo.persist_chunk(job.id, ChunkResult.of(job.id, 0, _trials(0, 4), 1.5, "n2"))
    assert repo.done_chunks(job.id) == {0}
    stored = repo.trials(job.id, sort="-score")
    assert [t.position for t in stored] == [3, 2, 1, 0]
    assert stored[0].stats["sharpe_ratio"] is None  # NaN has no JSON form
    assert repo.count_trials(job.id) == 4


def test_a_computed_chunk_reads_back_as_the_kernel_stats(service: OptimizationService) -> None:
    """The worker's binary ``COPY`` payload round-trips: named statistics, NaN as None."""
    from actors.optimize_tasks import ChunkSpec, compute_chunk
    from cluster.optimization.data import simulated_bars
    from domain.backtest import get_strategy, run_many

    job = service.submit(small_request(), owner_user_id=None, via="cli")
    bars = simulated_bars("AAPL", 400, 2)
    points = get_strategy("sma_cross").grid({"n1": [3, 5, 10, 20], "n2": [25, 40, 90]})
    spec = ChunkSpec(job.id, 0, "sma_cross", points, "return_pct", 0, 10_000.0, 0.0)
    assert service.repo.persist_chunk(job.id, compute_chunk(bars, spec))
    stored = service.repo.trials(job.id, sort="id", limit=None)
    expected = run_many(bars, "sma_cross", points)
    assert [t.params for t in stored] == points
    for t, stats in zip(stored, expected, strict=True):
        want = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in stats.as_dict().items()
        }
        assert t.stats == want and t.score == stats.return_pct


def test_trials_and_chunks_cannot_be_deleted_or_changed(
    service: OptimizationService, opt_db: Database
) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    service.repo.persist_chunk(job.id, ChunkResult.of(job.id, 0, _trials(0, 2), 1.0))
    for stmt in (
        "DELETE FROM optimization_trials WHERE job_id = :j",
        "UPDATE optimization_trials SET score = 0 WHERE job_id = :j",
        "DELETE FROM optimization_chunks WHERE job_id = :j",
        "DELETE FROM optimization_jobs WHERE id = :j",
    ):
        with pytest.raises(Exception, match="append-only"), opt_db.session() as s:
            s.execute(text(stmt), {"j": uuid.UUID(job.id)})
    assert service.repo.count_trials(job.id) == 2


def test_a_trial_without_its_chunk_marker_is_refused(
    service: OptimizationService, opt_db: Database
) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    stmt = (
        "INSERT INTO optimization_trials (job_id, chunk_index, position, params, stats) "
        "VALUES (:j, 5, 0, '{}', '{}')"
    )
    with pytest.raises(Exception, match="without their chunk marker"), opt_db.session() as s:
        s.execute(text(stmt), {"j": uuid.UUID(job.id)})
    assert service.repo.count_trials(job.id) == 0


def test_another_owner_sees_not_found(service: OptimizationService, opt_db: Database) -> None:
    owner = _user(opt_db)
    job = service.submit(small_request(), owner_user_id=owner, via="api")
    assert service.view(job.id, owner_user_id=owner).job.id == job.id
    with pytest.raises(NotFound):
        service.view(job.id, owner_user_id=str(uuid.uuid4()))
    assert [v.job.id for v in service.list_jobs(owner)] == [job.id]


def test_progress_has_rate_and_eta_while_running(service: OptimizationService) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="cli")
    service.repo.apply(job.id, JobEvent.START)
    service.repo.persist_chunk(job.id, ChunkResult.of(job.id, 0, _trials(0, 4), 1.0))
    running = service.repo.get(job.id)
    p = service.repo.progress(running, datetime.now(UTC))
    assert p.done == 4 and p.total == 30
    assert p.rate_per_s is not None and p.rate_per_s > 0 and p.eta_s is not None


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("Date,Open,High,Low,Close,Volume\n", "data"),
        ("Date,Open,High,Low,Volume\n2024-01-02,1,1,1,1\n", "data.close"),
        (
            "Date,Open,High,Low,Close\n2024-01-03,1,1,1,1\n2024-01-02,1,1,1,1\n",
            "data.timestamp",
        ),
        ("Date,Open,High,Low,Close\n2024-01-02,1,1,1,\n2024-01-03,1,1,1,1\n", "data.close"),
    ],
)
def test_bad_data_then_refused_and_nothing_stored(
    service: OptimizationService, tmp_path: Path, content: str, field: str
) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(content)
    before = len(service.repo.list_jobs(None, limit=10_000))
    request = small_request(data={"kind": "file", "path": str(path)})
    with pytest.raises(ValidationFailed) as info:
        service.submit(request, owner_user_id=None, via="cli")
    assert info.value.field == field
    assert len(service.repo.list_jobs(None, limit=10_000)) == before


def test_csv_file_and_upload_sources(service: OptimizationService, tmp_path: Path) -> None:
    path = write_bars_csv(tmp_path / "bars.csv")
    job = service.submit(
        small_request(data={"kind": "file", "path": str(path)}), owner_user_id=None, via="cli"
    )
    assert job.n_bars == 300
    uid, n = service.save_upload(path.read_bytes(), "bars.csv", None)
    assert n == 300
    job = service.submit(
        small_request(data={"kind": "upload", "upload_id": uid}), owner_user_id=None, via="cli"
    )
    assert job.n_bars == 300


def _user(db: Database) -> str:
    uid = uuid.uuid4()
    with db.session() as s:
        s.execute(
            text("INSERT INTO users (id, email, password_hash) VALUES (:i, :e, 'h')"),
            {"i": uid, "e": f"q-{uid.hex[:8]}@example.com"},
        )
    return str(uid)


def test_repository_is_built_on_the_database(opt_db: Database) -> None:
    assert OptimizationRepository(opt_db).db is opt_db
