from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import IllegalTransition, ValidationFailed
from domain.optimization import (
    DataSource,
    JobEvent,
    JobStatus,
    OptimizationRequest,
    SearchKind,
    WalkForward,
    chunk_bounds,
    default_chunk_size,
    next_status,
    progress,
)

S = JobStatus
E = JobEvent

# Independent expectation, written from the job's life as the issue describes it (not
# copied from the table): missing pairs are illegal.
EXPECTED: dict[JobStatus, dict[JobEvent, JobStatus]] = {
    S.QUEUED: {E.START: S.RUNNING, E.CANCEL: S.CANCELLED, E.FAIL: S.FAILED},
    S.RUNNING: {
        E.RESTART: S.RUNNING,
        E.CANCEL: S.CANCELLING,
        E.COMPLETE: S.SUCCEEDED,
        E.FAIL: S.FAILED,
    },
    S.CANCELLING: {
        E.STOPPED: S.CANCELLED,
        E.COMPLETE: S.SUCCEEDED,
        E.FAIL: S.FAILED,
        E.RESTART: S.CANCELLING,
    },
    S.CANCELLED: {E.RESTART: S.RUNNING},
    S.SUCCEEDED: {},
    S.FAILED: {E.RESTART: S.RUNNING},
}


@pytest.mark.parametrize("status", list(JobStatus))
@pytest.mark.parametrize("event", list(JobEvent))
def test_transition_table_matches_expectation(status: JobStatus, event: JobEvent) -> None:
    expected = EXPECTED[status].get(event)
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"{status.value} -> {event.value}"):
            next_status(status, event)
    else:
        assert next_status(status, event) is expected


def test_expectation_covers_every_status() -> None:
    assert set(EXPECTED) == set(JobStatus)


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.is_terminal} == {S.CANCELLED, S.SUCCEEDED, S.FAILED}


def test_illegal_transition_message_names_the_job() -> None:
    with pytest.raises(
        IllegalTransition, match="optimization job transition: succeeded -> restart"
    ):
        next_status(S.SUCCEEDED, E.RESTART)


def _request(**changes: object) -> OptimizationRequest:
    raw: dict[str, object] = {
        "strategy": "sma_cross",
        "data": {"kind": "simulated", "symbol": "AAPL", "bars": 500},
    }
    raw.update(changes)
    return OptimizationRequest.from_dict(raw)


def test_request_round_trips_through_its_stored_form() -> None:
    req = _request(
        params={"n1": [5, 10]},
        walk_forward={"train": 100, "test": 50, "mode": "expanding"},
        cash="2500.50",
        commission="0.002",
        min_trades=3,
    )
    again = OptimizationRequest.from_dict(req.as_dict())
    assert again == req
    assert again.cash == Decimal("2500.50")
    assert again.walk_forward == WalkForward(100, 50, "expanding")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategy": ""}, "strategy"),
        ({"data": {"kind": "ftp"}}, "data.kind"),
        ({"data": {"kind": "file"}}, "data.path"),
        ({"data": {"kind": "simulated", "symbol": "X", "bars": 1}}, "data.bars"),
        ({"data": {"kind": "replay", "path": "/x.csv"}}, "data.symbol"),
        ({"search": "annealing"}, "search"),
        ({"search": "random"}, "n_trials"),
        ({"search": "grid", "n_trials": 5}, "n_trials"),
        (
            {"search": "bayesian", "n_trials": 5, "walk_forward": {"train": 50, "test": 10}},
            "walk_forward",
        ),
        ({"walk_forward": {"train": 1, "test": 10}}, "walk_forward.train"),
        ({"walk_forward": {"train": 10, "test": 1}}, "walk_forward.test"),
        ({"walk_forward": {"train": 10, "test": 5, "mode": "sideways"}}, "walk_forward.mode"),
        ({"cash": "0"}, "cash"),
        ({"cash": "NaN"}, "cash"),
        ({"cash": "lots"}, "cash"),
        ({"commission": "0.5"}, "commission"),
        ({"commission": "-0.01"}, "commission"),
        ({"min_trades": -1}, "min_trades"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"params": {"n1": []}}, "params.n1"),
        ({"params": {"n1": ["five"]}}, "params.n1"),
        ({"data": {"kind": "file", "path": "/x.csv", "colour": "red"}}, "data.colour"),
        ({"walk_forward": {"train": 50, "test": 10, "gap": 1}}, "walk_forward.gap"),
    ],
)
def test_bad_request_then_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        _request(**changes)
    assert info.value.field == field


def test_data_source_stored_form_keeps_only_what_was_given() -> None:
    assert DataSource(kind="file", path="/d/bars.csv").as_dict() == {
        "kind": "file",
        "path": "/d/bars.csv",
        "seed": 0,
    }


def test_chunks_cover_every_point_once_in_order() -> None:
    bounds = chunk_bounds(1003, 100)
    assert bounds[0] == (0, 100) and bounds[-1] == (1000, 1003)
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(1003))
    assert chunk_bounds(0, 10) == []
    with pytest.raises(ValidationFailed):
        chunk_bounds(10, 0)


def test_default_chunk_size_keeps_cpus_busy_within_bounds() -> None:
    assert default_chunk_size(10_000, 2) == 5000  # a chunk per CPU
    assert default_chunk_size(50, 8) == 20  # never tiny chunks
    assert default_chunk_size(10_000_000, 2) == 20_000  # never huge chunks
    assert default_chunk_size(100_000, 2, n_bars=5_000) == 6_000  # <= 30 M bar-steps each
    assert default_chunk_size(10_000, 2, n_bars=5_000) == 5_000
    assert default_chunk_size(200, 2, per_cpu=8, hi=2000) == 20


def test_progress_rate_and_eta() -> None:
    p = progress(done=600, total=1000, done_this_run=400, elapsed_s=4.0)
    assert p.rate_per_s == 100.0 and p.eta_s == 4.0 and p.fraction == 0.6
    idle = progress(done=0, total=10, done_this_run=0, elapsed_s=0.0)
    assert idle.rate_per_s is None and idle.eta_s is None
    assert SearchKind("bayesian") is SearchKind.BAYESIAN
