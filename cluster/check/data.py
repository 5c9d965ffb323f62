"""Checks of the stores: migrations at head, the connection budget, Redis, Vault."""

from __future__ import annotations

import importlib
import json
import os
import ssl
import urllib.request
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cluster.check.result import CheckFailed
from cluster.db import PoolBudgetError, pool_budget
from cluster.settings import Settings


def _db_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise CheckFailed("ELSON_DATABASE_URL is not set")
    return settings.database_url.get_secret_value()


def migrations(settings: Settings) -> str:
    from cluster import migrate

    url = _db_url(settings)
    current, head = migrate.current(url), migrate.head()
    if current != head:
        raise CheckFailed(f"database at {current or 'base'}, code expects {head}")
    return f"at head {head}"


def pools(settings: Settings, serve_replicas: dict[str, int] | None = None) -> str:
    """max_connections must cover every configured pool (pool x pooled processes), the
    reserve and the superuser slots; running Serve replicas must not exceed the replica
    counts the budget was computed from (else the pools together overrun it)."""
    engine = create_engine(
        _db_url(settings), poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            max_conn = int(conn.execute(text("SHOW max_connections")).scalar_one())
            su = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
            in_use = int(conn.execute(text("SELECT count(*) FROM pg_stat_activity")).scalar_one())
    finally:
        engine.dispose()
    processes = settings.pooled_processes
    try:
        per_process = pool_budget(max_conn, su + settings.db_connection_reserve, processes).total
    except PoolBudgetError as exc:
        raise CheckFailed(str(exc)) from exc
    needed = per_process * processes + settings.db_connection_reserve + su
    if needed > max_conn:  # pragma: no cover - pool_budget guarantees it; kept as the rule
        raise CheckFailed(f"pools need {needed} connections, server allows {max_conn}")
    configured = {"api": settings.api_replicas, "gateway": settings.gateway_replicas}
    over = {
        k: (n, configured[k])
        for k, n in (serve_replicas or {}).items()
        if k in configured and n > configured[k]
    }
    if over:
        said = ", ".join(f"{k} runs {n} replicas, settings count {c}" for k, (n, c) in over.items())
        raise CheckFailed(f"{said}: the pool budget counts too few processes")
    return (
        f"{processes} pooled processes x {per_process} + reserve {settings.db_connection_reserve}"
        f" + superuser {su} = {needed} <= max_connections {max_conn}; {in_use} in use"
    )


def redis(settings: Settings, timeout_s: float) -> str:
    import redis as redis_lib

    if settings.redis_url is None:
        raise CheckFailed("ELSON_REDIS_URL is not set")
    url = settings.redis_url
    client = redis_lib.Redis.from_url(
        url.get_secret_value() if hasattr(url, "get_secret_value") else str(url),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry_on_timeout=False,
    )
    try:
        key = f"{settings.redis_key_prefix}check:probe"
        client.set(key, "1", ex=30)
        if client.get(key) != b"1":
            raise CheckFailed("a written key did not read back")
        client.delete(key)
        info: dict[str, Any] = client.info("server")
    except redis_lib.RedisError as exc:
        raise CheckFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    return f"read/write ok, redis_version {info.get('redis_version')}"


def vault(settings: Settings, timeout_s: float) -> str:
    """Over TLS with a valid token, when configured: through ``cluster.secrets.vault``
    (issue 13: login, CA bundle, token lookup) when present, else ``VAULT_TOKEN`` is looked
    up here over https."""
    if settings.vault_addr is None:
        return "not configured"
    if not settings.vault_addr.startswith("https://"):
        raise CheckFailed(f"{settings.vault_addr} is not https")
    try:
        vault_mod = importlib.import_module("cluster.secrets.vault")
    except ModuleNotFoundError:
        vault_mod = None
    if vault_mod is not None:  # issue 13's client: the same login and TLS settings as the app
        source = vault_mod.open_vault(settings)
        try:
            info = source.probe()
        finally:
            source.close()
        return f"TLS ok, {info.get('auth')} login, token valid (ttl {info.get('token_ttl_s')} s)"
    token = os.environ.get("VAULT_TOKEN")
    if not token:
        raise CheckFailed("VAULT_TOKEN is not set")
    ctx = ssl.create_default_context(cafile=os.environ.get("VAULT_CACERT"))
    req = urllib.request.Request(  # noqa: S310 - https checked above
        f"{settings.vault_addr.rstrip('/')}/v1/auth/token/lookup-self",
        headers={"X-Vault-Token": token},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s, context=ctx) as resp:  # noqa: S310
            data = json.loads(resp.read())["data"]
    except OSError as exc:
        raise CheckFailed(f"vault lookup-self failed: {exc}") from exc
    ttl = int(data.get("ttl") or 0)
    if data.get("ttl") is not None and ttl <= 0 and data.get("expire_time"):
        raise CheckFailed("vault token expired")
    return f"TLS ok, token valid (ttl {ttl} s)"
