"""Parameter versions: numbering, sources, and what a rollback restores.

Versions of an instance are 1, 2, 3 ... with no gaps; a new version is always the current
one + 1, including a rollback (history is never rewritten: a rollback is a new version
that carries older parameters). Sources are ``manual``, ``optimization:<job id>`` and
``rollback:<from version>``.

Rollback is an undo stack: it restores the set that was in force before the current set
was first introduced. With 1 (manual), 2 and 3 (optimization): a rollback from 3 makes
version 4 with the parameters of 2; a rollback from 4 makes 5 with those of 1; a third
rollback has nothing left to undo. A promotion after a rollback starts a new top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import Conflict, ValidationFailed

MANUAL = "manual"


def optimization_source(job_id: str) -> str:
    return f"optimization:{job_id}"


def rollback_source(from_version: int) -> str:
    return f"rollback:{from_version}"


def check_source(source: str) -> str:
    kind, _, rest = source.partition(":")
    if source == MANUAL or (kind in ("optimization", "rollback") and rest):
        return source
    raise ValidationFailed("source", "unknown", f"bad version source {source!r}")


@dataclass(frozen=True)
class ParamVersion:
    version: int
    params: Mapping[str, Any]
    source: str
    created_at: datetime
    by: str
    restores: int | None = None
    oos_score: float | None = None
    in_sample_score: float | None = None
    proposal_id: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "params": dict(self.params),
            "source": self.source,
            "restores": self.restores,
            "oos_score": self.oos_score,
            "in_sample_score": self.in_sample_score,
            "proposal_id": self.proposal_id,
            "created_at": self.created_at.isoformat(),
            "by": self.by,
        }


def next_version(history: Sequence[ParamVersion]) -> int:
    """The number the next version takes; ``history`` must be gap-free from 1."""
    check_history(history)
    return len(history) + 1


def check_history(history: Sequence[ParamVersion]) -> None:
    for i, v in enumerate(history, start=1):
        if v.version != i:
            raise ValueError(f"version history has a gap or disorder at {i}: {v.version}")


def origin(history: Sequence[ParamVersion], version: int) -> int:
    """The version that first introduced the parameters in force at ``version``."""
    v = history[version - 1]
    while v.restores is not None:
        v = history[v.restores - 1]
    return v.version


def rollback_target(history: Sequence[ParamVersion]) -> ParamVersion:
    """The version whose parameters a rollback from the current (last) version restores."""
    check_history(history)
    if not history:
        raise Conflict("no versions to roll back")
    before = origin(history, len(history)) - 1
    if before < 1:
        raise Conflict(f"version {history[-1].version} has nothing before it to roll back to")
    return history[origin(history, before) - 1]
