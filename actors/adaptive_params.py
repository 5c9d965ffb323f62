"""The ``AdaptiveParams`` actor: the one writer of strategy instances and their versioned
parameters (``cluster.strategies.engine``).

One actor, not sharded. Changes are rare (a promotion, a rollback, a drift flag: minutes
to days apart per instance) and reads are answered from memory, so one actor is far from
saturated even with a runner asking for the current version on every bar of every
instance (a memory read, ~1 ms a round trip). Serializing per instance needs no
cross-actor coordination when one process holds every instance's lock, and the version
history is also fenced in PostgreSQL (row lock, trigger, primary key), so even a second
incarnation racing a restart cannot fork it. Sharding by instance id would be a
change of ``ensure`` and of the client's lookup only, should it ever be needed.

Restart-safe: the constructor rebuilds every instance, version and live window from
PostgreSQL; every change is committed before the call returns. A loop turns finished
re-optimization jobs into proposals every ``poll_s``.

With ``runners`` (the platform's instance, from ``ensure_actors``) it also keeps one
``StrategyRunner`` actor per trading instance: started at start-up for every instance
that trades and when one is started, stopped when one is stopped, and every
``strategy_sample_s`` records a live sample of each trading instance from its paper fills
(``cluster.strategies.live_sampler``), which runs the drift check. Tests of the
parameter state alone run without them.
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
from cluster.db import Database
from cluster.settings import Settings
from cluster.strategies.host import StrategyHost
from cluster.strategies.wiring import book_for

log = logging.getLogger(__name__)


def _launch(settings: Settings) -> Any:
    def launch(job_id: str, attempt: int) -> None:
        from actors.optimize_launcher import launch as start_driver

        start_driver(settings, job_id, attempt)

    return launch


class AdaptiveParamsActor(StrategyHost):
    def __init__(self, settings: Settings, poll_s: float = 5.0, runners: bool = False) -> None:
        self.settings = settings
        self.runners = runners
        self.incarnation = uuid.uuid4().hex
        self.db = Database.from_settings(settings, "adaptive_params")
        super().__init__(book_for(settings, self.db, launch=_launch(settings)))
        self.poll_s = poll_s
        self._sampler: Any = None
        self._next_sample = time.monotonic() + settings.strategy_sample_s
        self._loop = asyncio.get_event_loop().create_task(self._forever())
        if runners:
            self._start = asyncio.get_event_loop().create_task(self._start_runners())

    async def ping(self) -> dict[str, Any]:
        return {"incarnation": self.incarnation, "instances": len(self.book.instances)}

    async def set_status(
        self,
        instance_id: str,
        status: str,
        by: str,
        owner_user_id: str | None = None,
        quota: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        wire = await super().set_status(instance_id, status, by, owner_user_id, quota)
        if self.runners:
            await self._follow(wire)
        return wire

    async def _start_runners(self) -> None:
        for instance_id in list(self.book.instances):
            await self._follow(await self.instance(instance_id))

    async def _follow(self, wire: dict[str, Any]) -> None:
        """The instance's runner runs exactly while the instance trades."""
        from actors import strategy_runner
        from cluster.strategies.runner import RunnerConfig

        try:
            if wire.get("trading"):
                strategy_runner.ensure(self.settings, RunnerConfig.from_instance(wire))
            else:
                await strategy_runner.stop_runner(self.settings, wire["id"])
        except Exception:  # the state is committed; the runner is retried at next start
            log.exception("runner of strategy instance %s not followed", wire.get("id"))

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                for decision in await self.collect_jobs():
                    log.info("re-optimization: %s", decision)
            except Exception:
                log.exception("collecting re-optimization jobs failed")
            if self.runners:
                await self._sample_live()

    async def _sample_live(self) -> None:
        """Every ``strategy_sample_s``: a live sample of each trading instance (drift)."""
        now = time.monotonic()
        if now < self._next_sample:
            return
        self._next_sample = now + self.settings.strategy_sample_s
        try:
            from cluster.strategies import live_sampler as ls

            if self._sampler is None:
                clock_now = self.book.clock.now
                quotes = ls.quotes_for(self.settings, clock_now)
                self._sampler = ls.LiveSampler(self.db, quotes, clock_now)
            await ls.sample_all(self, self._sampler)
        except Exception:
            log.exception("live sampling failed")


def ensure(
    settings: Settings,
    *,
    name: str = names.ADAPTIVE_PARAMS,
    poll_s: float = 5.0,
    runners: bool = False,
) -> list[str]:
    remote = ray.remote(AdaptiveParamsActor)
    remote.options(**platform_actor(name, settings)).remote(settings, poll_s, runners)  # type: ignore[attr-defined]
    return [name]
