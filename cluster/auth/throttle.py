"""Login throttling: N failures per email and per IP in a window -> 429 with Retry-After.

Counters live in Redis (fixed window: ``INCR`` then ``EXPIRE NX``) so every replica sees
the same count. When Redis is down each process falls back to its own in-memory window:
an attacker then gets at most ``max_failures`` tries per process and window instead of
per cluster, which is degraded but still bounded (the fallback is logged via Redis
health, and readiness shows ``degraded``). Keys hold a SHA-256 of the email, never the
address itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
from datetime import datetime
from typing import Any

import redis

from cluster.redis_client import RedisUnavailable, ResilientRedis
from domain.clock import Clock
from domain.errors import RateLimited


def _get_ttl(r: redis.Redis, key: str) -> list[Any]:
    pipe = r.pipeline()
    pipe.get(key)
    pipe.ttl(key)
    return pipe.execute()


def _incr(r: redis.Redis, key: str, window_s: int) -> list[Any]:
    pipe = r.pipeline()
    pipe.incr(key)
    pipe.expire(key, window_s, nx=True)
    return pipe.execute()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(
        self, redis: ResilientRedis, clock: Clock, *, max_failures: int = 5, window_s: int = 900
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.max_failures = max_failures
        self.window_s = window_s
        self._memory: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()

    def _keys(self, email: str, ip: str | None) -> list[str]:
        keys = [self.redis.key("login-fail", "email", _digest(email))]
        if ip:
            keys.append(self.redis.key("login-fail", "ip", _digest(ip)))
        return keys

    def check(self, email: str, ip: str | None) -> None:
        """Raise ``RateLimited`` if the email or the IP has too many recent failures."""
        for key in self._keys(email, ip):
            count, ttl = self._read(key)
            if count >= self.max_failures:
                raise RateLimited("too many failed logins; try again later", float(max(1, ttl)))

    def record_failure(self, email: str, ip: str | None) -> None:
        for key in self._keys(email, ip):
            self._incr(key)

    def reset(self, email: str) -> None:
        """A successful login clears the email's counter (not the IP's: one IP, many emails)."""
        key = self._keys(email, None)[0]
        with self._lock:
            self._memory.pop(key, None)
        try:
            self.redis.call("login-throttle-reset", lambda r: r.delete(key))
        except RedisUnavailable:
            pass

    # --- storage: Redis first, per-process memory when Redis is down ---
    def _read(self, key: str) -> tuple[int, int]:
        try:
            raw, ttl = self.redis.call("login-throttle-read", lambda r: _get_ttl(r, key))
        except RedisUnavailable:
            return self._memory_read(key)
        count = int(raw or 0)
        mem_count, mem_ttl = self._memory_read(key)  # failures counted while Redis was down
        if mem_count > count:
            return mem_count, mem_ttl
        return count, int(ttl) if ttl and ttl > 0 else self.window_s

    def _incr(self, key: str) -> None:
        try:
            self.redis.call("login-throttle-incr", lambda r: _incr(r, key, self.window_s))
        except RedisUnavailable:
            self._memory_incr(key)

    def _memory_read(self, key: str) -> tuple[int, int]:
        now = self.clock.now()
        with self._lock:
            entry = self._memory.get(key)
            if entry is None:
                return 0, 0
            count, started = entry
            left = self.window_s - (now - started).total_seconds()
            if left <= 0:
                del self._memory[key]
                return 0, 0
            return count, math.ceil(left)

    def _memory_incr(self, key: str) -> None:
        now = self.clock.now()
        with self._lock:
            count, started = self._memory.get(key, (0, now))
            if (now - started).total_seconds() >= self.window_s:
                count, started = 0, now
            self._memory[key] = (count + 1, started)
