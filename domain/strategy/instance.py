"""A strategy instance as the adaptive-parameter actor holds it in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.strategy.config import DriftConfig, GuardrailConfig, InstanceStatus, Sizing


@dataclass(frozen=True)
class Instance:
    id: str
    owner_user_id: str
    strategy: str
    symbols: tuple[str, ...]
    bar_interval: str
    account_id: str
    sizing: Sizing
    objective: str
    auto_promote: bool
    auto_reoptimize: bool
    guardrails: GuardrailConfig
    drift: DriftConfig
    #: what a re-optimization job runs on: ``data`` (an optimization data source),
    #: ``walk_forward`` and optionally ``params`` (a narrowed grid); None: no re-optimization
    reoptimize: Mapping[str, Any] | None
    status: InstanceStatus
    current_version: int
    reoptimize_job_id: str | None
    last_promoted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def with_(self, **changes: Any) -> Instance:
        return replace(self, **changes)

    def config_wire(self) -> dict[str, Any]:
        """What a runner needs: what to trade, where, how much, and whether to trade."""
        return {
            "id": self.id,
            "owner_user_id": self.owner_user_id,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "bar_interval": self.bar_interval,
            "account_id": self.account_id,
            "sizing": self.sizing.to_wire(),
            "status": self.status.value,
            "trading": self.status.trading,
            "current_version": self.current_version,
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            **self.config_wire(),
            "objective": self.objective,
            "auto_promote": self.auto_promote,
            "auto_reoptimize": self.auto_reoptimize,
            "guardrails": self.guardrails.to_wire(),
            "drift": self.drift.to_wire(),
            "reoptimize": None if self.reoptimize is None else dict(self.reoptimize),
            "reoptimize_job_id": self.reoptimize_job_id,
            "last_promoted_at": _iso(self.last_promoted_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()
