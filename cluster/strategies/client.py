"""``StrategyAdmin``: how a Serve replica, the CLI or a runner reaches the adaptive-parameter
engine.

In Ray, every call goes to the one ``AdaptiveParams`` actor (the single writer, found by
name in the app's namespace). Without Ray (a dev server on uvicorn, in-process tests) the
process hosts the engine itself, built at the first call: one process, one writer (and
PostgreSQL still fences the version history if two processes ever write).

A manual promotion refused by a guardrail is stored first (a refused proposal, audited)
and then raised as ``GuardrailRefused`` naming the guardrails, for the API's problem.
"""

from __future__ import annotations

import threading
from typing import Any

from cluster import names
from cluster.db import Database
from cluster.strategies.host import StrategyHost
from cluster.strategies.wiring import book_for
from domain.errors import TransientError
from domain.strategy.guardrails import GuardrailRefused, Verdict


class StrategyAdmin:
    def __init__(
        self, settings: Any, db: Database, *, in_ray: bool, entitlements: Any = None
    ) -> None:
        self.settings, self.db, self.in_ray = settings, db, in_ray
        self.entitlements = entitlements  # cluster.billing: the plan's max_strategies
        self._local: StrategyHost | None = None
        self._building = threading.Lock()

    def _target(self) -> Any:
        if self.in_ray:
            found = names.get_actor(names.ADAPTIVE_PARAMS, self.settings.ray_namespace)
            if found is None:
                raise TransientError("the adaptive-parameter actor is not running")
            return found
        with self._building:
            if self._local is None:
                self._local = StrategyHost(book_for(self.settings, self.db))
            return self._local

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        target = self._target()
        if not self.in_ray:
            return await getattr(target, method)(*args, **kwargs)
        from ray.exceptions import RayActorError

        try:
            return await getattr(target, method).remote(*args, **kwargs)
        except RayActorError as exc:
            raise TransientError("the adaptive-parameter actor restarted; retry") from exc
        except Exception as exc:  # a RayTaskError carries the engine's own error
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from exc
            raise

    async def start(self, instance_id: str, by: str, owner_user_id: str | None) -> dict[str, Any]:
        """Set the instance running; a start beyond the owner's plan (trading instances,
        ``max_strategies``) raises ``PlanLimit`` and changes nothing. The engine counts
        and admits in the transaction that starts the instance (``Promotions.set_status``);
        the plan's value travels with the call as plain data (``Quota``)."""
        quota = None
        if self.entitlements is not None:
            wire = await self.call("instance", instance_id, owner_user_id)
            owner = str(wire["owner_user_id"])
            quota = self.entitlements.quota(owner, "max_strategies").to_wire()
        result: dict[str, Any] = await self.call(
            "set_status", instance_id, "running", by, owner_user_id, quota
        )
        return result

    async def promote(self, instance_id: str, **kwargs: Any) -> dict[str, Any]:
        decision: dict[str, Any] = await self.call("promote", instance_id, **kwargs)
        if decision["outcome"] == "refused":
            failed = [Verdict.from_wire(v) for v in decision["verdicts"] if not v["passed"]]
            raise GuardrailRefused(failed, decision["proposal_id"])
        return decision
