"""Per-token and per-IP request rate limits in front of every route but health and ops.

Each request is booked in its IP's bucket and, when it carries ``Authorization: Bearer``,
in its token's bucket, in one Redis round trip shared by every replica
(``cluster.ratelimit``). A refused request gets a 429 ``rate-limited`` problem with
``Retry-After`` (whole seconds until the next slot).

The token bucket is keyed by a SHA-256 of the bearer token, not by a claim: no second
verification on the hot path (the route's own dependency still verifies the token and its
session), and a forged token naming someone else's ``sub`` cannot spend their bucket. A
client that signs in again gets a fresh token bucket; its IP bucket bounds that.

The IP is the peer address, unless the peer is one of ``rate_limit_trusted_proxies``:
then it is the right-most ``X-Forwarded-For`` hop that is not a trusted proxy. Behind a
load balancer (and Serve's HAProxy, which connects to the replica itself) configure them,
or every client shares the proxy's IP bucket.

The Redis client is async and tied to an event loop, so it is made on the first request
in the loop that serves it. Redis down: requests pass (fail open) and the failure is
counted; see ``cluster.ratelimit``.
"""

from __future__ import annotations

import asyncio
import ipaddress

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from cluster.ratelimit import Bucket, Quota, RateLimiter, digest
from cluster.redis_client import AsyncResilientRedis
from cluster.settings import Settings
from serve import problems
from serve.services import Services

#: Liveness, readiness and scraping must work under any load.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(spec: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(e.strip(), strict=False) for e in spec.split(",") if e.strip()
    )


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_ip(scope: Scope, trusted: tuple[Network, ...] = ()) -> str | None:
    """The peer address; when the peer is a trusted proxy, the right-most address of
    ``X-Forwarded-For`` that is not a trusted proxy (entries left of it could be forged)."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if peer is None or not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = [
        hop.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    for hop in reversed(forwarded):
        if not _trusted(hop, trusted):
            return hop
    return forwarded[0] if forwarded else peer


def buckets_for(
    scope: Scope, token_quota: Quota, ip_quota: Quota, trusted: tuple[Network, ...] = ()
) -> list[Bucket]:
    buckets = []
    token = bearer_token(scope)
    if token is not None:
        buckets.append(Bucket("token", digest(token), token_quota))
    ip = client_ip(scope, trusted)
    if ip is not None:
        buckets.append(Bucket("ip", digest(ip), ip_quota))
    return buckets


class LoopBoundLimiter:
    """One ``RateLimiter`` per event loop, made on first use in that loop."""

    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            raise RuntimeError("rate limits need a resolved Redis URL (bootstrap sets it)")
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: RateLimiter | None = None

    def get(self) -> RateLimiter:
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            # fail open fast: no retries on the request path
            redis = AsyncResilientRedis.from_settings(self.settings, attempts=1)
            self._limiter, self._loop = RateLimiter(redis), loop
        return self._limiter

    def close(self) -> None:
        """Best effort from any thread: close the client on its own loop if it still runs."""
        loop, limiter = self._loop, self._limiter
        self._loop = self._limiter = None
        if loop is not None and limiter is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(limiter.close(), loop)


class RateLimits:
    def __init__(self, app: ASGIApp, *, limiter: LoopBoundLimiter) -> None:
        self.app = app
        self.limiter = limiter
        s = limiter.settings
        self.token_quota = Quota(s.rate_limit_token_per_s, s.rate_limit_token_burst)
        self.ip_quota = Quota(s.rate_limit_ip_per_s, s.rate_limit_ip_burst)
        self.trusted = trusted_networks(s.rate_limit_trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        buckets = buckets_for(scope, self.token_quota, self.ip_quota, self.trusted)
        decision = await self.limiter.get().check(buckets)
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        wait = decision.retry_after_header
        response = problems.problem(
            "rate-limited", f"too many requests from this {decision.scope}; retry in {wait} s"
        )
        response.headers["Retry-After"] = wait
        await response(scope, receive, send)


def install(app: FastAPI, services: Services) -> None:
    """Add the middleware (unless ``rate_limit_enabled`` is off) and its closer."""
    if not services.settings.rate_limit_enabled:
        return
    limiter = LoopBoundLimiter(services.settings)
    services.closers.append(limiter.close)
    app.add_middleware(RateLimits, limiter=limiter)
