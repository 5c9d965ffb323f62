"""StreamFanout's resume merge: backlog, events that arrive meanwhile, then live; each once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from cluster.events import Event, Gap, interpret_range
from serve.gateway_conn import Limits
from serve.gateway_streams import StreamFanout


class FakeBus:
    """In-memory stand-in for AsyncEventBus; ``during_read`` runs inside ``read_since``."""

    def __init__(self) -> None:
        self.events: dict[str, list[Event]] = {}
        self.floor: dict[str, int] = {}  # seqs below this are "trimmed"
        self.during_read: Callable[[], None] | None = None

    def publish(self, stream: str, n: int = 1) -> list[Event]:
        out = []
        for _ in range(n):
            seq = len(self.events.setdefault(stream, [])) + 1
            ev = Event(stream, seq, "fill", {"seq": seq}, 0)
            self.events[stream].append(ev)
            out.append(ev)
        return out

    async def head(self, stream: str) -> int:
        return len(self.events.get(stream, []))

    async def read_since(self, stream: str, after: int, limit: int) -> list[Event] | Gap:
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()
        kept = [e for e in self.events.get(stream, []) if e.seq >= self.floor.get(stream, 0)]
        entries = [
            (f"{e.seq}-0", {"t": e.type, "d": json.dumps(e.data), "ts": "0"})
            for e in kept
            if e.seq > after
        ][:limit]
        return interpret_range(stream, after, entries, await self.head(stream))

    async def tail(self, cursors: dict[str, int], **_: Any) -> dict[str, list[Event]]:
        await asyncio.Event().wait()  # the test drives dispatch itself
        return {}


class Recorder:
    limits = Limits()

    def __init__(self, cid: int) -> None:
        self.id, self.is_open, self.got = cid, True, []
        self.failed: int | None = None

    async def wait_room(self, n: int) -> None:
        return None

    def enqueue(self, text: str) -> bool:
        self.got.append(json.loads(text))
        return True

    def fail(self, code: int, reason: str, **_: Any) -> None:
        self.failed = code

    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.got]


async def test_resume_when_events_arrive_during_backlog_then_each_once_in_order() -> None:
    bus = FakeBus()
    fan = StreamFanout(bus, batch=2)  # type: ignore[arg-type]
    other, conn = Recorder(1), Recorder(2)
    bus.publish("orders:a", 5)
    await fan.add(other, "orders:a", None)  # the stream is tailed from seq 5

    def arrive() -> None:  # the tailer delivers 6 and 7 while the backlog is being read
        fan._dispatch("orders:a", bus.publish("orders:a", 2))

    bus.during_read = arrive
    await fan.add(conn, "orders:a", 2)
    assert conn.seqs() == [3, 4, 5, 6, 7]
    fan._dispatch("orders:a", bus.publish("orders:a"))
    fan._dispatch("orders:a", bus.events["orders:a"][5:8])  # a replay: nothing twice
    assert conn.seqs() == [3, 4, 5, 6, 7, 8]
    assert other.seqs() == [6, 7, 8]
    await fan.close()


async def test_resume_when_trimmed_then_gap_then_events() -> None:
    bus = FakeBus()
    fan = StreamFanout(bus)  # type: ignore[arg-type]
    bus.publish("risk:a", 10)
    bus.floor["risk:a"] = 7
    conn = Recorder(1)
    await fan.add(conn, "risk:a", 3)
    assert [m["type"] for m in conn.got] == ["gap", "event", "event", "event", "event"]
    assert (conn.got[0]["from_seq"], conn.got[0]["to_seq"]) == (4, 6)
    assert conn.seqs() == [6, 7, 8, 9, 10]
    fan.remove(conn, "risk:a")
    assert fan.streams == 0
    await fan.close()


async def test_live_when_tailer_skips_ahead_then_gap_message() -> None:
    bus = FakeBus()
    fan = StreamFanout(bus)  # type: ignore[arg-type]
    conn = Recorder(1)
    await fan.add(conn, "jobs:u", None)
    events = bus.publish("jobs:u", 4)
    fan._dispatch("jobs:u", events[2:])  # 1 and 2 were trimmed before the tailer read them
    assert [(m["type"], m["seq"]) for m in conn.got] == [("gap", 2), ("event", 3), ("event", 4)]
    await fan.close()


class RefusingOnceBus(FakeBus):
    """Tailing fails once with a refused command (an ``OperatorError``), then delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.tails = 0

    async def tail(self, cursors: dict[str, int], **_: Any) -> dict[str, list[Event]]:
        self.tails += 1
        if self.tails == 1:
            from cluster.redis_client import RedisCommandError

            raise RedisCommandError("ERR wrong number of arguments")
        if self.tails == 2:
            return {"orders:a": self.publish("orders:a", 2)}
        await asyncio.Event().wait()
        return {}


async def test_tailer_when_redis_refuses_a_command_then_keeps_serving() -> None:
    bus = RefusingOnceBus()
    fan = StreamFanout(bus)  # type: ignore[arg-type]
    conn = Recorder(1)
    await fan.add(conn, "orders:a", None)
    for _ in range(100):
        if conn.seqs() == [1, 2]:
            break
        await asyncio.sleep(0.01)
    assert conn.seqs() == [1, 2] and bus.tails >= 2
    await fan.close()
