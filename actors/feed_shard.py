"""The feed shard actor: owns the symbols that hash to it (``sharding.shard_of``).

Restart-safe: a restart (Ray's ``max_restarts=-1``, or the supervisor replacing a dead
shard) re-runs the constructor, which gets a new epoch, reloads the last values and
sequence numbers from the Redis cache (see ``feed_core`` for the sequence rule) and
starts its providers again. Consumers find out through the epoch in every batch and
``subscribed: False`` from ``poll`` (the new incarnation does not know them), and
resubscribe; ``FeedClient`` does that and reports the gap.

Providers are built once per (shard, provider) and shared by the shard's symbols.
``provider_factories`` maps a provider name to ``"module:callable"`` for adapters outside
``make_provider`` (tests' scriptable fakes, benchmarks); the callable gets ``arg`` (the
text after ``name:`` in the spec) plus the usual deps.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import ray

from actors.bootstrap import platform_actor
from actors.feed_core import FeedCore
from cluster import names
from cluster.clock import clock_for
from cluster.events import async_bus_for
from cluster.logging import configure_logging
from cluster.marketdata import make_provider
from cluster.marketdata.cache import FeedCache
from cluster.marketdata.provider import ErrorHook, MarketDataProvider
from cluster.marketdata.sharding import partition
from cluster.redis_client import AsyncResilientRedis, RedisUnavailable
from cluster.settings import Settings
from domain.breaker import BreakerConfig
from domain.failover import FailoverConfig
from domain.market_hours import MarketCalendar

__all__ = ["FeedShard", "create_shard", "failover_config"]

log = logging.getLogger(__name__)


def failover_config(s: Settings) -> FailoverConfig:
    return FailoverConfig(
        staleness=timedelta(seconds=s.feed_staleness_s),
        check_interval=timedelta(seconds=s.feed_check_interval_s),
        divergence_bps=s.feed_divergence_bps,
        max_latency=timedelta(seconds=s.feed_max_latency_s),
        hysteresis=timedelta(seconds=s.feed_hysteresis_s),
        breaker=BreakerConfig(
            failure_threshold=s.feed_breaker_failures,
            window=timedelta(seconds=s.feed_breaker_window_s),
            open_for=timedelta(seconds=s.feed_breaker_open_s),
        ),
    )


def market_open_fn(s: Settings, now: datetime) -> Callable[[datetime], bool]:
    if s.feed_always_open:
        return lambda _at: True
    today = now.date()
    calendar = MarketCalendar(today - timedelta(days=7), today + timedelta(days=366))
    return calendar.is_open


def provider_factory(
    s: Settings,
    clock: Any,
    is_open: Callable[[datetime], bool],
    extra: dict[str, str],
) -> Callable[[str, ErrorHook], MarketDataProvider]:
    specs = {spec.partition(":")[0]: spec for spec in s.provider_chain}

    def make(name: str, on_error: ErrorHook) -> MarketDataProvider:
        spec = specs[name]
        arg = spec.partition(":")[2]
        deps: dict[str, Any] = {"clock": clock, "on_error": on_error, "name": name}
        if name in extra:
            module, _, attr = extra[name].partition(":")
            factory = getattr(importlib.import_module(module), attr)
            return factory(arg=arg, settings=s, is_open=is_open, **deps)  # type: ignore[no-any-return]
        if name == "simulated":
            provider = make_provider(
                spec,
                seed=s.feed_seed,
                interval_s=s.feed_tick_interval_s,
                always_open=s.feed_always_open,
                is_open=None if s.feed_always_open else is_open,
                **deps,
            )
            return cast(MarketDataProvider, provider)
        if name == "alpaca":
            if s.alpaca_key_id is None or s.alpaca_secret_key is None:
                from domain.errors import OperatorError

                raise OperatorError("ELSON_ALPACA_KEY_ID/ELSON_ALPACA_SECRET_KEY are required")
            deps |= {
                "key_id": s.alpaca_key_id.get_secret_value(),
                "secret": s.alpaca_secret_key.get_secret_value(),
            }
        return cast(MarketDataProvider, make_provider(spec, **deps))

    return make


class FeedShard:
    """Async actor; every public method is called by name on a handle."""

    def __init__(
        self,
        settings: Settings,
        index: int,
        provider_factories: dict[str, str] | None = None,
    ) -> None:
        s = self.settings = settings
        self.index = index
        configure_logging(s.log_level, json_format=s.env.is_protected)
        clock = clock_for(s.clock_start, s.clock_anchor)
        owned = partition(s.symbols, s.feed_shards).get(index, [])
        self.redis: AsyncResilientRedis | None = None
        cache = publish = None
        if s.redis_url is not None:
            self.redis = AsyncResilientRedis.from_settings(s)
            cache = FeedCache(self.redis, ttl_s=s.feed_cache_ttl_s, bar_history=s.feed_bar_history)
            publish = _publisher(s, self.redis)
        is_open = market_open_fn(s, clock.now())
        self.core = FeedCore(
            shard=index,
            symbols=owned,
            chain=[spec.partition(":")[0] for spec in s.provider_chain],
            make_provider=provider_factory(s, clock, is_open, provider_factories or {}),
            failover=failover_config(s),
            clock=clock,
            market_open=is_open,
            epoch=uuid.uuid4().hex[:12],
            cache=cache,
            publish=publish,
            bar_history=s.feed_bar_history,
            consumer_buffer=s.feed_consumer_buffer,
            consumer_ttl_s=s.feed_consumer_ttl_s,
            cache_flush_s=s.feed_cache_flush_s,
        )
        self._started = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        core = self.core
        if core.cache is not None:
            try:
                core.restore(await core.cache.load(core.symbols))
            except RedisUnavailable as exc:  # counted and logged by the client
                log.warning("feed shard %d: starting without cached state: %s", self.index, exc)
        await core.start()
        log.info(
            "feed shard %d up: epoch %s, %d symbols, chain %s",
            self.index,
            core.epoch,
            len(core.symbols),
            ",".join(core.chain),
        )

    async def _ready(self) -> FeedCore:
        if not self._started.done():
            await asyncio.shield(self._started)
        return self.core

    # -- public API ------------------------------------------------------------------

    async def ping(self) -> dict[str, Any]:
        """Readiness: degraded (still serving from memory) while Redis is failing."""
        core = await self._ready()
        cache = core.cache.health() if core.cache is not None else {"state": "up"}
        return {
            "state": cache["state"],
            "shard": self.index,
            "epoch": core.epoch,
            "symbols": len(core.symbols),
            "redis_failures_total": cache.get("failures_total", 0),
        }

    async def subscribe(
        self, consumer_id: str, symbols: list[str], max_buffer: int | None = None
    ) -> dict[str, Any]:
        return (await self._ready()).subscribe(consumer_id, symbols, max_buffer)

    async def unsubscribe(self, consumer_id: str, symbols: list[str] | None = None) -> None:
        (await self._ready()).hub.unsubscribe(consumer_id, symbols)

    async def poll(self, consumer_id: str, timeout_s: float = 1.0) -> dict[str, Any]:
        core = await self._ready()
        return await core.poll(consumer_id, min(max(timeout_s, 0.0), 30.0))

    async def snapshot(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        return (await self._ready()).snapshot(symbols)

    async def bars(self, symbol: str, limit: int = 120) -> list[dict[str, Any]]:
        return (await self._ready()).bars(symbol, limit)

    async def status(self) -> dict[str, Any]:
        return (await self._ready()).status()

    async def health(self) -> dict[str, Any]:
        """Cache health only (cheap; tests and readiness poll it)."""
        core = await self._ready()
        return core.cache.health() if core.cache is not None else {"state": "disabled"}

    async def shutdown(self) -> None:
        """Stop providers and flush the cache before the actor is killed."""
        await self.core.stop()


def _publisher(s: Settings, redis: AsyncResilientRedis) -> Any:
    """Switch events go to the ``feed`` stream of ``cluster.events``."""
    return async_bus_for(s, redis).publish


FeedShardActor = ray.remote(FeedShard)


def create_shard(
    settings: Settings, index: int, provider_factories: dict[str, str] | None = None
) -> Any:
    """Create (or adopt) shard ``index`` as a detached, restartable named actor."""
    options = platform_actor(names.feed_shard(index), settings, max_concurrency=1000)
    return FeedShardActor.options(**options).remote(  # type: ignore[attr-defined]
        settings, index, provider_factories
    )
