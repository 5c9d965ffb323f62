"""One typed wiring for a platform process that is not a Serve replica (actors, jobs).

Every actor used to build its database, clock, calendar and order service by hand, and the
copies drifted (pool labels, timeouts, a publisher here and not there). ``Runtime`` builds
them once from the settings it is handed (whole, clock anchor included: every process
shares the same shifted clock), in the same way for every process. Serve replicas get the
same pieces from ``serve.services.build_services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.clock import clock_for
from cluster.db import Database
from cluster.orders.service import OrderService
from cluster.orders.types import NoQuotes, QuoteLookup
from cluster.orders.wiring import calendar_around, fees_for
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from domain.market_hours import MarketCalendar


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Any  # SystemClock | ShiftedClock
    calendar: MarketCalendar
    orders: OrderService
    redis: ResilientRedis | None = None

    @classmethod
    def for_actor(
        cls,
        settings: Settings,
        label: str,
        *,
        with_redis: bool = False,
        quotes: QuoteLookup | None = None,
        clock: Any = None,
    ) -> Runtime:
        if settings.database_url is None:
            raise RuntimeError(f"{label} needs a resolved database URL (bootstrap sets it)")
        from cluster.logging import configure_from

        configure_from(settings, label)  # the actor's lines as JSON on the container's output
        db = Database.from_settings(settings, label)
        clock = clock or clock_for(settings.clock_start, settings.clock_anchor)
        calendar = calendar_around(clock.now())
        orders = OrderService(
            db,
            clock,
            calendar,
            quotes if quotes is not None else NoQuotes(),
            reserve_buffer_bps=settings.reserve_buffer_bps,
            broker_name=settings.broker,
            fees=fees_for(settings),
        )
        redis = None
        if with_redis and settings.redis_url is not None:
            redis = ResilientRedis.from_settings(settings)
        return cls(settings, db, clock, calendar, orders, redis)

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
        self.db.dispose()
