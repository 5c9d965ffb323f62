"""Fill ``services.orders`` (and ``services.calendar`` when no one has) for a process.

Capabilities are wired in a fixed order and ours runs before events and market data, so
the quote lookup and the publisher resolve ``services.marketdata`` / ``services.events``
when called, not when wired: whatever is there by the first order is used.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cluster.marketdata.latest import CachedQuoteLookup
from cluster.orders.service import OrderService
from domain.market_hours import EXCHANGE_TZ, MarketCalendar

CALENDAR_DAYS = 400


class _LatePublish:
    """``services.events.publish`` if an event bus is set, else a no-op."""

    def __init__(self, services: Any) -> None:
        self._services = services

    def __call__(self, stream: str, event_type: str, data: dict[str, Any]) -> None:
        bus = getattr(self._services, "events", None)
        if bus is not None:
            bus.publish(stream, event_type, data)


def calendar_around(now: Any, days: int = CALENDAR_DAYS) -> MarketCalendar:
    today = now.astimezone(EXCHANGE_TZ).date()
    return MarketCalendar(today - timedelta(days=days), today + timedelta(days=days))


def wire(services: Any) -> None:
    if services.calendar is None:
        services.calendar = calendar_around(services.clock.now())
    settings = services.settings
    services.orders = OrderService(
        services.db,
        services.clock,
        services.calendar,
        CachedQuoteLookup(services.redis, services.clock.now),
        reserve_buffer_bps=settings.reserve_buffer_bps,
        broker_name=settings.broker,
        publish=_LatePublish(services),
    )
