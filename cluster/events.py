"""Per-stream event log on Redis Streams: gap-free sequence numbers, resumable reads.

Why Redis Streams with explicit ids: the gateway must let a reconnecting client resume
"after seq N" and get every missed event once, in order. One Lua script does
``INCR <stream>:seq`` and ``XADD <stream> <seq>-0`` atomically, so sequence numbers are
monotonic and gap-free per stream even with many publishing processes, and the stream
id *is* the sequence number: ``read_since(after)`` is one ``XRANGE <after+1>-0 +``.

Retention: ``MAXLEN ~ retention`` on every append, plus a time bound: each publish drops
up to 16 head entries older than ``retention_s`` and the stream key expires after
``retention_s`` without a publish. The counter key never expires, so numbering survives
an idle stream. A read whose ``after+1`` is no longer held yields ``Gap`` instead of
silently skipping.

Keys (one hash tag per stream, so both keys share a cluster slot):
``<prefix>evl:{<stream>}`` and ``<prefix>evl:{<stream>}:seq``.

Durable streams (orders, positions, account, risk, jobs) are numbered by PostgreSQL
(``cluster.eventlog``: written with the change, published by the relay with
``RELAY_LUA``); only the live ``feed`` stream is numbered here by ``PUBLISH_LUA``. The
keys moved from ``ev:`` to ``evl:`` with that change, so numbers handed out by Redis
before it can never shadow the record's.

A publish that failed is raised as ``RedisUnavailable`` (``ResilientRedis`` counts it).
Note: ``ResilientRedis`` retries a call whose reply was lost, so a publish may in rare
cases be stored twice under two sequence numbers (duplicate, never a gap).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from cluster.redis_client import AsyncResilientRedis, ResilientRedis

if TYPE_CHECKING:
    from cluster.settings import Settings

#: ``publish(stream, event, data)``: what a publishing process is handed
Publish = Callable[[str, str, dict[str, Any]], Any]

STREAM_KINDS = ("orders", "positions", "account", "risk", "jobs")
GLOBAL_STREAMS = ("feed",)
_HEAD_TRIM = 16

#: Drop head entries older than ``cutoff`` (ms; at most ``count`` of them), then let the
#: stream key expire after ``expire_s`` without an append. Shared by both append scripts.
TRIM_LUA = """
local function trim_and_expire(key, cutoff, count, expire_s)
  local head = redis.call('XRANGE', key, '-', '+', 'COUNT', count)
  for _, entry in ipairs(head) do
    local fields = entry[2]
    local ts = nil
    for i = 1, #fields, 2 do
      if fields[i] == 'ts' then ts = tonumber(fields[i + 1]) end
    end
    if ts ~= nil and ts < cutoff then redis.call('XDEL', key, entry[1]) else break end
  end
  redis.call('EXPIRE', key, expire_s)
end
"""

PUBLISH_LUA = (
    TRIM_LUA
    + """
local seq = redis.call('INCR', KEYS[2])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local last_seq = tonumber(string.match(last[1][1], '^(%d+)'))
  if last_seq >= seq then
    seq = last_seq + 1
    redis.call('SET', KEYS[2], seq)
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0',
           't', ARGV[1], 'd', ARGV[2], 'ts', ARGV[3])
trim_and_expire(KEYS[1], tonumber(ARGV[3]) - tonumber(ARGV[5]), ARGV[7], ARGV[6])
return seq
"""
)


@dataclass(frozen=True, slots=True)
class Event:
    stream: str
    seq: int
    type: str
    data: dict[str, Any]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Events ``from_seq..to_seq`` of ``stream`` are gone from the retention window."""

    stream: str
    from_seq: int
    to_seq: int


def stream_name(kind: str, owner_id: str) -> str:
    """``orders:<account_id>``, ``jobs:<user_id>``..."""
    if kind not in STREAM_KINDS:
        raise ValueError(f"unknown stream kind {kind!r}")
    return f"{kind}:{owner_id}"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


def encode_data(data: dict[str, Any]) -> str:
    return json.dumps(data, default=_json_default, separators=(",", ":"))


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _seq_of(entry_id: bytes | str) -> int:
    return int(_s(entry_id).split("-", 1)[0])


