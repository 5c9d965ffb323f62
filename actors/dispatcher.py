"""The outbox dispatcher actor of one broker: runs ``cluster.orders.dispatch.Dispatcher``
passes until the outbox is empty, then polls it every ``settings.dispatch_poll_s``; backs
off while the broker is unreachable.

Restart safety: no state of its own; a restart re-runs the constructor and the next pass
claims what is unsent (see ``dispatch`` for why nothing reaches the broker twice).
``crash_at(point)`` (env=test only) makes the process exit at ``claimed``,
``before_send`` or ``after_send`` once, as a crash would.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any

import ray

from actors.bootstrap import platform_actor
from cluster import names
from cluster.orders.dispatch import Dispatcher
from cluster.orders.router import BrokerRouter
from cluster.retry import Backoff
from cluster.risk.view import risk_view_for
from cluster.runtime import Runtime
from cluster.settings import Environment, Settings
from domain.errors import Forbidden

log = logging.getLogger(__name__)


class DispatcherActor:
    def __init__(self, settings: Settings, *, paper_name: str = names.PAPER_BROKER) -> None:
        self.settings = settings
        self.incarnation = uuid.uuid4().hex
        self.runtime = Runtime.for_actor(settings, "dispatcher")
        self._crash: str | None = None
        router = BrokerRouter.from_settings(
            settings, self.runtime.orders, paper_name=paper_name, hook=self._hook
        )
        self.risk = risk_view_for(settings, self.runtime.db)
        self.dispatcher = Dispatcher(
            self.runtime.orders, router, hook=self._hook, risk=self.risk, report=self._report
        )
        self.passes = 0
        self._loop = asyncio.get_event_loop().create_task(self._forever())

    async def _report(self, sent: int, failed: int) -> None:
        engine = names.get_actor(names.RISK_ENGINE, self.settings.ray_namespace)
        if engine is not None:
            ref = engine.broker_results.remote(self.settings.broker, sent, failed)  # type: ignore[attr-defined]
            await asyncio.wait_for(ref, 5.0)

    def _hook(self, point: str) -> None:
        if self._crash == point:
            log.error("dispatcher: crashing at %s (test)", point)
            os._exit(1)

    async def _forever(self) -> None:
        backoff, attempt = Backoff(base_s=0.1, cap_s=5.0, max_attempts=None), 0
        while True:
            try:
                counts = await self.dispatcher.run_once()
                self.passes += 1
            except Exception:  # the loop must outlive one bad pass (database down...)
                log.exception("dispatch pass failed")
                counts = {"retry": 1}
            if counts.get("retry"):
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
                continue
            attempt = 0
            if not counts:
                await asyncio.sleep(self.settings.dispatch_poll_s)

    async def ping(self) -> dict[str, Any]:
        totals = self.dispatcher.totals  # flat values: readiness shows them as they are
        return {
            "incarnation": self.incarnation,
            "passes": self.passes,
            "sent": totals["sent"],
            "voided": totals["voided"],
            "retries": totals["retry"],
        }

    async def pending(self) -> int:
        return await asyncio.to_thread(self.dispatcher.pending)

    async def crash_at(self, point: str) -> None:
        if self.settings.env is not Environment.TEST:
            raise Forbidden("crash_at is for tests only")
        self._crash = point


def ensure(
    settings: Settings, *, paper_name: str = names.PAPER_BROKER, name: str | None = None
) -> list[str]:
    """Create or adopt the dispatcher of the configured broker."""
    name = name or names.dispatcher(settings.broker)
    remote = ray.remote(DispatcherActor)
    remote.options(**platform_actor(name, settings)).remote(  # type: ignore[attr-defined]
        settings, paper_name=paper_name
    )
    return [name]
