"""What a route needs, built once per process from frozen settings.

The same ``Services`` backs a Serve replica and a plain uvicorn process (benchmarks,
tests), so both run identical code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster import names
from cluster.db import Database
from cluster.readiness import Check, Report, run_checks
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: ResilientRedis
    extra_checks: list[Check] = field(default_factory=list)
    # Capabilities fill these in ``build_services`` (typed as Any to keep this module small).
    clock: Any = None  # cluster.clock.SystemClock | ShiftedClock
    calendar: Any = None  # domain.market_hours.MarketCalendar
    orders: Any = None  # cluster.orders.service.OrderService
    auth: Any = None  # cluster.auth.service.AuthService
    events: Any = None  # cluster.events.EventBus
    marketdata: Any = None  # cluster.marketdata.query.MarketDataQuery
    risk: Any = None  # cluster.risk.view.RiskView (None: the risk gate is off)
    risk_admin: Any = None  # cluster.risk.client.RiskAdmin
    secrets: Any = None  # cluster.secrets.vault.VaultSource (None: no ELSON_VAULT_ADDR)
    entitlements: Any = None  # cluster.billing.entitlements.EntitlementService
    billing: Any = None  # cluster.billing.service.BillingService
    in_ray: bool = False
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def readiness(self) -> Report:
        checks = [
            Check("postgres", self.db.ping, required=True),
            Check("redis", self._redis_probe, required=False),
        ]
        if self.in_ray:
            checks.append(Check("ray", _ray_probe, required=True))
        checks.extend(self.extra_checks)
        return run_checks(checks)

    def _redis_probe(self) -> dict[str, Any]:
        self.redis.ping()
        return {"failures_total": self.redis.health.failures}

    def close(self) -> None:
        for fn in reversed(self.closers):
            try:
                fn()
            except Exception:
                log.warning("close failed", exc_info=True)
        self.redis.close()
        self.db.dispose()


def _ray_probe() -> dict[str, Any]:
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    if not alive:
        raise RuntimeError("no alive Ray node")
    return {"nodes": len(alive)}


def actor_check(name: str, namespace: str, timeout_s: float = 2.0) -> Check:
    """A required check that the named actor exists and answers ``ping``."""

    def probe() -> dict[str, Any]:
        import ray

        actor = names.get_actor(name, namespace)
        if actor is None:
            raise RuntimeError(f"actor {name} not found")
        return dict(ray.get(actor.ping.remote(), timeout=timeout_s))  # type: ignore[attr-defined]

    return Check(f"actor:{name}", probe, required=True)


def build_services(
    settings: Settings, *, in_ray: bool, process_label: str | None = None
) -> Services:
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("services need resolved database and redis URLs (bootstrap sets them)")
    db = Database.from_settings(settings, process_label)
    redis = ResilientRedis.from_settings(settings)
    from cluster.clock import clock_for

    services = Services(settings=settings, db=db, redis=redis, in_ray=in_ray)
    services.clock = clock_for(settings.clock_start, settings.clock_anchor)
    for wire in _capability_wiring():
        wire(services)
    # No broker here: submits store the order and an outbox row; the dispatcher actor of
    # the configured broker sends it (without Ray, orders stay stored ``pending_new``).
    return services


def _capability_wiring() -> list[Callable[[Services], None]]:
    """Each capability module defines ``wire(services)`` filling its slot above, in this
    order (orders first: the quote lookup resolves market data when called)."""
    from cluster.auth.wiring import wire as wire_auth
    from cluster.billing.wiring import wire as wire_billing
    from cluster.events import wire as wire_events
    from cluster.marketdata.wiring import wire as wire_marketdata
    from cluster.orders.wiring import wire as wire_orders
    from cluster.secrets.wiring import wire as wire_secrets

    # secrets first: later capabilities (PII) use the Vault client
    return [wire_secrets, wire_orders, wire_auth, wire_events, wire_marketdata, wire_billing]
