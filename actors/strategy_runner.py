"""A strategy instance trading live: a Ray actor around ``cluster.strategies.runner``.

One actor per running instance, not a pool: an instance's bars are handled strictly one
at a time and in order, and an actor is exactly that; a slow or failing strategy (its
indicators over a long history, a refused order) delays and restarts only itself; and
Ray's restart of a named detached actor is the per-instance restart the issue asks for.
The cost is one worker process per instance (``num_cpus=0`` locally, like every platform
actor): right for the tens of instances a desk runs. A pool would multiplex instances over
a few actors when there are hundreds.

Restart safety: the constructor rebuilds everything from storage (Ray re-runs it): the
last bar each symbol traded (from the instance's stored orders), the recent bars from the
feed shards for the indicators, and the version in force from the adaptive-parameter actor
at each bar. A bar the feed hands again is never traded twice (``StrategyRunner``).

Bars arrive from the feed (``cluster.strategies.bar_source.FeedBarSource``: the shards'
closed bars in order, each once, caught up after a feed gap) or are pushed with
``on_bars`` (a replay in tests, or a caller that has the bars).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import ray

from actors.bootstrap import platform_actor
from cluster import names
from cluster.marketdata.latest import quote_lookup_for
from cluster.risk.view import risk_view_for
from cluster.runtime import Runtime
from cluster.settings import Settings
from cluster.strategies.bar_source import FeedBarSource
from cluster.strategies.runner import RunnerConfig, Step, StrategyRunner
from cluster.strategies.runner_versions import ActorVersions
from domain.strategy.runner_ports import VersionSource

log = logging.getLogger(__name__)


def runner_name(instance_id: str) -> str:
    return f"elson.strategy_runner.{instance_id}"


def _step_wire(step: Step) -> dict[str, Any]:
    return {
        "symbol": step.symbol,
        "bar_start": step.bar_start.isoformat(),
        "version": step.version,
        "decision": step.decision.name.lower(),
        "order_id": step.order_id,
        "client_order_id": step.client_order_id,
        "created": step.created,
        "status": step.status,
    }


class StrategyRunnerActor:
    def __init__(
        self,
        settings: Settings,
        config: dict[str, Any],
        *,
        versions_actor: str | None = None,
        feed: bool = True,
    ) -> None:
        self.config = RunnerConfig.from_wire(config)
        self.incarnation = uuid.uuid4().hex
        self.runtime = Runtime.for_actor(settings, "strategy_runner", with_redis=True)
        orders = self.runtime.orders
        orders.quotes = quote_lookup_for(self.runtime)
        orders.risk = risk_view_for(settings, self.runtime.db)
        versions: VersionSource = (
            ActorVersions(settings.ray_namespace, versions_actor)
            if versions_actor
            else ActorVersions(settings.ray_namespace)
        )
        self.runner = StrategyRunner(self.config, versions, orders)
        self.source = (
            FeedBarSource(
                settings.ray_namespace,
                settings.feed_shards,
                f"strategy-runner-{self.config.instance_id}",
            )
            if feed
            else None
        )
        loop = asyncio.get_event_loop()
        self._ready = loop.create_task(self._start())
        self._feed: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        await self.runner.restore()
        if self.source is not None:
            history = await self.source.history(self.config.symbols, self.config.max_history)
            self.runner.preload(history)
            self._feed = asyncio.get_running_loop().create_task(
                self.source.run(self.config.symbols, self._deliver)
            )

    async def _deliver(self, bars: list[dict[str, Any]]) -> None:
        for bar in bars:
            try:
                await self.runner.on_bar(bar)
            except Exception:  # one bad bar (a refused version, a DB blip) is logged
                log.exception("runner %s: bar failed", self.config.instance_id)

    async def ping(self) -> dict[str, Any]:
        await self._ready
        return {
            "instance_id": self.config.instance_id,
            "incarnation": self.incarnation,
            "steps": len(self.runner.steps),
        }

    async def on_bars(self, bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Handle pushed bars (``Bar.to_wire``) in order; the steps they produced."""
        await self._ready
        out = []
        for bar in bars:
            step = await self.runner.on_bar(bar)
            if step is not None:
                out.append(_step_wire(step))
        return out

    async def status(self) -> dict[str, Any]:
        await self._ready
        return {
            "config": self.config.to_wire(),
            "steps": [_step_wire(s) for s in self.runner.steps[-50:]],
            "done": {
                s: None if h.done is None else h.done.isoformat()
                for s, h in self.runner.histories.items()
            },
        }

    async def stop(self) -> None:
        """Stop taking bars (the one in hand finishes first); the caller then kills us."""
        if self._feed is not None:
            self._feed.cancel()
        if self.source is not None:
            await self.source.close()
        async with self.runner._lock:
            if self.runtime.orders.risk is not None:
                self.runtime.orders.risk.stop()
            self.runtime.close()


def ensure(settings: Settings, config: RunnerConfig, **options: Any) -> str:
    """Create or adopt the instance's runner; returns its name."""
    name = runner_name(config.instance_id)
    remote = ray.remote(StrategyRunnerActor)
    remote.options(**platform_actor(name, settings)).remote(  # type: ignore[attr-defined]
        settings, config.to_wire(), **options
    )
    return name


async def ensure_running(settings: Settings) -> list[str]:
    """A runner for every instance the adaptive-parameter actor says is trading (at
    bootstrap, or after an instance is created or resumed); the names it ensured."""
    adaptive = names.get_actor(names.ADAPTIVE_PARAMS, settings.ray_namespace)
    if adaptive is None:
        return []
    out = []
    for wire in await adaptive.instances.remote():  # type: ignore[attr-defined]
        if wire.get("trading"):
            out.append(ensure(settings, RunnerConfig.from_instance(wire)))
    return out


async def stop_runner(settings: Settings, instance_id: str) -> bool:
    """Stop an instance's runner cleanly (the bar in hand finishes), then end the actor."""
    handle: Any = names.get_actor(runner_name(instance_id), settings.ray_namespace)
    if handle is None:
        return False
    await asyncio.wait_for(handle.stop.remote(), 30)
    ray.kill(handle, no_restart=True)
    return True
