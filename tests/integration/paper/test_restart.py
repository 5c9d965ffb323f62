"""Kill the paper broker mid-stream: after the restart no fill is lost or booked twice.

The reference is a pure ``PaperEngine`` fed the same orders and the same (time, quote)
script. The actor is killed twice while orders are partially filled: once with an
``on_quotes`` call in flight (it may or may not have been processed; the driver re-sends
it after the restart, as a feed with at-least-once delivery would), once between calls,
and once right after a call that was processed, whose batch is then sent again (a reply
lost with the process: the restarted engine must not trade that batch twice).
"""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import ray
from ray.exceptions import RayActorError

from domain.market_hours import MarketCalendar
from domain.orders import Order
from domain.paper import FillModel, PaperEngine, TopOfBook
from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.kit.orders import request
from tests.kit.quotes import LAG, call, quote

D = Decimal
S = timedelta(seconds=1)
SYMBOLS = ("AAPL", "MSFT", "NVDA")
STEPS = 40
KILL_IN_FLIGHT, KILL_BETWEEN, KILL_AFTER_REPLY = 8, 15, 20


def script() -> list[tuple[datetime, list[tuple[str, str, str, int, int]]]]:
    """Per step one quote per symbol; small varying sizes, some asks above the limit."""
    steps = []
    for k in range(STEPS):
        row = []
        for i, symbol in enumerate(SYMBOLS):
            ask = "101.50" if (k + i) % 4 == 3 else f"{100 + ((k * 3 + i) % 7) / 10:.2f}"
            row.append((symbol, "99.00", ask, 100, 1 + (k * 7 + i * 3) % 5))
        steps.append((WEDNESDAY + (k + 1) * S, row))
    return steps


def reference(orders: list[Order], calendar: MarketCalendar) -> set[tuple[str, D, D]]:
    engine = PaperEngine(FillModel(), calendar)
    for order in orders:
        engine.submit(copy.deepcopy(order), WEDNESDAY)
    fills = set()
    for now, row in script():
        for symbol, bid, ask, bid_size, ask_size in row:
            q = quote(symbol, bid, ask, at=now - LAG, bid_size=bid_size, ask_size=ask_size)
            for _, event in engine.on_quote(TopOfBook.adapt(q), now):
                if event.is_fill:
                    assert event.qty is not None and event.price is not None
                    fills.add((str(event.execution_id), event.qty.value, event.price.value))
    return fills


async def wait_restarted(actor: Any, old: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            info: dict[str, Any] = await call(actor.ping.remote(), 5)
            if info["incarnation"] != old:
                return info
        except (RayActorError, TimeoutError):
            pass
        await asyncio.sleep(0.2)  # a real process restart: nothing to fake here
    raise AssertionError("paper broker did not restart")


async def test_kill_mid_stream_then_no_fill_lost_or_booked_twice(
    make_desk: Any, calendar: MarketCalendar
) -> None:
    desk: Desk = await make_desk(cash="1000000")
    pending = [
        desk.service.submit(
            desk.account,
            request(symbol=s, type="limit", time_in_force="gtc", qty="80", limit_price="101"),
        ).order
        for s in SYMBOLS
    ]
    for order in pending:
        await call(desk.actor.submit.remote(str(order.id)))
    expected = reference(pending, calendar)
    resent = 0

    for k, (now, row) in enumerate(script()):
        await desk.driver.at(now)
        quotes = [desk.driver.book(*q) for q in row]
        wire = [q.to_wire() for q in quotes]
        if k == KILL_AFTER_REPLY:
            await call(desk.actor.on_quotes.remote(wire))
            assert "partially_filled" in {desk.order(o.id).status.value for o in pending}
            before = (await call(desk.actor.ping.remote()))["incarnation"]
            ray.kill(desk.actor, no_restart=False)
            await wait_restarted(desk.actor, before)
            await desk.driver.at(now)
            resent += 1
        if k in (KILL_IN_FLIGHT, KILL_BETWEEN):
            statuses = {desk.order(o.id).status.value for o in pending}
            assert statuses == {"partially_filled"}, statuses
            before = (await call(desk.actor.ping.remote()))["incarnation"]
            if k == KILL_IN_FLIGHT:
                ref = desk.actor.on_quotes.remote(wire)
                ray.kill(desk.actor, no_restart=False)
                try:
                    await call(ref)
                except RayActorError:
                    resent += 1
                    info = await wait_restarted(desk.actor, before)
                    assert info["restored"] == len(SYMBOLS)
                    await desk.driver.at(now)
                    await call(desk.actor.on_quotes.remote(wire))
                else:
                    await wait_restarted(desk.actor, before)
                continue
            ray.kill(desk.actor, no_restart=False)
            info = await wait_restarted(desk.actor, before)
            assert info["restored"] == len(SYMBOLS)
            await desk.driver.at(now)
        await call(desk.actor.on_quotes.remote(wire))

    booked = {(eid, qty, price) for o in pending for eid, qty, price in desk.fills(o.id)}
    assert booked == expected
    assert len(booked) == len(expected) > 3 * 10
    assert {desk.order(o.id).status.value for o in pending} == {"filled"}
    spent = sum((qty * price for _, qty, price in booked), D(0))
    assert desk.cash() == D("1000000.00") - spent.quantize(D("0.01"))
    assert desk.service.check_invariants(desk.account) == []
    print(f"fills={len(booked)} in-flight call re-sent={resent}")
