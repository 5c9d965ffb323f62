"""``elson check``: every dependency and protocol of a running deployment, one JSON line
per check (name, ok, detail, seconds); the exit code is non-zero when any check failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cluster.check import data, http_checks, ray_checks, ws_probe
from cluster.check.probe_token import probe_token
from cluster.check.result import CheckFailed, CheckResult, run_bounded
from cluster.settings import Settings

CHECK_NAMES = (
    "migrations",
    "db_pools",
    "redis",
    "vault",
    "ray",
    "serve",
    "websocket",
    "providers",
    "metrics",
    "tls",
)


RAY_CHECKS = {"db_pools", "ray", "serve", "providers"}


def _join(settings: Settings) -> str:
    ray_checks.connect(settings)
    return "joined"


@dataclass(frozen=True)
class Target:
    url: str  # the API's base URL
    ws_url: str  # the gateway's WebSocket URL
    timeout_s: float = 10.0


def target_for(settings: Settings, url: str | None, ws_url: str | None, timeout_s: float) -> Target:
    base = (url or f"http://127.0.0.1:{settings.http_port}").rstrip("/")
    if ws_url is None:
        parts = urlsplit(base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        ws_url = urlunsplit((scheme, parts.netloc, "/ws", "", ""))
    return Target(base, ws_url, timeout_s)


def run_all(settings: Settings, target: Target, only: set[str] | None = None) -> list[CheckResult]:
    t = target.timeout_s
    replicas: dict[str, int] = {}
    wanted = set(CHECK_NAMES) if only is None else only
    # Join Ray once, bounded, before the checks that need it: a cluster that does not
    # answer fails those checks with its reason instead of each waiting out its bound.
    joined = None
    if wanted & RAY_CHECKS:
        joined = run_bounded("ray", lambda: _join(settings), t + 5.0)

    def on_ray(probe: Callable[[], str]) -> Callable[[], str]:
        def guarded() -> str:
            if joined is not None and not joined.ok:
                raise CheckFailed(f"cannot join Ray: {joined.detail}")
            return probe()

        return guarded

    def pools() -> str:
        if joined is not None and joined.ok:
            replicas.update(ray_checks.serve_replicas(settings))
        return data.pools(settings, replicas)

    def websocket() -> str:
        symbol = settings.symbols[0] if settings.symbols else "SPY"
        with probe_token(settings) as token:
            return asyncio.run(ws_probe.probe(target.ws_url, token, symbol, t))

    token = getattr(settings, "metrics_token", None)
    metrics_token = token.get_secret_value() if token is not None else None
    endpoints = [target.url, target.ws_url] + ([settings.vault_addr] if settings.vault_addr else [])
    probes = {
        "migrations": lambda: data.migrations(settings),
        "db_pools": pools,
        "redis": lambda: data.redis(settings, t),
        "vault": lambda: data.vault(settings, t),
        "ray": on_ray(lambda: ray_checks.ray_actors(settings, t)),
        "serve": on_ray(lambda: ray_checks.serve_deployments(settings)),
        "websocket": websocket,
        "providers": on_ray(lambda: ray_checks.providers(settings, t)),
        "metrics": lambda: http_checks.metrics_scrape(target.url, metrics_token, t),
        "tls": lambda: http_checks.tls_endpoints(settings, endpoints, t),
    }
    results = []
    for name in CHECK_NAMES:
        if only is not None and name not in only:
            continue
        # the bound covers the probe's own timeouts plus connecting (Ray, PostgreSQL)
        results.append(run_bounded(name, probes[name], t + 5.0))
    return results
