"""``FeedBarSource`` on feed shards whose bars go through the real Redis cache.

No Ray (a session CI run owns this machine's Ray): each shard is the shard's own logic,
``FeedCore``, with a ``FeedCache`` on the machine's Redis under a key prefix of this
module's own, reached through the handle surface ``FeedClient`` uses
(``handle.method.remote(...)``). Bars enter as a provider's bars do (``on_event``); a
restarted shard is a new ``FeedCore`` restored from the cache, as ``FeedShard._start``
does. Symbols are made up, so the session's feed shards never write these keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from actors.feed_core import FeedCore
from actors.feed_shard import failover_config
from cluster import names
from cluster.marketdata.cache import FeedCache
from cluster.redis_client import AsyncResilientRedis
from cluster.settings import Settings
from cluster.strategies.bar_source import FeedBarSource, bar_start
from domain.clock import FakeClock
from domain.marketdata import Bar
from tests.conftest import REDIS_URL

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SYM, OTHER = "ZQXB", "ZQXC"
NAMESPACE = "barsource-test"


def bar(minute: int, close: str = "10.50", symbol: str = SYM) -> Bar:
    start = T0 + timedelta(minutes=minute)
    c = Decimal(close)
    return Bar(
        symbol, Decimal("10.00"), max(c, Decimal("11.00")), min(c, Decimal("9.50")), c,
        100 + minute, start, start + timedelta(seconds=59), start + timedelta(minutes=1), "a",
    )  # fmt: skip


class _Method:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> Any:
        async def call() -> Any:
            result = self.fn(*args)
            return await result if inspect.isawaitable(result) else result

        return call()


class ShardHandle:
    """What a Ray handle to a ``FeedShard`` offers ``FeedClient``, over a ``FeedCore``."""

    def __init__(self, core: FeedCore) -> None:
        self.subscribe = _Method(core.subscribe)
        self.poll = _Method(core.poll)
        self.bars = _Method(core.bars)
        self.unsubscribe = _Method(core.hub.unsubscribe)


class Feed:
    """One shard (index 0 of 1) whose incarnations share the Redis cache."""

    def __init__(self, redis: AsyncResilientRedis) -> None:
        self.redis = redis
        self.handle: ShardHandle | None = None
        self.core: FeedCore | None = None

    async def start(self) -> FeedCore:
        """A new incarnation, restored from the cache like ``FeedShard._start``."""
        cache = FeedCache(self.redis, ttl_s=300, bar_history=50)
        core = FeedCore(
            shard=0, symbols=[SYM, OTHER], chain=["a"], make_provider=_no_provider,
            failover=failover_config(Settings(feed_providers="a")), clock=FakeClock(T0),
            market_open=lambda _at: True, epoch=uuid.uuid4().hex[:12], cache=cache,
            bar_history=50,
        )  # fmt: skip
        core.restore(await cache.load(core.symbols))
        self.core, self.handle = core, ShardHandle(core)
        return core

    async def forward(self, *bars: Bar) -> None:
        """Bars from the active provider: numbered, recorded, fanned out, then flushed."""
        assert self.core is not None and self.core.cache is not None
        for b in bars:
            self.core.on_event("a", b)
        await self.core.cache.flush()


def _no_provider(name: str, on_error: Any) -> Any:
    raise AssertionError("providers are not started here")


@pytest.fixture
async def feed(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Feed]:
    redis = AsyncResilientRedis(REDIS_URL, prefix=f"{redis_prefix}barsource-{uuid.uuid4().hex}:")
    f = Feed(redis)

    def get_actor(name: str, namespace: str) -> object | None:
        return f.handle if (name, namespace) == (names.feed_shard(0), NAMESPACE) else None

    monkeypatch.setattr(names, "get_actor", get_actor)
    yield f
    await redis.close()


class Runner:
    """A source running as the runner actor runs it, recording what it is handed."""

    def __init__(self, since: dict[str, datetime] | None = None) -> None:
        self.source = FeedBarSource(NAMESPACE, 1, f"runner-{uuid.uuid4().hex[:8]}")
        self.got: list[dict[str, Any]] = []
        self.since = since
        self.task: asyncio.Task[None] | None = None

    async def _deliver(self, bars: list[dict[str, Any]]) -> None:
        self.got.extend(bars)

    def start(self) -> None:
        self.task = asyncio.create_task(
            self.source.run([SYM, OTHER.lower()], self._deliver, self.since)
        )

    def seen(self, symbol: str = SYM) -> list[tuple[int, str]]:
        """(minute after T0, close) of every bar handed over for ``symbol``, in order."""
        return [
            (int((bar_start(b) - T0).total_seconds() // 60), b["close"])
            for b in self.got
            if b["symbol"] == symbol
        ]

    async def until(self, n: int, timeout_s: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.got) < n:
            assert self.task is not None and not self.task.done(), self.task
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(self.got)} bars, wanted {n}: {self.got}")
            await asyncio.sleep(0.02)

    async def settle(self) -> None:
        """Long enough for anything still on its way (a poll is 1 s) to arrive."""
        await asyncio.sleep(1.3)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.source.close()


async def test_run_when_shard_forwards_bars_then_each_once_in_order_with_fields(
    feed: Feed,
) -> None:
    await feed.start()
    runner = Runner()
    assert await runner.source.history([SYM, OTHER], 100) == []
    runner.start()
    try:
        await asyncio.sleep(0.1)
        await feed.forward(bar(0, "10.10"), bar(0, "20.10", OTHER), bar(1, "10.20"))
        await feed.forward(bar(2, "10.30"))
        await runner.until(4)
        await runner.settle()
        assert runner.seen() == [(0, "10.10"), (1, "10.20"), (2, "10.30")]
        assert runner.seen(OTHER) == [(0, "20.10")]
        first = runner.got[0]
        assert first["type"] == "bar" and first["symbol"] == SYM
        assert (first["open"], first["high"], first["low"], first["volume"]) == (
            "10.00", "11.00", "9.50", 100,
        )  # fmt: skip
        assert first["start"].startswith("2026-03-02T15:00:00")
        assert [b["seq"] for b in runner.got if b["symbol"] == SYM] == [1, 2, 3]
    finally:
        await runner.stop()


async def test_bar_closed_between_history_and_run_then_delivered_once(feed: Feed) -> None:
    await feed.start()
    await feed.forward(bar(0), bar(1))
    runner = Runner()
    history = await runner.source.history([SYM, OTHER], 100)
    assert [bar_start(b) for b in history] == [T0, T0 + timedelta(minutes=1)]
    await feed.forward(bar(2, "10.30"), bar(0, "20.00", OTHER))  # before run subscribes
    runner.start()
    try:
        await runner.until(2)
        await feed.forward(bar(3, "10.40"))
        await runner.until(3)
        await runner.settle()
        assert runner.seen() == [(2, "10.30"), (3, "10.40")]  # not 0, 1: in the history
        assert runner.seen(OTHER) == [(0, "20.00")]  # its shard had none: all of it is new
    finally:
        await runner.stop()


async def test_late_corrected_and_reordered_bars_then_increasing_starts_only(
    feed: Feed,
) -> None:
    await feed.start()
    runner = Runner()
    await runner.source.history([SYM], 100)
    runner.start()
    try:
        await asyncio.sleep(0.1)
        await feed.forward(bar(2, "10.20"))
        await runner.until(1)
        await feed.forward(bar(1, "10.10"))  # late: bar 2 was handed over already
        await feed.forward(bar(2, "10.99"))  # a provider's correction of bar 2
        await feed.forward(bar(4, "10.40"), bar(3, "10.30"))  # one batch, out of order
        await runner.until(3)
        await runner.settle()
        assert runner.seen() == [(2, "10.20"), (3, "10.30"), (4, "10.40")]
        assert runner.source.skipped == 2
    finally:
        await runner.stop()


async def test_runner_restart_since_last_bar_then_no_repeat_and_missed_caught_up(
    feed: Feed,
) -> None:
    await feed.start()
    await feed.forward(*(bar(m, f"10.{m}0") for m in range(5)))
    await feed.start()  # the shard restarted too: its bars come back from Redis
    runner = Runner(since={SYM.lower(): T0 + timedelta(minutes=2)})
    runner.start()
    try:
        await runner.until(2)
        await feed.forward(bar(5, "10.50"))
        await runner.until(3)
        await runner.settle()
        assert runner.seen() == [(3, "10.30"), (4, "10.40"), (5, "10.50")]
    finally:
        await runner.stop()


async def test_shard_restart_gap_then_bar_flushed_before_death_caught_up(feed: Feed) -> None:
    old = await feed.start()
    runner = Runner()
    await runner.source.history([SYM], 100)
    runner.start()
    try:
        await asyncio.sleep(0.1)
        await feed.forward(bar(0, "10.00"))
        await runner.until(1)
        # The shard numbers, records and flushes bar 1, and dies before our next poll.
        assert old.cache is not None
        old.cache.stage(bar(1, "10.10").to_wire() | {"seq": old.books[SYM].next_seq()})
        await old.cache.flush()
        await feed.start()
        await runner.until(2)  # the epoch change is a gap: caught up from the cache
        await feed.forward(bar(2, "10.20"))
        await runner.until(3)
        await runner.settle()
        assert runner.seen() == [(0, "10.00"), (1, "10.10"), (2, "10.20")]
    finally:
        await runner.stop()


async def test_run_before_shard_is_up_then_subscribes_when_it_is(feed: Feed) -> None:
    runner = Runner()
    runner.start()  # bootstrap order: the runner may come up before the feed
    try:
        await asyncio.sleep(0.4)
        core = await feed.start()
        for _ in range(300):  # its retries back off; wait until it has subscribed
            if core.hub.consumers:
                break
            await asyncio.sleep(0.02)
        await feed.forward(bar(0, "10.00"))
        await runner.until(1)
        assert runner.seen() == [(0, "10.00")]
    finally:
        await runner.stop()
