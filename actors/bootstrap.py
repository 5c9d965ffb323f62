"""Create or adopt the platform's named actors (idempotent; safe to call from every builder).

Actors are detached and named with ``get_if_exists=True`` so they survive the driver and a
second builder adopts them instead of starting twins. Capabilities append a function
``(settings) -> list[str]`` to ``ACTOR_GROUPS``; readiness checks each returned name.
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.settings import Settings

ACTOR_GROUPS: list[Callable[[Settings], list[str]]] = []


def ensure_actors(settings: Settings) -> list[str]:
    names: list[str] = []
    for group in ACTOR_GROUPS:
        names.extend(group(settings))
    return names
