"""The latest quote of a symbol straight from the feed shard that owns it, synchronously.

Why: the feed cache in Redis is a copy; the shard actor holds the book itself. When Redis
is down or slow (issue 18: 48 market buys were refused with every shard healthy) the
pre-trade lookup asks the shard. It runs in a request's worker thread (a Serve replica's
or any process connected to Ray), so the call is a plain ``ray.get`` bounded by
``timeout_s``: a dead, restarting or slow shard costs at most that, never a hang.

Each answer carries a reason when there is no fresh quote, so a refused order can say
where the platform looked. ``cluster`` must not import ``actors``: the shard is looked up
by name and its ``snapshot`` method called by name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cluster import names
from cluster.marketdata.sharding import shard_of
from domain.marketdata import Quote

__all__ = ["ShardQuotes"]

log = logging.getLogger(__name__)


class ShardQuotes:
    def __init__(
        self,
        namespace: str,
        n_shards: int,
        now: Callable[[], datetime],
        *,
        max_age_s: float = 60.0,
        timeout_s: float = 0.3,
    ) -> None:
        self.namespace, self.n_shards = namespace, n_shards
        self.now = now
        self.max_age = timedelta(seconds=max_age_s)
        self.timeout_s = timeout_s
        self._handles: dict[int, Any] = {}
        self._lock = threading.Lock()

    def latest(self, symbol: str) -> tuple[Quote | None, str]:
        """``(quote, "")`` when the owning shard has a fresh one, else ``(None, why)``."""
        import ray

        if not ray.is_initialized():
            return None, "this process is not connected to Ray"
        symbol = symbol.strip().upper()
        shard = shard_of(symbol, self.n_shards)
        handle = self._handle(shard)
        if handle is None:
            return None, f"feed shard {shard} is not running"
        try:
            ref = handle.snapshot.remote([symbol])
            reply = ray.get(ref, timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            return None, f"feed shard {shard} did not answer within {self.timeout_s:g} s"
        except Exception as exc:  # RayActorError and friends: restarting or gone
            self._forget(shard)
            return None, f"feed shard {shard} failed: {type(exc).__name__}"
        wire = (reply.get(symbol) or {}).get("quote")
        if wire is None:
            return None, f"feed shard {shard} has no quote for {symbol}"
        quote = Quote.from_wire(wire)
        age = self.now() - quote.received_ts
        if age > self.max_age:
            return None, f"feed shard {shard}'s quote is {age.total_seconds():.0f} s old"
        return quote, ""

    def _handle(self, shard: int) -> Any:
        with self._lock:
            handle = self._handles.get(shard)
        if handle is not None:
            return handle
        try:
            handle = names.get_actor(names.feed_shard(shard), self.namespace)
        except Exception as exc:  # GCS unreachable: no shard for now, ask again next time
            log.warning("feed shard %d lookup failed: %s", shard, exc)
            return None
        if handle is not None:
            with self._lock:
                self._handles[shard] = handle
        return handle

    def _forget(self, shard: int) -> None:
        """A replaced shard has a new handle: look it up again next time."""
        with self._lock:
            self._handles.pop(shard, None)
