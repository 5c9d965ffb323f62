"""Create or adopt the platform's named actors (idempotent; safe to call from every builder).

Actors are detached and named with ``get_if_exists=True`` so they survive the driver and a
second builder adopts them instead of starting twins. Each actor module imported in
``ensure_actors`` defines ``ensure(settings) -> list[str]`` returning the names readiness
should check.
"""

from __future__ import annotations

from typing import Any

from cluster.settings import Settings


def platform_actor(name: str, settings: Settings, **extra: Any) -> dict[str, Any]:
    """Ray options shared by every long-lived platform actor: named in the app's namespace,
    detached (survives the driver), adopted if it exists, restarted forever. Its CPU and
    memory requests come from the settings by group (``actor_group``): none locally, so it
    never starves a small machine; real ones on a cluster, so the autoscaler sees demand."""
    group = actor_group(name)
    memory_mb = settings.actor_memory_mb.get(group)
    return {
        "name": name,
        "namespace": settings.ray_namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": -1,
        "num_cpus": settings.actor_cpus.get(group, 0),
        **({"memory": memory_mb * 1024 * 1024} if memory_mb else {}),
        **({"scheduling_strategy": "SPREAD"} if settings.actor_scheduling == "SPREAD" else {}),
        **extra,
    }


def actor_group(name: str) -> str:
    """``elson.feed_shard.3`` -> ``feed_shard``: the key of the per-group resource settings."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "elson" else name


def ensure_actors(settings: Settings) -> list[str]:
    from actors import (
        adaptive_params,
        dispatcher,
        event_relay,
        feed_supervisor,
        paper_broker,
        reconciler,
        risk_engine,
    )

    names: list[str] = []
    for module in (risk_engine, feed_supervisor, paper_broker, reconciler, event_relay, dispatcher):
        names.extend(module.ensure(settings))
    names.extend(adaptive_params.ensure(settings, runners=True))
    return names
