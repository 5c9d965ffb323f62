"""What the API says about market hours: the clock at an instant, and when an order
accepted outside its hours goes live (checked against the paper engine's own release)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.errors import ValidationFailed
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar, SessionPhase, queued_until
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEventKind, OrderStatus
from domain.paper import FillModel, PaperEngine

NY = ZoneInfo("America/New_York")
US = timedelta(microseconds=1)


def ny(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=NY)


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return MarketCalendar(date(2026, 1, 1), date(2026, 12, 31))


def test_clock_at_saturday_then_closed_with_monday_open(cal: MarketCalendar) -> None:
    reading = cal.clock_at(ny(11, 28, 12))
    assert not reading.is_open and reading.phase is SessionPhase.CLOSED
    assert reading.next_open == ny(11, 30, 9, 30).astimezone(UTC)
    assert reading.next_close == ny(11, 30, 16).astimezone(UTC)
    assert reading.next_open.tzinfo is UTC


def test_clock_at_pre_market_then_not_open(cal: MarketCalendar) -> None:
    reading = cal.clock_at(ny(11, 24, 8))
    assert reading.phase is SessionPhase.PRE_MARKET and not reading.is_open


def test_clock_at_naive_instant_then_refused(cal: MarketCalendar) -> None:
    with pytest.raises(ValidationFailed):
        cal.clock_at(datetime(2026, 11, 24, 15, 0))


def _order(at: datetime, **fields: Any) -> Order:
    spec: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1"}
    spec.update({"time_in_force": "day", "limit_price": "100"} | fields)
    return OrderRequest.parse(**spec).to_order(OrderId("o1"), AccountId("a"), at)


@pytest.mark.parametrize(
    ("submitted", "fields"),
    [
        (ny(11, 24, 20, 30), {}),  # evening -> next morning's open
        (ny(11, 25, 17, 30), {}),  # before Thanksgiving -> Friday's (early-close day) open
        (ny(11, 28, 12), {"time_in_force": "gtc"}),  # Saturday -> Monday
        (ny(11, 24, 6), {}),  # pre-market, regular-hours order -> 09:30 the same day
        (ny(11, 24, 21), {"extended_hours": True}),  # -> next pre-market, 04:00
        (ny(11, 28, 12), {"extended_hours": True}),  # Saturday -> Monday 04:00
        (ny(11, 24, 21), {"time_in_force": "opg"}),  # at the open auction -> 09:30
    ],
)
def test_queued_until_then_the_engine_releases_exactly_then(
    cal: MarketCalendar, submitted: datetime, fields: dict[str, Any]
) -> None:
    submitted = submitted.astimezone(UTC)
    order = _order(submitted, **fields)
    engine = PaperEngine(FillModel(), cal)
    for event in engine.submit(order, submitted):
        order.apply(event)
    assert order.status is OrderStatus.ACCEPTED
    due = queued_until(order, cal)
    assert due is not None and due > submitted
    assert engine.on_clock(due - US) == []
    released = [e.kind for _, e in engine.on_clock(due)]
    assert OrderEventKind.RELEASE in released


def test_queued_until_when_order_is_live_then_none(cal: MarketCalendar) -> None:
    at = ny(11, 24, 11).astimezone(UTC)
    order = _order(at)
    for event in PaperEngine(FillModel(), cal).submit(order, at):
        order.apply(event)
    assert order.status is OrderStatus.NEW and queued_until(order, cal) is None
