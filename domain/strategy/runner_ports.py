"""What the runner needs from outside, as ports (``domain`` imports no I/O).

``VersionSource`` is the adaptive-parameter state (issue 12's parameter half): the current
version of an instance's parameters, asked once per bar so a promotion takes effect at the
next bar. ``InMemoryVersions`` is the test double and the fallback for a runner started
without the adaptive actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Params = dict[str, float | int]

__all__ = ["InMemoryVersions", "Params", "VersionSource"]


class VersionSource(Protocol):
    async def current(self, instance_id: str) -> tuple[int, Params]:
        """(version number, parameters) in force now."""
        ...


class InMemoryVersions:
    """Versions kept in a dict: ``promote`` appends the next version."""

    def __init__(self, initial: Mapping[str, Mapping[str, float | int]] | None = None) -> None:
        self._versions: dict[str, list[Params]] = {k: [dict(v)] for k, v in (initial or {}).items()}

    def promote(self, instance_id: str, params: Mapping[str, float | int]) -> int:
        history = self._versions.setdefault(instance_id, [])
        history.append(dict(params))
        return len(history)

    async def current(self, instance_id: str) -> tuple[int, Params]:
        history = self._versions[instance_id]
        return len(history), dict(history[-1])
