"""``wire(services)``: the service finds market data and the event bus wired after it."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text

from cluster.db import Database
from cluster.orders.service import OrderService
from cluster.orders.wiring import wire
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.marketdata import Quote
from domain.orders import OrderStatus
from tests.integration.orders.conftest import OPEN_TUESDAY
from tests.integration.orders.helpers import market


class Bus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, stream: str, event_type: str, data: dict[str, Any]) -> int:
        self.sent.append((stream, event_type, data))
        return len(self.sent)


def test_wire_builds_calendar_and_resolves_quotes_late_and_records_events(
    orders_db: Database, settings: Settings, account: str
) -> None:
    assert settings.redis_url is not None
    redis = ResilientRedis(
        settings.redis_url.get_secret_value(), prefix=f"{settings.redis_key_prefix}wiring:"
    )
    services = SimpleNamespace(
        redis=redis,
        db=orders_db,
        clock=FakeClock(OPEN_TUESDAY),
        settings=settings,
        calendar=None,
        orders=None,
        events=None,
        marketdata=None,
        in_ray=False,
        closers=[],
    )
    wire(services)
    assert isinstance(services.orders, OrderService)
    assert services.calendar.is_open(OPEN_TUESDAY)
    service: OrderService = services.orders
    service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    # a symbol no feed carries: neither the cache nor a feed shard (when this test process
    # is connected to the session's Ray cluster) has a quote for it
    unquoted = market("buy", symbol="ZZZZ")
    no_quote = service.submit(account, unquoted).order  # type: ignore[arg-type]
    assert no_quote.status is OrderStatus.REJECTED  # no quote anywhere: fail closed
    assert no_quote.reject_reason is not None  # and it says where it looked
    assert "from the feed cache or the feed shards" in no_quote.reject_reason

    bus = Bus()
    quote = Quote(
        "AAPL",
        Decimal("10.00"),
        100,
        Decimal("10.01"),
        100,
        OPEN_TUESDAY,
        OPEN_TUESDAY,
        "simulated",
        1,
    )
    # the feed shards' cache is where the service looks (cluster.marketdata.latest)
    redis.client.hset(redis.key("feed", "last", "AAPL"), "quote", json.dumps(quote.to_wire()))
    services.events = bus  # wired after us, as in production: the service does not use it
    ok = service.submit(account, market("buy")).order  # type: ignore[arg-type]
    assert ok.status is OrderStatus.PENDING_NEW
    assert ok.reserve_price == Decimal("10.01")  # the ask it was reserved at
    assert bus.sent == []  # events go to the durable record with the change, not to a bus
    with orders_db.session() as s:
        stream, kind = s.execute(
            text("SELECT stream, type FROM events ORDER BY id DESC LIMIT 1")
        ).one()
    assert (stream, kind) == (f"orders:{account}", "pending_new")
