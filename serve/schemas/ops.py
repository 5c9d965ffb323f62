"""Schemas of the operations routes: liveness, readiness, the problem registry, version."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from cluster.readiness import Report
from cluster.settings import Environment
from serve.schemas.base import PublicModel

#: What a readiness probe may add to its check: scalars only (counts, ids, states).
Diagnostic = int | float | str | bool | None


class Liveness(PublicModel):
    status: Literal["alive"]


class ReadinessCheck(PublicModel):
    """One dependency. Besides the fields below, a probe adds scalar diagnostics of its own
    (``failures_total``, ``nodes``, ``shard``...): typed extras, never nested objects."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Diagnostic] = Field(init=False)  # type: ignore[assignment]

    state: Literal["up", "degraded", "down"]
    latency_ms: float
    error: str | None = None


class Readiness(PublicModel):
    status: Literal["ready", "degraded", "down"]
    checks: dict[str, ReadinessCheck]

    @classmethod
    def of(cls, report: Report) -> Readiness:
        return cls.model_validate(report.as_json())


class ProblemType(PublicModel):
    type: str = Field(
        examples=["/problems/validation"], json_schema_extra={"format": "uri-reference"}
    )
    status: int = Field(examples=[422])
    title: str
    meaning: str

    @classmethod
    def all(cls, registry: list[dict[str, Any]]) -> list[ProblemType]:
        return [cls.model_validate(p) for p in registry]


class VersionInfo(PublicModel):
    version: str = Field(examples=["0.1.0"])
    env: Environment
