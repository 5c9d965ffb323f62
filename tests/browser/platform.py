"""The platform for the browser tests, in this process: the real API app (with the console
under ``/console``) and the real gateway app (under ``/ws``) behind ONE uvicorn on one
loopback port, as Serve routes them (same origin), plus the real event relay.

The gateway restarts as a Serve replica does in an upgrade: the hub drains (1012 with a
``retry_after_s`` to every socket), the server stops, and a new gateway (new hub, new feed)
comes up on the same port while the page stays loaded. Market data comes from ``FakeFeed``
(``push_quote``); orders stay as the API books them (no broker), so open orders can be
replaced and cancelled.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import uvicorn

from cluster.eventlog.reader import RecordReader
from cluster.eventlog.relay import Relay
from cluster.events import AsyncEventBus
from cluster.marketdata.cache import FeedCache
from cluster.redis_client import AsyncResilientRedis, ResilientRedis
from cluster.settings import Settings
from domain.marketdata import Quote
from serve.api import create_api
from serve.gateway import GatewayDeps, create_gateway_app, limits_from
from serve.services import Services, build_services
from tests.kit.redis_server import free_port
from tests.kit.ws import FakeFeed


class SameOrigin:
    """``/ws`` to the gateway (and its lifespan), everything else to the API."""

    def __init__(self, api: Any, gateway: Any) -> None:
        self.api, self.gateway = api, gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "lifespan" or path == "/ws" or path.startswith("/ws/"):
            await self.gateway(scope, receive, send)
        else:
            await self.api(scope, receive, send)


@dataclass
class Platform:
    settings: Settings
    services: Services
    port: int
    api: Any
    feed: FakeFeed = field(default_factory=FakeFeed)
    restarts: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _hub: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push_quote(self, symbol: str, bid: str, ask: str) -> None:
        """A real quote wire to the gateway's feed and to the feed cache (where the order
        service finds the ask of a market order), as a feed shard does."""
        self.feed._seq[symbol] += 1
        now = self.services.clock.now()  # the platform's clock, as a feed shard's
        wire = Quote(
            symbol,
            Decimal(bid),
            100,
            Decimal(ask),
            100,
            now,
            now,
            "simulated",
            self.feed._seq[symbol],
        ).to_wire()
        self.feed.push([wire])
        assert self._loop is not None  # the server's loop: the test's own thread runs Playwright's
        asyncio.run_coroutine_threadsafe(_cache(self.settings, wire), self._loop).result(10)

    def _deps(self) -> GatewayDeps:
        s, auth = self.settings, self.services.auth
        aredis = AsyncResilientRedis.from_settings(s, timeout_s=2.0)
        feed = self.feed
        return GatewayDeps(
            limits=limits_from(s),
            bus=AsyncEventBus(aredis, prefix=s.redis_key_prefix),
            verify_access=auth.verify_access,
            is_session_active=auth.is_session_active,
            may_read_account=lambda p, acct: True,
            feed_factory=lambda: feed,
            closers=[aredis.close],
            record=RecordReader(self.services.db),
            entitlements=self.services.entitlements,  # plan limits, as serve.gateway wires them
        )

    def start(self) -> None:
        gateway = create_gateway_app(self._deps(), mount="/ws")
        self._hub = gateway.hub
        config = uvicorn.Config(
            SameOrigin(self.api, gateway),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws_ping_interval=None,
        )
        server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            ready.set()
            self._loop.run_until_complete(server.serve())
            self._loop.close()

        self._server = server
        self._thread = threading.Thread(target=run, daemon=True, name=f"platform-{self.port}")
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("platform uvicorn did not start")
            time.sleep(0.02)

    def stop(self, *, drain: bool = True) -> None:
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None or loop is None:
            return
        if drain and thread.is_alive():
            hub = self._hub
            done = asyncio.run_coroutine_threadsafe(_drain(hub), loop)
            done.result(hub.limits.drain_s + 5)
        server.should_exit = True
        thread.join(15)
        self._server = self._thread = None

    def restart_gateway(self, *, skip_ticks: int = 0, stopped: bool = False) -> None:
        """Drain and stop (unless ``stopped`` already), then start again on the same port
        with a new feed whose per-symbol numbers continue ``skip_ticks`` further on (ticks
        missed while down: a gap)."""
        if not stopped:
            self.stop()
        old, self.feed = self.feed, FakeFeed()
        for symbol, seq in old._seq.items():
            self.feed._seq[symbol] = seq + skip_ticks
        self.restarts += 1
        self.start()


async def _cache(settings: Settings, wire: dict[str, Any]) -> None:
    redis = AsyncResilientRedis.from_settings(settings, timeout_s=2.0)
    try:
        cache = FeedCache(redis, ttl_s=600, bar_history=10)
        cache.stage(wire)
        assert await cache.flush()
    finally:
        await redis.close()


async def _drain(hub: Any) -> int:
    return int(await hub.drain.start())


def _relay_loop(stop: threading.Event, relay: Relay) -> None:
    while not stop.is_set():
        try:
            busy = relay.run_once()
        except Exception:  # Redis or PG away: retry, as the actor does
            busy = False
        if not busy:
            stop.wait(0.02)


@contextmanager
def running_platform(settings: Settings) -> Iterator[Platform]:
    services = build_services(settings, in_ray=False, process_label="browser-tests")
    relay_redis = ResilientRedis.from_settings(settings)
    relay = Relay(services.db, relay_redis, prefix=settings.redis_key_prefix, batch=200)
    stop = threading.Event()
    thread = threading.Thread(target=_relay_loop, args=(stop, relay), daemon=True)
    platform = Platform(settings, services, free_port(), create_api(services))
    thread.start()
    platform.start()
    try:
        yield platform
    finally:
        platform.stop(drain=False)
        stop.set()
        thread.join(10)
        relay_redis.close()
        services.close()
