"""EventBus and its Lua on both Redis servers (the machine's and the embedded one):
gap-free numbering under concurrency, resume, gaps."""

from __future__ import annotations

import asyncio
import threading
import uuid
from decimal import Decimal

import pytest

from cluster.events import AsyncEventBus, EventBus, Gap
from cluster.redis_client import AsyncResilientRedis, ResilientRedis


@pytest.fixture
def bus(redis_prefix: str, redis_url: str):
    client = ResilientRedis(redis_url, prefix=redis_prefix)
    yield EventBus(client, prefix=redis_prefix, retention=50, retention_s=3600)
    client.close()


def _stream() -> str:
    return f"orders:{uuid.uuid4()}"


def test_publish_when_many_threads_then_seqs_are_gap_free_and_unique(bus: EventBus) -> None:
    stream = _stream()
    seen: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for i in range(20):
            seq = bus.publish(stream, "new", {"i": i})
            with lock:
                seen.append(seq)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(seen) == list(range(1, 81))
    events = bus.read_since(stream, 0, limit=1000)
    assert not isinstance(events, Gap)
    assert [e.seq for e in events] == list(range(1, 81))
    assert bus.head(stream) == 80


def test_read_since_when_count_retention_exceeded_then_gap(bus: EventBus) -> None:
    stream = _stream()
    for i in range(400):  # MAXLEN ~ 50 trims whole macro nodes (100 entries)
        bus.publish(stream, "new", {"i": i})
    got = bus.read_since(stream, 0, limit=10)
    assert isinstance(got, Gap) and got.from_seq == 1 and 200 <= got.to_seq < 400
    after = bus.read_since(stream, got.to_seq, limit=10)
    assert not isinstance(after, Gap) and after[0].seq == got.to_seq + 1


def test_read_since_when_in_window_then_events_in_order_once(bus: EventBus) -> None:
    stream = _stream()
    for i in range(10):
        bus.publish(stream, "fill", {"i": i, "px": Decimal("1.25")})
    events = bus.read_since(stream, 4, limit=100)
    assert not isinstance(events, Gap)
    assert [e.seq for e in events] == [5, 6, 7, 8, 9, 10]
    assert events[0].type == "fill" and events[0].data == {"i": 4, "px": "1.25"}
    assert bus.read_since(stream, 10, limit=100) == []


def test_read_since_when_trimmed_then_gap_names_the_missing_range(
    redis_prefix: str, redis_url: str
) -> None:
    client = ResilientRedis(redis_url, prefix=redis_prefix)
    clock = {"now": 1_000_000}
    bus = EventBus(
        client, prefix=redis_prefix, retention=1000, retention_s=10, now_ms=lambda: clock["now"]
    )
    stream = _stream()
    for _ in range(3):
        bus.publish(stream, "new", {})
    clock["now"] += 11_000  # the first three are now older than retention
    bus.publish(stream, "new", {})
    got = bus.read_since(stream, 1, limit=10)
    assert got == Gap(stream, 2, 3)
    client.close()


async def test_async_tail_when_published_then_returned_after_cursor(
    redis_prefix: str, redis_url: str
) -> None:
    client = AsyncResilientRedis(redis_url, prefix=redis_prefix, timeout_s=3)
    abus = AsyncEventBus(client, prefix=redis_prefix)
    stream = _stream()
    assert await abus.publish(stream, "new", {"a": 1}) == 1
    waiter = asyncio.create_task(abus.tail({stream: 1}, block_ms=2000))
    await asyncio.sleep(0.05)
    await abus.publish(stream, "fill", {"a": 2})
    got = await asyncio.wait_for(waiter, 5)
    assert [(e.seq, e.type) for e in got[stream]] == [(2, "fill")]
    assert await abus.head(stream) == 2
    await client.close()
