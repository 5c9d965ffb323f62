"""``RiskAdmin``: how a Serve replica (or a process without Ray) reaches the risk engine.

In Ray, every change goes to the one ``RiskEngine`` actor (the single writer). Without Ray
(a dev server on uvicorn, in-process tests) the process hosts the engine itself: one
process, one writer. Reads of the audit go straight to PostgreSQL.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from cluster import names
from cluster.orders.service import OrderService
from cluster.risk import store
from cluster.risk.engine import Publish, RiskEngine
from cluster.risk.host import RiskEngineHost
from cluster.risk.view import RiskView, book_from_db
from domain.breaker import BreakerConfig
from domain.errors import TransientError


def engine_for(settings: Any, orders: OrderService, publish: Publish | None = None) -> RiskEngine:
    return RiskEngine(
        orders.db,
        orders.clock,
        breaker_config=BreakerConfig(
            failure_threshold=settings.broker_breaker_failures,
            window=timedelta(seconds=settings.broker_breaker_window_s),
            open_for=timedelta(seconds=settings.broker_breaker_open_s),
        ),
        publish=publish,
    )


class RiskAdmin:
    def __init__(
        self, settings: Any, orders: OrderService, *, in_ray: bool, view: RiskView | None = None
    ) -> None:
        self.settings, self.orders, self.in_ray, self.view = settings, orders, in_ray, view
        self._local: RiskEngineHost | None = None

    @classmethod
    def for_process(
        cls, settings: Any, orders: OrderService, *, in_ray: bool, view: RiskView | None = None
    ) -> RiskAdmin:
        return cls(settings, orders, in_ray=in_ray, view=view)

    def book(self, *, account: str | None = None) -> dict[str, Any]:
        """The risk book as this process checks orders with it (confirmed within the
        staleness bound); ``account``: only what applies to that account (the global
        and symbol scopes, its own scope, the breakers), as a user may see it."""
        book = self.view.current() if self.view is not None else book_from_db(self.orders.db)
        wire = book.to_wire()
        if account is None:
            return wire
        mine = {"global", f"account:{account}"}

        def visible(scope: str) -> bool:
            return scope in mine or scope.startswith("symbol:")

        wire["states"] = [s for s in wire["states"] if visible(s["scope"])]
        wire["locks"] = [lock for lock in wire["locks"] if visible(lock["scope"])]
        wire["limits"] = {k: v for k, v in wire["limits"].items() if visible(k)}
        return wire

    def audit(self, *, subject: str | None, limit: int) -> list[dict[str, Any]]:
        with self.orders.db.session() as s:
            return store.transitions(s, subject=subject, limit=limit)

    def _target(self) -> Any:
        if self.in_ray:
            found = names.get_actor(names.RISK_ENGINE, self.settings.ray_namespace)
            if found is None:
                raise TransientError("the risk engine is not running")
            return found
        if self._local is None:
            # One process: the engine pushes each change straight into this process's view
            # (Redis pub/sub's job in Ray), so a change is enforced as soon as it returns.
            push = None if self.view is None else self.view.apply_push
            # The kill switch's flatten sells must pass the halt it has just set: like the
            # actor's order service, the engine's has no submit-side gate (the broker
            # boundary still re-checks every order, and exempts only flatten sells).
            orders = copy.copy(self.orders)
            orders.risk = None
            self._local = RiskEngineHost(engine_for(self.settings, orders, push), orders)
        return self._local

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        target = self._target()
        if self.in_ray:
            from ray.exceptions import RayActorError

            try:
                return await getattr(target, method).remote(*args, **kwargs)
            except RayActorError as exc:
                raise TransientError("the risk engine restarted; retry") from exc
        return await getattr(target, method)(*args, **kwargs)
