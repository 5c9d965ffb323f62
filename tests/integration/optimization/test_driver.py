"""The driver on the session Ray: every trial once, resume without re-running chunks,
cancellation, Bayesian search that resumes, walk-forward windows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from actors.optimize_driver import DriverOptions, JobDriver
from cluster.optimization.service import OptimizationService
from domain.optimization import JobStatus
from tests.integration.optimization.conftest import MAX_GRID, small_request

pytestmark = [pytest.mark.ray]


@pytest.fixture
def make_driver(ray_cluster: None, service: OptimizationService) -> Iterator[Any]:
    def make(**kwargs: Any) -> JobDriver:
        options = DriverOptions(
            max_grid=MAX_GRID, status_every_s=0.0, poll_s=0.1, event_every_s=0.0
        )
        return JobDriver(service.repo, service.uploads, options=options, **kwargs)

    yield make


def _param_counts(service: OptimizationService, job_id: str) -> Counter[tuple[Any, ...]]:
    trials = service.repo.trials(job_id, sort="id", limit=None)
    return Counter(tuple(sorted(t.params.items())) for t in trials)


def test_grid_job_runs_every_point_exactly_once(
    make_driver: Any, service: OptimizationService
) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="job")
    report = make_driver().run(job.id)
    assert report.status is JobStatus.SUCCEEDED
    assert (report.chunks_submitted, report.chunks_skipped) == (8, 0)
    counts = _param_counts(service, job.id)
    assert len(counts) == 30 and set(counts.values()) == {1}
    view = service.view(job.id)
    assert view.progress.done == 30 and view.job.finished_at is not None


def test_stopped_job_resumes_without_running_finished_chunks(
    make_driver: Any, service: OptimizationService
) -> None:
    job = service.submit(small_request(), owner_user_id=None, via="job")
    first = make_driver().run(job.id, stop_after=3)
    assert first.status is JobStatus.RUNNING  # as if the driver had been killed
    persisted = service.repo.done_chunks(job.id)
    assert len(persisted) == 3
    second = make_driver().run(job.id)
    assert second.status is JobStatus.SUCCEEDED
    assert second.chunks_skipped == 3
    # the kernel ran once per chunk that was not yet persisted, and never for the others
    assert second.chunks_submitted == job.total_chunks - len(persisted)
    assert set(_param_counts(service, job.id).values()) == {1}
    assert service.repo.count_trials(job.id) == 30
    assert service.repo.get(job.id).restarts == 1


def test_cancel_stops_submitting_and_ends_cancelled(
    make_driver: Any, service: OptimizationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    cancels: list[Any] = []  # ray.cancel racing a task's end aborts the driver (Ray 2.60)
    monkeypatch.setattr(ray, "cancel", lambda *a, **k: cancels.append(a))
    job = service.submit(small_request(chunk_size=1), owner_user_id=None, via="job")

    def cancel_after_first(record: Any, done: int) -> None:
        if done > 0 and record.status is JobStatus.RUNNING:
            service.cancel(record.id)

    report = make_driver(on_progress=cancel_after_first).run(job.id)
    assert report.status is JobStatus.CANCELLED
    assert report.chunks_submitted < job.total_chunks
    assert service.repo.count_trials(job.id) < 30
    assert cancels == []  # the tasks in flight were abandoned, not cancelled
    # and a cancelled job resumes where it stopped
    again = make_driver().run(job.id)
    assert again.status is JobStatus.SUCCEEDED
    assert set(_param_counts(service, job.id).values()) == {1}
    assert service.repo.count_trials(job.id) == 30


def test_bayesian_job_persists_trials_and_resumes_its_study(
    make_driver: Any, service: OptimizationService
) -> None:
    req = small_request(params={}, search="bayesian", n_trials=24, chunk_size=6, seed=1)
    job = service.submit(req, owner_user_id=None, via="job")
    make_driver().run(job.id, stop_after=2)
    assert len(service.repo.done_chunks(job.id)) == 2
    second = make_driver().run(job.id)
    assert second.status is JobStatus.SUCCEEDED
    assert (second.chunks_skipped, second.chunks_submitted) == (2, 2)
    trials = service.repo.trials(job.id, sort="-score", limit=None)
    assert len(trials) == 24
    assert all(t.params["n1"] < t.params["n2"] for t in trials)  # constraints held


def test_walk_forward_job_stores_each_window(
    make_driver: Any, service: OptimizationService
) -> None:
    req = small_request(walk_forward={"train": 200, "test": 50})
    job = service.submit(req, owner_user_id=None, via="job")
    assert job.total_chunks == 4
    report = make_driver().run(job.id)
    assert report.status is JobStatus.SUCCEEDED
    rows = service.repo.trials(job.id, sort="id", limit=None)
    assert [t.window_index for t in rows] == [0, 1, 2, 3]
    for t in rows:
        if t.params:
            assert t.in_sample_stats is not None and t.in_sample_score is not None
            assert t.stats["trades"] is not None
