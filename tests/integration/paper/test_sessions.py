"""Time in force against the real NYSE calendar, through the actor, service and database.

- 2026-11-25 (Wed): full session 14:30-21:00 UTC; 2026-11-26: Thanksgiving, closed;
- 2026-11-27 (Fri): early close 13:00 New York = 18:00 UTC;
- 2026-11-28 (Sat) closed; 2026-11-30 (Mon) opens 09:30 New York = 14:30 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.integration.paper.conftest import WEDNESDAY

D = Decimal
S = timedelta(seconds=1)
WED_CLOSE = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
FRI_PRE_OPEN = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # 08:00 New York
FRI_OPEN = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
FRI_EARLY_CLOSE = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # 13:00 New York
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
MON_OPEN = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
MON_CLOSE = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


async def test_day_order_at_early_close_then_expires_at_1300_new_york(make_desk: Any) -> None:
    desk = await make_desk(start=FRI_OPEN + 30 * 60 * S)
    day = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="90")
    gtc = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="gtc", qty="10", limit_price="90"
    )
    await desk.driver.step(FRI_EARLY_CLOSE - S, ("AAPL", "99.90", "100.00"))
    await desk.driver.tick(FRI_EARLY_CLOSE - timedelta(microseconds=1))
    assert desk.order(day.id).status.value == "new"

    await desk.driver.tick(FRI_EARLY_CLOSE)

    expired = desk.order(day.id)
    assert expired.status.value == "expired"
    assert expired.expired_at == FRI_EARLY_CLOSE
    assert desk.order(gtc.id).status.value == "new"
    # Only the gtc order still holds cash: 10 x 90 plus the reserve buffer.
    held = desk.cash() - desk.service.buying_power(desk.account)
    assert D("900") <= held < D("910")
    assert desk.cash() == D("100000.00")


async def test_order_placed_saturday_then_accepted_and_released_at_monday_open(
    make_desk: Any,
) -> None:
    desk = await make_desk(start=SATURDAY)
    desk.driver.book("AAPL", "99.90", "100.00")
    market = await desk.place(symbol="AAPL", side="buy", type="market", qty="10")
    limit = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="50")
    assert market.status.value == "accepted" and limit.status.value == "accepted"

    await desk.driver.step(SATURDAY + 3600 * S, ("AAPL", "99.90", "100.00"))
    await desk.driver.tick(MON_OPEN - S)
    assert desk.order(market.id).status.value == "accepted"
    assert desk.fills(market.id) == []

    await desk.driver.step(MON_OPEN + S, ("AAPL", "100.90", "101.00"))

    market = desk.order(market.id)
    assert market.status.value == "filled" and market.filled_avg_price == D("101.00")
    assert desk.kinds(market.id) == ["created", "accept_closed", "release", "fill"]
    assert desk.cash() == D("98990.00")
    # The day limit went live at Monday's open: it lives until Monday's close, no longer.
    assert desk.order(limit.id).status.value == "new"
    await desk.driver.tick(MON_CLOSE - S)
    assert desk.order(limit.id).status.value == "new"
    await desk.driver.tick(MON_CLOSE)
    assert desk.order(limit.id).status.value == "expired"
    assert desk.service.check_invariants(desk.account) == []


async def test_gtc_order_when_session_closes_then_survives_and_fills_next_session(
    desk: Any,
) -> None:
    gtc = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="gtc", qty="10", limit_price="99"
    )
    day = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="99")
    await desk.driver.tick(WED_CLOSE)
    assert desk.order(gtc.id).status.value == "new"
    assert desk.order(day.id).status.value == "expired"

    await desk.driver.step(FRI_OPEN + S, ("AAPL", "98.80", "98.90"))
    assert desk.order(gtc.id).status.value == "filled"
    assert desk.cash() == D("99011.00")


async def test_opg_order_before_open_then_fills_on_first_quote_of_session(
    make_desk: Any,
) -> None:
    desk = await make_desk(start=FRI_PRE_OPEN)
    desk.driver.book("AAPL", "99.90", "100.00")
    order = await desk.place(
        symbol="AAPL", side="buy", type="market", time_in_force="opg", qty="10"
    )
    assert order.status.value == "accepted"
    await desk.driver.step(FRI_OPEN - S, ("AAPL", "99.90", "100.00"))  # pre-market quote
    assert desk.order(order.id).status.value == "accepted"

    await desk.driver.step(FRI_OPEN + S, ("AAPL", "100.10", "100.20"))

    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("100.20")
    assert desk.kinds(order.id) == ["created", "accept_closed", "release", "fill"]
    assert desk.cash() == D("98998.00")


async def test_opg_order_when_opening_quote_too_thin_then_rest_canceled(
    make_desk: Any,
) -> None:
    desk = await make_desk(start=FRI_PRE_OPEN)
    order = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="opg", qty="10", limit_price="101"
    )
    await desk.driver.step(FRI_OPEN + S, ("AAPL", "100.10", "100.20", 100, 3))
    order = desk.order(order.id)
    assert order.status.value == "canceled" and order.filled_qty == 3
    assert desk.cash() == D("99699.40")


async def test_cls_order_then_ignores_session_quotes_and_fills_at_close_on_last_quote(
    make_desk: Any,
) -> None:
    desk = await make_desk(start=WEDNESDAY + 4 * 3600 * S)  # 14:00 New York
    order = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="cls", qty="10", limit_price="101"
    )
    assert order.status.value == "new"
    await desk.driver.step(WEDNESDAY + 4 * 3600 * S + S, ("AAPL", "99.90", "100.00"))
    await desk.driver.step(WED_CLOSE - S, ("AAPL", "100.30", "100.40"))
    assert desk.order(order.id).status.value == "new"

    await desk.driver.tick(WED_CLOSE)

    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("100.40")
    assert order.filled_at == WED_CLOSE
    assert desk.cash() == D("98996.00")


async def test_background_tick_when_clock_passes_close_then_day_order_expires_unprompted(
    make_desk: Any,
) -> None:
    import asyncio
    import time

    desk = await make_desk(paper_tick_interval_s=0.2)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="90")
    await desk.driver.at(WED_CLOSE + S)  # no tick() call: the actor's own task must notice
    deadline = time.monotonic() + 10
    while desk.order(order.id).status.value != "expired":
        assert time.monotonic() < deadline, "the background tick did not expire the order"
        await asyncio.sleep(0.1)  # waiting for the actor's real timer, not for market time
