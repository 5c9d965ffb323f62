"""``max_concurrent_jobs`` is counted and admitted in the transaction that stores the job,
under the owner's lock: eight concurrent submits of one owner whose plan allows three
running jobs store exactly three; the five refusals are audited and write nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.optimization.service import OptimizationService
from domain.billing.plans import PlanLimit, plans_from_wire
from tests.integration.optimization.conftest import MAX_GRID, small_request
from tests.kit.admission import MeetingEntitlements, race, refusal_audits
from tests.kit.orders import create_account

N, K = 8, 3
PLANS = plans_from_wire({"free": {"max_concurrent_jobs": K}})
#: 2 x 2 trials: far under every plan's max_trials_per_job
REQUEST = small_request(
    params={"n1": [5, 10], "n2": [30, 50]},
    data={"kind": "simulated", "symbol": "AAPL", "bars": 120, "seed": 5},
)


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[Database]:
    """A pool for every submitter at once (each holds a connection while it waits)."""
    db = Database(database_url, PoolSize(N, 4))
    yield db
    db.dispose()


def _owner(db: Database) -> str:
    account = create_account(db)
    with db.session() as s:
        return str(
            s.execute(
                text("SELECT owner_user_id FROM accounts WHERE id = :a"), {"a": str(account)}
            ).scalar_one()
        )


def _jobs(db: Database, owner: str) -> int:
    with db.session() as s:
        return int(
            s.execute(
                text("SELECT count(*) FROM optimization_jobs WHERE owner_user_id = :o"),
                {"o": owner},
            ).scalar_one()
        )


def test_concurrent_submits_of_one_owner_store_exactly_the_plans_running_jobs(
    db: Database,
) -> None:
    owner = _owner(db)
    service = OptimizationService(
        db, max_grid=MAX_GRID, entitlements=MeetingEntitlements(db, PLANS, N)
    )

    stored, errors = race(N, lambda i: service.submit(REQUEST, owner_user_id=owner, via="api"))

    assert all(isinstance(e, PlanLimit) for e in errors), errors
    assert (len(stored), len(errors)) == (K, N - K)
    assert _jobs(db, owner) == K
    for refusal in errors:
        assert isinstance(refusal, PlanLimit)
        assert refusal.problem_extra == {
            "limit": "max_concurrent_jobs",
            "allowed": K,
            "requested": K + 1,
            "plan": "free",
            "lifted_by": "premium",
        }
    detail = {"limit": "max_concurrent_jobs", "plan": "free", "wanted": K + 1, "allowed": K}
    assert refusal_audits(db, owner) == [(owner, "plan-limit-refused", detail)] * (N - K)


def test_a_refusal_writes_its_audit_row_and_nothing_else(db: Database) -> None:
    owner = _owner(db)
    plans = plans_from_wire({"free": {"max_concurrent_jobs": 1, "max_trials_per_job": 10}})
    service = OptimizationService(
        db, max_grid=MAX_GRID, entitlements=MeetingEntitlements(db, plans, 1)
    )
    service.submit(REQUEST, owner_user_id=owner, via="api")
    with pytest.raises(PlanLimit) as running:
        service.submit(REQUEST, owner_user_id=owner, via="api")
    with pytest.raises(PlanLimit) as size:
        service.submit(small_request(), owner_user_id=owner, via="api")  # 30 trials

    assert (running.value.limit, size.value.limit) == ("max_concurrent_jobs", "max_trials_per_job")
    assert _jobs(db, owner) == 1
    assert [a[2]["limit"] for a in refusal_audits(db, owner)] == [
        "max_concurrent_jobs",
        "max_trials_per_job",
    ]
    assert service.submit(REQUEST, owner_user_id=None, via="cli").owner_user_id is None
