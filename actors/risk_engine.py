"""The ``RiskEngine`` actor: the one writer of trading states, locks and broker breakers.

One actor, not sharded: transitions are rare (operators, triggers, a breaker opening) and
must be serialized per scope *and* across scopes (the strictest state wins across them),
so one ordered writer is the simple correct shape; the order path never calls it (replicas
read pushed snapshots, ``cluster.risk.view``). Restart-safe: the constructor rebuilds from
PostgreSQL (``RiskEngine.load``); every change is committed before the call returns.

Every call runs in a worker thread (the engine serializes them under its own lock), so
``ping`` answers while a kill switch waits for cancels to settle. A loop lets time act
each ``tick_s``: expired locks are released and cooled breakers go half-open; another
evaluates the loss protections each ``risk_protection_s`` (``cluster.risk.protections``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import ray

from actors.bootstrap import platform_actor
from cluster import names
from cluster.risk.client import engine_for
from cluster.risk.host import RiskEngineHost
from cluster.risk.protections import ProtectionMonitor
from cluster.risk.view import CHANNEL
from cluster.runtime import Runtime
from cluster.settings import Settings

log = logging.getLogger(__name__)


class RiskEngineActor(RiskEngineHost):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.incarnation = uuid.uuid4().hex
        self.runtime = Runtime.for_actor(settings, "risk_engine", with_redis=True)
        engine = engine_for(settings, self.runtime.orders, publish=self._push)
        super().__init__(engine, self.runtime.orders)
        self.monitor = ProtectionMonitor(engine, self.runtime.orders, self.runtime.clock)
        self._loop = asyncio.get_event_loop().create_task(self._forever())
        self._protect = asyncio.get_event_loop().create_task(self._protect_forever())

    async def ping(self) -> dict[str, Any]:
        return {"incarnation": self.incarnation, "version": self.engine.version}

    def _push(self, wire: dict[str, Any]) -> None:
        redis = self.runtime.redis
        if redis is None:
            return
        channel = self.settings.redis_key_prefix + CHANNEL
        data = json.dumps(wire)
        redis.call("publish", lambda r: r.publish(channel, data))

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.risk_tick_s)
            try:
                await asyncio.to_thread(self.engine.tick)
            except Exception:
                log.exception("risk tick failed")

    async def _protect_forever(self) -> None:
        """The loss protections, every ``risk_protection_s`` (they read the ledger and
        quotes, so they run less often than the tick that releases locks)."""
        while True:
            await asyncio.sleep(self.settings.risk_protection_s)
            try:
                for line in await asyncio.to_thread(self.monitor.evaluate):
                    log.info("protection: %s", line)
            except Exception:
                log.exception("risk protections failed")


def ensure(settings: Settings, *, name: str = names.RISK_ENGINE) -> list[str]:
    remote = ray.remote(RiskEngineActor)
    remote.options(**platform_actor(name, settings)).remote(settings)  # type: ignore[attr-defined]
    return [name]
