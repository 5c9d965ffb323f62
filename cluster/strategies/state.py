"""The adaptive-parameter engine's state: instances, versions and live windows in memory,
rebuilt from PostgreSQL; per-instance locks; and the helpers every change uses (row lock
and resync, commit-then-memory, audit row with its event). See ``engine`` for the rules."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cluster.db import Database
from cluster.eventlog import store as eventlog
from cluster.strategies import store
from cluster.strategies.jobs import JobPort
from domain.backtest import OBJECTIVES
from domain.clock import Clock
from domain.errors import Conflict, NotFound
from domain.strategy.config import (
    InstanceStatus,
)
from domain.strategy.instance import Instance
from domain.strategy.versions import (
    ParamVersion,
    check_history,
)

log = logging.getLogger(__name__)


def maximize_of(inst: Instance) -> bool:
    return OBJECTIVES.get(inst.objective, "maximize") == "maximize"


class BookState:
    def __init__(self, db: Database, clock: Clock, *, jobs: JobPort | None = None) -> None:
        self.db, self.clock, self.jobs = db, clock, jobs
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.load()

    # -- state ---------------------------------------------------------------------------
    def load(self) -> None:
        with self._guard, self.db.session() as s:
            found = store.load_instances(s)
            versions = store.load_versions(s)
            self.instances: dict[str, Instance] = {i.id: i for i in found}
            self.versions: dict[str, list[ParamVersion]] = {}
            self.live: dict[str, list[float | None]] = {}
            for inst in found:
                history = versions.get(inst.id, [])
                check_history(history)
                if len(history) != inst.current_version:
                    raise RuntimeError(f"strategy {inst.id}: versions and current disagree")
                self.versions[inst.id] = history
                self.live[inst.id] = store.live_scores(
                    s, inst.id, inst.current_version, inst.drift.window
                )

    def _lock(self, instance_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(instance_id, threading.Lock())

    def get(self, instance_id: str, *, owner_user_id: str | None = None) -> Instance:
        inst = self.instances.get(str(instance_id))
        if inst is None or (owner_user_id is not None and inst.owner_user_id != owner_user_id):
            raise NotFound(f"strategy instance {instance_id} not found")
        return inst

    def all(self, owner_user_id: str | None = None) -> list[Instance]:
        return [
            i
            for i in self.instances.values()
            if owner_user_id is None or i.owner_user_id == owner_user_id
        ]

    def current(self, instance_id: str) -> ParamVersion:
        self.get(instance_id)
        return self.versions[instance_id][-1]

    def history(self, instance_id: str) -> list[ParamVersion]:
        self.get(instance_id)
        return list(self.versions[instance_id])

    # -- reads from PostgreSQL (history beyond memory) -----------------------------------
    def details(self, instance_id: str) -> dict[str, Any]:
        inst = self.get(instance_id)
        with self.db.session() as s:
            proposals = store.proposals(s, inst.id)
            samples = store.samples(s, inst.id)
        return {
            **inst.to_wire(),
            "params": dict(self.versions[inst.id][-1].params),
            "versions": [v.to_wire() for v in self.versions[inst.id]],
            "proposals": proposals,
            "performance": samples,
        }

    def audit(self, instance_id: str) -> list[dict[str, Any]]:
        self.get(instance_id)
        with self.db.session() as s:
            return store.audit_rows(s, instance_id)

    # -- internals -----------------------------------------------------------------------
    def _job_port(self) -> JobPort:
        if self.jobs is None:
            raise Conflict("this process cannot read or submit optimization jobs")
        return self.jobs

    def _sync(self, s: Session, instance_id: str) -> Instance:
        """Row-lock the instance; if another writer moved it, take its committed state."""
        inst = store.load_instance(s, instance_id, for_update=True)
        if inst is None:
            raise NotFound(f"strategy instance {instance_id} not found")
        if inst.current_version != len(self.versions.get(inst.id, [])):
            self.versions[inst.id] = store.load_versions(s, inst.id).get(inst.id, [])
            self.live[inst.id] = store.live_scores(
                s, inst.id, inst.current_version, inst.drift.window
            )
        self.instances[inst.id] = inst
        return inst

    def _committed(
        self, inst: Instance, new: ParamVersion | None, changes: Mapping[str, Any]
    ) -> None:
        values = dict(changes)
        if "status" in values:
            values["status"] = InstanceStatus(values["status"])
        updated = self.instances[inst.id].with_(**values)
        self.instances[inst.id] = updated
        if new is not None:
            self.versions[inst.id].append(new)
            self.live[inst.id] = []

    def _audit(
        self,
        s: Session,
        inst: Instance,
        action: str,
        by: str,
        at: datetime,
        *,
        detail: Mapping[str, Any],
        from_version: int | None = None,
        to_version: int | None = None,
    ) -> None:
        """The audit row and the owner's ``jobs`` event, in the caller's transaction."""
        plain = {k: (v.value if isinstance(v, InstanceStatus) else v) for k, v in detail.items()}
        audit_id = store.audit(
            s,
            inst.id,
            at=at,
            by=by,
            action=action,
            detail=plain,
            from_version=from_version,
            to_version=to_version,
        )
        data = {
            "instance_id": inst.id,
            "action": action,
            "by": by,
            "at": at.isoformat(),
            "from_version": from_version,
            "to_version": to_version,
            "audit_id": audit_id,
            **{k: v for k, v in plain.items() if k in ("failed", "outcome", "job_id", "reason")},
        }
        eventlog.append(s, [(f"jobs:{inst.owner_user_id}", f"strategy_{action}", data)])
