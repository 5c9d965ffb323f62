"""The live sampler against the real PostgreSQL: paper fills booked through the order
service for a strategy instance become live samples with the right P&L, and live results
below the out-of-sample expectation over the drift window flag the instance. In process:
the sampler and ``StrategyHost`` over the engine, no Ray."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from cluster.db import Database
from cluster.optimization.service import OptimizationService
from cluster.orders.service import OrderService
from cluster.settings import Settings
from cluster.strategies.engine import StrategyBook
from cluster.strategies.host import StrategyHost
from cluster.strategies.live_sampler import LiveSampler, sample_all
from domain.clock import FakeClock
from domain.ids import AccountId, ExecutionId
from domain.market_hours import MarketCalendar
from domain.money import Price, Quantity
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.strategy.config import InstanceStatus
from tests.conftest import own_database
from tests.integration.orders.conftest import FakeQuotes
from tests.integration.strategies.conftest import finished_job, new_instance, owner_and_account

K = OrderEventKind


@pytest.fixture
def orders(strategies_db: Database, clock: FakeClock) -> OrderService:
    calendar = MarketCalendar(date(2026, 1, 1), date(2027, 6, 30))
    return OrderService(strategies_db, clock, calendar, None)


def traded(
    service: OrderService,
    clock: FakeClock,
    account: str,
    side: str,
    qty: str,
    price: str,
    fee: str,
    strategy_id: str | None,
) -> Order:
    """A limit order placed (as a runner places it) and filled whole by the paper broker."""
    req = OrderRequest.parse(
        symbol="AAPL", side=side, type="limit", time_in_force="day", qty=qty, limit_price=price
    )
    order = service.submit(AccountId(account), req, strategy_id=strategy_id).order
    assert order.status is OrderStatus.PENDING_NEW, order.reject_reason
    fill = OrderEvent(
        K.FILL,
        at=clock.advance(timedelta(minutes=1)),
        execution_id=ExecutionId(f"x-{uuid.uuid4()}"),
        qty=Quantity(Decimal(qty)),
        price=Price(Decimal(price)),
        fee=Decimal(fee),
    )
    return service.apply_events(order.id, [OrderEvent(K.ACKNOWLEDGE, clock.now()), fill])


def stored_samples(db: Database, instance_id: str) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.execute(
            text(
                "SELECT version, kind, score, realized_pnl, unrealized_pnl, trades, drawdown_pct"
                " FROM strategy_performance WHERE instance_id = :i AND kind = 'live' ORDER BY id"
            ),
            {"i": uuid.UUID(instance_id)},
        ).mappings()
        return [dict(r) for r in rows]


async def test_sampler_records_the_instances_paper_pnl_then_flags_it_below_expectation(
    book: StrategyBook,
    strategies_db: Database,
    clock: FakeClock,
    opt_service: OptimizationService,
    orders: OrderService,
) -> None:
    inst = new_instance(
        book, strategies_db, objective="return_pct", drift={"threshold": 0.5, "window": 2}
    )
    book.set_status(inst.id, InstanceStatus.RUNNING, by="quant")
    # v2 promoted on a walk-forward window that returned +1 % out of sample
    job = finished_job(
        opt_service, inst.owner_user_id, {"n1": 12, "n2": 30}, oos=1.0, in_sample=2.0, trades=5
    )
    assert book.promote(inst.id, by="quant", job_id=job)["outcome"] == "promoted"
    orders.fund(inst.account_id, Decimal("100000"))
    quotes = FakeQuotes()
    host, sampler = StrategyHost(book), LiveSampler(strategies_db, quotes, clock.now)

    traded(orders, clock, inst.account_id, "buy", "10", "100.00", "1.00", inst.id)
    traded(orders, clock, inst.account_id, "buy", "5", "90.00", "0", None)  # not the strategy's
    quotes.set("AAPL", "104.00", "106.00")  # marked at the mid, 105
    [first] = await sample_all(host, sampler, only={inst.id})

    # -1.00 fee realized; 10 x (105 - 100) unrealized; return 49 / 10,000 = 0.49 %
    assert first["version"] == 2 and first["drift"]["flagged"] is False
    assert first["drift"]["reason"] == "1/2 samples"
    row = stored_samples(strategies_db, inst.id)[-1]
    assert (row["kind"], row["realized_pnl"], row["unrealized_pnl"], row["trades"]) == (
        "live",
        Decimal("-1.00"),
        Decimal("50.00"),
        0,
    )
    assert row["score"] == pytest.approx(0.49) and row["drawdown_pct"] == 0.0

    traded(orders, clock, inst.account_id, "sell", "10", "96.00", "1.00", inst.id)
    [second] = await sample_all(host, sampler, only={inst.id})

    # round trip closed: 10 x (96 - 100) - 2.00 fees = -42.00; return -0.42 %
    row = stored_samples(strategies_db, inst.id)[-1]
    assert (row["realized_pnl"], row["unrealized_pnl"], row["trades"]) == (
        Decimal("-42.00"),
        Decimal("0.00"),
        1,
    )
    assert row["score"] == pytest.approx(-0.42)
    assert row["drawdown_pct"] == pytest.approx(-(1 - 9958 / 10049) * 100)
    # mean of the window (0.49 - 0.42) / 2 falls 0.965 short of the expected 1.0 (> 0.5)
    assert second["drift"]["flagged"] is True
    assert second["drift"]["live_mean"] == pytest.approx(0.035)
    assert book.get(inst.id).status is InstanceStatus.FLAGGED
    with strategies_db.session() as s:
        actions = s.execute(
            text("SELECT action FROM strategy_audit WHERE instance_id = :i ORDER BY id"),
            {"i": uuid.UUID(inst.id)},
        ).scalars()
        assert list(actions)[-1] == "flagged"

    # a flagged instance still trades, so it is still sampled; a stopped one is not
    book.set_status(inst.id, InstanceStatus.STOPPED, by="quant")
    assert await sample_all(host, sampler, only={inst.id}) == []
    assert len(stored_samples(strategies_db, inst.id)) == 2


async def test_one_failing_instance_is_logged_and_the_others_are_sampled(
    book: StrategyBook,
    strategies_db: Database,
    clock: FakeClock,
    orders: OrderService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = new_instance(book, strategies_db, objective="return_pct")
    bad = new_instance(book, strategies_db, objective="return_pct")
    for inst in (good, bad):
        book.set_status(inst.id, InstanceStatus.RUNNING, by="quant")

    class Failing(LiveSampler):
        def sample(self, inst: Any, version: int, since: Any) -> Any:
            if inst.id == bad.id:
                raise RuntimeError("boom")
            return super().sample(inst, version, since)

    got = await sample_all(
        StrategyHost(book), Failing(strategies_db, None, clock.now), only={good.id, bad.id}
    )
    assert [g["instance_id"] for g in got] == [good.id]
    assert f"live sample of strategy instance {bad.id} failed" in caplog.text
    row = stored_samples(strategies_db, good.id)[-1]
    # no fills yet: nothing gained, a 0 % return
    assert (row["realized_pnl"], row["unrealized_pnl"], row["score"]) == (
        Decimal("0.00"),
        Decimal("0.00"),
        0.0,
    )


@pytest.fixture
def loop_settings(settings: Settings) -> Iterator[Settings]:
    """The platform's settings on a database of this test's own: the actor's loop samples
    every instance it finds, so it must not see other tests' instances."""
    with own_database("live_loop") as url:
        yield settings.with_overrides(database_url=url, strategy_sample_s=0.05)


