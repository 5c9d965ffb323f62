"""The adaptive-parameter engine's calls, without Ray: what the ``AdaptiveParams`` actor
exposes, and what a process without Ray (a dev server, in-process tests) runs directly.

Every call runs the engine in a worker thread: changes serialize per instance under the
engine's locks, so a slow promotion of one instance never blocks reads or other
instances. Arguments and answers are plain (str, dict, list): they cross Ray.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from cluster.strategies.engine import StrategyBook
from domain.billing.plans import Quota
from domain.strategy.config import InstanceStatus


def _money(value: str | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class StrategyHost:
    def __init__(self, book: StrategyBook) -> None:
        self.book = book

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _owned(self, instance_id: str, owner_user_id: str | None) -> None:
        self.book.get(instance_id, owner_user_id=owner_user_id)

    # -- reads (from memory) -------------------------------------------------------------
    async def current_version(self, instance_id: str) -> tuple[int, dict[str, Any]]:
        """The version a runner trades: ``(number, parameters)``."""
        v = self.book.current(instance_id)
        return v.version, dict(v.params)

    async def instance(self, instance_id: str, owner_user_id: str | None = None) -> dict[str, Any]:
        """An instance's settings (``Instance.config_wire`` and more) and current params."""
        inst = self.book.get(instance_id, owner_user_id=owner_user_id)
        return {**inst.to_wire(), "params": dict(self.book.current(inst.id).params)}

    async def instances(self, owner_user_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {**i.to_wire(), "params": dict(self.book.current(i.id).params)}
            for i in self.book.all(owner_user_id)
        ]

    async def details(self, instance_id: str, owner_user_id: str | None = None) -> dict[str, Any]:
        self._owned(instance_id, owner_user_id)
        return await self._run(self.book.details, instance_id)  # type: ignore[no-any-return]

    async def audit(self, instance_id: str, owner_user_id: str | None = None) -> list[Any]:
        self._owned(instance_id, owner_user_id)
        return await self._run(self.book.audit, instance_id)  # type: ignore[no-any-return]

    # -- changes (committed before they return) ------------------------------------------
    async def create(self, spec: dict[str, Any], owner_user_id: str, by: str) -> dict[str, Any]:
        inst = await self._run(self.book.create, owner_user_id=owner_user_id, by=by, **spec)
        return await self.instance(inst.id)

    async def promote(
        self,
        instance_id: str,
        by: str,
        job_id: str | None = None,
        params: dict[str, Any] | None = None,
        proposal_id: int | None = None,
        owner_user_id: str | None = None,
    ) -> dict[str, Any]:
        self._owned(instance_id, owner_user_id)
        return await self._run(  # type: ignore[no-any-return]
            self.book.promote,
            instance_id,
            by=by,
            job_id=job_id,
            params=params,
            proposal_id=proposal_id,
        )

    async def propose_job(self, instance_id: str, job_id: str, by: str) -> dict[str, Any]:
        return await self._run(self.book.propose_job, instance_id, job_id, by=by)  # type: ignore[no-any-return]

    async def rollback(
        self, instance_id: str, by: str, reason: str = "", owner_user_id: str | None = None
    ) -> dict[str, Any]:
        self._owned(instance_id, owner_user_id)
        v = await self._run(self.book.rollback, instance_id, by=by, reason=reason)
        return v.to_wire()  # type: ignore[no-any-return]

    async def set_status(
        self,
        instance_id: str,
        status: str,
        by: str,
        owner_user_id: str | None = None,
        quota: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``quota``: the owner's ``max_strategies`` (``Quota.to_wire``), checked by the
        engine in the transaction that starts the instance."""
        self._owned(instance_id, owner_user_id)
        inst = await self._run(
            self.book.set_status,
            instance_id,
            InstanceStatus(status),
            by=by,
            quota=None if quota is None else Quota.from_wire(quota),
        )
        return await self.instance(inst.id)

    async def record_sample(
        self,
        instance_id: str,
        kind: str,
        score: float | None = None,
        realized_pnl: str | None = None,
        unrealized_pnl: str | None = None,
        trades: int | None = None,
        drawdown_pct: float | None = None,
        by: str = "sampler",
    ) -> dict[str, Any]:
        return await self._run(  # type: ignore[no-any-return]
            self.book.record_sample,
            instance_id,
            kind,
            by=by,
            score=score,
            realized_pnl=_money(realized_pnl),
            unrealized_pnl=_money(unrealized_pnl),
            trades=trades,
            drawdown_pct=drawdown_pct,
        )

    async def check_drift(self, instance_id: str, by: str = "drift") -> dict[str, Any]:
        result = await self._run(self.book.check_drift, instance_id, by=by)
        return result.to_wire()  # type: ignore[no-any-return]

    async def collect_jobs(self) -> list[dict[str, Any]]:
        return await self._run(self.book.collect_jobs)  # type: ignore[no-any-return]
