"""Create or adopt the platform's named actors (idempotent; safe to call from every builder).

Actors are detached and named with ``get_if_exists=True`` so they survive the driver and a
second builder adopts them instead of starting twins. Each actor module listed here defines
``ensure(settings) -> list[str]`` returning the names readiness should check.
"""

from __future__ import annotations

import importlib
from typing import Any

from cluster.settings import Settings

MODULES = ("actors.feed_supervisor", "actors.paper_broker", "actors.reconciler")


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
    names: list[str] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # capability not built yet
            raise
        names.extend(module.ensure(settings))
    return names
