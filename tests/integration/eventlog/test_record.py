"""The durable event log: numbers handed out with the change, relayed to Redis once and in
order, read back from PostgreSQL, pruned into a ``gap`` only past its retention."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from cluster.db import Database, PoolSize
from cluster.eventlog import store
from cluster.eventlog.relay import Relay
from cluster.events import EventBus, Gap
from cluster.redis_client import ResilientRedis


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, PoolSize(8, 2))
    yield database
    database.dispose()


def _stream() -> str:
    return f"orders:{uuid.uuid4()}"


def _seqs(db: Database, stream: str) -> list[int]:
    with db.session() as s:
        return [
            int(r[0])
            for r in s.execute(
                text("SELECT seq FROM events WHERE stream = :s ORDER BY id"), {"s": stream}
            )
        ]


def test_concurrent_writers_get_gap_free_numbers_committed_in_order(db: Database) -> None:
    stream = _stream()

    def writer(n: int) -> None:
        for i in range(n):
            with db.session() as s:
                store.append(s, [(stream, "new", {"i": i}), (stream, "fill", {"i": i})])

    threads = [threading.Thread(target=writer, args=(25,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _seqs(db, stream) == list(range(1, 301))  # id order is seq order: no reordering


def test_a_rolled_back_change_leaves_no_event_and_no_hole(db: Database) -> None:
    stream = _stream()
    with db.session() as s:
        store.append(s, [(stream, "new", {})])
    with pytest.raises(RuntimeError), db.session() as s:
        store.append(s, [(stream, "fill", {})])
        raise RuntimeError("the change failed after its event was written")
    with db.session() as s:
        assert store.append(s, [(stream, "canceled", {})]) == [2]
        assert store.head(s, stream) == 2
    assert _seqs(db, stream) == [1, 2]


def test_relay_publishes_in_order_and_a_republish_stores_nothing_twice(
    db: Database, redis_url: str
) -> None:
    prefix = f"relay-{uuid.uuid4().hex[:6]}:"
    redis = ResilientRedis(redis_url, prefix=prefix)
    relay = Relay(db, redis, prefix=prefix, batch=50)
    bus = EventBus(redis, prefix=prefix)
    stream = _stream()
    with db.session() as s:
        store.append(s, [(stream, "new", {"i": i}) for i in range(120)])
    relay.drain()
    got = bus.read_since(stream, 0, limit=500)
    assert isinstance(got, list) and [e.seq for e in got] == list(range(1, 121))
    assert [e.data["i"] for e in got] == list(range(120))
    # a pass that published but died before stamping: everything is sent again
    with db.session() as s:
        s.execute(text("UPDATE events SET published_at = NULL WHERE stream = :s"), {"s": stream})
    before = relay.duplicates
    relay.drain()
    assert relay.duplicates - before == 120
    again = bus.read_since(stream, 0, limit=500)
    assert isinstance(again, list) and len(again) == 120
    assert bus.head(stream) == 120
    redis.close()


def test_read_after_serves_the_record_and_answers_gap_only_past_retention(db: Database) -> None:
    stream = _stream()
    with db.session() as s:
        store.append(s, [(stream, "new", {"i": i}) for i in range(10)])
        s.execute(
            text(
                "UPDATE events SET published_at = now(), at = now() - interval '8 days'"
                " WHERE stream = :s AND seq <= 4"
            ),
            {"s": stream},
        )
    with db.session() as s:
        got = store.read_after(s, stream, 5)
        assert isinstance(got, list) and [e.seq for e in got] == [6, 7, 8, 9, 10]
        assert store.prune(s, datetime.now(UTC) - timedelta(days=7)) >= 4
    with db.session() as s:
        assert store.read_after(s, stream, 1) == Gap(stream, 2, 4)
        tail = store.read_after(s, stream, 4)
        assert isinstance(tail, list) and tail[0].seq == 5
        assert store.read_after(s, stream, 10) == []
