"""The adaptive-parameter engine: instances, their versions, proposals, samples and drift.

Hosted by the ``AdaptiveParams`` actor (``actors.adaptive_params``), the only writer. Reads
are answered from memory. Each change runs under its instance's lock, and inside one
transaction that row-locks the instance (``SELECT ... FOR UPDATE``) and writes the change,
its audit row and its gateway event (the owner's ``jobs`` stream) together; memory moves
only after the commit, so an acknowledged change is durable and a failed one left no
trace. A restart rebuilds everything from the same rows (``load``).

Version numbers are gap-free by three locks of increasing strength: the instance's lock
here, the row lock (another writer, such as a second incarnation during a restart, waits
and then sees the committed number), and the table's trigger and primary key (a version
that is not the previous + 1 cannot be stored at all).
"""

from __future__ import annotations

import logging
from typing import Any

from cluster.strategies import store
from cluster.strategies.promotion import Promotions
from cluster.strategies.state import maximize_of
from domain.errors import Conflict, ValidationFailed
from domain.optimization import JobStatus
from domain.strategy.config import InstanceStatus
from domain.strategy.drift import DriftCheck, check_drift
from domain.strategy.versions import optimization_source

log = logging.getLogger(__name__)


class StrategyBook(Promotions):
    """The whole engine: ``Promotions`` plus live samples, drift and re-optimization."""

    # -- performance and drift -----------------------------------------------------------
    def record_sample(
        self,
        instance_id: str,
        kind: str,
        *,
        by: str = "sampler",
        **values: Any,
    ) -> dict[str, Any]:
        """Store a sample of the current version (live samples are then checked for drift)."""
        with self._lock(instance_id):
            inst = self.get(instance_id)
            now = values.pop("at", None) or self.clock.now()
            with self.db.session() as s:
                sample_id = store.insert_sample(
                    s, inst.id, version=inst.current_version, kind=kind, at=now, **values
                )
            out: dict[str, Any] = {"id": sample_id, "version": inst.current_version}
            if kind == "live":
                window = self.live.setdefault(inst.id, [])
                window.append(values.get("score"))
                del window[: max(0, len(window) - inst.drift.window)]
                out["drift"] = self._check_drift(inst.id, by).to_wire()
            return out

    def check_drift(self, instance_id: str, *, by: str = "drift") -> DriftCheck:
        with self._lock(instance_id):
            return self._check_drift(instance_id, by)

    def _check_drift(self, instance_id: str, by: str) -> DriftCheck:
        inst = self.get(instance_id)
        cur = self.versions[inst.id][-1]
        result = check_drift(
            cur.oos_score, self.live[inst.id], inst.drift, maximize=maximize_of(inst)
        )
        if not result.flagged or inst.status is not InstanceStatus.RUNNING:
            return result
        now = self.clock.now()
        with self.db.session() as s:
            self._sync(s, inst.id)
            changes: dict[str, Any] = {"status": InstanceStatus.FLAGGED.value, "updated_at": now}
            store.update_instance(s, inst.id, **changes)
            self._audit(s, inst, "flagged", by, now, detail=result.to_wire())
        self._committed(inst, None, changes)
        if inst.auto_reoptimize and inst.reoptimize and inst.reoptimize_job_id is None:
            self._reoptimize(inst.id, by)
        return result

    def _reoptimize(self, instance_id: str, by: str) -> None:
        inst = self.get(instance_id)
        now = self.clock.now()
        try:
            job_id = self._job_port().submit(inst)
        except Exception as exc:
            log.warning("re-optimization of %s not submitted", inst.id, exc_info=True)
            with self.db.session() as s:
                self._audit(s, inst, "reoptimize_failed", by, now, detail={"error": str(exc)})
            return
        with self.db.session() as s:
            self._sync(s, inst.id)
            changes: dict[str, Any] = {"reoptimize_job_id": job_id, "updated_at": now}
            store.update_instance(s, inst.id, **changes)
            self._audit(s, inst, "reoptimize_submitted", by, now, detail={"job_id": job_id})
        self._committed(inst, None, changes)

    def collect_jobs(self, *, by: str = "reoptimize") -> list[dict[str, Any]]:
        """Turn finished re-optimization jobs into proposals (through the guardrails)."""
        out = []
        for inst in list(self.instances.values()):
            job_id = inst.reoptimize_job_id
            if job_id is None:
                continue
            status = self._job_port().status(job_id)
            if not status.is_terminal:
                continue
            if status is JobStatus.SUCCEEDED:
                try:
                    cand = self._job_port().candidate(inst, job_id)
                except (Conflict, ValidationFailed) as exc:
                    out.append(self._job_ended(inst.id, job_id, by, str(exc)))
                    continue
                out.append(
                    self._decide(
                        inst.id,
                        cand,
                        optimization_source(job_id),
                        job_id,
                        by,
                        inst.auto_promote,
                        clear_job=True,
                    )
                )
            else:
                out.append(self._job_ended(inst.id, job_id, by, f"job {status.value}"))
        return out

    def _job_ended(self, instance_id: str, job_id: str, by: str, why: str) -> dict[str, Any]:
        with self._lock(instance_id):
            now = self.clock.now()
            with self.db.session() as s:
                inst = self._sync(s, instance_id)
                changes: dict[str, Any] = {"reoptimize_job_id": None, "updated_at": now}
                store.update_instance(s, inst.id, **changes)
                detail = {"job_id": job_id, "error": why}
                self._audit(s, inst, "reoptimize_failed", by, now, detail=detail)
            self._committed(inst, None, changes)
            return {"instance_id": inst.id, "outcome": None, "error": why}
