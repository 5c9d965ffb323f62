"""Invalidations of the auth cache over Redis pub/sub: publish after commit, subscribe in a
thread.

``Invalidations.publish`` is called by every write path once its transaction committed. It
first drops the entries in this process's own cache (no waiting for the echo), then
publishes on ``<prefix>auth:invalidate``. A publish that fails is kept (bounded; on
overflow one "clear everything" replaces the queue) and sent again by the subscriber
thread as soon as Redis answers; messages are idempotent. When Redis itself was down every
other process was already untrusting its cache (PostgreSQL decided). The one case the 1 s
bound does not cover is a partition that cuts only the *writer* off from Redis while other
processes still hear it: their entries for that session live until the queued message gets
through or ``ttl_s`` ends; each such failure is logged and counted
(``elson_redis_failures_total{op="auth-invalidate"}``).

The subscriber is a daemon thread with its own connection and no hidden retries (a
redis-py reconnect would re-subscribe silently and hide lost messages); it pings every
``liveness_s / 3`` with the send time, so ``AuthCache`` knows how current it is (see
there), and reconnects when the link stays silent for ``2 * liveness_s``.
Requests never wait on it: they read the cache or PostgreSQL. ``close`` (which
``Services.close`` calls) ends it within about one poll interval.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from cluster.auth.cache import ACCOUNT, EVERYTHING, SESSION, USER, AuthCache
from cluster.redis_client import RedisUnavailable, ResilientRedis

log = logging.getLogger(__name__)
_PENDING_MAX = 10_000
_RECONNECT_S = (0.05, 0.1, 0.2, 0.5)


def channel_for(prefix: str) -> str:
    return f"{prefix}auth:invalidate"


class Invalidations:
    """The publisher, and (when started) the subscriber that keeps ``cache`` current."""

    def __init__(self, redis_client: ResilientRedis, cache: AuthCache | None) -> None:
        self.redis, self.cache = redis_client, cache
        self.channel = channel_for(redis_client.prefix)
        self._pending: deque[str] = deque()
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0

    # --- publishing (after commit) ---
    def session(self, session_id: str) -> None:
        self.publish(f"{SESSION}:{session_id}")

    def user(self, user_id: str) -> None:
        self.publish(f"{USER}:{user_id}")

    def account(self, account_id: str) -> None:
        self.publish(f"{ACCOUNT}:{account_id}")

    def publish(self, message: str) -> None:
        if self.cache is not None:
            self.cache.apply(message)
        try:
            self.redis.call("auth-invalidate", lambda r: r.publish(self.channel, message))
        except RedisUnavailable:
            log.warning("auth invalidation %s not published (redis down); queued", message)
            with self._pending_lock:
                if len(self._pending) >= _PENDING_MAX:
                    self._pending.clear()
                    message = EVERYTHING
                self._pending.append(message)

    @property
    def pending(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    # --- subscribing ---
    def start(self) -> None:
        if self.cache is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="auth-cache-sub", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        assert self.cache is not None
        while not self._stop.is_set():
            client = redis.Redis.from_url(
                self.redis.url,
                socket_timeout=self.cache.liveness_s,
                socket_connect_timeout=self.cache.liveness_s,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
            try:
                self._listen(client, self.cache)
            except (RedisError, OSError) as exc:
                if self._failures == 0:
                    log.warning("auth cache subscriber lost redis (%s); using PostgreSQL", exc)
                self._failures += 1
            except Exception:  # a bug: stay up, untrusted meanwhile (requests use PostgreSQL)
                log.exception("auth cache subscriber failed; retrying")
                self._failures += 1
            finally:
                self.cache.lost()
                client.close()
            if self._failures:
                self._stop.wait(_RECONNECT_S[min(self._failures, len(_RECONNECT_S)) - 1])

    def _listen(self, client: redis.Redis, cache: AuthCache) -> None:
        """Until stopped or broken: apply messages, ping with the send time, and give up
        on a link that stays silent for ``2 * liveness_s`` (held or dead: reconnect)."""
        ping_every, silent_limit = cache.liveness_s / 3, 2 * cache.liveness_s
        pubsub = client.pubsub()
        try:
            since = pinged = replied = cache.monotonic()
            pubsub.subscribe(self.channel)
            while not self._stop.is_set():
                now = cache.monotonic()
                if now - replied > silent_limit:
                    raise RedisTimeoutError(f"no reply from redis for {now - replied:.2f} s")
                if now - pinged >= ping_every:
                    pubsub.ping(repr(now))
                    pinged = now
                if self.pending and cache.trusted:
                    self._flush_pending(client)
                msg = pubsub.get_message(timeout=min(ping_every, 0.1))
                if msg is None:
                    continue
                replied = cache.monotonic()
                if msg["type"] == "message":
                    cache.apply(msg["data"].decode(errors="replace"))
                elif msg["type"] == "pong":
                    cache.current_as_of(_sent_at(msg["data"]))
                elif msg["type"] == "subscribe":
                    cache.subscribed(since)
                    log.log(
                        logging.WARNING if self._failures else logging.INFO,
                        "auth cache subscribed to %s (cache cleared)",
                        self.channel,
                    )
                    self._failures = 0
        finally:
            pubsub.close()

    def _flush_pending(self, client: redis.Redis) -> None:
        while True:
            with self._pending_lock:
                if not self._pending:
                    return
                message = self._pending[0]
            client.publish(self.channel, message)  # a failure ends this subscription
            with self._pending_lock:
                if self._pending and self._pending[0] == message:
                    self._pending.popleft()


def _sent_at(payload: bytes) -> float:
    try:
        return float(payload)
    except ValueError:
        return float("-inf")  # not our ping: proves nothing
