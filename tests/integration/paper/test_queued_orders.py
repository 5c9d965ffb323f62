"""Orders placed while the market is closed: the paper broker accepts and queues them for
the open, and what a client reads (REST body, ``trade_updates`` event) says until when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cluster.eventlog.store import read_after
from domain.market_hours import MarketCalendar
from serve.schemas.trading import OrderPublic

SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
MON_OPEN = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)  # 09:30 New York


async def test_order_placed_saturday_then_accepted_and_queued_until_monday(
    make_desk: Any, calendar: MarketCalendar
) -> None:
    desk = await make_desk(start=SATURDAY)
    desk.driver.book("AAPL", "99.90", "100.00")
    regular = await desk.place(symbol="AAPL", side="buy", type="market", qty="1")
    extended = await desk.place(
        symbol="AAPL", side="buy", type="limit", qty="1", limit_price="50", extended_hours=True
    )
    shown = {o.id: OrderPublic.of(o, calendar) for o in (regular, extended)}
    assert {o.status.value for o in shown.values()} == {"accepted"}
    assert shown[regular.id].queued_until == "2026-11-30T14:30:00Z"
    assert shown[extended.id].queued_until == "2026-11-30T09:00:00Z"

    # the events the paper broker booked, as the record holds them for the relay
    with desk.service.db.session() as s:
        events = read_after(s, f"orders:{desk.account}", 0)
    assert isinstance(events, list)
    queued = {
        e.data["order"]["id"]: e.data["order"]["queued_until"]
        for e in events
        if e.type == "accepted"
    }
    assert queued == {
        regular.id: "2026-11-30T14:30:00Z",
        extended.id: "2026-11-30T09:00:00Z",
    }

    await desk.driver.tick(MON_OPEN)
    assert OrderPublic.of(desk.order(regular.id), calendar).queued_until is None
