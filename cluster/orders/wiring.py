"""Fill ``services.orders`` (and ``services.calendar`` when no one has) for a process.

The service publishes nothing itself: its events go into the durable event log with each
change (``cluster.eventlog``) and the relay actor carries them to Redis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cluster.marketdata.latest import quote_lookup_for
from cluster.orders.service import OrderService
from cluster.risk.client import RiskAdmin
from cluster.risk.view import risk_view_for
from domain.fees import FeeModel
from domain.market_hours import EXCHANGE_TZ, MarketCalendar

CALENDAR_DAYS = 400


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
        quote_lookup_for(services),
        reserve_buffer_bps=settings.reserve_buffer_bps,
        broker_name=settings.broker,
        fees=fees_for(settings),
    )
    services.risk = risk_view_for(settings, services.db, background=services.in_ray)
    services.orders.risk = services.risk
    if services.risk is not None:
        services.closers.append(services.risk.stop)
    services.risk_admin = RiskAdmin.for_process(
        settings, services.orders, in_ray=services.in_ray, view=services.risk
    )


def fees_for(settings: Any) -> FeeModel:
    """A paper buy holds the paper fee model's worst case; Alpaca charges buys nothing."""
    return settings.paper_fee_model() if settings.broker == "paper" else FeeModel.free()
