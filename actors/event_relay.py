"""The event relay actor: carries committed events from PostgreSQL to Redis Streams.

Polls every ``settings.dispatch_poll_s`` while nothing waits, and publishes
until nothing waits (``cluster.eventlog.relay.Relay``); while Redis is away it retries
with backoff and the events wait in PostgreSQL, where the gateway can still read them.
Every ``settings.events_prune_interval_s`` it drops published events older than
``settings.events_record_s``. No state of its own: restart-safe by construction.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import ray

from actors.bootstrap import platform_actor
from cluster import names
from cluster.eventlog.relay import Relay
from cluster.retry import Backoff
from cluster.runtime import Runtime
from cluster.settings import Settings

log = logging.getLogger(__name__)


class EventRelayActor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.incarnation = uuid.uuid4().hex
        self.runtime = Runtime.for_actor(settings, "event_relay", with_redis=True)
        assert self.runtime.redis is not None and settings.database_url is not None
        self.relay = Relay(
            self.runtime.db,
            self.runtime.redis,
            prefix=settings.redis_key_prefix,
            retention=settings.events_retention,
            retention_s=settings.events_retention_s,
            record_s=settings.events_record_s,
        )
        self.failures = 0
        self._pruned_at = 0.0
        self._loop = asyncio.get_event_loop().create_task(self._forever())

    async def _forever(self) -> None:
        backoff, attempt = Backoff(base_s=0.05, cap_s=2.0, max_attempts=None), 0
        while True:
            try:
                n = await asyncio.to_thread(self.relay.run_once)
                attempt = 0
            except Exception as exc:  # Redis or PostgreSQL away: the events wait in PG
                self.failures += 1
                log.warning("event relay pass failed: %s", exc)
                await asyncio.sleep(backoff.delay(attempt))
                attempt += 1
                continue
            await self._maybe_prune()
            if n < self.relay.batch:
                await asyncio.sleep(self.settings.dispatch_poll_s)

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._pruned_at < self.settings.events_prune_interval_s:
            return
        self._pruned_at = time.monotonic()
        try:
            now = self.runtime.clock.now()
            pruned = await asyncio.to_thread(self.relay.prune, now)
            if pruned:
                log.info("event relay: pruned %d event(s) past the record's retention", pruned)
        except Exception:
            log.warning("event prune failed", exc_info=True)

    async def ping(self) -> dict[str, Any]:
        return {
            "incarnation": self.incarnation,
            "published": self.relay.published,
            "duplicates": self.relay.duplicates,
            "failures": self.failures,
        }

    async def drain(self) -> int:
        """Publish everything waiting now (tests, shutdown)."""
        return await asyncio.to_thread(self.relay.drain)


def ensure(settings: Settings) -> list[str]:
    remote = ray.remote(EventRelayActor)
    remote.options(**platform_actor(names.EVENT_RELAY, settings)).remote(settings)  # type: ignore[attr-defined]
    return [names.EVENT_RELAY]
