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
    detached (survives the driver), adopted if it exists, restarted forever, and asking
    for no CPU so it never starves the scheduler."""
    return {
        "name": name,
        "namespace": settings.ray_namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": -1,
        "num_cpus": 0,
        **extra,
    }


def ensure_actors(settings: Settings) -> list[str]:
    from actors import (
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
    return names
