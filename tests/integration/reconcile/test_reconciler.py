"""The reconciler against a real paper broker actor and the real database.

Booking failures are injected in the actor (``fail_next_applies``, test env only): the
engine has moved on, the database has not, and ``run_once`` must apply exactly what is
missing, once, however often it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.integration.reconcile.conftest import MAX_CHECKS
from tests.kit.orders import request
from tests.kit.quotes import call

D = Decimal
S = timedelta(seconds=1)
WED_CLOSE = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


async def test_fill_the_db_missed_then_run_once_applies_it_once(
    desk: Desk, make_reconciler: Any
) -> None:
    reconciler = make_reconciler(desk)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="100")
    await call(desk.actor.fail_next_applies.remote(1))
    await desk.driver.step(WEDNESDAY + S, ("AAPL", "99.80", "99.90"))
    assert desk.order(order.id).status.value == "new"  # the booking failed
    assert (await call(desk.actor.ping.remote()))["unbooked"] == 1

    first = await call(reconciler.run_once.remote())
    again = await call(reconciler.run_once.remote())

    assert first["applied"] == 1 and again["applied"] == 0
    order = desk.order(order.id)
    assert order.status.value == "filled"
    assert desk.fills(order.id) == [(f"{order.id}-1", D("10"), D("99.90"))]
    assert desk.cash() == D("99001.00")
    detail = dict(desk.events(order.id))["fill"]["fill_detail"]
    assert detail["reference_price"] == "99.90" and detail["partial"] is False
    assert desk.service.check_invariants(desk.account) == []


async def test_first_partial_fill_missed_and_later_ones_booked_then_all_booked_once(
    desk: Desk, make_reconciler: Any
) -> None:
    reconciler = make_reconciler(desk)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="100")
    await call(desk.actor.fail_next_applies.remote(1))
    await desk.driver.step(WEDNESDAY + S, ("AAPL", "99.80", "99.90", 100, 4))
    await desk.driver.step(WEDNESDAY + 2 * S, ("AAPL", "99.80", "99.95", 100, 4))
    assert desk.order(order.id).filled_qty == 4  # the second partial, not the first

    result = await call(reconciler.run_once.remote())
    await desk.driver.step(WEDNESDAY + 3 * S, ("AAPL", "99.60", "99.70", 100, 4))

    assert result["applied"] == 1
    order = desk.order(order.id)
    assert order.status.value == "filled"
    assert sorted(desk.fills(order.id)) == [
        (f"{order.id}-1", D("4"), D("99.90")),
        (f"{order.id}-2", D("4"), D("99.95")),
        (f"{order.id}-3", D("2"), D("99.70")),
    ]
    assert desk.cash() == D("100000") - D("399.60") - D("399.80") - D("199.40")
    assert desk.service.check_invariants(desk.account) == []


async def test_expiry_the_db_missed_then_run_once_expires_the_order(
    desk: Desk, make_reconciler: Any
) -> None:
    reconciler = make_reconciler(desk)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="90")
    await call(desk.actor.fail_next_applies.remote(1))
    await desk.driver.tick(WED_CLOSE)
    assert desk.order(order.id).status.value == "new"

    await call(reconciler.run_once.remote())

    assert desk.order(order.id).status.value == "expired"
    assert desk.service.buying_power(desk.account) == desk.cash() == D("100000.00")


async def test_order_never_acknowledged_then_rejected_after_max_checks(
    desk: Desk, make_reconciler: Any
) -> None:
    reconciler = make_reconciler(desk)
    lost = desk.service.submit(
        desk.account, request(symbol="AAPL", type="limit", qty="10", limit_price="90")
    ).order  # stored, never handed to the broker

    for _ in range(MAX_CHECKS - 1):
        result = await call(reconciler.run_once.remote())
        assert result["unacked"] == 1
    assert desk.order(lost.id).status.value == "pending_new"
    await call(reconciler.run_once.remote())

    lost = desk.order(lost.id)
    assert lost.status.value == "rejected"
    assert lost.reject_reason == f"never acknowledged by broker after {MAX_CHECKS} checks"
    assert desk.service.buying_power(desk.account) == D("100000.00")
    # A late submit from a router retry does not resurrect it.
    answer = await call(desk.actor.submit.remote(str(lost.id)))
    assert answer["status"] == "rejected"


async def test_acknowledged_orders_then_never_counted_as_unacked(
    desk: Desk, make_reconciler: Any
) -> None:
    reconciler = make_reconciler(desk)
    await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="90")
    for _ in range(MAX_CHECKS + 1):
        result = await call(reconciler.run_once.remote())
        assert result == {"checked": 1, "applied": 0, "unacked": 0, "rejected": 0, "errors": 0}
