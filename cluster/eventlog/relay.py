"""The relay: committed events from PostgreSQL to Redis Streams, in order, exactly once.

One pass (``run_once``) takes the oldest unpublished events (``FOR UPDATE SKIP LOCKED``,
so a second relay would take other rows, never the same), appends them to their Redis
streams under their own sequence numbers, then stamps ``published_at`` in the same
transaction. If Redis fails midway, nothing is stamped and the pass raises
``RedisUnavailable``; the next pass republishes the same events under the same ids, and
``RELAY_LUA`` skips an id the stream already holds, so a publish that may have happened
is never stored twice (and the gateway drops a ``seq`` it has already sent anyway).

Order: within a stream, events commit in ``seq`` order (``eventlog.store``), and ``id``
follows ``seq``; a pass publishes in ``id`` order and stops at the first failure, so a
stream in Redis never skips a number the record has.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.sql import func

from cluster.db import Database
from cluster.eventlog import store
from cluster.eventlog.tables import events
from cluster.events import TRIM_LUA, StreamKeys, encode_data
from cluster.redis_client import ResilientRedis

log = logging.getLogger(__name__)

# KEYS: stream, counter. ARGV: seq, type, data, ts_ms, maxlen, retention_ms, expire_s, trim
RELAY_LUA = (
    TRIM_LUA
    + """
local seq = tonumber(ARGV[1])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local last_seq = tonumber(string.match(last[1][1], '^(%d+)'))
  if last_seq >= seq then return 0 end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], seq .. '-0',
           't', ARGV[2], 'd', ARGV[3], 'ts', ARGV[4])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if seq > head then redis.call('SET', KEYS[2], seq) end
trim_and_expire(KEYS[1], tonumber(ARGV[4]) - tonumber(ARGV[6]), ARGV[8], ARGV[7])
return 1
"""
)


class Relay:
    def __init__(
        self,
        db: Database,
        redis: ResilientRedis,
        *,
        prefix: str,
        retention: int = 10_000,
        retention_s: int = 86_400,
        record_s: int = 7 * 86_400,
        batch: int = 500,
    ) -> None:
        self.db, self.redis, self.keys = db, redis, StreamKeys(prefix)
        self.retention, self.retention_s, self.record_s = retention, retention_s, record_s
        self.batch = batch
        self._script = redis.client.register_script(RELAY_LUA)
        self.published = 0
        self.duplicates = 0

    def run_once(self) -> int:
        """Publish one batch; returns how many events it handled (0: nothing waiting)."""
        e = events.c
        with self.db.session() as s:
            rows = list(
                s.execute(
                    select(e.id, e.stream, e.seq, e.type, e.data, e.at)
                    .where(e.published_at.is_(None))
                    .order_by(e.id)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                ).all()
            )
            if not rows:
                return 0
            added = self.redis.call("events.relay", lambda r: self._send(r, rows))
            s.execute(
                update(events).where(e.id.in_([r.id for r in rows])).values(published_at=func.now())
            )
        fresh = sum(1 for a in added if int(a) == 1)
        self.published += fresh
        self.duplicates += len(rows) - fresh
        return len(rows)

    def _send(self, r: Any, rows: list[Any]) -> list[Any]:
        pipe = r.pipeline(transaction=False)
        for row in rows:
            keys = [self.keys.stream(row.stream), self.keys.seq(row.stream)]
            args = [
                row.seq,
                row.type,
                encode_data(row.data),
                int(row.at.timestamp() * 1000),
                self.retention,
                self.retention_s * 1000,
                self.retention_s,
                16,
            ]
            self._script(keys, args, client=pipe)
        return list(pipe.execute())

    def drain(self, deadline_s: float = 5.0) -> int:
        """Publish until nothing waits (or the deadline passes); returns the count."""
        total, end = 0, time.monotonic() + deadline_s
        while time.monotonic() < end:
            n = self.run_once()
            total += n
            if n < self.batch:
                break
        return total

    def prune(self, now: datetime) -> int:
        with self.db.session() as s:
            return store.prune(s, now - timedelta(seconds=self.record_s))
