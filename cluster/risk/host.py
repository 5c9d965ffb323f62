"""The risk engine's calls, without Ray: what the ``RiskEngine`` actor exposes and what a
process without Ray (a dev server, in-process tests) uses directly (``RiskAdmin``).

Every call runs the engine in a worker thread; the engine serializes changes under its
own lock, so a slow call (a kill switch waiting for cancels) never blocks a read.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.kill import kill_switch
from cluster.risk.protections import ProtectionSettings
from domain.risk.gate import limits_from_wire
from domain.risk.states import Scope, TradingState


class RiskEngineHost:
    def __init__(self, engine: RiskEngine, orders: OrderService) -> None:
        self.engine = engine
        self.orders = orders

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- reads ---------------------------------------------------------------------------
    async def book(self) -> dict[str, Any]:
        return await self._run(self.engine.wire)

    async def breakers(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            now = self.engine.clock.now()
            return {n: b.state(now).value for n, b in self.engine.breakers.items()}

        return await self._run(read)

    async def audit(self, subject: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self._run(self.engine.audit, subject=subject, limit=limit)
        return [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
            for r in rows
        ]

    # -- changes -------------------------------------------------------------------------
    async def set_state(self, scope: str, state: str, reason: str, by: str) -> dict[str, Any]:
        return await self._run(
            self.engine.set_state, Scope.parse(scope), TradingState(state), reason=reason, by=by
        )

    async def create_lock(
        self,
        scope: str,
        reason: str,
        by: str,
        until: str | None = None,
        duration_s: float | None = None,
    ) -> dict[str, str | None]:
        lock = await self._run(
            self.engine.create_lock,
            Scope.parse(scope),
            reason=reason,
            by=by,
            until=None if until is None else datetime.fromisoformat(until),
            duration=None if duration_s is None else timedelta(seconds=duration_s),
        )
        return lock.to_wire()

    async def release_lock(self, lock_id: str, by: str, reason: str = "released") -> dict[str, Any]:
        lock = await self._run(self.engine.release_lock, lock_id, by=by, reason=reason)
        return lock.to_wire()

    async def set_limits(self, scope: str, limits: dict[str, Any], by: str) -> dict[str, Any]:
        return await self._run(
            self.engine.set_limits, Scope.parse(scope), limits_from_wire(limits), by=by
        )

    async def set_protections(
        self, scope: str, protections: dict[str, Any], by: str
    ) -> dict[str, Any]:
        return await self._run(
            self.engine.set_protections,
            Scope.parse(scope),
            ProtectionSettings.from_wire(protections),
            by=by,
        )

    async def trip_breaker(self, name: str, by: str, reason: str) -> str:
        return await self._run(self.engine.trip_breaker, name, by=by, reason=reason)

    async def reset_breaker(self, name: str, by: str, reason: str) -> str:
        return await self._run(self.engine.reset_breaker, name, by=by, reason=reason)

    async def broker_results(self, name: str, successes: int, failures: int) -> str:
        return await self._run(
            self.engine.broker_results, name, successes=successes, failures=failures
        )

    async def exchange_halts(self, changes: list[dict[str, Any]]) -> int:
        """Halt changes reported by the paper broker (``HaltChange`` as dicts)."""

        def apply() -> int:
            for c in changes:
                if c["halted"]:
                    until = None if c.get("until") is None else datetime.fromisoformat(c["until"])
                    self.engine.exchange_halt(c.get("symbol"), until=until, reason=c["reason"])
                else:
                    self.engine.exchange_resume(c.get("symbol"), reason=c["reason"])
            return len(changes)

        return await self._run(apply)

    async def kill_switch(
        self, scope: str, by: str, reason: str, flatten: bool = False
    ) -> dict[str, Any]:
        report = await self._run(
            kill_switch,
            self.engine,
            self.orders,
            Scope.parse(scope),
            by=by,
            reason=reason,
            flatten=flatten,
        )
        return report.to_wire()
