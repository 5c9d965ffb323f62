"""Kill the paper broker while a trailing stop is armed and after a stop-limit triggered
without filling: the restarted actor resumes from the stored water mark and trigger.

Both orders are buys (no shares needed). The trailing stop's mark moves with quotes only
(no event), the stop-limit triggers on a quote above its limit; the desk stores both once
per quote batch. After the restart, each next quote is one that a forgetful engine would
treat differently: the trailing stop would restart its mark from it and not trigger, the
stop-limit would wait for a new trigger instead of filling at its limit.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import ray

from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.integration.paper.test_restart import wait_restarted
from tests.kit.quotes import call

D = Decimal
S = timedelta(seconds=1)
T0 = WEDNESDAY


async def restart(desk: Desk) -> dict[str, Any]:
    before = (await call(desk.actor.ping.remote()))["incarnation"]
    ray.kill(desk.actor, no_restart=False)
    return await wait_restarted(desk.actor, before)


async def test_kill_with_armed_trailing_stop_and_triggered_stop_limit_then_marks_resume(
    make_desk: Any,
) -> None:
    desk: Desk = await make_desk()
    desk.driver.book("AAPL", "99.90", "100.00")
    trailing = await desk.place(symbol="AAPL", type="trailing_stop", qty="5", trail_price="1.00")
    stop_limit = await desk.place(
        symbol="MSFT", type="stop_limit", qty="3", stop_price="101.00", limit_price="100.50"
    )
    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00"), ("MSFT", "99.00", "99.10"))
    await desk.driver.step(T0 + 2 * S, ("AAPL", "97.90", "98.00"), ("MSFT", "101.10", "101.20"))
    await desk.driver.step(T0 + 3 * S, ("AAPL", "98.40", "98.50"))  # mark stays at 98

    stored_trailing, stored_stop = desk.order(trailing.id), desk.order(stop_limit.id)
    assert stored_trailing.status.value == stored_stop.status.value == "new"
    assert (stored_trailing.high_water_mark, stored_trailing.stop_triggered) == (D(98), False)
    assert stored_stop.stop_triggered is True  # ask 101.20 >= stop, but above the limit
    assert desk.fills(stop_limit.id) == []

    info = await restart(desk)
    assert info["restored"] == 2

    # A mark restarted from this quote would be 98.80 (stop 99.80); the stored one is 98.
    await desk.driver.step(T0 + 4 * S, ("AAPL", "98.70", "98.80"))
    assert desk.order(trailing.id).status.value == "new"
    assert desk.order(trailing.id).high_water_mark == D(98)
    await desk.driver.step(T0 + 5 * S, ("AAPL", "98.90", "99.00"))  # 98 + 1.00 reached
    done = desk.order(trailing.id)
    assert done.status.value == "filled" and done.filled_avg_price == D("99.00")

    # Below the stop (a re-armed order would wait) but at the limit: fills.
    await desk.driver.step(T0 + 6 * S, ("MSFT", "100.30", "100.40"))
    filled = desk.order(stop_limit.id)
    assert filled.status.value == "filled" and filled.filled_avg_price == D("100.40")
    assert desk.service.check_invariants(desk.account) == []


async def test_a_batch_stores_its_lowest_mark_and_leaves_updated_at_alone(desk: Desk) -> None:
    desk.driver.book("AAPL", "99.90", "100.00")
    order = await desk.place(symbol="AAPL", type="trailing_stop", qty="1", trail_percent="5")
    updated = desk.order(order.id).updated_at
    await desk.driver.at(WEDNESDAY + S)
    batch = [desk.driver.book("AAPL", "96.00", ask) for ask in ("100.00", "97.00", "99.00")]
    await desk.driver.send(batch)
    stored = desk.order(order.id)
    assert stored.high_water_mark == D(97) and stored.status.value == "new"
    assert stored.updated_at == updated  # a mark is not an event (the restart floor)
    await desk.driver.step(WEDNESDAY + 2 * S, ("AAPL", "96.00", "98.00"))
    assert desk.order(order.id).high_water_mark == D(97)  # above the mark: kept
