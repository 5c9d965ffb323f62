"""``wire(services)``: the service finds market data and the event bus wired after it."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from cluster.db import Database
from cluster.orders.service import OrderService
from cluster.orders.wiring import wire
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.orders import OrderStatus
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes
from tests.integration.orders.helpers import market


class Bus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, stream: str, event_type: str, data: dict[str, Any]) -> int:
        self.sent.append((stream, event_type, data))
        return len(self.sent)


def test_wire_builds_calendar_and_resolves_quotes_and_events_late(
    orders_db: Database, settings: Settings, account: str
) -> None:
    services = SimpleNamespace(
        db=orders_db,
        clock=FakeClock(OPEN_TUESDAY),
        settings=settings,
        calendar=None,
        orders=None,
        events=None,
        marketdata=None,
    )
    wire(services)
    assert isinstance(services.orders, OrderService)
    assert services.calendar.is_open(OPEN_TUESDAY)
    service: OrderService = services.orders
    service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    no_quote = service.submit(account, market("buy")).order  # type: ignore[arg-type]
    assert no_quote.status is OrderStatus.REJECTED  # no market data wired: fail closed

    quotes, bus = FakeQuotes(), Bus()
    quotes.set("AAPL", "10.00", "10.01")
    services.marketdata, services.events = quotes, bus  # wired after us, as in production
    ok = service.submit(account, market("buy")).order  # type: ignore[arg-type]
    assert ok.status is OrderStatus.PENDING_NEW
    assert bus.sent[-1][:2] == (f"orders:{account}", "pending_new")
