"""``wire(services)``: build the auth and accounts services from frozen settings.

Called by ``serve.services.build_services`` in every API process. Nothing connects here
beyond what ``services`` already holds, except the auth cache's subscriber thread (its own
Redis connection, stopped by ``services.close`` through ``services.closers``); the dev/test
JWT secret file is read or created once (see ``tokens.resolve_secret``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cluster import access
from cluster.accounts.service import AccountsService
from cluster.auth.cache import AuthCache
from cluster.auth.invalidation import Invalidations
from cluster.auth.passwords import Passwords
from cluster.auth.service import AuthService
from cluster.auth.throttle import LoginThrottle
from cluster.auth.tokens import TokenCodec, resolve_secret
from cluster.clock import SystemClock
from cluster.pii.wiring import build_pii


def build_auth(services: Any) -> AuthService:
    """Auth runs on real time whatever ``services.clock`` is: token lifetimes, throttle
    windows and session ages are security properties, not part of a (possibly shifted)
    market simulation, and every process must agree on them."""
    settings = services.settings
    clock = SystemClock()
    secret = resolve_secret(
        settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        settings.data_dir,
        protected=settings.env.is_protected,
    )
    codec = TokenCodec(secret, ttl=timedelta(seconds=settings.access_token_ttl_s))
    # PII fields and the email are encrypted at rest (cluster/pii, cluster/accounts/cipher)
    pii = getattr(services, "pii", None) or build_pii(
        settings, services.db.session, getattr(services, "secrets", None)
    )
    accounts = AccountsService(services.db, clock, pii.cipher)
    throttle = LoginThrottle(
        services.redis,
        clock,
        max_failures=settings.login_max_failures,
        window_s=settings.login_failure_window_s,
    )
    cache, invalidations = _start_cache(services)
    return AuthService(
        db=services.db,
        redis=services.redis,
        clock=clock,
        codec=codec,
        accounts=accounts,
        throttle=throttle,
        index=pii.index,
        passwords=Passwords(),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_s),
        reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_s),
        cache=cache,
        invalidations=invalidations,
    )


def _start_cache(services: Any) -> tuple[AuthCache | None, Invalidations]:
    """The process's auth cache and its publisher/subscriber, running; no cache (every
    check reads PostgreSQL, writes still publish) when ``auth_cache_ttl_s`` is 0.

    The same cache serves account owners to ``cluster.access`` for ``services.db``."""
    settings = services.settings
    if settings.auth_cache_ttl_s <= 0:
        return None, Invalidations(services.redis, None)
    cache = AuthCache(ttl_s=settings.auth_cache_ttl_s, liveness_s=settings.auth_cache_liveness_s)
    invalidations = Invalidations(services.redis, cache)
    invalidations.start()
    closers = getattr(services, "closers", None)
    if closers is not None:
        closers.append(invalidations.close)
    access.use_cache(services.db, cache)
    return cache, invalidations


def wire(services: Any) -> None:
    services.auth = build_auth(services)