def parse_entry(stream: str, entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    f = {_s(k): _s(v) for k, v in fields.items()}
    return Event(
        stream=stream,
        seq=_seq_of(entry_id),
        type=f.get("t", ""),
        data=json.loads(f.get("d", "{}")),
        ts_ms=int(f.get("ts", "0")),
    )


def interpret_range(
    stream: str, after_seq: int, entries: Sequence[Any], head: int
) -> list[Event] | Gap:
    """Turn an ``XRANGE <after+1>-0 +`` reply and the counter into events or a gap."""
    if entries:
        first = _seq_of(entries[0][0])
        if first > after_seq + 1:
            return Gap(stream, after_seq + 1, first - 1)
        return [parse_entry(stream, eid, fields) for eid, fields in entries]
    if head > after_seq:
        return Gap(stream, after_seq + 1, head)
    return []


class StreamKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def stream(self, stream: str) -> str:
        return f"{self.prefix}evl:{{{stream}}}"

    def seq(self, stream: str) -> str:
        return f"{self.prefix}evl:{{{stream}}}:seq"


class EventBus:
    """Synchronous publisher/reader (services, actors, jobs)."""

    def __init__(
        self,
        redis: ResilientRedis,
        *,
        prefix: str,
        retention: int = 10_000,
        retention_s: int = 86_400,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.redis, self.keys = redis, StreamKeys(prefix)
        self.retention, self.retention_s = retention, retention_s
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._script = redis.client.register_script(PUBLISH_LUA)

    def publish(self, stream: str, event_type: str, data: dict[str, Any]) -> int:
        """Append one event; returns its sequence number in ``stream``."""
        keys = [self.keys.stream(stream), self.keys.seq(stream)]
        args = _publish_args(event_type, data, self._now_ms(), self.retention, self.retention_s)
        return int(self.redis.call("events.publish", lambda r: self._script(keys, args, r)))

    def head(self, stream: str) -> int:
        """The last sequence number handed out in ``stream`` (0 if none)."""
        raw = self.redis.call("events.head", lambda r: r.get(self.keys.seq(stream)))
        return int(raw or 0)

    def read_since(self, stream: str, after_seq: int, limit: int = 500) -> list[Event] | Gap:
        key, seq_key = self.keys.stream(stream), self.keys.seq(stream)

        def run(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=True)
            pipe.xrange(key, min=f"{after_seq + 1}-0", max="+", count=limit)
            pipe.get(seq_key)
            return list(pipe.execute())

        entries, head = self.redis.call("events.read", run)
        return interpret_range(stream, after_seq, entries, int(head or 0))


class AsyncEventBus:
    """The asyncio twin for the gateway, with blocking ``XREAD`` for live tailing.

    Give it a client whose socket timeout exceeds ``block_ms`` (see ``tail``).
    """

    def __init__(
        self,
        redis: AsyncResilientRedis,
        *,
        prefix: str,
        retention: int = 10_000,
        retention_s: int = 86_400,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.redis, self.keys = redis, StreamKeys(prefix)
        self.retention, self.retention_s = retention, retention_s
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._script = redis.client.register_script(PUBLISH_LUA)

    async def publish(self, stream: str, event_type: str, data: dict[str, Any]) -> int:
        keys = [self.keys.stream(stream), self.keys.seq(stream)]
        args = _publish_args(event_type, data, self._now_ms(), self.retention, self.retention_s)
        return int(await self.redis.call("events.publish", lambda r: self._script(keys, args, r)))

    async def head(self, stream: str) -> int:
        raw = await self.redis.call("events.head", lambda r: r.get(self.keys.seq(stream)))
        return int(raw or 0)

    async def read_since(self, stream: str, after_seq: int, limit: int = 500) -> list[Event] | Gap:
        key, seq_key = self.keys.stream(stream), self.keys.seq(stream)

        async def run(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=True)
            pipe.xrange(key, min=f"{after_seq + 1}-0", max="+", count=limit)
            pipe.get(seq_key)
            return list(await pipe.execute())

        entries, head = await self.redis.call("events.read", run)
        return interpret_range(stream, after_seq, entries, int(head or 0))

    async def tail(
        self, cursors: dict[str, int], *, block_ms: int = 1000, count: int = 500
    ) -> dict[str, list[Event]]:
        """Events after each stream's cursor, waiting up to ``block_ms`` for the first one."""
        if not cursors:
            return {}
        by_key = {self.keys.stream(s): s for s in cursors}
        ids: dict[Any, Any] = {self.keys.stream(s): f"{seq}-0" for s, seq in cursors.items()}
        reply: Any = await self.redis.call(
            "events.tail", lambda r: r.xread(ids, count=count, block=block_ms)
        )
        out: dict[str, list[Event]] = {}
        for key, entries in reply or []:
            stream = by_key[_s(key)]
            out[stream] = [parse_entry(stream, eid, fields) for eid, fields in entries]
        return out


def _publish_args(
    event_type: str, data: dict[str, Any], now_ms: int, retention: int, retention_s: int
) -> list[Any]:
    return [
        event_type,
        encode_data(data),
        now_ms,
        retention,
        retention_s * 1000,
        retention_s,
        _HEAD_TRIM,
    ]


def bus_for(settings: Settings, redis: ResilientRedis) -> EventBus:
    """The event bus of a process from settings (the one way every process builds it)."""
    return EventBus(
        redis,
        prefix=settings.redis_key_prefix,
        retention=settings.events_retention,
        retention_s=settings.events_retention_s,
    )


def async_bus_for(settings: Settings, redis: AsyncResilientRedis) -> AsyncEventBus:
    return AsyncEventBus(
        redis,
        prefix=settings.redis_key_prefix,
        retention=settings.events_retention,
        retention_s=settings.events_retention_s,
    )


def wire(services: Any) -> None:
    """Fill ``services.events`` (called by ``serve.services.build_services``)."""
    services.events = bus_for(services.settings, services.redis)
