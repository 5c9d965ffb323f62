"""Issue 11 acceptance 2, 3 and 4 on a real Ray cluster: the ``RiskEngine`` actor serializes
100 concurrent callers; a tripped breaker survives the actor's death; the kill switch with
flatten leaves no open order and no position, in one call.

A database and a Ray namespace of this module's own: the dispatcher sends every unsent
request of its broker, and the platform actors are found by name in their namespace.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import ray
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.orders.wiring import calendar_around
from cluster.risk.view import RiskView
from cluster.settings import Settings
from domain.breaker import _TRANSITIONS as BREAKER_TABLE
from domain.breaker import BreakerState
from domain.clock import FakeClock
from domain.orders import OrderStatus
from tests.conftest import own_database
from tests.integration.paper.conftest import WEDNESDAY
from tests.kit.orders import close_open_orders, funded_account, request
from tests.kit.quotes import QuoteDriver, ScriptedQuotes, call

pytestmark = [pytest.mark.ray]
S = timedelta(seconds=1)


@pytest.fixture(scope="module")
def risk_db_url() -> Iterator[str]:
    with own_database("riskray") as url:
        yield url


@pytest.fixture(scope="module")
def risk_db(risk_db_url: str) -> Iterator[Database]:
    db = Database(risk_db_url, PoolSize(2, 2))
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def stack(ray_cluster: None, settings: Settings, risk_db_url: str) -> Iterator[dict[str, Any]]:
    """The risk engine, the paper broker and its dispatcher, in a namespace of their own."""
    from actors.dispatcher import ensure as ensure_dispatcher
    from actors.paper_broker import ensure as ensure_paper
    from actors.risk_engine import ensure as ensure_risk

    s = settings.with_overrides(
        database_url=risk_db_url,
        ray_namespace=f"elson-risk-{uuid.uuid4().hex[:8]}",
        paper_tick_interval_s=3600,
        reconcile_interval_s=3600,
        paper_quote_feed=False,
        clock_start=WEDNESDAY,
        risk_tick_s=0.2,
    )
    names = [*ensure_risk(s), *ensure_paper(s), *ensure_dispatcher(s)]
    actors = {n: ray.get_actor(n, namespace=s.ray_namespace) for n in names}
    yield {"settings": s, "actors": actors, "risk": actors["elson.risk_engine"]}
    for actor in actors.values():
        ray.kill(actor, no_restart=True)


def _audit(db: Database, subject: str) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.execute(
            text(
                "SELECT from_state, to_state, reason FROM risk_transitions "
                "WHERE subject = :s ORDER BY id"
            ),
            {"s": subject},
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _by(db: Database, subject: str) -> list[str]:
    with db.session() as s:
        return list(
            s.execute(
                text("SELECT by FROM risk_transitions WHERE subject = :s ORDER BY id"),
                {"s": subject},
            ).scalars()
        )


async def test_hundred_concurrent_callers_trip_and_reset_one_breaker_then_audit_agrees(
    stack: dict[str, Any], risk_db: Database
) -> None:
    risk = stack["risk"]
    calls = [
        (risk.trip_breaker if i % 2 == 0 else risk.reset_breaker).remote(
            "race", f"caller-{i}", f"call {i}"
        )
        for i in range(100)
    ]
    answers = await asyncio.gather(*calls)
    final = (await risk.breakers.remote())["race"]

    audit = _audit(risk_db, "breaker:race")
    assert audit, "every change is audited"
    assert audit[-1][1] == final  # the log ends where the breaker is
    assert audit[0][0] == BreakerState.CLOSED.value
    for (_, after, _), (next_before, _, _) in itertools.pairwise(audit):
        assert after == next_before  # in order: each row starts where the last one ended
    legal = {(a.value, b.value) for (a, _), b in BREAKER_TABLE.items()}
    assert all((before, after) in legal for before, after, _ in audit)
    # each call made at most one row, and a row is what its caller asked for
    callers = [int(by.removeprefix("caller-")) for by in _by(risk_db, "breaker:race")]
    assert len(callers) == len(set(callers)) == len(audit)
    for i, (_, after, _) in zip(callers, audit, strict=True):
        assert after == ("forced_open" if i % 2 == 0 else "closed")
        assert answers[i] == after  # the caller was told the state its call made


async def test_tripped_breaker_when_actor_killed_then_still_tripped_and_orders_denied_same_code(
    stack: dict[str, Any], risk_db: Database
) -> None:
    s: Settings = stack["settings"]
    risk = stack["risk"]
    service = OrderService(
        risk_db,
        FakeClock(WEDNESDAY),
        calendar_around(WEDNESDAY),
        ScriptedQuotes(),
        broker_name="paper",
    )
    clock = {"t": 0.0}
    service.risk = RiskView(risk_db, monotonic=lambda: clock["t"])
    account = funded_account(risk_db, service, "10000")
    try:
        assert await risk.trip_breaker.remote("paper", "ops", "broker misbehaving") == "forced_open"
        denied = service.submit(account, request(type="limit", qty="1", limit_price="10")).order
        assert denied.reject_code == "broker_unavailable"

        before = (await risk.ping.remote())["incarnation"]
        ray.kill(risk, no_restart=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                after = (await call(risk.ping.remote()))["incarnation"]
                if after != before:
                    break
            except ray.exceptions.RayActorError:
                pass
            await asyncio.sleep(0.2)
        assert after != before  # it died and came back
        assert (await risk.breakers.remote())["paper"] == "forced_open"
        clock["t"] += 1.0  # past the staleness bound: the view re-reads PostgreSQL
        again = service.submit(account, request(type="limit", qty="1", limit_price="10")).order
        assert (again.status, again.reject_code) == (OrderStatus.REJECTED, "broker_unavailable")
    finally:
        await risk.reset_breaker.remote("paper", "ops", "recovered")
        close_open_orders(service, [account])
    assert s.broker == "paper"


async def test_kill_switch_with_flatten_leaves_no_open_order_and_no_position_in_one_call(
    stack: dict[str, Any], risk_db: Database
) -> None:
    risk = stack["risk"]
    paper = stack["actors"]["elson.paper_broker"]
    clock = FakeClock(WEDNESDAY)
    quotes = ScriptedQuotes()
    driver = QuoteDriver(paper, clock, quotes)
    service = OrderService(risk_db, clock, calendar_around(WEDNESDAY), quotes, broker_name="paper")
    service.risk = RiskView(risk_db, bound_s=0.0)  # always re-read: this test checks rules
    account = funded_account(risk_db, service, "100000")
    await driver.at(WEDNESDAY)
    driver.book("AAPL", "99.90", "100.00")

    buy = service.submit(account, request(type="limit", qty="10", limit_price="100.00")).order
    await _until(lambda: service.get_order(buy.id).status is OrderStatus.NEW)
    await driver.step(WEDNESDAY + 5 * S, ("AAPL", "99.90", "100.00"))
    await _until(lambda: service.get_order(buy.id).status is OrderStatus.FILLED)
    resting = service.submit(account, request(type="limit", qty="5", limit_price="50.00")).order
    sell = service.submit(
        account, request(side="sell", type="limit", qty="4", limit_price="200.00")
    ).order
    assert {service.get_order(o.id).status for o in (resting, sell)} <= {
        OrderStatus.PENDING_NEW,
        OrderStatus.NEW,
    }

    report = await risk.kill_switch.remote(f"account:{account}", "user:owner", "panic", True)

    assert report["halt"]["state"] == "halted"
    assert set(report["canceled"]) == {str(resting.id), str(sell.id)}
    assert len(report["flatten_orders"]) == 1 and not report["refused"]
    flatten = report["flatten_orders"][0]
    await _until(lambda: service.get_order(flatten).status is OrderStatus.NEW)
    await driver.step(WEDNESDAY + 30 * S, ("AAPL", "99.90", "100.00"))
    await _until(lambda: service.get_order(flatten).status is OrderStatus.FILLED)

    assert service.positions(account) == []
    opens, _ = service.list_orders(account, status="open")
    assert opens == []
    assert any(
        "kill switch with flatten: panic" in r for _, _, r in _audit(risk_db, f"account:{account}")
    )
    # halted: a new order is denied with its code; the account stays halted until resumed
    late = service.submit(account, request(type="limit", qty="1", limit_price="10")).order
    assert late.reject_code == "trading_halted"
    await risk.set_state.remote(f"account:{account}", "active", "all clear", "ops")
    assert service.check_invariants(account) == []


async def _until(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    assert predicate()