async def test_platform_actor_samples_trading_instances_on_its_schedule(
    loop_settings: Settings,
) -> None:
    from actors.adaptive_params import AdaptiveParamsActor

    # the actor's class in this process (no Ray): ``runners`` is set after construction so
    # that no runner actor is started, but the loop samples as the platform's instance does
    actor = AdaptiveParamsActor(loop_settings, poll_s=0.01, runners=False)
    try:
        actor.runners = True
        owner, account = owner_and_account(actor.db)
        spec = {"strategy": "sma_cross", "symbols": ["AAPL"], "bar_interval": "1d"}
        wire = await actor.create(
            {**spec, "account_id": account, "params": {"n1": 10, "n2": 30}}, owner, by=owner
        )
        stopped = await actor.create(
            {**spec, "account_id": account, "params": {"n1": 10, "n2": 30}}, owner, by=owner
        )
        actor.book.set_status(wire["id"], InstanceStatus.RUNNING, by="quant")
        deadline = time.monotonic() + 30
        while len(stored_samples(actor.db, wire["id"])) < 2:
            assert time.monotonic() < deadline, "no live samples recorded"
            await asyncio.sleep(0.02)
        row = stored_samples(actor.db, wire["id"])[0]
        assert (row["version"], row["realized_pnl"], row["trades"]) == (1, Decimal("0.00"), 0)
        assert stored_samples(actor.db, stopped["id"]) == []
    finally:
        actor._loop.cancel()
        actor.db.dispose()
