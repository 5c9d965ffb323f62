"""The runner's ``VersionSource`` over the adaptive-parameter actor (looked up by name).

The actor answers ``current_version(instance_id) -> (version, params)`` from its memory,
so asking it once per bar costs one actor round trip (about a millisecond here). The handle
is looked up again after a failure: the actor may have restarted under the same name.
"""

from __future__ import annotations

from typing import Any

import ray

from cluster import names
from domain.strategy.runner_ports import Params

__all__ = ["ActorVersions", "HostVersions"]


class ActorVersions:
    def __init__(self, namespace: str, name: str = names.ADAPTIVE_PARAMS) -> None:
        self.namespace = namespace
        self.name = name
        self._handle: Any = None

    async def current(self, instance_id: str) -> tuple[int, Params]:
        if self._handle is None:
            self._handle = ray.get_actor(self.name, namespace=self.namespace)
        try:
            version, params = await self._handle.current_version.remote(instance_id)
        except Exception:
            self._handle = None  # a restarted or replaced actor: look it up next time
            raise
        return int(version), dict(params)


class HostVersions:
    """The same port over an in-process ``StrategyHost`` (no Ray: dev server, tests)."""

    def __init__(self, host: Any) -> None:
        self.host = host

    async def current(self, instance_id: str) -> tuple[int, Params]:
        version, params = await self.host.current_version(instance_id)
        return int(version), dict(params)
