"""Checks of the Ray side: nodes, the named actors, every Serve deployment, the feed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cluster import names
from cluster.check.result import CheckFailed
from cluster.settings import Settings

#: a symbol whose active provider has been silent this long (market open) is stale
STALE_AFTER_S = 30.0


def connect(settings: Settings) -> None:
    """Join the running cluster (never start one: ``elson check`` inspects, it does not run)."""
    import ray

    if ray.is_initialized():
        return
    ray.init(
        address=settings.ray_address or "auto",
        namespace=settings.ray_namespace,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )


def _required_actors(settings: Settings) -> list[str]:
    required = [names.FEED_SUPERVISOR, names.RECONCILER]
    required += [names.feed_shard(i) for i in range(settings.feed_shards)]
    if settings.broker == "paper":
        required.append(names.PAPER_BROKER)
    return required


def ray_actors(settings: Settings, timeout_s: float) -> str:
    import ray

    connect(settings)
    alive = [n for n in ray.nodes() if n.get("Alive")]
    if not alive:
        raise CheckFailed("no alive Ray node")
    optional = [names.EVENT_RELAY, names.RISK_ENGINE, names.dispatcher(settings.broker)]
    missing, refs = [], {}
    for name in _required_actors(settings) + optional:
        handle = names.get_actor(name, settings.ray_namespace)
        if handle is None:
            if name not in optional:
                missing.append(name)
            continue
        refs[name] = handle.ping.remote()  # type: ignore[attr-defined]
    if missing:
        raise CheckFailed(f"actors not running: {', '.join(missing)}")
    _, pending = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    silent = [n for n, r in refs.items() if r in pending]
    if silent:
        raise CheckFailed(f"actors did not answer ping: {', '.join(silent)}")
    failed = []
    for name, ref in refs.items():
        try:
            ray.get(ref, timeout=0)
        except Exception as exc:
            failed.append(f"{name} ({type(exc).__name__})")
    if failed:
        raise CheckFailed(f"actors failed ping: {', '.join(failed)}")
    return f"{len(alive)} nodes alive; {len(refs)} actors answer ping"


def serve_replicas(settings: Settings) -> dict[str, int]:
    """Running replicas of the API and gateway apps (for the pool budget check)."""
    from ray import serve

    connect(settings)
    apps = serve.status().applications
    out: dict[str, int] = {}
    for key, app_name in (("api", names.API_APP), ("gateway", names.GATEWAY_APP)):
        app = apps.get(app_name)
        if app is not None:
            out[key] = sum(
                n
                for d in app.deployments.values()
                for st, n in d.replica_states.items()
                if _v(st) == "RUNNING"
            )
    return out


def serve_deployments(settings: Settings) -> str:
    from ray import serve

    connect(settings)
    apps = serve.status().applications
    problems, count = [], 0
    for app_name in (names.API_APP, names.GATEWAY_APP):
        app = apps.get(app_name)
        if app is None:
            problems.append(f"application {app_name} not deployed")
            continue
        if _v(app.status) != "RUNNING":
            problems.append(f"{app_name} is {_v(app.status)}: {app.message[:120]}")
        for dep_name, dep in app.deployments.items():
            count += 1
            if _v(dep.status) != "HEALTHY":
                problems.append(f"{app_name}/{dep_name} is {_v(dep.status)}: {dep.message[:120]}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{count} deployments healthy in {', '.join(sorted(apps))}"


def providers(settings: Settings, timeout_s: float) -> str:
    """Each configured provider is present in every shard, and while the market is open
    every symbol's active provider has delivered within ``STALE_AFTER_S``."""
    from cluster.marketdata.query import MarketDataQuery

    connect(settings)
    query = MarketDataQuery(settings.ray_namespace, settings.feed_shards, timeout_s=timeout_s)
    status: dict[str, Any] = asyncio.run(query.feed_status())
    chain, problems, fresh = settings.provider_chain, [], 0
    market_open = False
    for shard in status["shards"]:
        if shard.get("state") == "down":
            problems.append(f"shard {shard['shard']} down: {shard.get('error', '')[:100]}")
            continue
        absent = [p for p in chain if p not in shard.get("providers", {})]
        if absent:
            problems.append(f"shard {shard['shard']} lacks providers {absent}")
        market_open = market_open or bool(shard.get("market_open"))
        for symbol, info in shard.get("symbols", {}).items():
            stale = info.get("staleness_s")
            if shard.get("market_open") and (stale is None or stale > STALE_AFTER_S):
                problems.append(f"{symbol} stale on {info.get('active')} ({stale} s)")
            else:
                fresh += 1
    if problems:
        raise CheckFailed("; ".join(problems[:10]))
    when = "market open" if market_open else "market closed, staleness not expected"
    return f"providers {chain} in {len(status['shards'])} shards; {fresh} symbols fresh ({when})"


def _v(x: Any) -> str:
    return str(getattr(x, "value", x))
