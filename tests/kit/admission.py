"""Concurrent admissions made deterministic: a quota whose check first waits for every
submitter to arrive, so a count taken outside the inserting transaction is taken by all
of them before any insert (the race, every time), while a serialized admission (one
owner's lock held across count, check and insert) lets only one arrive: the rendezvous
then times out once and every later check passes straight through."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from cluster.billing.entitlements import EntitlementService
from cluster.db import Database
from domain.billing.plans import PlanLimit, Quota

#: how long the first check waits for the others (only a serialized admission waits it out)
MEET_S = 3.0


@dataclass(frozen=True)
class MeetingQuota(Quota):
    meet: threading.Barrier | None = field(default=None, compare=False)

    def refusal(self, wanted: int) -> PlanLimit | None:
        if self.meet is not None:
            try:
                self.meet.wait(MEET_S)
            except threading.BrokenBarrierError:
                pass
        return super().refusal(wanted)


def meeting(quota: Quota, parties: int) -> MeetingQuota:
    return MeetingQuota(
        quota.limit, quota.plan, quota.allowed, quota.ladder, meet=threading.Barrier(parties)
    )


class MeetingEntitlements(EntitlementService):
    """The real service (real plans, no snapshot: everyone is free) with meeting quotas."""

    def __init__(self, db: Database, plans: Any, parties: int) -> None:
        super().__init__(db, plans)
        self._meeting: dict[str, MeetingQuota] = {}
        self._parties = parties

    def quota(self, user_id: str, limit: str) -> Quota:
        """One meeting per limit: every submitter's check of it waits for the others."""
        if limit not in self._meeting:
            self._meeting[limit] = meeting(super().quota(user_id, limit), self._parties)
        return self._meeting[limit]


def race(n: int, call: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``call(i)`` on ``n`` threads released together; (results, errors)."""
    start = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        start.wait()
        try:
            out = call(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(out)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a submitter hung"
    return results, errors


def refusal_audits(db: Database, subject: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every ``audit_log`` row about ``subject``: (actor, action, detail)."""
    with db.session() as s:
        rows = s.execute(
            text("SELECT actor, action, detail FROM audit_log WHERE subject = :s ORDER BY id"),
            {"s": str(uuid.UUID(subject))},
        ).all()
    return [(r[0], r[1], dict(r[2])) for r in rows]
