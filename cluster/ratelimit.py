"""Request rate limits shared by every replica: GCRA in one Lua script on Redis.

Why our own script rather than the ``limits`` package: one round trip checks all of a
request's buckets (its token's and its IP's) and books the request only if every bucket
admits it, so a refused request never spends another bucket; it returns the exact wait
for ``Retry-After``; it runs on Redis's clock (``TIME``), so replicas with skewed clocks
agree; and it goes through ``AsyncResilientRedis``, so an outage is counted in
``elson_redis_failures_total`` like every other Redis call.

GCRA (generic cell rate algorithm) keeps one number per key, the theoretical arrival time
(TAT), as a small string that expires once the bucket is full again. A ``Quota(per_s,
burst)`` admits ``burst`` requests at once, then one every ``1/per_s`` seconds; a refused
request is told exactly when the next slot opens.

Fail open: rate limiting protects the API, it must not take it down. When Redis fails the
request is admitted, the failure is counted (``elson_redis_failures_total{op=rate-limit}``
and ``elson_rate_limit_total{outcome=fail_open}``), and Redis is not asked again for
``cooloff_s``, so an outage (or a Redis that hangs until the socket timeout) costs at most
one slow request per cool-off per process.

Keys: ``<prefix>ratelimit:<scope>:<digest>``. The keys of one call may lie in different
slots: this needs a single Redis (or one primary), not Redis Cluster.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cluster import metrics
from cluster.redis_client import AsyncResilientRedis, RedisUnavailable

#: KEYS: one per bucket. ARGV[1]: now in ms ('' = Redis TIME); then, per bucket, its
#: emission interval and its tolerance (interval * burst), in ms.
GCRA_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(ARGV[1])
end
local booked = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local wait = new_tat - tolerance - now
  if wait > 0 then
    return {0, math.ceil(wait), i}
  end
  booked[i] = new_tat
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.3f', booked[i]), 'PX', math.ceil(booked[i] - now))
end
return {1, 0, 0}
"""


@dataclass(frozen=True, slots=True)
class Quota:
    """``burst`` requests at once, then ``per_s`` a second."""

    per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_s > 0 and math.isfinite(self.per_s)):
            raise ValueError(f"quota rate must be a positive number, got {self.per_s!r}")
        if self.burst < 1:
            raise ValueError(f"quota burst must be at least 1, got {self.burst!r}")

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.per_s

    @property
    def tolerance_ms(self) -> float:
        return self.interval_ms * self.burst


@dataclass(frozen=True, slots=True)
class Bucket:
    scope: str  # "token", "ip": names the key and the metric
    identity: str  # already a digest: keys never hold a token or an address
    quota: Quota


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    scope: str | None = None  # the bucket that refused

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up, at least 1 (RFC 9110 delay-seconds)."""
        return str(max(1, math.ceil(self.retry_after_s)))


ALLOWED = Decision(allowed=True)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _decisions() -> metrics._Metric:
    return metrics.counter(
        "elson_rate_limit_total", "Requests refused or let through unchecked", ("scope", "outcome")
    )


class RateLimiter:
    """Checks buckets against Redis; bound to the event loop its client was made in."""

    def __init__(
        self,
        redis: AsyncResilientRedis,
        *,
        cooloff_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.cooloff_s = cooloff_s
        self._monotonic = monotonic
        self._skip_until = 0.0
        self._script = redis.client.register_script(GCRA_LUA)

    async def check(self, buckets: Sequence[Bucket], *, now_ms: float | None = None) -> Decision:
        """Book one request in every bucket, or in none and say which refused and for how
        long. ``now_ms`` replaces Redis's clock (tests drive time with it)."""
        if not buckets:
            return ALLOWED
        if self._monotonic() < self._skip_until:
            _decisions().inc(1, {"scope": "any", "outcome": "fail_open"})
            return ALLOWED
        keys = [self.redis.key("ratelimit", b.scope, b.identity) for b in buckets]
        args: list[str] = ["" if now_ms is None else f"{now_ms:.3f}"]
        for b in buckets:
            args += [f"{b.quota.interval_ms:.6f}", f"{b.quota.tolerance_ms:.6f}"]
        try:
            reply = await self.redis.call(
                "rate-limit", lambda r: self._script(keys=keys, args=args, client=r)
            )
        except RedisUnavailable:
            self._skip_until = self._monotonic() + self.cooloff_s
            _decisions().inc(1, {"scope": "any", "outcome": "fail_open"})
            return ALLOWED
        allowed, wait_ms, index = (int(x) for x in reply)
        if allowed:
            return ALLOWED
        scope = buckets[index - 1].scope
        _decisions().inc(1, {"scope": scope, "outcome": "limited"})
        return Decision(allowed=False, retry_after_s=wait_ms / 1000.0, scope=scope)

    async def close(self) -> None:
        await self.redis.close()
