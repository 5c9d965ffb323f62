"""Readiness: which dependencies are up, degraded or down.

PostgreSQL, Ray and the actor groups are required (down -> 503); Redis is a cache and an
event buffer, so it being down makes the platform ``degraded`` but still ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class Check:
    name: str
    probe: Callable[[], Any]
    required: bool = True


@dataclass
class Report:
    status: State
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        return 503 if self.status is State.DOWN else 200

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.status is State.UP else self.status.value,
            "checks": self.checks,
        }


def run_checks(checks: list[Check]) -> Report:
    out: dict[str, dict[str, Any]] = {}
    status = State.UP
    for check in checks:
        started = time.perf_counter()
        try:
            detail = check.probe()
            state = State.UP
            info: dict[str, Any] = {"state": state.value}
            if isinstance(detail, dict):
                info |= detail
                if detail.get("state") == State.DEGRADED.value:
                    state = State.DEGRADED
        except Exception as exc:
            state = State.DOWN if check.required else State.DEGRADED
            info = {"state": state.value, "error": f"{type(exc).__name__}: {exc}"[:300]}
        info["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        out[check.name] = info
        if state is State.DOWN:
            status = State.DOWN
        elif state is State.DEGRADED and status is State.UP:
            status = State.DEGRADED
    return Report(status, out)
