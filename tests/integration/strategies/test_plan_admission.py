"""``max_strategies`` is counted and admitted in the transaction that starts the instance,
under the owner's lock (the engine's locks are per instance): eight concurrent starts of
one owner's instances, plan allowing three, leave exactly three trading; the five
refusals are audited and change nothing else (no status row, no event, still stopped)."""

from __future__ import annotations

from typing import Any

from cluster.strategies.engine import StrategyBook
from domain.billing.plans import PlanLimit, Quota, plans_from_wire
from domain.strategy.config import InstanceStatus
from tests.integration.strategies.conftest import audit_actions, events_of, owner_and_account
from tests.kit.admission import meeting, race, refusal_audits

N, K = 8, 3
PLANS = plans_from_wire({"free": {"max_strategies": K}})


def test_concurrent_starts_of_one_owner_leave_exactly_the_plans_instances_trading(
    book: StrategyBook,
) -> None:
    db = book.db
    owner, account = owner_and_account(db)
    spec: dict[str, Any] = {
        "owner_user_id": owner,
        "strategy": "sma_cross",
        "symbols": ["AAPL"],
        "bar_interval": "1d",
        "account_id": account,
        "params": {"n1": 10, "n2": 30},
        "by": owner,
    }
    ids = [book.create(**spec).id for _ in range(N)]
    events_before = len(events_of(db, owner))
    quota = meeting(Quota.of(PLANS, "free", "max_strategies"), N)

    started, errors = race(
        N, lambda i: book.set_status(ids[i], InstanceStatus.RUNNING, by=owner, quota=quota)
    )

    assert all(isinstance(e, PlanLimit) for e in errors), errors
    assert (len(started), len(errors)) == (K, N - K)
    for refusal in errors:
        assert isinstance(refusal, PlanLimit)
        assert (refusal.limit, refusal.allowed, refusal.wanted) == ("max_strategies", K, K + 1)
        assert (refusal.plan, refusal.lifted_by) == ("free", "premium")
    fresh = StrategyBook(db, book.clock)  # what PostgreSQL holds
    trading = [i for i in ids if fresh.get(i).status.trading]
    assert sorted(trading) == sorted(i.id for i in started)
    assert [i for i in ids if book.get(i).status.trading] == [
        i for i in ids if fresh.get(i).status.trading
    ]
    for iid in set(ids) - set(trading):
        assert [a for a, _ in audit_actions(db, iid)] == ["created"]
    assert len(events_of(db, owner)) == events_before + K
    detail = {"limit": "max_strategies", "plan": "free", "wanted": K + 1, "allowed": K}
    assert refusal_audits(db, owner) == [(owner, "plan-limit-refused", detail)] * (N - K)
