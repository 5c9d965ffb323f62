"""Changes of an instance's parameters: creation, status, guarded promotion, rollback.

Every change here runs under the instance's lock, in one transaction that row-locks the
instance and writes the change, its audit row and its event (``BookState``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cluster.billing import admission
from cluster.strategies import store
from cluster.strategies.jobs import reoptimize_request
from cluster.strategies.state import BookState, maximize_of
from domain.backtest import OBJECTIVES, get_strategy
from domain.billing.plans import Quota
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.strategy.config import (
    DriftConfig,
    GuardrailConfig,
    InstanceStatus,
    Sizing,
    check_interval,
    check_symbols,
)
from domain.strategy.guardrails import Baseline, Candidate, Verdict, evaluate, failed
from domain.strategy.instance import Instance
from domain.strategy.versions import (
    MANUAL,
    ParamVersion,
    optimization_source,
    rollback_source,
    rollback_target,
)

log = logging.getLogger(__name__)


class Promotions(BookState):
    # -- creation and status -------------------------------------------------------------
    def create(
        self,
        *,
        owner_user_id: str,
        strategy: str,
        symbols: list[str],
        bar_interval: str,
        account_id: str,
        params: Mapping[str, Any],
        by: str,
        sizing: Mapping[str, Any] | None = None,
        objective: str = "sharpe_ratio",
        auto_promote: bool = False,
        auto_reoptimize: bool = False,
        guardrails: Mapping[str, Any] | None = None,
        drift: Mapping[str, Any] | None = None,
        reoptimize: Mapping[str, Any] | None = None,
    ) -> Instance:
        spec = get_strategy(strategy)
        checked = spec.validate(params)
        if objective not in OBJECTIVES:
            raise ValidationFailed("objective", "unknown")
        now = self.clock.now()
        inst = Instance(
            id=str(uuid.uuid4()),
            owner_user_id=str(owner_user_id),
            strategy=strategy,
            symbols=check_symbols(symbols),
            bar_interval=check_interval(bar_interval),
            account_id=str(account_id),
            sizing=Sizing.from_wire(sizing),
            objective=objective,
            auto_promote=auto_promote,
            auto_reoptimize=auto_reoptimize,
            guardrails=GuardrailConfig.from_wire(guardrails),
            drift=DriftConfig.from_wire(drift),
            reoptimize=None if reoptimize is None else dict(reoptimize),
            status=InstanceStatus.STOPPED,
            current_version=1,
            reoptimize_job_id=None,
            last_promoted_at=None,
            created_at=now,
            updated_at=now,
        )
        if inst.reoptimize is not None:
            reoptimize_request(inst)  # refused now, not when drift strikes
        first = ParamVersion(1, checked, MANUAL, now, by)
        with self.db.session() as s:
            if store.account_owner(s, inst.account_id) != inst.owner_user_id:
                raise NotFound(f"account {account_id} not found")
            store.insert_instance(s, inst)
            store.insert_version(s, inst.id, first)
            self._audit(s, inst, "created", by, now, to_version=1, detail={"params": checked})
        with self._guard:
            self.instances[inst.id] = inst
            self.versions[inst.id] = [first]
            self.live[inst.id] = []
        return inst

    def set_status(
        self, instance_id: str, status: InstanceStatus, *, by: str, quota: Quota | None = None
    ) -> Instance:
        """``running`` (start) or ``stopped`` (stop); a flagged instance starts as flagged.

        A start with a ``quota`` (the owner's ``max_strategies``) counts the owner's other
        trading instances in the transaction that sets this one running, under the owner's
        lock (``cluster.billing.admission``): the instance locks here are per instance, so
        two starts of one owner's instances (or two engines during a restart) would
        otherwise both see room for one more. A refusal rolls back, is audited, and raises
        ``PlanLimit``."""
        with self._lock(instance_id):
            inst = self.get(instance_id)
            if status is InstanceStatus.FLAGGED:
                raise ValidationFailed("status", "not-settable", "flagged is set by drift")
            if status is InstanceStatus.RUNNING and inst.status is InstanceStatus.FLAGGED:
                return inst
            if status is inst.status:
                return inst
            now = self.clock.now()
            changes: dict[str, Any] = {"status": status.value, "updated_at": now}
            with admission.audited(self.db, actor=by, subject=inst.owner_user_id):
                with self.db.session() as s:
                    if quota is not None and status.trading:
                        admission.lock_owner(s, admission.STRATEGIES, inst.owner_user_id)
                        others = store.count_trading(s, inst.owner_user_id, but=inst.id)
                        admission.admit(quota, others + 1)
                    self._sync(s, inst.id)
                    store.update_instance(s, inst.id, **changes)
                    detail = {"from": inst.status, "to": status}
                    self._audit(s, inst, "status", by, now, detail=detail)
            self._committed(inst, None, changes)
            return self.instances[inst.id]

    # -- promotion -----------------------------------------------------------------------
    def promote(
        self,
        instance_id: str,
        *,
        by: str,
        job_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        proposal_id: int | None = None,
    ) -> dict[str, Any]:
        """A manual promotion: of a job's result, of explicit parameters, or of a waiting
        proposal; the same guardrails as an automatic one. Returns the decision (a
        refusal is a stored, refused proposal, not an exception)."""
        if sum(x is not None for x in (job_id, params, proposal_id)) != 1:
            raise ValidationFailed("promote", "one-of", "give one of job_id, params, proposal_id")
        inst = self.get(instance_id)
        if job_id is not None:
            cand = self._job_port().candidate(inst, job_id)
            return self._decide(inst.id, cand, optimization_source(job_id), job_id, by, True)
        if params is not None:
            return self._decide(inst.id, Candidate(dict(params), None), MANUAL, None, by, True)
        with self.db.session() as s:
            row = store.proposal(s, int(proposal_id or 0))
        if row is None or row["instance_id"] != inst.id:
            raise NotFound(f"proposal {proposal_id} not found")
        if row["outcome"] is not None:
            raise Conflict(f"proposal {proposal_id} was already {row['outcome']}")
        cand = Candidate(row["params"], row["oos_score"], row["in_sample_score"], row["trades"])
        return self._decide(
            inst.id, cand, row["source"], row["job_id"], by, True, proposal_id=row["id"]
        )

    def propose_job(self, instance_id: str, job_id: str, *, by: str) -> dict[str, Any]:
        """A finished job's result as a proposal; promoted at once when the instance has
        ``auto_promote`` and every guardrail passes, else it waits (or is refused)."""
        inst = self.get(instance_id)
        cand = self._job_port().candidate(inst, job_id)
        return self._decide(
            inst.id, cand, optimization_source(job_id), job_id, by, inst.auto_promote
        )

    def _decide(
        self,
        instance_id: str,
        cand: Candidate,
        source: str,
        job_id: str | None,
        by: str,
        promote: bool,
        *,
        proposal_id: int | None = None,
        clear_job: bool = False,
    ) -> dict[str, Any]:
        with self._lock(instance_id):
            now = self.clock.now()
            with self.db.session() as s:
                inst = self._sync(s, instance_id)
                spec = get_strategy(inst.strategy)
                cur = self.versions[inst.id][-1]
                base = Baseline(cur.params, cur.oos_score, inst.last_promoted_at)
                verdicts = evaluate(
                    spec, cand, base, inst.guardrails, now, maximize=maximize_of(inst)
                )
                refused = failed(verdicts)
                outcome = "refused" if refused else ("promoted" if promote else None)
                new: ParamVersion | None = None
                params = dict(cand.params) if refused else spec.validate(cand.params)
                number = cur.version + 1 if outcome == "promoted" else None
                if proposal_id is None:
                    proposal_id = store.insert_proposal(
                        s,
                        inst.id,
                        params=params,
                        source=source,
                        job_id=job_id,
                        in_sample_score=cand.in_sample_score,
                        oos_score=cand.oos_score,
                        trades=cand.trades,
                        verdicts=verdicts,
                        outcome=outcome,
                        version=number,
                        at=now,
                        by=by,
                    )
                elif outcome is not None:
                    store.decide_proposal(
                        s,
                        proposal_id,
                        verdicts=verdicts,
                        outcome=outcome,
                        version=number,
                        at=now,
                        by=by,
                    )
                changes: dict[str, Any] = {"updated_at": now}
                if clear_job:
                    changes["reoptimize_job_id"] = None
                if outcome == "promoted":
                    new = ParamVersion(
                        cur.version + 1,
                        params,
                        source,
                        now,
                        by,
                        oos_score=cand.oos_score,
                        in_sample_score=cand.in_sample_score,
                        proposal_id=proposal_id,
                    )
                    store.insert_version(s, inst.id, new)
                    changes.update(current_version=new.version, last_promoted_at=now)
                    if inst.status is InstanceStatus.FLAGGED:
                        changes["status"] = InstanceStatus.RUNNING.value
                    self._samples_of(s, inst, new, cand, job_id, now)
                store.update_instance(s, inst.id, **changes)
                action = {"promoted": "promoted", "refused": "refused", None: "proposed"}[outcome]
                decision = {
                    "instance_id": inst.id,
                    "proposal_id": proposal_id,
                    "outcome": outcome,
                    "source": source,
                    "job_id": job_id,
                    "params": params,
                    "version": number,
                    "verdicts": [v.to_wire() for v in verdicts],
                    "failed": [v.guardrail.value for v in refused],
                }
                self._audit(
                    s,
                    inst,
                    action,
                    by,
                    now,
                    detail=decision,
                    from_version=cur.version,
                    to_version=number,
                )
            self._committed(inst, new, changes)
            return decision

    def _samples_of(
        self,
        s: Session,
        inst: Instance,
        v: ParamVersion,
        cand: Candidate,
        job_id: str | None,
        now: datetime,
    ) -> None:
        """The job's evidence joins the new version's performance history."""
        if cand.in_sample_score is not None:
            store.insert_sample(
                s,
                inst.id,
                version=v.version,
                kind="backtest",
                at=now,
                score=cand.in_sample_score,
                job_id=job_id,
            )
        if cand.oos_score is not None:
            store.insert_sample(
                s,
                inst.id,
                version=v.version,
                kind="walkforward_oos",
                at=now,
                score=cand.oos_score,
                trades=cand.trades,
                job_id=job_id,
            )

    def rollback(self, instance_id: str, *, by: str, reason: str = "") -> ParamVersion:
        """A new version with the parameters in force before the current ones
        (``domain.strategy.versions``); no guardrails: they ran before."""
        with self._lock(instance_id):
            now = self.clock.now()
            with self.db.session() as s:
                inst = self._sync(s, instance_id)
                history = self.versions[inst.id]
                target = rollback_target(history)
                cur = history[-1]
                new = ParamVersion(
                    cur.version + 1,
                    dict(target.params),
                    rollback_source(cur.version),
                    now,
                    by,
                    restores=target.version,
                    oos_score=target.oos_score,
                    in_sample_score=target.in_sample_score,
                )
                store.insert_version(s, inst.id, new)
                changes = {"current_version": new.version, "updated_at": now}
                store.update_instance(s, inst.id, **changes)
                self._audit(
                    s,
                    inst,
                    "rolled_back",
                    by,
                    now,
                    from_version=cur.version,
                    to_version=new.version,
                    detail={
                        "restores": target.version,
                        "params": dict(target.params),
                        "reason": reason,
                    },
                )
            self._committed(inst, new, changes)
            return new


def verdicts_of(raw: list[dict[str, Any]]) -> list[Verdict]:
    return [Verdict.from_wire(v) for v in raw]
