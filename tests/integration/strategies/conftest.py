"""Strategy instances against the real PostgreSQL: a database of this package's own (the
engine loads every instance it finds), finished optimization jobs written as the driver
writes them, and a fake clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.optimization.repository import ChunkResult, Trial
from cluster.optimization.service import OptimizationService
from cluster.strategies.engine import StrategyBook
from cluster.strategies.jobs import OptimizationJobs
from domain.clock import FakeClock
from domain.optimization import JobEvent, OptimizationRequest
from tests.conftest import own_database
from tests.kit.orders import create_account

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def strategies_db_url() -> Iterator[str]:
    with own_database("strategies") as url:
        yield url


@pytest.fixture(scope="session")
def strategies_db(strategies_db_url: str) -> Iterator[Database]:
    db = Database(strategies_db_url, PoolSize(8, 4))
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def opt_service(strategies_db: Database) -> OptimizationService:
    return OptimizationService(strategies_db, max_grid=5000, cpus=lambda: 1)


@pytest.fixture
def book(
    strategies_db: Database, clock: FakeClock, opt_service: OptimizationService
) -> StrategyBook:
    return StrategyBook(strategies_db, clock, jobs=OptimizationJobs(opt_service))


def owner_and_account(db: Database) -> tuple[str, str]:
    account_id = str(create_account(db))
    with db.session() as s:
        owner = s.execute(
            text("SELECT owner_user_id FROM accounts WHERE id = :a"), {"a": account_id}
        ).scalar_one()
    return str(owner), account_id


def new_instance(book: StrategyBook, db: Database, **changes: Any) -> Any:
    owner, account = owner_and_account(db)
    spec: dict[str, Any] = {
        "owner_user_id": owner,
        "strategy": "sma_cross",
        "symbols": ["AAPL"],
        "bar_interval": "1d",
        "account_id": account,
        "params": {"n1": 10, "n2": 30},
        "by": owner,
        "guardrails": {"margin": 0.1, "min_trades": 3, "max_step": 0.5, "cooldown_s": 0},
    }
    spec.update(changes)
    return book.create(**spec)


def finished_job(
    service: OptimizationService,
    owner: str,
    params: dict[str, Any],
    *,
    oos: float | None,
    in_sample: float | None,
    trades: int,
    strategy: str = "sma_cross",
) -> str:
    """A succeeded walk-forward job whose latest window chose ``params`` with these scores,
    stored as the driver stores it (job row, chunk marker and trial in one COPY)."""
    request = OptimizationRequest.from_dict(
        {
            "strategy": strategy,
            "data": {"kind": "simulated", "symbol": "AAPL", "bars": 120, "seed": 1},
            "params": {"n1": [10], "n2": [30]},
            "walk_forward": {"train": 60, "test": 60},
        }
    )
    job = service.submit(request, owner_user_id=owner, via="job")
    complete_job(service, job.id, params, oos=oos, in_sample=in_sample, trades=trades)
    return job.id


def complete_job(
    service: OptimizationService,
    job_id: str,
    params: dict[str, Any],
    *,
    oos: float | None,
    in_sample: float | None,
    trades: int,
) -> None:
    """Finish a queued walk-forward job as its driver would: started, one window whose
    chosen ``params`` scored ``oos`` out of sample, succeeded."""
    service.repo.apply(job_id, JobEvent.START)
    trial = Trial(
        chunk_index=0,
        position=0,
        params=params,
        stats={"trades": trades},
        score=oos,
        window_index=0,
        in_sample_stats={"trades": trades},
        in_sample_score=in_sample,
    )
    service.repo.persist_chunk(job_id, ChunkResult.of(job_id, 0, [trial], 1.0))
    service.repo.apply(job_id, JobEvent.COMPLETE)


def audit_actions(db: Database, instance_id: str) -> list[tuple[str, Any]]:
    with db.session() as s:
        rows = s.execute(
            text("SELECT action, detail FROM strategy_audit WHERE instance_id = :i ORDER BY id"),
            {"i": uuid.UUID(instance_id)},
        ).all()
    return [(r[0], r[1]) for r in rows]


def events_of(db: Database, owner: str) -> list[tuple[str, dict[str, Any]]]:
    with db.session() as s:
        rows = s.execute(
            text("SELECT type, data FROM events WHERE stream = :s ORDER BY seq"),
            {"s": f"jobs:{owner}"},
        ).all()
    return [(r[0], dict(r[1])) for r in rows]
