"""Plan limits that count rows, checked where the row is added.

``max_concurrent_jobs`` and ``max_strategies`` count an owner's rows (live jobs, trading
instances). Counted in one transaction and added in another, two concurrent requests can
both see room for one more and both be added. So the owner's lock, the count, the check
(``admit``) and the insert run in one transaction; a refusal raises inside it and the
transaction rolls back, leaving nothing. The refusal is then audited in a transaction of
its own (``audited``): the refused change is gone, the record of the refusal is not.

The owner's lock is a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on a
64-bit key derived from the scope and the owner's id, rather than ``SELECT ... FOR UPDATE``
on the owner's ``users`` row: a row lock on ``users`` would also block every insert that
references the user (the foreign-key check takes ``FOR KEY SHARE`` on it: orders,
accounts, sessions) and every update of the user (a login), so a plan check would stall
unrelated writes. The advisory lock serializes only the admissions of one owner and one
scope, needs no row to exist, and ends with the transaction, committed or rolled back. Two
owners whose keys collide (a 1 in 2^64 chance) merely wait for each other.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from cluster import metrics
from cluster.db import Database
from cluster.tables import audit_log
from domain.billing.plans import PlanLimit, Quota

log = logging.getLogger(__name__)

ACTION = "plan-limit-refused"
#: the lock scopes (one per counted limit)
JOBS = "optimization-jobs"
STRATEGIES = "strategy-instances"


def refusals() -> metrics._Metric:
    return metrics.counter(
        "elson_billing_plan_limit_total", "Requests refused by a plan limit", ("limit",)
    )


def owner_key(scope: str, owner_user_id: str) -> int:
    """A stable signed 64-bit key (the advisory lock's ``bigint``) for ``scope`` x owner."""
    digest = hashlib.blake2b(f"elson:{scope}:{owner_user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_owner(s: Session, scope: str, owner_user_id: str) -> None:
    """Wait for the owner's other admissions in ``scope``; held until ``s`` ends."""
    s.execute(select(func.pg_advisory_xact_lock(owner_key(scope, str(owner_user_id)))))


def admit(quota: Quota | None, wanted: int) -> None:
    """Raise the plan's refusal of ``wanted`` (the count after the action), if any."""
    if quota is None:
        return
    refusal = quota.refusal(wanted)
    if refusal is not None:
        refusals().inc(1, {"limit": quota.limit})
        raise refusal


def audit_refusal(db: Database, refusal: PlanLimit, *, actor: str, subject: str) -> None:
    """One ``audit_log`` row, in its own transaction. Ids and numbers only: no PII."""
    detail = {
        "limit": refusal.limit,
        "plan": refusal.plan,
        "wanted": refusal.wanted,
        "allowed": refusal.allowed,
    }
    with db.session() as s:
        s.execute(
            insert(audit_log).values(actor=actor, action=ACTION, subject=subject, detail=detail)
        )


@contextmanager
def audited(db: Database, *, actor: str, subject: str | None) -> Iterator[None]:
    """Audit a ``PlanLimit`` raised in the block (after its transaction rolled back), then
    let it go on to the caller. An audit that cannot be written is logged: the caller
    still gets the refusal it earned, not a database error."""
    try:
        yield
    except PlanLimit as refusal:
        if subject is not None:
            try:
                audit_refusal(db, refusal, actor=actor, subject=subject)
            except Exception:
                log.exception("plan-limit refusal of %s not audited", subject)
        raise
